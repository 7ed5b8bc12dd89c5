/**
 * The resize op: shape rule, attribute checks, and the reference executor against PyTorch's
 * own `F.interpolate` (Debian's python3-torch; the test fails, saying how to install it, where
 * it is missing), plus the int8 executor's shared nearest resize (and that bilinear quantises).
 */
import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { GraphBuilder, type ResizeOptions } from './builder.js';
import { execute } from './executor.js';
import type { Shape, UpsampleMode } from './ir.js';
import { randomTensor } from './numeric.js';
import { nearestSourceIndex } from './ops.js';
import { executeQuantized, quantizeValues } from './quant/execute.js';
import { quantizeModel } from './quant/quantize.js';
import { loadGraph } from './serialize.js';
import { initWeights } from './weights.js';

/** Debian's interpreter first: its torch is the one CI installs (apt-get install python3-torch). */
function torchPython(): string {
  for (const python of ['/usr/bin/python3', 'python3']) {
    const r = spawnSync(python, ['-c', 'import torch'], { encoding: 'utf8' });
    if (r.status === 0) return python;
  }
  throw new Error('these tests need PyTorch: apt-get install -y --no-install-recommends python3-torch');
}

/** Runs a Python snippet that reads JSON on stdin and prints JSON. */
function torch(script: string, input: unknown): unknown {
  const r = spawnSync(torchPython(), ['-c', script], {
    input: JSON.stringify(input),
    encoding: 'utf8',
    maxBuffer: 256 * 1024 * 1024,
    timeout: 120_000,
  });
  if (r.status !== 0) throw new Error(`python failed: ${r.stderr || r.error?.message}`);
  return JSON.parse(r.stdout);
}

function resizeGraph(shape: Shape, mode: UpsampleMode, o: ResizeOptions) {
  const g = new GraphBuilder('t');
  g.output('out', g.resize('r', g.input('input', shape), mode, o));
  return g.build();
}

const INTERPOLATE = `
import json, sys, torch, torch.nn.functional as F
out = []
for c in json.load(sys.stdin):
    x = torch.tensor(c["data"], dtype=torch.float32).reshape(c["shape"])
    kw = {"scale_factor": tuple(float(s) for s in c["scale"])} if "scale" in c else {"size": tuple(c["size"])}
    if c["mode"] == "bilinear":
        kw["align_corners"] = False
    y = F.interpolate(x, mode=c["mode"], **kw)
    out.append({"shape": list(y.shape), "data": y.flatten().tolist()})
print(json.dumps(out))
`;

