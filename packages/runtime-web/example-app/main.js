// Depth for the photo on the page with the tfjs engine (the generated module, on the first
// tfjs backend that initialises: webgpu, webgl, wasm, cpu).
import { createDepthEstimator } from '@fastdepth/runtime-web';
import * as model from './model/tfjs/fastdepth-pruned.js';
import { fail, show } from './show.js';

const base = import.meta.env.BASE_URL;
try {
  const estimator = await createDepthEstimator({
    model: {
      engine: 'tfjs',
      module: model,
      // Served and copied by the fastdepth Vite plugin from model/.
      weights: { manifestUrl: `${base}model/tfjs/fastdepth-pruned.weights.json` },
    },
    // tfjs-backend-wasm's .wasm files, served and copied by the plugin (never a CDN).
    wasmPaths: { tfjs: `${base}fastdepth/tfjs/` },
    // Threads of the wasm backend, where the page is cross-origin isolated (else 1, and
    // backendReason says why).
    numThreads: 2,
  });
  const image = document.getElementById('photo');
  await image.decode();
  show(estimator, await estimator.estimate(image), image);
} catch (error) {
  fail(error);
}
