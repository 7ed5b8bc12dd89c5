import { existsSync, mkdtempSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import { computeMetrics, encodeNyuH5 } from '@fastdepth/eval';
import { dequantizeValues, executeQuantized, readNpy } from '@fastdepth/graph-dsl';
import { importTfliteQuantized } from '@fastdepth/importers';
import { describe, expect, it } from 'vitest';
import { colorBarLayout } from './depth-picture.js';
import { runCli } from './testing/run-cli.js';

const DATA = fileURLToPath(new URL('../../../../shared/data/', import.meta.url));
const TFLITE = join(DATA, 'weights/fast_depth_224.tflite');
const NYU = join(DATA, 'nyu-sample');
const tmp = (): string => mkdtempSync(join(tmpdir(), 'fastdepth-cli-'));

interface PredictReport {
  engine: string;
  backend: string;
  threads: number;
}

interface EvalReport {
  frames: number;
  engine: string;
  metrics: { rmse: number; delta1: number; absRel: number };
  meanRelativeDifferenceToPred?: number;
}

describe("fastdepth eval on the NYU sample with the paper's trained weights", () => {
  it.each(['onnx', 'tfjs', 'wasm'])(
    '%s engine: close to the official model (RMSE <= 0.65 m, delta1 >= 0.75, within 3 percent of pred.npy)',
    async (engine) => {
      const r = await runCli(
        'eval',
        '--weights',
        TFLITE,
        '--data',
        NYU,
        '--engine',
        engine,
        '--compare-pred',
        join(NYU, 'pred.npy'),
        '--json',
      );
      expect(r.stderr).not.toMatch(/error/);
      expect(r.code).toBe(0);
      const report = JSON.parse(r.stdout) as EvalReport;
      expect(report.frames).toBe(1);
      expect(report.engine).toBe(engine);
      expect(report.metrics.rmse).toBeLessThanOrEqual(0.65);
      expect(report.metrics.delta1).toBeGreaterThanOrEqual(0.75);
      expect(report.meanRelativeDifferenceToPred).toBeLessThanOrEqual(0.03);
    },
  );

  it('wasm engine: the int8 model in XNNPACK arithmetic by default (tflite on request); --precision float32 gives the onnx figures', async () => {
    type Report = EvalReport & { precision: string; int8Arithmetic?: string };
    const run = async (...args: string[]): Promise<Report> => {
      const r = await runCli('eval', '--weights', TFLITE, '--data', NYU, '--json', ...args);
      expect(r.code, r.stderr).toBe(0);
      return JSON.parse(r.stdout) as Report;
    };
    const onnx = (await run('--engine', 'onnx')).metrics;
    const float = await run('--engine', 'wasm', '--threads', '2', '--precision', 'float32');
    expect(float.precision).toBe('float32');
    for (const key of ['rmse', 'absRel'] as const)
      expect(Math.abs(float.metrics[key] - onnx[key]) / onnx[key]).toBeLessThan(1e-4);
    expect(Math.abs(float.metrics.delta1 - onnx.delta1)).toBeLessThan(1e-3);
    // The int8 build computes the int8 reference executor's integers (bit-exact, tested in
    // codegen-wasm); on this frame that model is within a few mm of the float reading.
    const reference = importTfliteQuantized(readFileSync(TFLITE), TFLITE).quantized;
    const rgb = readNpy(readFileSync(join(NYU, 'rgb.npy')), 'rgb.npy');
    const nchw = new Float64Array(3 * 224 * 224);
    for (let p = 0; p < 224 * 224; p++)
      for (let c = 0; c < 3; c++) nchw[c * 224 * 224 + p] = Number(rgb.data[p * 3 + c]);
    const gt = readNpy(readFileSync(join(NYU, 'depth.npy')), 'depth.npy').data as Float32Array;
    const metricsIn = (arithmetic: 'tflite' | 'xnnpack') => {
      const model = {
        ...reference,
        graph: { ...reference.graph, quantization: { ...reference.graph.quantization, arithmetic } },
      };
      const q = executeQuantized(model, { input: { shape: [1, 3, 224, 224], data: nchw } }).depth!;
      return computeMetrics(dequantizeValues(q.data, q.params), gt);
    };
    for (const [args, arithmetic] of [
      [[], 'xnnpack'],
      [['--int8-arithmetic', 'tflite'], 'tflite'],
    ] as const) {
      const int8 = await run('--engine', 'wasm', '--threads', '2', ...args);
      expect(int8.precision).toBe('int8');
      expect(int8.int8Arithmetic).toBe(arithmetic);
      const want = metricsIn(arithmetic);
      // The engine's depth is the reference's exactly: equal metrics up to summation order.
      for (const key of ['rmse', 'absRel', 'delta1'] as const)
        expect(Math.abs(int8.metrics[key] - want[key]), key).toBeLessThan(1e-6 * Math.max(1, want[key]));
      expect(Math.abs(int8.metrics.rmse - onnx.rmse)).toBeLessThan(0.02);
    }
    // The two arithmetics' models are not the same on this frame.
    expect(metricsIn('xnnpack').rmse).not.toBe(metricsIn('tflite').rmse);
  });

  it("reads a folder of NYU .h5 files as the authors' loader does", async () => {
    const dir = join(tmp(), 'val', 'official');
    mkdirSync(dir, { recursive: true });
    // A 480x640 frame built from the sample: a flat grey image with a depth ramp.
    const rgb = new Uint8Array(3 * 480 * 640).fill(128);
    const depth = Float32Array.from({ length: 480 * 640 }, (_, i) => 1 + (i % 640) / 160);
    for (const name of ['00001.h5', '00002.h5']) {
      writeFileSync(
        join(dir, name),
        await encodeNyuH5({
          rgb: { height: 480, width: 640, data: rgb },
          depth: { height: 480, width: 640, data: depth },
        }),
      );
    }
    const r = await runCli('eval', '--weights', TFLITE, '--data', join(dir, '..'), '--json');
    expect(r.code).toBe(0);
    const report = JSON.parse(r.stdout) as EvalReport;
    expect(report.frames).toBe(2);
    expect(Number.isFinite(report.metrics.rmse)).toBe(true);
  });

  it('rejects data it cannot read, naming it', async () => {
    const empty = tmp();
    let r = await runCli('eval', '--weights', TFLITE, '--data', empty);
    expect([r.code, r.stderr]).toEqual([1, expect.stringMatching(/no \.h5 files found/) as unknown]);
    r = await runCli('eval', '--weights', TFLITE, '--data', join(empty, 'nope'));
    expect(r.stderr).toMatch(/no such file or folder/);
    writeFileSync(join(empty, 'broken.h5'), 'not hdf5');
    r = await runCli('eval', '--weights', TFLITE, '--data', join(empty, 'broken.h5'));
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/broken\.h5/);
  });
});

