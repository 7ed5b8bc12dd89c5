// Depth for the photo on the page with the wasm engine: the network compiled to one WebAssembly
// SIMD module (`fastdepth compile --target wasm`), on 2 threads (Web Workers on shared memory,
// which needs the COOP/COEP headers the plugin sends; without them it runs one thread and says
// so in backendReason). Only the build this browser runs is fetched, and the weights.
import { createDepthEstimator } from '@fastdepth/runtime-web';
import { fail, show } from './show.js';

try {
  const estimator = await createDepthEstimator({
    model: {
      engine: 'wasm',
      model: { manifestUrl: `${import.meta.env.BASE_URL}model/wasm/fastdepth-pruned.wasm-manifest.json` },
    },
    numThreads: 2,
  });
  const image = document.getElementById('photo');
  await image.decode();
  show(estimator, await estimator.estimate(image), image);
  await estimator.dispose();
} catch (error) {
  fail(error);
}
