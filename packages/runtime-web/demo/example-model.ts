/**
 * The model folder an app gets from `fastdepth compile --for-web --weights-dtype int8` (tfjs,
 * onnx, wasm), written with the code generators directly (the cli depends on this package, so
 * its tests cannot run it): `model/tfjs/NAME.{js,d.ts,weights.bin,weights.json}`,
 * `model/onnx/NAME.onnx`, `model/wasm/NAME.{wasm-manifest.json,<variant>.wasm,weights.int8.bin}`.
 * The paper's weights when the TFLite file is there, else seeded ones.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { encodeOnnx } from '@fastdepth/codegen-onnx';
import { emitTfjs, toJavaScript } from '@fastdepth/codegen-tfjs';
import { emitWasm, encodeWasmWeights } from '@fastdepth/codegen-wasm';
import { buildArch } from '@fastdepth/fastdepth-arch';
import { seededModel, trainedModel } from '../src/testing/models.js';
import { WASM_VARIANTS } from '../src/wasm-model.js';

export const EXAMPLE_MODEL_NAME = 'fastdepth-pruned';

/** Writes the folder; `wasmDtype` is how the wasm weights are stored (int8 as the README says). */
export async function writeExampleModel(
  dir: string,
  wasmDtype: 'float32' | 'float16' | 'int8' = 'int8',
): Promise<void> {
  const name = EXAMPLE_MODEL_NAME;
  const model = (await trainedModel()) ?? seededModel(buildArch(name, { inputSize: 224 }), 1);
  for (const sub of ['tfjs', 'onnx', 'wasm']) mkdirSync(join(dir, sub), { recursive: true });

  const tfjs = emitTfjs(model, {
    moduleName: name,
    weightsDtype: 'int8',
    regenerate: 'demo/example-model.ts',
  });
  const { js, dts } = toJavaScript(tfjs.source);
  writeFileSync(join(dir, 'tfjs', `${name}.js`), js);
  writeFileSync(join(dir, 'tfjs', `${name}.d.ts`), dts);
  writeFileSync(join(dir, 'tfjs', tfjs.manifest.weightsFile), tfjs.weights);
  writeFileSync(join(dir, 'tfjs', `${name}.weights.json`), JSON.stringify(tfjs.manifest, null, 1));

  writeFileSync(join(dir, 'onnx', `${name}.onnx`), encodeOnnx(model, { foldBatchNorm: true }));

  const wasm = emitWasm(model, { arch: name });
  const weightsFile =
    wasmDtype === 'float32' ? wasm.manifest.weightsFile : `${name}.weights.${wasmDtype}.bin`;
  const manifest = { ...wasm.manifest, weightsFile, weightsDtype: wasmDtype };
  writeFileSync(join(dir, 'wasm', `${name}.wasm-manifest.json`), JSON.stringify(manifest, null, 1));
  for (const variant of WASM_VARIANTS)
    writeFileSync(join(dir, 'wasm', wasm.manifest.modules[variant]), wasm.modules[variant]);
  writeFileSync(join(dir, 'wasm', weightsFile), encodeWasmWeights(wasm, wasmDtype));
}
