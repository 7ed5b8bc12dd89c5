/** What `bench/litert.ts` and its page (`litert-page.ts`) exchange: plain data, no imports. */

/** What the Node side asks a page to set up. */
export type LitertPageSetup =
  | {
      readonly runtime: 'litert';
      readonly threads: number;
      /** The model's uint8 output quantisation (tensor 150), to dequantise as the runtime's user would. */
      readonly output: { readonly scale: number; readonly zeroPoint: number };
    }
  | {
      /** The demo model (the paper's weights, dequantised) on one of this package's engines. */
      readonly runtime: 'tfjs' | 'onnx' | 'wasm';
      readonly threads: number;
      /** wasm only: another compiled build of it (the int8 one), else the demo model's float32 build. */
      readonly manifestUrl?: string;
      /**
       * wasm only, the machine's ceiling for 2 threads: two 1-thread estimators, each in a worker
       * of its own, run one estimate each at the same moment; a run is timed until both are done.
       */
      readonly pair?: boolean;
    };

/** What setup reports. */
export interface LitertPageInfo {
  readonly threads: number;
  readonly detail: string;
}

/** One stage of a wasm build timed alone. */
export interface LitertStageTime {
  readonly name: string;
  readonly kind: string;
  readonly macs: number;
  readonly ms: number;
}
