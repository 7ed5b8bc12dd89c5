// Draws a depth result beside the photo and leaves a report for the end-to-end tests.
import { resizeDepth, toColorMap } from '@fastdepth/runtime-web';

export function show(estimator, result, image) {
  const canvas = document.getElementById('depth');
  canvas.height = Math.round((canvas.width * image.naturalHeight) / image.naturalWidth);
  // The sides a wide photo loses to the centre crop stay transparent (NaN).
  const depth = resizeDepth(result, canvas.width, canvas.height, { outside: 'nan' });
  const rgba = toColorMap(depth, { colormap: 'turbo' });
  canvas.getContext('2d').putImageData(new ImageData(rgba, canvas.width, canvas.height), 0, 0);
  document.getElementById('status').textContent =
    `${result.engine}/${result.backend} x ${estimator.threads} in ${result.latencyMs.toFixed(0)} ms (${estimator.backendReason})`;
  // The whole map at the network's resolution.
  document.body.dataset.result = JSON.stringify({
    engine: result.engine,
    backend: result.backend,
    backendReason: estimator.backendReason,
    threads: estimator.threads,
    depth: Array.from(result.depth),
  });
}

export function fail(error) {
  document.getElementById('status').textContent = `error: ${error.message}`;
  document.body.dataset.error = `${error.code ?? ''} ${error.message}`;
}
