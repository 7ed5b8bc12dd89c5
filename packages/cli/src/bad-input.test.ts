// What a new user gets wrong, and what they are told: each case ends with one line on stderr,
// exit code 1, and nothing written (no outputs, no `.NAME.PID.tmp` leftovers).
import { existsSync, mkdirSync, mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import { buildArch } from '@fastdepth/fastdepth-arch';
import { calibratedInitWeights, encodeNpy, encodeSafetensors, saveGraph } from '@fastdepth/graph-dsl';
import { describe, expect, it } from 'vitest';
import { writeFilesAtomic } from './fs-atomic.js';
import { runCli } from './testing/run-cli.js';

const DATA = fileURLToPath(new URL('../../../../shared/data/', import.meta.url));
const TFLITE = join(DATA, 'weights/fast_depth_224.tflite');
const IMAGE = join(DATA, 'images/esanet_rgb.png');
const tmp = (): string => mkdtempSync(join(tmpdir(), 'fastdepth-bad-'));

/** Every file and folder under `dir`, recursively, as relative paths. */
function listTree(dir: string): string[] {
  return readdirSync(dir, { recursive: true, encoding: 'utf8' }).sort();
}

/**
 * Runs the CLI, expects exit 1 with `message` as the one error line, and that `dir` (where
 * the command was told to write) holds exactly what it held before.
 */
async function expectRefused(dir: string, args: readonly string[], message: string | RegExp): Promise<void> {
  const before = listTree(dir);
  const r = await runCli(...args);
  expect(r.code).toBe(1);
  // Progress notes (`computing the reference output...`) may precede it on stderr; the error
  // itself is one line, the last, and there is no stack trace.
  const lines = r.stderr.split('\n').filter((l) => l !== '');
  expect(lines.filter((l) => /error/i.test(l))).toHaveLength(1);
  expect(r.stderr).not.toMatch(/\n\s+at /);
  const last = lines[lines.length - 1];
  if (typeof message === 'string') expect(last).toBe(`fastdepth: error: ${message}`);
  else expect(last).toMatch(message);
  expect(listTree(dir)).toEqual(before);
}

describe('bad option values are refused before any work', () => {
  it('--input-size: multiples of 32 up to 4096, for info, compile and predict alike', async () => {
    const dir = tmp();
    const msg = '--input-size: each side must be a multiple of 32 from 32 to 4096, found "100000"';
    await expectRefused(dir, ['info', '--arch', 'fastdepth', '--input-size', '100000'], msg);
    await expectRefused(dir, ['compile', '--input-size', '100000', '--out', join(dir, 'o')], msg);
    await expectRefused(dir, ['predict', IMAGE, '--input-size', '100000', '--out', join(dir, 'd.png')], msg);
    await expectRefused(
      dir,
      ['info', '--arch', 'fastdepth', '--input-size', '224x0'],
      '--input-size: each side must be a multiple of 32 from 32 to 4096, found "224x0"',
    );
  });

  it('integer options: negatives and non-integers', async () => {
    const dir = tmp();
    const out = join(dir, 'o');
    await expectRefused(
      dir,
      ['compile', '--seed', '-1', '--out', out],
      '--seed must be an integer from 0 to 4294967295, found "-1"',
    );
    await expectRefused(
      dir,
      ['compile', '--seed', '1.5', '--out', out],
      '--seed must be an integer from 0 to 4294967295, found "1.5"',
    );
    await expectRefused(
      dir,
      ['predict', IMAGE, '--seed', '-3', '--out', join(dir, 'd.png')],
      '--seed must be an integer from 0 to 4294967295, found "-3"',
    );
    await expectRefused(
      dir,
      ['eval', '--data', join(DATA, 'nyu-sample'), '--limit', '0'],
      '--limit must be an integer >= 1, found "0"',
    );
    // prune shares the parser: a negative step count is refused too.
    await expectRefused(
      dir,
      ['prune', '--budget', '0.5', '--short-steps', '-1', '--out', out],
      '--short-steps must be an integer >= 0, found "-1"',
    );
  });

  it('--opset is checked before the weights are even read', async () => {
    const dir = tmp();
    await expectRefused(
      dir,
      ['compile', '--opset', '12', '--weights', join(dir, 'missing.safetensors'), '--out', join(dir, 'o')],
      '--opset must be an integer from 13 to 17, found "12"',
    );
  });
});

describe('output paths are checked before any work', () => {
  it('compile --out naming a file, or a folder below a file', async () => {
    const dir = tmp();
    writeFileSync(join(dir, 'file'), 'x');
    // A missing weights file would be the first error if the folder were checked late.
    const missing = ['--weights', join(dir, 'missing.safetensors')];
    await expectRefused(
      dir,
      ['compile', ...missing, '--out', join(dir, 'file')],
      `--out: cannot write output folder "${join(dir, 'file')}": it is a file, not a folder`,
    );
    await expectRefused(
      dir,
      ['compile', ...missing, '--out', join(dir, 'file', 'sub')],
      `--out: cannot write output folder "${join(dir, 'file', 'sub')}": a part of the path is a file, not a folder ("${join(dir, 'file')}")`,
    );
  });

  it.skipIf(!existsSync('/proc/self'))(
    'compile --out under /proc fails at once (it used to spin)',
    async () => {
      const dir = tmp();
      await expectRefused(
        dir,
        ['compile', '--out', '/proc/fastdepth-x'],
        /^fastdepth: error: --out: cannot write output folder "\/proc\/fastdepth-x": .* \(in "\/proc"\)$/,
      );
      expect(existsSync('/proc/fastdepth-x')).toBe(false);
    },
  );

  it('--int8-arithmetic: a bad value, or no int8 model to apply it to', async () => {
    const dir = tmp();
    const png = join(dir, 'd.png');
    await expectRefused(
      dir,
      ['predict', IMAGE, '--engine', 'wasm', '--int8-arithmetic', 'XNNPACK', '--out', png],
      '--int8-arithmetic must be one of tflite, xnnpack, found "XNNPACK"',
    );
    await expectRefused(
      dir,
      [
        'predict',
        IMAGE,
        '--weights',
        TFLITE,
        '--engine',
        'onnx',
        '--int8-arithmetic',
        'tflite',
        '--out',
        png,
      ],
      '--int8-arithmetic applies to an int8 model only (--engine wasm with an int8 .tflite, --precision auto or int8)',
    );
  });

  it('predict --out naming an existing folder', async () => {
    const dir = tmp();
    mkdirSync(join(dir, 'maps'));
    await expectRefused(
      dir,
      ['predict', IMAGE, '--out', join(dir, 'maps')],
      `--out "${join(dir, 'maps')}" is a folder: name the file to write, e.g. "${join(dir, 'maps', 'depth.png')}"`,
    );
  });

  it('predict --out and --npy with the wrong extension, before the image is even read', async () => {
    const dir = tmp();
    const notAnImage = join(dir, 'missing.png');
    await expectRefused(
      dir,
      ['predict', notAnImage, '--out', join(dir, 'd.webp')],
      `--out "${join(dir, 'd.webp')}": the file name must end in .png, .jpg or .jpeg`,
    );
    await expectRefused(
      dir,
      ['predict', notAnImage, '--out', join(dir, 'd.png'), '--npy', join(dir, 'x.txt')],
      `--npy "${join(dir, 'x.txt')}": the file name must end in .npy`,
    );
  });
});

describe('writeFilesAtomic', () => {
  it('a rename that fails (a folder in the way) leaves no staged file behind', async () => {
    const dir = tmp();
    mkdirSync(join(dir, 'b.txt', 'inside'), { recursive: true });
    const before = listTree(dir);
    await expect(
      writeFilesAtomic(dir, [
        { name: 'a.txt', data: 'a' },
        { name: 'b.txt', data: 'b' },
      ]),
    ).rejects.toThrow(`cannot write into output folder "${dir}": `);
    // a.txt may have landed before b.txt failed; nothing temporary may stay.
    expect(listTree(dir).filter((n) => n.endsWith('.tmp'))).toEqual([]);
    expect(listTree(dir).filter((n) => n !== 'a.txt')).toEqual(before);
  });
});

describe('bad data', () => {
  it('predict on an image over the pixel limit names the file and its size', async () => {
    const dir = tmp();
    const big = join(dir, 'big.png');
    // One grey 16384x16384 PNG (268 megapixels, one more row and column than sharp's limit).
    await sharp({
      create: { width: 16384, height: 16384, channels: 3, background: '#808080' },
      limitInputPixels: false,
    })
      .png()
      .toFile(big);
    await expectRefused(
      dir,
      ['predict', big, '--side-by-side', '--out', join(dir, 'd.png')],
      `image "${big}" is 16384x16384 (268 megapixels); predict reads at most 268 megapixels (16383x16383): scale it down first`,
    );
  });

  it('eval --compare-pred with a prediction of another shape, or with no positive depth', async () => {
    const dir = tmp();
    const pred = join(dir, 'pred.npy');
    writeFileSync(pred, encodeNpy([100, 100], new Float32Array(100 * 100).fill(1)));
    const args = ['eval', '--weights', TFLITE, '--data', join(DATA, 'nyu-sample'), '--compare-pred', pred];
    await expectRefused(
      dir,
      args,
      `--compare-pred "${pred}": the prediction is 100x100, the network's output is 1x1x224x224`,
    );
    writeFileSync(pred, encodeNpy([1, 1, 224, 224], new Float32Array(224 * 224)));
    await expectRefused(
      dir,
      args,
      `--compare-pred "${pred}": no positive depth in the prediction to compare against`,
    );
  });

  it('compile refuses weights whose reference output is constant: no check could fail against it', async () => {
    const dir = tmp();
    const graph = buildArch('fastdepth-pruned', { inputSize: 32 });
    const weights = calibratedInitWeights(graph, 0);
    // The last BatchNorm's scale and shift at 0: the final ReLU outputs 0 for every pixel.
    for (const s of ['weight', 'bias'])
      weights.set(`decode_conv6_bn.${s}`, { shape: [1], data: new Float32Array(1) });
    writeFileSync(join(dir, 'g.json'), saveGraph(graph));
    writeFileSync(join(dir, 'dead.safetensors'), encodeSafetensors(weights));
    await expectRefused(
      dir,
      [
        'compile',
        '--arch',
        join(dir, 'g.json'),
        '--weights',
        join(dir, 'dead.safetensors'),
        '--out',
        join(dir, 'o'),
      ],
      'g: the reference output on the check input is constant (0 everywhere), so no parity check could fail against it: use weights whose output varies — nothing was written',
    );
  });
});

describe('compile --quantize int8: bad options and bad calibration photos', () => {
  const PHOTOS = join(DATA, 'photos');
  /** A folder of `n` small seeded PNG photos (plus `extra` files by name). */
  async function photoFolder(n: number, extra: Record<string, string> = {}): Promise<string> {
    const dir = tmp();
    for (let i = 0; i < n; i++) {
      const raw = Buffer.alloc(48 * 48 * 3, (i * 37) % 256);
      await sharp(raw, { raw: { width: 48, height: 48, channels: 3 } })
        .png()
        .toFile(join(dir, `p${i}.png`));
    }
    for (const [name, text] of Object.entries(extra)) writeFileSync(join(dir, name), text);
    return dir;
  }
  const compile = (out: string, ...args: string[]): string[] => [
    'compile',
    '--arch',
    'fastdepth-pruned',
    '--input-size',
    '32',
    '--target',
    'onnx',
    '--out',
    out,
    ...args,
  ];

  it('flag values and combinations, before any work', async () => {
    const dir = tmp();
    const out = join(dir, 'o');
    await expectRefused(
      dir,
      compile(out, '--quantize', 'int4', '--images', PHOTOS),
      '--quantize must be one of int8, found "int4"',
    );
    await expectRefused(
      dir,
      compile(out, '--quantize', 'int8'),
      '--quantize int8 needs --images DIR (a folder of photos to calibrate on), unless --weights is an int8 .tflite file, whose own quantisation is then used',
    );
    await expectRefused(dir, compile(out, '--images', PHOTOS), '--images applies to --quantize int8 only');
    await expectRefused(dir, compile(out, '--holdout', '2'), '--holdout applies to --quantize int8 only');
    await expectRefused(
      dir,
      compile(out, '--int8-arithmetic', 'tflite'),
      '--int8-arithmetic applies to --quantize int8 only',
    );
    await expectRefused(
      dir,
      compile(out, '--quantize', 'int8', '--images', PHOTOS, '--int8-arithmetic', 'fast'),
      '--int8-arithmetic must be one of tflite, xnnpack, found "fast"',
    );
    await expectRefused(
      dir,
      compile(out, '--quantize', 'int8', '--images', PHOTOS, '--calibration', 'entropy'),
      '--calibration must be one of minmax, percentile, found "entropy"',
    );
    await expectRefused(
      dir,
      compile(out, '--quantize', 'int8', '--images', PHOTOS, '--percentile', '99'),
      '--percentile applies to --calibration percentile only',
    );
    await expectRefused(
      dir,
      compile(
        out,
        '--quantize',
        'int8',
        '--images',
        PHOTOS,
        '--calibration',
        'percentile',
        '--percentile',
        '40',
      ),
      '--percentile must be a number above 50 and at most 100, found "40"',
    );
    await expectRefused(
      dir,
      compile(out, '--quantize', 'int8', '--images', PHOTOS, '--holdout', '0'),
      '--holdout must be an integer >= 1, found "0"',
    );
  });

  it('a missing or empty folder, a file that is no image, too few photos for the holdout', async () => {
    const dir = tmp();
    const out = join(dir, 'o');
    const missing = join(dir, 'nowhere');
    await expectRefused(
      dir,
      compile(out, '--quantize', 'int8', '--images', missing),
      `--images "${missing}": cannot read this folder`,
    );
    const empty = await photoFolder(0, { 'notes.txt': 'no photos here' });
    await expectRefused(
      dir,
      compile(out, '--quantize', 'int8', '--images', empty),
      `--images "${empty}": no .png/.jpg/.webp/.tif images in this folder`,
    );
    const broken = await photoFolder(2, { 'broken.jpg': 'not a jpeg' });
    await expectRefused(
      dir,
      compile(out, '--quantize', 'int8', '--images', broken),
      new RegExp(
        `^fastdepth: error: cannot decode image "${join(broken, 'broken.jpg').replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}": `,
      ),
    );
    const two = await photoFolder(2);
    await expectRefused(
      dir,
      compile(out, '--quantize', 'int8', '--images', two, '--holdout', '2'),
      `--holdout 2: "${two}" has 2 photo(s); at least one must remain for calibration`,
    );
    const one = await photoFolder(1);
    await expectRefused(
      dir,
      compile(out, '--quantize', 'int8', '--images', one),
      `--holdout 1: "${one}" has 1 photo(s); at least one must remain for calibration`,
    );
  });
});

describe('names are data, never code', () => {
  const graph = buildArch('fastdepth-pruned', { inputSize: 32 });

  it('compile refuses a graph file whose name or layer names would run code: one line, nothing written or run', async () => {
    const dir = tmp();
    const pwned = join(dir, 'PWNED');
    const file = join(dir, 'evil.json');
    const out = join(dir, 'o');
    const payload = `x */ import('node:fs').then(f=>f.writeFileSync(${JSON.stringify(pwned)},'1')); /* y`;
    for (const name of [payload, 'two\nlines', 'q"uote', "it's", 'back\\slash', '${x}', "'''", '"""']) {
      writeFileSync(file, saveGraph({ ...graph, name }));
      await expectRefused(
        dir,
        ['compile', '--arch', file, '--target', 'tfjs', '--out', out],
        `${file}: field "name": graph names must be plain file names (letters, digits, ".", "_" and "-", starting with a letter or digit, at most 128 characters), found ${JSON.stringify(name)}`,
      );
      const nodes = graph.nodes.map((n, i) => (i === 1 ? { ...n, name } : n));
      writeFileSync(file, saveGraph({ ...graph, nodes }));
      await expectRefused(
        dir,
        ['compile', '--arch', file, '--target', 'tfjs', '--out', out],
        `${file}: nodes[1]: field "name": layer names must be identifiers (letters, digits and "_", not starting with a digit, no dots, at most 128 characters), found ${JSON.stringify(name)}`,
      );
    }
    await new Promise((r) => setTimeout(r, 50));
    expect(existsSync(pwned)).toBe(false);
  });

  it('a graph file whose own file name would name the outputs badly is refused, one line', async () => {
    const dir = tmp();
    for (const base of ["x'; y", 'a*', ' lead', '-flag']) {
      const file = join(dir, `${base}.json`);
      writeFileSync(file, saveGraph(graph));
      await expectRefused(
        dir,
        ['compile', '--arch', file, '--target', 'onnx', '--out', join(dir, 'o')],
        `--arch ${JSON.stringify(file)}: the file name ${JSON.stringify(base)} names the outputs, so it must be a plain file name (letters, digits, ".", "_" and "-", starting with a letter or digit, at most 128 characters); rename the file`,
      );
    }
  });
});
