declare module 'virtual:demo-model' {
  import type { TfjsModelModule } from '@fastdepth/runtime-web';
  export const module: TfjsModelModule;
  export const info: {
    readonly name: string;
    readonly arch: string;
    readonly origin: 'trained' | 'seeded';
    /** The int8 wasm build (XNNPACK arithmetic) sits beside the float one. */
    readonly int8?: boolean;
  };
  export const manifestUrl: string;
  export const onnxUrl: string;
  /** The `fastdepth-wasm` manifest (`<name>.wasm-manifest.json`) beside its modules and weights. */
  export const wasmManifestUrl: string;
  export const wasmPaths: { readonly tfjs: string; readonly onnx: string };
}