describe('fastdepth predict --engine wasm', () => {
  it('gives the depth of the onnx engine, at 1 and 2 threads', async () => {
    const dir = tmp();
    const depthOf = async (...args: string[]): Promise<{ data: Float32Array; report: PredictReport }> => {
      const npy = join(dir, `${args.join('-')}.npy`);
      const r = await runCli(
        'predict',
        join(DATA, 'images/SUN_color.jpg'),
        '--weights',
        TFLITE,
        '--out',
        join(dir, `${args.join('-')}.png`),
        '--npy',
        npy,
        '--json',
        ...args,
      );
      expect(r.stderr).not.toMatch(/error/);
      expect(r.code).toBe(0);
      return {
        data: readNpy(readFileSync(npy), npy).data as Float32Array,
        report: JSON.parse(r.stdout) as PredictReport,
      };
    };
    const onnx = await depthOf('--engine', 'onnx');
    for (const threads of ['1', '2']) {
      const wasm = await depthOf('--engine', 'wasm', '--threads', threads, '--precision', 'float32');
      expect([wasm.report.engine, wasm.report.backend, wasm.report.threads]).toEqual([
        'wasm',
        'wasm',
        Number(threads),
      ]);
      let worst = 0;
      for (let i = 0; i < onnx.data.length; i++)
        worst = Math.max(worst, Math.abs(wasm.data[i]! - onnx.data[i]!));
      expect(worst / Math.max(...onnx.data)).toBeLessThan(1e-4);
    }
  });

  it('rejects engine options that do not fit, in one line', async () => {
    const image = join(DATA, 'images/SUN_color.jpg');
    const out = join(tmp(), 'x.png');
    for (const [args, message] of [
      [['--engine', 'wasm', '--backend', 'cpu'], /--backend cpu: the wasm engine runs on wasm only/],
      [['--engine', 'wasm', '--threads', '0'], /--threads must be an integer from 1 to 64, found "0"/],
      [['--engine', 'tfjs', '--threads', '2'], /--threads: the tfjs engine runs one thread in Node/],
    ] as const) {
      const r = await runCli('predict', image, '--out', out, ...args);
      expect([r.code, r.stderr.trim().split('\n').length]).toEqual([1, 1]);
      expect(r.stderr).toMatch(message);
      expect(existsSync(out)).toBe(false);
    }
  });
});

