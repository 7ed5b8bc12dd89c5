// Depth for the photo on the page with the onnx engine (the .onnx file on onnxruntime-web:
// webgpu where there is a GPU, else wasm). This import registers onnxruntime-web: only this
// page carries it (`@fastdepth/runtime-web/onnx-wasm` is the wasm-only build, half the size).
import '@fastdepth/runtime-web/onnx';
import { createDepthEstimator } from '@fastdepth/runtime-web';
import { fail, show } from './show.js';

try {
  const estimator = await createDepthEstimator({
    model: { engine: 'onnx', model: `${import.meta.env.BASE_URL}model/onnx/fastdepth-pruned.onnx` },
    numThreads: 2,
  });
  const image = document.getElementById('photo');
  await image.decode();
  show(estimator, await estimator.estimate(image), image);
  await estimator.dispose();
} catch (error) {
  fail(error);
}
