/**
 * Browser half of `demo/webgl.test.ts`: runs a generated module (served from disk through
 * Vite's `/@fs/`) on a named or the automatic tfjs backend and hands back the depth, the
 * backend's reason and the WebGL flags that decide its precision.
 */
import {
  createDepthEstimator,
  webglRenderer,
  type BackendName,
  type TfjsModelModule,
} from '@fastdepth/runtime-web';
import * as tf from '@tensorflow/tfjs-core';
import { wasmPaths } from 'virtual:demo-model';

interface ParityRequest {
  readonly modulePath: string;
  readonly manifestUrl: string;
  readonly backend?: BackendName;
  /** Preprocessed NHWC input at the network's size. */
  readonly input: readonly number[];
}

async function run(request: ParityRequest): Promise<Record<string, unknown>> {
  const module = (await import(/* @vite-ignore */ `/@fs${request.modulePath}`)) as TfjsModelModule;
  const estimator = await createDepthEstimator({
    model: { engine: 'tfjs', module, weights: { manifestUrl: request.manifestUrl } },
    ...(request.backend === undefined ? {} : { backend: request.backend }),
    wasmPaths,
  });
  try {
    const { width, height } = estimator;
    const result = await estimator.estimateRgb({ data: Float32Array.from(request.input), width, height });
    return {
      backend: estimator.backend,
      backendReason: estimator.backendReason,
      renderer: webglRenderer(),
      depth: Array.from(result.depth),
      flags:
        estimator.backend === 'webgl'
          ? {
              WEBGL_VERSION: tf.env().getNumber('WEBGL_VERSION'),
              WEBGL_FORCE_F16_TEXTURES: tf.env().getBool('WEBGL_FORCE_F16_TEXTURES'),
              WEBGL_RENDER_FLOAT32_ENABLED: tf.env().getBool('WEBGL_RENDER_FLOAT32_ENABLED'),
            }
          : {},
    };
  } finally {
    await estimator.dispose();
  }
}

Object.assign(globalThis, { fastdepthParity: run });
document.getElementById('state')!.textContent = 'ready';
