// Depth for one image in plain Node: `node estimate.mjs photo.rgba WIDTH HEIGHT`.
// photo.rgba holds the image as raw RGBA bytes: decode yours with any image library, e.g.
// `writeFileSync('photo.rgba', await sharp('photo.jpg').ensureAlpha().raw().toBuffer())`.
import { readFileSync } from 'node:fs';
import { createDepthEstimator } from '@fastdepth/runtime-web';
import * as model from './model/tfjs/fastdepth-pruned.js';

const [file, width, height] = process.argv.slice(2);
const estimator = await createDepthEstimator({
  model: {
    engine: 'tfjs',
    module: model,
    weights: { manifestUrl: 'model/tfjs/fastdepth-pruned.weights.json' },
  },
});
const data = new Uint8Array(readFileSync(file));
const result = await estimator.estimate({ data, width: Number(width), height: Number(height) });
const centre = result.depth[(result.height >> 1) * result.width + (result.width >> 1)];
console.error(
  `${result.engine}/${result.backend}: ${result.latencyMs.toFixed(1)} ms, centre ${centre.toFixed(2)} m`,
);
// The whole map as JSON on stdout, for a program to read.
console.log(
  JSON.stringify({
    backend: result.backend,
    backendReason: estimator.backendReason,
    width: result.width,
    height: result.height,
    depth: Array.from(result.depth),
  }),
);
await estimator.dispose();
