// Depth for the photo on the page, in the browser (Vite app).
import { createDepthEstimator, resizeDepth, toColorMap } from '@fastdepth/runtime-web';
import * as model from './model/tfjs/fastdepth-pruned.js';
// `?url`: Vite copies the files into the build and gives their final URLs.
import manifestUrl from './model/tfjs/fastdepth-pruned.weights.json?url';
import weightsUrl from './model/tfjs/fastdepth-pruned.weights.bin?url';

const status = document.getElementById('status');
try {
  const estimator = await createDepthEstimator({
    model: { engine: 'tfjs', module: model, weights: { manifestUrl, weightsUrl } },
    // public/wasm/tfjs/ holds a copy of node_modules/@tensorflow/tfjs-backend-wasm/dist/*.wasm.
    wasmPaths: { tfjs: '/wasm/tfjs/' },
  });
  const image = document.getElementById('photo');
  await image.decode();
  const result = await estimator.estimate(image);

  const canvas = document.getElementById('depth');
  canvas.height = Math.round((canvas.width * image.naturalHeight) / image.naturalWidth);
  // The sides a wide photo loses to the centre crop stay transparent (NaN).
  const depth = resizeDepth(result, canvas.width, canvas.height, { outside: 'nan' });
  const rgba = toColorMap(depth, { colormap: 'turbo' });
  canvas.getContext('2d').putImageData(new ImageData(rgba, canvas.width, canvas.height), 0, 0);
  status.textContent = `${result.engine}/${result.backend} in ${result.latencyMs.toFixed(0)} ms (${estimator.backendReason})`;
  // For the end-to-end test: the whole map at the network's resolution.
  document.body.dataset.result = JSON.stringify({
    backend: result.backend,
    backendReason: estimator.backendReason,
    depth: Array.from(result.depth),
  });
} catch (error) {
  status.textContent = `error: ${error.message}`;
  document.body.dataset.error = error.message;
}
