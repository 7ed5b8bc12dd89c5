/**
 * build.py's argument handling and file flow, against a stub `tvm` (src/testing/tvm-stub,
 * copied to a temp dir and put on PYTHONPATH). The stub computes nothing; numbers are TVM's
 * business. numpy is required: without it these tests fail with the install hint.
 */
import {
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  unlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execute, initWeights, type Model, type TensorF32 } from '@fastdepth/graph-dsl';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { relayParams } from './emit-relay.js';
import { encodeTensorNpy } from './npz.js';
import { emitTvmPackage } from './package.js';
import { OP_GRAPHS } from './testing/graphs.js';
import { python, requireNumpy } from './testing/python.js';

const root = mkdtempSync(join(tmpdir(), 'codegen-tvm-buildpy-'));
const stub = join(root, 'stub');
const noTvm = join(root, 'no-tvm');
const pkg = join(root, 'pkg');
const log = join(root, 'log.jsonl');
afterAll(() => rmSync(root, { recursive: true, force: true }));

const graph = OP_GRAPHS.conv_bn_relu6!;
const model: Model = { graph, weights: initWeights(graph, 5) };
const input: TensorF32 = {
  shape: [1, 3, 8, 8],
  data: Float32Array.from({ length: 192 }, (_, i) => (i % 17) / 17),
};
const out = execute(graph, model.weights, { input })['out']!;
const expected: TensorF32 = { shape: out.shape, data: Float32Array.from(out.data) };

interface Event {
  readonly event: string;
  readonly [key: string]: unknown;
}

function run(
  args: readonly string[],
  env: Record<string, string> = {},
  path = stub,
): { status: number | null; stdout: string; stderr: string; events: Event[] } {
  rmSync(log, { force: true });
  const r = python([join(pkg, 'build.py'), ...args], {
    env: {
      ...process.env,
      PYTHONPATH: path,
      PYTHONDONTWRITEBYTECODE: '1',
      STUB_LOG: log,
      STUB_EXPECTED: join(pkg, 'expected.npy'),
      COLUMNS: '100',
      ...env,
    },
  });
  const events = existsSync(log)
    ? readFileSync(log, 'utf8')
        .trim()
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l) as Event)
    : [];
  return { ...r, events };
}
const find = (events: readonly Event[], name: string): Event | undefined =>
  events.find((e) => e.event === name);

beforeAll(() => {
  requireNumpy();
  cpSync(new URL('./testing/tvm-stub', import.meta.url), stub, { recursive: true });
  mkdirSync(join(noTvm, 'tvm'), { recursive: true });
  writeFileSync(join(noTvm, 'tvm', '__init__.py'), 'raise ImportError("No module named tvm (stub)")\n');
});

beforeEach(() => {
  rmSync(pkg, { recursive: true, force: true });
  mkdirSync(pkg);
  for (const f of emitTvmPackage(model, { archName: 'tiny', input, expected }).files)
    writeFileSync(join(pkg, f.name), f.data);
});