describe('fastdepth predict', () => {
  it('writes a coloured depth map at the image size and the depth as .npy', async () => {
    const dir = tmp();
    const out = join(dir, 'depth.png');
    const npy = join(dir, 'depth.npy');
    const r = await runCli(
      'predict',
      join(DATA, 'images/SUN_color.jpg'),
      '--weights',
      TFLITE,
      '--out',
      out,
      '--npy',
      npy,
      '--json',
    );
    expect(r.stderr).not.toMatch(/error/);
    expect(r.code).toBe(0);
    const report = JSON.parse(r.stdout) as {
      depthMetres: { min: number; median: number; max: number };
      latencyMs: { steady: number };
    };
    // An indoor scene: metres, not garbage.
    expect(report.depthMetres.min).toBeGreaterThan(0.2);
    expect(report.depthMetres.max).toBeLessThan(12);
    expect(report.latencyMs.steady).toBeGreaterThan(0);
    const meta = await sharp(out).metadata();
    // The depth map at the image's size, then the colour bar.
    expect([meta.format, meta.width, meta.height]).toEqual([
      'png',
      640 + colorBarLayout(480).panelWidth,
      480,
    ]);
    const depth = readNpy(readFileSync(npy), npy);
    expect(depth.shape).toEqual([224, 224]);
  });

  it('puts the image and its depth side by side on request', async () => {
    const out = join(tmp(), 'pair.png');
    const r = await runCli(
      'predict',
      join(DATA, 'images/esanet_rgb.png'),
      '--weights',
      TFLITE,
      '--side-by-side',
      '--colormap',
      'viridis',
      '--out',
      out,
    );
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/depth \(m\): min \d+\.\d{3} {2}median \d+\.\d{3} {2}max \d+\.\d{3}/);
    const meta = await sharp(out).metadata();
    expect([meta.width, meta.height]).toEqual([2 * 512 + colorBarLayout(424).panelWidth, 424]);
  });

  it('honours --input-size with a .tflite (its graph resized) and writes JPEG for a .jpg name', async () => {
    const dir = tmp();
    const out = join(dir, 'depth.jpg');
    const npy = join(dir, 'depth.npy');
    const r = await runCli(
      'predict',
      join(DATA, 'images/SUN_color.jpg'),
      '--weights',
      TFLITE,
      '--input-size',
      '128x160',
      '--out',
      out,
      '--npy',
      npy,
      '--json',
    );
    expect(r.stderr).not.toMatch(/error/);
    expect(r.code).toBe(0);
    const report = JSON.parse(r.stdout) as { networkSize: number[]; engine: string };
    expect(report.networkSize).toEqual([128, 160]);
    expect(report.engine).toBe('onnx'); // the default engine
    expect(readNpy(readFileSync(npy), npy).shape).toEqual([128, 160]);
    const meta = await sharp(out).metadata();
    expect([meta.format, meta.height]).toEqual(['jpeg', 480]);
    expect(meta.width).toBeGreaterThan(640); // the 640-pixel depth map, then its colour bar
  });

  it('rejects an unreadable image without writing anything', async () => {
    const dir = tmp();
    writeFileSync(join(dir, 'x.png'), 'not an image');
    const r = await runCli('predict', join(dir, 'x.png'), '--out', join(dir, 'depth.png'));
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/cannot decode image ".*x\.png"/);
    expect(existsSync(join(dir, 'depth.png'))).toBe(false);
  });
});