describe('resize op', () => {
  it('infers shapes for both forms and names the layer on bad attributes', () => {
    const g = new GraphBuilder('t');
    const x = g.input('input', [1, 3, 5, 7]);
    expect(g.resize('a', x, 'nearest', { scale: 3 }).shape).toEqual([1, 3, 15, 21]);
    expect(g.resize('b', x, 'bilinear', { scale: [2, 1] }).shape).toEqual([1, 3, 10, 7]);
    expect(g.resize('c', x, 'bilinear', { size: [4, 11] }).shape).toEqual([1, 3, 4, 11]);
    expect(() => g.resize('d', x, 'nearest', { scale: 1.5 })).toThrow(
      /layer "d": attribute "scale" must be 2 positive integers, found \[1.5,1.5\]/,
    );
    expect(() => g.resize('e', x, 'nearest', { size: [0, 4] })).toThrow(/layer "e": attribute "size"/);
    expect(() => g.resize('f', x, 'bicubic' as UpsampleMode, { scale: 2 })).toThrow(
      /layer "f": attribute "mode" must be "nearest" or "bilinear", found "bicubic"/,
    );
    expect(() => g.resize('h', x, 'nearest', {} as ResizeOptions)).toThrow(
      /layer "h": resize\(name, x, mode, options\) needs options \{ scale \} or \{ size \}/,
    );
    expect(() => g.resize('i', x, 'nearest', { scale: 2, size: [4, 4] } as unknown as ResizeOptions)).toThrow(
      /layer "i": resize\(name, x, mode, options\) needs options \{ scale \} or \{ size \}, found both/,
    );
    const both = {
      op: 'resize',
      name: 'r',
      inputs: ['input'],
      attrs: { mode: 'nearest', scale: [2, 2], size: [4, 4] },
    };
    const json = (node: object): string =>
      JSON.stringify({
        format: 'fastdepth-graph',
        version: 1,
        name: 't',
        nodes: [
          { op: 'input', name: 'input', inputs: [], attrs: { shape: [1, 1, 2, 2] } },
          node,
          { op: 'output', name: 'out', inputs: ['r'], attrs: {} },
        ],
      });
    expect(() => loadGraph(json(both), 'g.json')).toThrow(
      /layer "r": resize needs exactly one of .*found both/,
    );
    expect(() =>
      loadGraph(json({ ...both, attrs: { mode: 'nearest', size: [4, 4], align: true } }), 'g.json'),
    ).toThrow(/layer "r": unknown attribute "align"/);
    const loaded = loadGraph(json({ ...both, attrs: { mode: 'bilinear', size: [3, 5] } }), 'g.json');
    expect(
      execute(loaded, new Map(), { input: { shape: [1, 1, 2, 2], data: [1, 2, 3, 4] } }).out!.shape,
    ).toEqual([1, 1, 3, 5]);
  });

  it('equals PyTorch F.interpolate (align_corners=False) at odd sizes, both modes, both forms', () => {
    const cases: { shape: Shape; mode: UpsampleMode; o: ResizeOptions }[] = [
      { shape: [1, 2, 5, 7], mode: 'nearest', o: { scale: 3 } },
      { shape: [1, 2, 5, 7], mode: 'bilinear', o: { scale: 3 } },
      { shape: [2, 3, 3, 5], mode: 'bilinear', o: { scale: [2, 5] } },
      { shape: [1, 2, 3, 5], mode: 'nearest', o: { scale: [4, 1] } },
      { shape: [1, 2, 5, 7], mode: 'nearest', o: { size: [13, 17] } },
      { shape: [1, 2, 5, 7], mode: 'bilinear', o: { size: [13, 17] } },
      { shape: [1, 3, 9, 11], mode: 'nearest', o: { size: [4, 6] } },
      { shape: [1, 3, 9, 11], mode: 'bilinear', o: { size: [4, 6] } },
      { shape: [1, 1, 6, 4], mode: 'bilinear', o: { size: [1, 9] } },
      { shape: [1, 1, 2, 3], mode: 'nearest', o: { size: [82, 123] } },
      { shape: [1, 1, 2, 3], mode: 'bilinear', o: { size: [82, 123] } },
    ];
    const inputs = cases.map((c, i) => randomTensor(c.shape, 40 + i, -2, 2));
    const want = torch(
      INTERPOLATE,
      cases.map((c, i) => ({
        shape: c.shape,
        mode: c.mode,
        data: [...inputs[i]!.data],
        ...('scale' in c.o
          ? { scale: typeof c.o.scale === 'number' ? [c.o.scale, c.o.scale] : c.o.scale }
          : { size: c.o.size }),
      })),
    ) as { shape: number[]; data: number[] }[];
    cases.forEach((c, i) => {
      const got = execute(resizeGraph(c.shape, c.mode, c.o), new Map(), { input: inputs[i]! }).out!;
      expect([...got.shape], JSON.stringify(c)).toEqual(want[i]!.shape);
      let error = 0;
      got.data.forEach((v, k) => (error = Math.max(error, Math.abs(v - want[i]!.data[k]!))));
      // float64 against PyTorch's float32 interpolation weights (nearest only moves values).
      expect(error, JSON.stringify(c)).toBeLessThan(c.mode === 'nearest' ? 1e-7 : 2e-6);
    });
  });

  it('reads the rows PyTorch nearest reads, float32 rounding included (every in 1..40, out 1..130)', () => {
    const want = torch(
      `
import json, sys, torch, torch.nn.functional as F
out = []
for i in range(1, 41):
    x = torch.arange(i, dtype=torch.float32).reshape(1, 1, 1, i)
    out.append([F.interpolate(x, size=(1, o), mode="nearest")[0, 0, 0].long().tolist() for o in range(1, 131)])
print(json.dumps(out))
`,
      null,
    ) as number[][][];
    let exactDiffers = 0;
    for (let i = 1; i <= 40; i++) {
      for (let o = 1; o <= 130; o++) {
        const got = Array.from({ length: o }, (_, d) => nearestSourceIndex(d, i, o));
        expect(got, `in ${i} out ${o}`).toEqual(want[i - 1]![o - 1]);
        if (got.some((s, d) => s !== Math.floor((d * i) / o))) exactDiffers++;
      }
    }
    // The float32 arithmetic matters: some sizes read other rows than exact division would.
    expect(exactDiffers).toBeGreaterThan(0);
  });

  it('the int8 executor resizes nearest on the integers, with its input parameters', () => {
    const g = new GraphBuilder('q');
    const conv = g.conv2d('conv', g.input('input', [1, 3, 5, 7]), {
      outChannels: 4,
      kernel: 3,
      pads: 1,
      bias: true,
    });
    g.output('out', g.resize('up', conv, 'nearest', { size: [11, 16] }));
    const graph = g.build();
    const weights = initWeights(graph, 3);
    const images = [0, 1].map((k) => randomTensor([1, 3, 5, 7], 7 + k, 0, 1));
    const model = quantizeModel(graph, weights, images);
    expect(model.graph.quantization.tensors.up).toEqual(model.graph.quantization.tensors.conv);
    const params = model.graph.quantization.tensors.input!;
    const values = executeQuantized(
      model,
      { input: { shape: [1, 3, 5, 7], data: quantizeValues(images[0]!.data, params), dtype: 'int8' } },
      { keepIntermediates: true },
    );
    const c = values.conv!.data;
    const up = values.up!.data;
    expect(up.length).toBe(4 * 11 * 16);
    for (let ch = 0; ch < 4; ch++)
      for (let y = 0; y < 11; y++)
        for (let x = 0; x < 16; x++)
          expect(up[(ch * 11 + y) * 16 + x]).toBe(
            c[(ch * 5 + nearestSourceIndex(y, 5, 11)) * 7 + nearestSourceIndex(x, 7, 16)],
          );
    const bilinear = new GraphBuilder('b');
    bilinear.output(
      'out',
      bilinear.resize('up', bilinear.input('input', [1, 3, 4, 4]), 'bilinear', { scale: 3 }),
    );
    const bg = bilinear.build();
    // Bilinear resizes quantise too (TFLite's integer RESIZE_BILINEAR, `quant/bilinear.test.ts`),
    // carrying their input's parameters.
    const bq = quantizeModel(bg, new Map(), [randomTensor([1, 3, 4, 4], 1, 0, 1)]);
    expect(bq.graph.quantization.tensors.up).toEqual(bq.graph.quantization.tensors.input);
  });
});
