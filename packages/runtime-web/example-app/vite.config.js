// The app's Vite config: the fastdepth plugin does the rest (see the runtime-web README,
// "Bundling with Vite"). It serves and copies model/ (only what a page loads) and, for tfjs,
// tfjs-backend-wasm's .wasm files; pre-bundles tfjs for the dev server; sends the COOP/COEP
// headers (dev and `vite preview`) that make the pages cross-origin isolated, so wasm threads
// run. Serve the built files with the same two headers in production.
import { defineConfig } from 'vite';
import { fastdepth } from '@fastdepth/runtime-web/vite';

// The engines this app uses, and the page of each: keep the ones you need. `onnx` needs
// `npm install onnxruntime-web` (an optional peer). FASTDEPTH_ENGINES=wasm npx vite build builds
// one engine's page alone (how the tests measure each engine's bundle).
const pages = { tfjs: 'index.html', wasm: 'wasm.html', onnx: 'onnx.html' };
const engines = (process.env.FASTDEPTH_ENGINES ?? 'tfjs,wasm').split(',');

export default defineConfig({
  plugins: [fastdepth({ engines })],
  build: { rollupOptions: { input: Object.fromEntries(engines.map((e) => [e, pages[e]])) } },
});