describe('build.py', () => {
  it('compiles with py_compile', () => {
    const r = python(['-m', 'py_compile', join(pkg, 'build.py')], {
      env: { ...process.env, PYTHONDONTWRITEBYTECODE: '1' },
    });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
  });

  it('--help works without TVM and names every option and preset', () => {
    const r = run(['--help'], {}, noTvm);
    expect(r.status).toBe(0);
    for (const s of [
      '--target',
      '--tune-trials',
      '--frontend {relay,onnx}',
      '--no-check',
      'tx2-cpu',
      'tx2-gpu',
      'rasp4',
      'exit codes',
    ])
      expect(r.stdout).toContain(s);
  });

  it('default run: parses the text, loads the params, builds for llvm at opt_level 3, exports .so, self-checks', () => {
    const r = run([]);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(find(r.events, 'relay.parse')?.first_line).toBe('#[version = "0.0.5"]');
    const names = [...relayParams(model).keys()];
    expect(find(r.events, 'load_param_dict')?.names).toEqual(names);
    expect(find(r.events, 'PassContext.enter')?.opt_level).toBe(3);
    const build = find(r.events, 'relay.build')!;
    expect(build.target).toBe('llvm');
    expect(build.params).toEqual([...names].sort());
    expect(find(r.events, 'set_input')).toMatchObject({
      name: 'input',
      shape: [1, 3, 8, 8],
      dtype: 'float32',
    });
    expect(find(r.events, 'export_library')?.path).toBe(join(pkg, 'tiny-llvm.so'));
    expect(existsSync(join(pkg, 'tiny-llvm.so'))).toBe(true);
    expect(r.stdout).toMatch(/self-check: max relative error 0\.000e\+00/);
  });

  it('--target tx2-cpu maps to the preset, exports .tar and skips the self-check', () => {
    const r = run(['--target', 'tx2-cpu']);
    expect(r.status).toBe(0);
    expect(find(r.events, 'relay.build')?.target).toBe(
      'llvm -device=arm_cpu -mtriple=aarch64-linux-gnu -mattr=+neon',
    );
    expect(find(r.events, 'export_library')?.path).toBe(join(pkg, 'tiny-tx2-cpu.tar'));
    expect(find(r.events, 'GraphModule')).toBeUndefined();
  });

  it('--target tx2-gpu is CUDA with an aarch64 host; rasp4 adds the Cortex-A72', () => {
    const gpu = run(['--target', 'tx2-gpu']);
    expect(gpu.status).toBe(0);
    expect(find(gpu.events, 'Target')).toMatchObject({
      target: 'cuda -arch=sm_62',
      host: 'llvm -mtriple=aarch64-linux-gnu',
    });
    const pi = run(['--target', 'rasp4']);
    expect(find(pi.events, 'relay.build')?.target).toContain('-mcpu=cortex-a72');
  });

  it('a self-check mismatch exits 1 with one line', () => {
    const r = run([], { STUB_OFFSET: '0.5' });
    expect(r.status).toBe(1);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/^error: self-check failed: max relative error .* exceeds 1\.0e-04/);
  });

  it('a constant expected.npy fails the self-check before the build, with one line', () => {
    // All zeros: what a seeded network with a dead last ReLU gives. Any build would "match" it.
    writeFileSync(
      join(pkg, 'expected.npy'),
      encodeTensorNpy({ shape: expected.shape, data: new Float32Array(expected.data.length) }),
    );
    const r = run([], {}, noTvm);
    expect(r.status).toBe(1);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toBe(
      `error: self-check: ${join(pkg, 'expected.npy')} is constant (0 everywhere), so the check cannot fail; regenerate the package with weights whose output varies, or pass --no-check\n`,
    );
    // Without the self-check the reference is not needed: the run goes on (to the missing TVM).
    expect(run(['--no-check'], {}, noTvm).status).toBe(3);
  });

  it('a missing file is one line naming it, exit 2, before TVM is needed', () => {
    unlinkSync(join(pkg, 'tiny.params'));
    const r = run([], {}, noTvm);
    expect(r.status).toBe(2);
    expect(r.stderr).toBe(`error: missing parameter file: ${join(pkg, 'tiny.params')}\n`);
  });

  it('no TVM: one line, exit 3', () => {
    const r = run([], {}, noTvm);
    expect(r.status).toBe(3);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/^error: cannot import tvm/);
  });

  it('--tune-trials tunes, keeps the log, and a later build reuses it', () => {
    const logFile = join(pkg, 'tiny-llvm.autoscheduler.json');
    const first = run(['--tune-trials', '10']);
    expect(first.status).toBe(0);
    expect(find(first.events, 'extract_tasks')?.target).toBe('llvm');
    expect(find(first.events, 'TaskScheduler')?.load_log_file).toBeNull();
    expect(find(first.events, 'tune')).toMatchObject({ trials: 10, runner: 'LocalRunner' });
    expect(existsSync(logFile)).toBe(true);
    expect(find(first.events, 'ApplyHistoryBest.enter')?.log).toBe(logFile);
    expect(find(first.events, 'PassContext.enter')?.config).toEqual({
      'relay.backend.use_auto_scheduler': true,
    });

    const again = run(['--tune-trials', '5']);
    expect(find(again.events, 'TaskScheduler')?.load_log_file).toBe(logFile);
    const reuse = run([]);
    expect(find(reuse.events, 'tune')).toBeUndefined();
    expect(find(reuse.events, 'ApplyHistoryBest.enter')?.log).toBe(logFile);
  });

  it('tuning a cross target needs an RPC key', () => {
    const r = run(['--target', 'tx2-cpu', '--tune-trials', '4']);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/^error: .*--rpc-key/);
    const ok = run(['--target', 'tx2-cpu', '--tune-trials', '4', '--rpc-key', 'tx2']);
    expect(ok.status).toBe(0);
    expect(find(ok.events, 'tune')?.runner).toBe('RPCRunner');
  });

  it('--frontend onnx builds through Relax from <model>.onnx and self-checks', () => {
    expect(run(['--frontend', 'onnx']).stderr).toBe(`error: missing ONNX file: ${join(pkg, 'tiny.onnx')}\n`);
    writeFileSync(join(pkg, 'tiny.onnx'), 'stub');
    const r = run(['--frontend', 'onnx']);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(find(r.events, 'from_onnx')).toMatchObject({
      model: 'onnx:tiny.onnx',
      keep_params_in_input: false,
    });
    expect(find(r.events, 'relax.build')?.target).toBe('llvm');
    expect(find(r.events, 'export_library')?.path).toBe(join(pkg, 'tiny-llvm-relax.so'));
    expect(r.stdout).toContain('self-check: max relative error');
  });

  it("--frontend onnx finds the CLI's ../onnx/<model>.onnx when none lies beside it", () => {
    rmSync(join(pkg, 'tiny.onnx'), { force: true });
    const onnxDir = join(root, 'onnx');
    mkdirSync(onnxDir, { recursive: true });
    writeFileSync(join(onnxDir, 'tiny.onnx'), 'stub');
    try {
      const r = run(['--frontend', 'onnx']);
      expect(r.stderr).toBe('');
      expect(r.status).toBe(0);
      expect(r.stdout).toContain('imported tiny.onnx');
    } finally {
      rmSync(onnxDir, { recursive: true, force: true });
    }
  });

  it('bad arguments exit 2 through argparse', () => {
    const r = run(['--frontend', 'tflite'], {}, noTvm);
    expect(r.status).toBe(2);
    expect(r.stderr).toContain("invalid choice: 'tflite'");
  });
});
