/**
 * tfjs-webgl in Chromium's software renderer (SwiftShader: Chromium started WITHOUT
 * --disable-gpu, so WebGL2 draws on the CPU, as on a machine with no GPU): the generated module
 * gives the reference executor's depth on webgl, and the automatic backend choice passes webgl
 * over there (it is ~30x slower than wasm) and says why.
 */
import { existsSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { execute, graphInputs, graphOutputs, maxRelativeError, randomTensor } from '@fastdepth/graph-dsl';
import { buildArch } from '@fastdepth/fastdepth-arch';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { emitModel, GENERATED_DIR, seededModel, type EmittedModel } from '../src/testing/models.js';
import { CHROMIUM, CHROMIUM_ARGS } from './chromium.js';
import { startDemoServer, type DemoServer } from './server.js';

const DIR = join(GENERATED_DIR, 'bench', `webgl-${process.pid}`);
const SIZE = 64;

let server: DemoServer | undefined;
let browser: Browser | undefined;
let page: Page | undefined;
let files: EmittedModel;
let input: Float32Array;
let expected: Float32Array;

beforeAll(async () => {
  if (!existsSync(CHROMIUM))
    throw new Error(`${CHROMIUM} is missing: install Debian's chromium to run the browser tests`);
  // fastdepth-pruned at 64x64 with seeded weights and random BatchNorm statistics.
  const model = seededModel(buildArch('fastdepth-pruned', { inputSize: SIZE }), 5);
  files = emitModel(model, 'webgl-parity', DIR, 'seeded');
  const inputNode = graphInputs(model.graph)[0]!;
  const nchw = randomTensor([1, 3, SIZE, SIZE], 11, 0, 1);
  const out = execute(model.graph, model.weights, { [inputNode.name]: nchw })[
    graphOutputs(model.graph)[0]!.name
  ]!;
  expected = Float32Array.from(out.data);
  input = new Float32Array(SIZE * SIZE * 3);
  for (let p = 0; p < SIZE * SIZE; p++)
    for (let c = 0; c < 3; c++) input[p * 3 + c] = nchw.data[c * SIZE * SIZE + p]!;

  server = await startDemoServer({ quiet: true });
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    // No --disable-gpu: WebGL2 must be there, drawn by SwiftShader.
    args: [...CHROMIUM_ARGS],
  });
  page = await browser.newPage();
  await page.goto(`${server.url}webgl.html`);
  await page.waitForFunction(() => document.getElementById('state')?.textContent === 'ready', undefined, {
    timeout: 120_000,
  });
}, 300_000);

afterAll(async () => {
  await browser?.close();
  await server?.close();
  rmSync(DIR, { recursive: true, force: true });
});

interface ParityResult {
  backend: string;
  backendReason: string;
  renderer: string | undefined;
  depth: number[];
  flags: Record<string, number | boolean>;
}

function run(backend: 'webgl' | undefined): Promise<ParityResult> {
  return page!.evaluate(
    (request) =>
      (
        globalThis as unknown as { fastdepthParity(r: typeof request): Promise<ParityResult> }
      ).fastdepthParity(request),
    {
      modulePath: files.tfjsModule,
      manifestUrl: `/bench-models/webgl-${process.pid}/webgl-parity.weights.json`,
      input: Array.from(input),
      ...(backend === undefined ? {} : { backend }),
    },
  );
}

describe('tfjs in Chromium on a software GPU (SwiftShader)', () => {
  it('webgl, float32 textures: the reference executor within 1e-3 relative', async () => {
    const result = await run('webgl');
    expect(result.renderer).toMatch(/SwiftShader/);
    expect([result.backend, result.backendReason]).toEqual(['webgl', 'webgl: requested']);
    expect(result.flags).toMatchObject({
      WEBGL_VERSION: 2,
      WEBGL_FORCE_F16_TEXTURES: false,
      WEBGL_RENDER_FLOAT32_ENABLED: true,
    });
    expect(result.depth).toHaveLength(SIZE * SIZE);
    expect(Math.max(...expected)).toBeGreaterThan(0);
    const error = maxRelativeError(Float32Array.from(result.depth), expected);
    console.log(`webgl (SwiftShader) vs reference executor: max relative error ${error.toExponential(2)}`);
    expect(error).toBeLessThan(1e-3);
  });

  it('the automatic choice passes over webgl on a software renderer, and says why', async () => {
    const result = await run(undefined);
    expect(result.backend).toBe('wasm');
    expect(result.backendReason).toMatch(
      /^wasm: first usable of webgpu > webgl > wasm > cpu \(webgpu: .*; webgl: skipped: software renderer ".*SwiftShader.*" \(much slower than wasm\)\)$/,
    );
    expect(maxRelativeError(Float32Array.from(result.depth), expected)).toBeLessThan(1e-4);
  });
});
