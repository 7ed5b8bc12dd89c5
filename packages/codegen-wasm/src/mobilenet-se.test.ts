/**
 * A network from outside the FastDepth family, declared as a user would: a MobileNetV2-style
 * encoder of inverted residuals (expand 1x1, depthwise 3x3, squeeze-excite with hard-sigmoid
 * gates, project 1x1, residual adds; hard-swish in the deeper blocks as in MobileNetV3) and a
 * U-Net decoder (bilinear x2, concat with the encoder's skip, depthwise-separable conv), with a
 * sigmoid head. Compiled by the float wasm engine, against the reference executor and
 * onnxruntime-node, and on 2 threads bit for bit.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { GraphBuilder, type Graph, type Tensor } from '@fastdepth/graph-dsl';
import { describe, expect, it } from 'vitest';
import { emitWasm } from './emit.js';
import { randomInput, reference, relativeError, seededWeights } from './testing/harness.js';
import { checkParity } from './testing/parity.js';

type Act = 'relu6' | 'hardSwish';

function convBn(g: GraphBuilder, name: string, x: Tensor, out: number, k: number, s = 1, groups = 1): Tensor {
  return g.batchNorm(
    `${name}_bn`,
    g.conv2d(name, x, { outChannels: out, kernel: k, stride: s, pads: (k - 1) / 2, groups }),
  );
}

const activate = (g: GraphBuilder, name: string, x: Tensor, act: Act): Tensor =>
  act === 'relu6' ? g.relu6(name, x) : g.hardSwish(name, x);

/**
 * Squeeze-excite: global average pool, 1x1 reduce + ReLU, 1x1 expand + gate, scale. The gate is
 * the sigmoid in the ReLU6 blocks (EfficientNet) and the hard-sigmoid in the hard-swish ones
 * (MobileNetV3).
 */
function squeezeExcite(g: GraphBuilder, name: string, x: Tensor, channels: number, act: Act): Tensor {
  const pooled = g.globalAvgPool(`${name}_pool`, x);
  const reduce = g.relu(
    `${name}_fc1_relu`,
    g.conv2d(`${name}_fc1`, pooled, {
      outChannels: Math.max(4, Math.round(channels / 4)),
      kernel: 1,
      bias: true,
    }),
  );
  const expand = g.conv2d(`${name}_fc2`, reduce, { outChannels: channels, kernel: 1, bias: true });
  const gate = act === 'relu6' ? g.sigmoid(`${name}_gate`, expand) : g.hardSigmoid(`${name}_gate`, expand);
  return g.mul(`${name}_scale`, x, gate);
}

function invertedResidual(
  g: GraphBuilder,
  name: string,
  x: Tensor,
  o: { cin: number; cout: number; expand: number; stride: number; se: boolean; act: Act },
): Tensor {
  const hidden = o.cin * o.expand;
  let y = activate(g, `${name}_expand_act`, convBn(g, `${name}_expand`, x, hidden, 1), o.act);
  y = activate(g, `${name}_dw_act`, convBn(g, `${name}_dw`, y, hidden, 3, o.stride, hidden), o.act);
  if (o.se) y = squeezeExcite(g, `${name}_se`, y, hidden, o.act);
  y = convBn(g, `${name}_project`, y, o.cout, 1);
  return o.stride === 1 && o.cin === o.cout ? g.add(`${name}_add`, x, y) : y;
}

/** Bilinear x2, concat with the skip, depthwise-separable conv. */
function decode(g: GraphBuilder, name: string, x: Tensor, skip: Tensor, cin: number, cout: number): Tensor {
  const cat = g.concat(`${name}_cat`, g.upsample(`${name}_up`, x, 'bilinear'), skip);
  const dw = g.relu6(`${name}_dw_relu`, convBn(g, `${name}_dw`, cat, cin, 3, 1, cin));
  return g.relu6(`${name}_pw_relu`, convBn(g, `${name}_pw`, dw, cout, 1));
}

