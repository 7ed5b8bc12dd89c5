// Hostile but plausible files (made here, in temporary folders): each ends with exit code 1
// and exactly one line on stderr that names the file, never a hang, a stack trace or a result.
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { buildArch } from '@fastdepth/fastdepth-arch';
import { calibratedInitWeights, encodeNpy, encodeSafetensors, saveGraph } from '@fastdepth/graph-dsl';
import { File as H5File, ready } from 'h5wasm';
import { beforeAll, describe, expect, it } from 'vitest';
import { oneLine } from './errors.js';
import { runCli } from './testing/run-cli.js';

const dir = mkdtempSync(join(tmpdir(), 'fastdepth-hostile-'));
const at = (name: string): string => join(dir, name);

/** Runs the CLI and expects exit 1 with one stderr line, matching `message`, and no stack. */
async function expectOneLine(args: readonly string[], message: string | RegExp): Promise<string> {
  const r = await runCli(...args);
  expect(r.code).toBe(1);
  const lines = r.stderr.split('\n');
  expect(lines, r.stderr).toHaveLength(1);
  expect(r.stderr).not.toMatch(/\bat .*\.(ts|js):\d+/);
  // eslint-disable-next-line no-control-regex -- no raw control characters reach the terminal
  expect(r.stderr).not.toMatch(/[\u0000-\u001f]/);
  if (typeof message === 'string') expect(r.stderr).toBe(`fastdepth: error: ${message}`);
  else expect(r.stderr).toMatch(message);
  return r.stderr;
}

const fifo = (name: string): string => {
  execFileSync('mkfifo', [at(name)]);
  return at(name);
};

/** A safetensors file for fastdepth-pruned with one tensor's entry edited after encoding. */
function poisonedWeights(edit: (header: Record<string, { data_offsets: number[] }>) => void): string {
  const bytes = encodeSafetensors(calibratedInitWeights(buildArch('fastdepth-pruned'), 0, 0));
  const view = new DataView(bytes.buffer);
  const headerLen = Number(view.getBigUint64(0, true));
  const header = JSON.parse(Buffer.from(bytes.subarray(8, 8 + headerLen)).toString('utf8')) as Record<
    string,
    { data_offsets: number[] }
  >;
  edit(header);
  const json = Buffer.from(JSON.stringify(header));
  const out = Buffer.concat([Buffer.alloc(8), json, bytes.subarray(8 + headerLen)]);
  out.writeBigUInt64LE(BigInt(json.length), 0);
  const path = at(`poisoned-${Math.random().toString(36).slice(2)}.safetensors`);
  writeFileSync(path, out);
  return path;
}

let weights: string;
let pairRgb: string;
beforeAll(() => {
  weights = at('good.safetensors');
  writeFileSync(weights, encodeSafetensors(calibratedInitWeights(buildArch('fastdepth-pruned'), 0, 0)));
  pairRgb = at('rgb.npy');
  writeFileSync(pairRgb, encodeNpy([224, 224, 3], new Uint8Array(224 * 224 * 3).fill(120)));
});

describe('poisoned safetensors offsets', () => {
  it('a negative begin (reading the header as weights) is refused, naming file and tensor', async () => {
    const path = poisonedWeights((h) => {
      h['conv0.weight']!.data_offsets = [-1728, 0];
    });
    await expectOneLine(
      ['compile', '--weights', path, '--target', 'onnx', '--out', at('o1')],
      `${path}: tensor "conv0.weight": data_offsets must be two non-negative integers [begin, end], found [-1728,0]`,
    );
  });

  it('overlapping tensors are refused', async () => {
    const path = poisonedWeights((h) => {
      // conv0_bn.running_mean reads conv0_bn.bias's bytes too.
      h['conv0_bn.running_mean']!.data_offsets = [...h['conv0_bn.bias']!.data_offsets];
    });
    await expectOneLine(
      ['compile', '--weights', path, '--target', 'onnx', '--out', at('o2')],
      /^fastdepth: error: .*poisoned-.*\.safetensors: tensor "conv0_bn\.running_mean": data \[\d+, \d+\) overlaps tensor "conv0_bn\.bias" \(which ends at \d+\)$/,
    );
  });
});

