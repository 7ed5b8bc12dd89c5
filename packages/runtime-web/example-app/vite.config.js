// Both pages in the build, and the headers that make them cross-origin isolated, so the wasm
// engine (and tfjs / onnxruntime-web) may run threads: in the dev server and in `vite preview`.
// Serve the built files with the same two headers in production.
import { defineConfig } from 'vite';

const headers = {
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Embedder-Policy': 'require-corp',
};

export default defineConfig({
  server: { headers },
  preview: { headers },
  // The wasm engine creates its worker with `new URL('./wasm-worker.js', import.meta.url)`:
  // pre-bundling would move the package away from that file.
  optimizeDeps: { exclude: ['@fastdepth/runtime-web'] },
  build: { rollupOptions: { input: { main: 'index.html', wasm: 'wasm.html' } } },
});