function mobileUnet(h: number, w: number, sigmoidHead = true): Graph {
  const g = new GraphBuilder('mobile-unet');
  const x = g.input('input', [1, 3, h, w]);
  const stem = g.relu6('stem_relu', convBn(g, 'stem', x, 15, 3, 2));
  const s1 = invertedResidual(g, 'b1', stem, {
    cin: 15,
    cout: 11,
    expand: 1,
    stride: 1,
    se: false,
    act: 'relu6',
  });
  let y = invertedResidual(g, 'b2', s1, { cin: 11, cout: 18, expand: 4, stride: 2, se: true, act: 'relu6' });
  const s2 = invertedResidual(g, 'b3', y, {
    cin: 18,
    cout: 18,
    expand: 3,
    stride: 1,
    se: true,
    act: 'relu6',
  });
  y = invertedResidual(g, 'b4', s2, { cin: 18, cout: 27, expand: 4, stride: 2, se: true, act: 'hardSwish' });
  const s3 = invertedResidual(g, 'b5', y, {
    cin: 27,
    cout: 27,
    expand: 3,
    stride: 1,
    se: true,
    act: 'hardSwish',
  });
  const bottom = invertedResidual(g, 'b6', s3, {
    cin: 27,
    cout: 37,
    expand: 4,
    stride: 2,
    se: true,
    act: 'hardSwish',
  });
  y = decode(g, 'd1', bottom, s3, 37 + 27, 22);
  y = decode(g, 'd2', y, s2, 22 + 18, 14);
  y = decode(g, 'd3', y, s1, 14 + 11, 9);
  y = g.upsample('d4_up', y, 'bilinear');
  const head = g.conv2d('head', y, { outChannels: 1, kernel: 1, bias: true });
  g.output('depth', sigmoidHead ? g.sigmoid('head_sigmoid', head) : head);
  return g.build();
}

describe('a MobileNetV2/V3-style encoder with squeeze-excite and a bilinear + concat U-Net decoder', () => {
  it('plans SE as pool -> 1x1 -> 1x1 -> mul stages, the (hard-)sigmoid gates fused as epilogue activations', () => {
    const graph = mobileUnet(48, 80);
    const { manifest } = emitWasm({ graph, weights: seededWeights(graph, 3) }, { optimizeLevel: 0 });
    const stageOf = (layer: string) => manifest.stages.find((s) => s.layers.includes(layer));
    expect(stageOf('b2_se_pool')?.kind).toBe('gap');
    expect(stageOf('b2_se_gate')?.layers).toEqual(['b2_se_fc2', 'b2_se_gate']);
    expect(stageOf('b2_se_scale')?.kind).toBe('map');
    expect(stageOf('b5_se_gate')?.layers).toEqual(['b5_se_fc2', 'b5_se_gate']);
    // hard-swish after a BatchNorm'd conv: in the conv's epilogue.
    expect(stageOf('b4_expand_act')?.name).toBe('b4_expand');
    expect(stageOf('d1_cat')?.kind).toBe('concat');
    expect(stageOf('d1_up')?.kind).toBe('resize');
    expect(stageOf('head_sigmoid')?.name).toBe('head');
  });

  // Without the sigmoid too: it squashes the head's errors.
  it.each([
    [48, 80, true],
    [32, 48, false],
  ])(
    'at %ix%i, sigmoid head %s: matches the reference and onnxruntime, stage splits and 2 threads bit for bit',
    async (h, w, sigmoid) => {
      await checkParity(mobileUnet(h, w, sigmoid), ['gap', 'map', 'concat', 'resize', 'dwpw'], 1e-4);
    },
  );

  // Node 20 validates relaxed SIMD only behind a flag: the relaxed modules (relaxed_madd in the
  // GEMMs, the sigmoid's polynomial) run in a child Node, as in fastdepth.test.ts.
  it('the relaxed-SIMD modules match the reference within 1e-4 relative', () => {
    const graph = mobileUnet(32, 48, false);
    const weights = seededWeights(graph, 3);
    const artifact = emitWasm({ graph, weights }, { optimizeLevel: 1 });
    const input = randomInput(artifact.manifest.input.shape, 4, 'normal');
    const ref = reference(graph, weights, input);
    const dir = mkdtempSync(join(tmpdir(), 'codegen-wasm-relaxed-'));
    try {
      writeFileSync(join(dir, 'manifest.json'), JSON.stringify(artifact.manifest));
      writeFileSync(join(dir, 'relaxed.wasm'), artifact.modules.relaxed);
      writeFileSync(join(dir, 'relaxed-threads.wasm'), artifact.modules['relaxed-threads']);
      writeFileSync(join(dir, 'weights.bin'), artifact.weights);
      writeFileSync(join(dir, 'input.bin'), new Uint8Array(input.buffer, input.byteOffset, input.byteLength));
      const script = fileURLToPath(new URL('./testing/run-relaxed.ts', import.meta.url));
      execFileSync(process.execPath, ['--experimental-wasm-relaxed-simd', '--import', 'tsx', script, dir], {
        stdio: 'pipe',
      });
      for (const variant of ['relaxed', 'relaxed-threads']) {
        const out = new Float32Array(new Uint8Array(readFileSync(join(dir, `${variant}.out`))).buffer);
        const { rel, maxAbs } = relativeError(out, ref);
        expect(maxAbs).toBeGreaterThan(1e-2);
        expect(rel, variant).toBeLessThan(1e-4);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