describe('special files are refused by type, without reading', () => {
  it('info --arch /dev/zero and a FIFO (which would hang) and a folder', async () => {
    await expectOneLine(
      ['info', '--arch', '/dev/zero'],
      'cannot read graph file "/dev/zero": is a character device, not a file',
    );
    const pipe = fifo('graph.json');
    await expectOneLine(
      ['info', '--arch', pipe],
      `cannot read graph file "${pipe}": is a FIFO (named pipe), not a file`,
    );
    mkdirSync(at('folder.json'));
    await expectOneLine(
      ['info', '--arch', at('folder.json')],
      `cannot read graph file "${at('folder.json')}": is a folder, not a file`,
    );
  });

  it('--weights /dev/zero and a FIFO', async () => {
    await expectOneLine(
      ['compile', '--weights', '/dev/zero', '--out', at('o3')],
      'cannot read weights file "/dev/zero": is a character device, not a file',
    );
    const pipe = fifo('w.tflite');
    await expectOneLine(
      ['compile', '--weights', pipe, '--out', at('o5')],
      `cannot read weights file "${pipe}": is a FIFO (named pipe), not a file`,
    );
  });

  it('a FIFO as --latency-table', async () => {
    const table = fifo('table.json');
    await expectOneLine(
      ['prune', '--budget', '0.5', '--metric', 'latency', '--latency-table', table, '--out', at('p3')],
      `cannot read latency table "${table}": is a FIFO (named pipe), not a file`,
    );
  });

  it('a FIFO as the image, the .h5 frame or an .npy of the pair', async () => {
    const image = fifo('image.png');
    await expectOneLine(
      ['predict', image, '--out', at('d2.png')],
      `cannot read image "${image}": is a FIFO (named pipe), not a file`,
    );
    const h5 = fifo('frame.h5');
    await expectOneLine(
      ['eval', '--data', h5, '--weights', weights, '--arch', 'fastdepth-pruned'],
      `cannot read .h5 file "${h5}": is a FIFO (named pipe), not a file`,
    );
    const depth = fifo('depth.npy');
    await expectOneLine(
      ['eval', '--data', `${pairRgb},${depth}`, '--weights', weights, '--arch', 'fastdepth-pruned'],
      `cannot read .npy file "${depth}": is a FIFO (named pipe), not a file`,
    );
  });
});

describe('sizes are capped before allocation', () => {
  const edited = (name: string, edit: (nodes: { op: string; attrs: Record<string, unknown> }[]) => void) => {
    const raw = JSON.parse(saveGraph(buildArch('fastdepth'))) as {
      nodes: { op: string; attrs: Record<string, unknown> }[];
    };
    edit(raw.nodes);
    writeFileSync(at(name), JSON.stringify(raw));
    return at(name);
  };

  it('outChannels 1e9 and a 1048576x1048576 input name the layer, field and cap', async () => {
    const wide = edited('wide.json', (nodes) => {
      nodes.find((n) => n.op === 'conv2d')!.attrs.outChannels = 1e9;
    });
    await expectOneLine(
      ['compile', '--arch', wide, '--target', 'onnx', '--out', at('o4')],
      `${wide}: layer "conv0": 1000000000 channels (attribute "outChannels") is more than the 65536 a tensor may have`,
    );
    const huge = edited('huge.json', (nodes) => {
      nodes.find((n) => n.op === 'input')!.attrs.shape = [1, 3, 1048576, 1048576];
    });
    await expectOneLine(
      ['info', '--arch', huge],
      `${huge}: layer "input": height 1048576 (attribute "shape") is more than the 16384 a tensor may have`,
    );
  });
});

