// Depth for the photo on the page with the wasm engine: the network compiled to one WebAssembly
// SIMD module (`fastdepth compile --target wasm`), on 2 threads (Web Workers on shared memory,
// which needs the COOP/COEP headers of vite.config.js; without them it runs one thread).
import { createDepthEstimator, resizeDepth, toColorMap } from '@fastdepth/runtime-web';
// `?url`: Vite copies the files into the build and gives their final URLs.
import manifestUrl from './model/wasm/fastdepth-pruned.wasm-manifest.json?url';
import simd from './model/wasm/fastdepth-pruned.simd.wasm?url';
import simdThreads from './model/wasm/fastdepth-pruned.simd-threads.wasm?url';
import relaxed from './model/wasm/fastdepth-pruned.relaxed.wasm?url';
import relaxedThreads from './model/wasm/fastdepth-pruned.relaxed-threads.wasm?url';
import weightsUrl from './model/wasm/fastdepth-pruned.weights.bin?url';

const status = document.getElementById('status');
try {
  const estimator = await createDepthEstimator({
    model: {
      engine: 'wasm',
      model: {
        manifestUrl,
        moduleUrls: { simd, 'simd-threads': simdThreads, relaxed, 'relaxed-threads': relaxedThreads },
        weightsUrl,
      },
    },
    numThreads: 2,
  });
  const image = document.getElementById('photo');
  await image.decode();
  const result = await estimator.estimate(image);

  const canvas = document.getElementById('depth');
  canvas.height = Math.round((canvas.width * image.naturalHeight) / image.naturalWidth);
  const depth = resizeDepth(result, canvas.width, canvas.height, { outside: 'nan' });
  const rgba = toColorMap(depth, { colormap: 'turbo' });
  canvas.getContext('2d').putImageData(new ImageData(rgba, canvas.width, canvas.height), 0, 0);
  status.textContent = `${result.engine}/${result.backend} x ${estimator.threads} in ${result.latencyMs.toFixed(0)} ms (${estimator.backendReason})`;
  // For the end-to-end test: the whole map at the network's resolution.
  document.body.dataset.result = JSON.stringify({
    backend: result.backend,
    backendReason: estimator.backendReason,
    threads: estimator.threads,
    depth: Array.from(result.depth),
  });
  await estimator.dispose();
} catch (error) {
  status.textContent = `error: ${error.message}`;
  document.body.dataset.error = error.message;
}