describe('eval refuses data that is not depth', () => {
  it('NaN and negative ground truth, naming the file and the first bad index', async () => {
    for (const [value, text] of [
      [Number.NaN, 'NaN'],
      [-2, '-2'],
      [Infinity, 'Infinity'],
    ] as const) {
      const depth = new Float32Array(224 * 224).fill(3);
      depth[224 * 5 + 7] = value;
      const path = at(`depth-${text}.npy`);
      writeFileSync(path, encodeNpy([224, 224], depth));
      await expectOneLine(
        ['eval', '--data', `${pairRgb},${path}`, '--weights', weights, '--arch', 'fastdepth-pruned'],
        `${path}: depth value ${text} at index 1127 (row 5, column 7) is not a depth (finite metres >= 0; 0 marks a missing pixel)`,
      );
    }
  });

  it('NaN rgb and a negative --compare-pred', async () => {
    const rgb = new Float32Array(224 * 224 * 3).fill(0.5);
    rgb[4] = Number.NaN;
    const nanRgb = at('nan-rgb.npy');
    writeFileSync(nanRgb, encodeNpy([224, 224, 3], rgb));
    const depth = at('depth-ok.npy');
    writeFileSync(depth, encodeNpy([224, 224], new Float32Array(224 * 224).fill(2)));
    await expectOneLine(
      ['eval', '--data', `${nanRgb},${depth}`, '--weights', weights, '--arch', 'fastdepth-pruned'],
      `${nanRgb}: rgb value NaN at index 4 (pixel 1, channel 1) is not in [0, 1]`,
    );
    const pred = new Float32Array(224 * 224).fill(1);
    pred[3] = -1;
    const negPred = at('neg-pred.npy');
    writeFileSync(negPred, encodeNpy([224, 224], pred));
    await expectOneLine(
      [
        'eval',
        '--data',
        `${pairRgb},${depth}`,
        '--weights',
        weights,
        '--arch',
        'fastdepth-pruned',
        '--compare-pred',
        negPred,
      ],
      `${negPred}: prediction value -1 at index 3 (row 0, column 3) is not a depth (finite metres >= 0; 0 marks a missing pixel)`,
    );
  });

  it('an 8000x8000 gzip .h5 is refused from its declared shape, before decoding', async () => {
    const module = await ready;
    const mem = '/hostile-bomb.h5';
    const f = new H5File(mem, 'w');
    const chunked = { maxshape: [null, null], chunks: [256, 256], compression: 'gzip' as const };
    f.create_dataset({
      name: 'rgb',
      data: new Uint8Array(3),
      shape: [3, 1, 1],
      dtype: '<B',
      maxshape: [3, null, null],
      chunks: [1, 256, 256],
      compression: 'gzip',
    }).resize([3, 8000, 8000]);
    f.create_dataset({
      name: 'depth',
      data: new Float32Array(1),
      shape: [1, 1],
      dtype: '<f',
      ...chunked,
    }).resize([8000, 8000]);
    f.close();
    const path = at('bomb.h5');
    writeFileSync(path, module.FS.readFile(mem));
    module.FS.unlink(mem);
    await expectOneLine(
      ['eval', '--data', path, '--weights', weights, '--arch', 'fastdepth-pruned'],
      `${path}: dataset "rgb" is 8000x8000 (64000000 pixels), more than the 16777216 (4096x4096) a frame may have; not decoded`,
    );
  });

  it('prune --resume with --overwrite is refused before any work', async () => {
    await expectOneLine(
      ['prune', '--budget', '0.5', '--resume', '--overwrite', '--out', at('p')],
      '--resume and --overwrite contradict each other: --resume continues the run in --out, --overwrite replaces it; give one',
    );
  });
});

describe('every error is one line', () => {
  it('a PNG with a bad CRC (libvips: two lines)', async () => {
    const png = Buffer.from(
      await sharp({ create: { width: 8, height: 8, channels: 3, background: '#808080' } })
        .png()
        .toBuffer(),
    );
    png[29]! ^= 0xff; // the IHDR chunk's CRC
    const path = at('bad-crc.png');
    writeFileSync(path, png);
    await expectOneLine(
      ['predict', path, '--out', at('d3.png')],
      `cannot decode image "${path}": Warning treated as error due to failOn setting; IHDR: CRC error (PNG, JPEG, WebP, TIFF, GIF and AVIF are read)`,
    );
  });

  it('a JPEG that is only its header (libvips: five lines, repeated)', async () => {
    const path = at('header-only.jpg');
    writeFileSync(path, Buffer.from('ffd8ffe000104a46494600010100000100010000', 'hex'));
    const line = await expectOneLine(
      ['predict', path, '--out', at('d4.png')],
      /cannot decode image ".*header-only\.jpg": /,
    );
    expect(line.match(/premature end of JPEG image/g)).toHaveLength(1);
  });

  it('a --queue value with a newline', async () => {
    await expectOneLine(
      ['prune', '--budget', '0.5', '--queue', 'not a url\nX-Injected: 1', '--out', at('p2')],
      '--queue "not a url\\nX-Injected: 1" is not a URL; expected redis://HOST:PORT or rediss://HOST:PORT',
    );
  });

  it('carriage returns and escape sequences from a file are escaped, not printed', async () => {
    const path = at('cr.json');
    writeFileSync(
      path,
      JSON.stringify({
        format: 'fastdepth-graph',
        version: 1,
        name: 'g',
        nodes: [{ op: 'input', name: 'a\rb\u001b[2K', inputs: [], attrs: { shape: [1, 3, 32, 32] } }],
      }),
    );
    await expectOneLine(['info', '--arch', path], /^fastdepth: error: .*cr\.json: .*a\\rb\\u001b\[2K/);
  });

  it('oneLine joins distinct lines and escapes control characters', () => {
    expect(oneLine('first\n  second\r\nfirst\n\nsecond')).toBe('first; second');
    expect(oneLine('a\rb\u0007c\td\u2028e')).toBe('a\\rb\\u0007c d\\u2028e');
    expect(oneLine('Input: bad thing\nbad thing')).toBe('Input: bad thing');
  });
});
