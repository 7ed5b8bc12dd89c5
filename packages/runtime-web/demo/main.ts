/**
 * The demo page: loads the model with the chosen engine/backend (by default the fastest this
 * page can run: the wasm engine, with threads where the page is cross-origin isolated, its int8
 * build when the model folder has one), in a worker (so estimating never blocks the page), opens
 * on a sample photo already estimated, and estimates picked, dropped or webcam frames, shown
 * beside the image with fps, latency and a legend in metres that stays steady on video
 * (`estimator.stream`'s smoothed colour range). URL parameters `engine`, `backend`, `threads`,
 * `worker` (0, 1 or `builtin`: the package's own worker) preselect the controls, `camera=1` starts
 * the webcam, `maxFps=N` caps its estimates per second and `inFlight=2` sends a second frame
 * before the first comes back (the e2e tests and the stream bench use them).
 */
import {
  colormapTable,
  createDepthEstimator,
  depthRange,
  toColorMap,
  type BackendName,
  type ColormapName,
  type DepthEstimator,
  type DepthResult,
  type EngineName,
  type DepthStream,
  type ModelSource,
  type StreamFrame,
} from '@fastdepth/runtime-web';
// The onnx engine's runtime: registered here, as an app's onnx page does.
import { startOnnxDepthWorker } from '@fastdepth/runtime-web/onnx';
import { startDepthWorker } from '@fastdepth/runtime-web/default-worker';
import { info, manifestUrl, module, onnxUrl, wasmManifestUrl, wasmPaths } from 'virtual:demo-model';

function byId(id: string): HTMLElement {
  const element = document.getElementById(id);
  if (element === null) throw new Error(`demo: #${id} missing`);
  return element;
}

const ui = {
  engine: byId('engine') as HTMLSelectElement,
  backend: byId('backend') as HTMLSelectElement,
  threads: byId('threads') as HTMLSelectElement,
  worker: byId('worker') as HTMLInputElement,
  colormap: byId('colormap') as HTMLSelectElement,
  file: byId('file') as HTMLInputElement,
  webcam: byId('webcam') as HTMLButtonElement,
  drop: byId('drop'),
  imageCanvas: byId('image-canvas') as HTMLCanvasElement,
  depthCanvas: byId('depth-canvas') as HTMLCanvasElement,
  legendBar: byId('legend-bar') as HTMLCanvasElement,
  legendMin: byId('legend-min'),
  legendMax: byId('legend-max'),
  modelInfo: byId('model-info'),
  status: byId('status'),
  video: byId('video') as HTMLVideoElement,
  stat: {
    engine: byId('stat-engine'),
    backend: byId('stat-backend'),
    reason: byId('stat-reason'),
    latency: byId('stat-latency'),
    fps: byId('stat-fps'),
    size: byId('stat-size'),
    isolated: byId('stat-isolated'),
  },
};

const MAX_VIEW = 640;
const maxThreads = globalThis.crossOriginIsolated ? Math.min(navigator.hardwareConcurrency || 1, 8) : 1;
for (let n = 1; n <= maxThreads; n++) ui.threads.add(new Option(String(n), String(n)));
ui.stat.isolated.textContent = globalThis.crossOriginIsolated ? 'yes (threads)' : 'no';
ui.modelInfo.textContent =
  info.origin === 'trained'
    ? `${info.arch}, weights trained on NYU Depth v2 (the paper's pruned model).`
    : `${info.arch} with SEEDED random weights: the pipeline runs, but the depth is meaningless until the trained weights can be imported.`;
ui.modelInfo.classList.toggle('seeded', info.origin === 'seeded');
// The int8 build exists only for the trained model (the file's own int8 quantisation).
if (info.int8 !== true) ui.engine.querySelector('option[value="wasm-int8"]')?.remove();

// The fastest engine a page can run: the compiled wasm engine (its int8 build where the model has
// one), on 2 threads where allowed.
ui.engine.value = info.int8 === true ? 'wasm-int8' : 'wasm';
ui.threads.value = String(Math.min(2, maxThreads));
const params = new URLSearchParams(location.search);
if (params.get('worker') === '0') ui.worker.checked = false;
for (const [key, select] of [
  ['engine', ui.engine],
  ['backend', ui.backend],
  ['threads', ui.threads],
] as const) {
  const value = params.get(key);
  if (value !== null) select.value = value;
}

let estimator: DepthEstimator | undefined;
let loading: Promise<DepthEstimator> | undefined;
let lastImage: ImageBitmap | undefined;
let lastResult: DepthResult | undefined;
let stream: MediaStream | undefined;
let depthStream: DepthStream | undefined;
function modelSource(engine: EngineName, int8 = false): ModelSource {
  return engine === 'tfjs'
    ? { engine, module, weights: { manifestUrl } }
    : engine === 'onnx'
      ? { engine, model: onnxUrl }
      : int8
        ? {
            engine,
            model: {
              manifestUrl: wasmManifestUrl.replace(/\.wasm-manifest\.json$/, '.int8.wasm-manifest.json'),
            },
          }
        : { engine, model: { manifestUrl: wasmManifestUrl, precision: 'float32' } };
}

/** For the e2e tests and the bench: the estimator, the running stream, and a way to make more. */
(globalThis as { demo?: unknown }).demo = {
  get estimator() {
    return estimator;
  },
  get stream() {
    return depthStream;
  },
  /** An estimator of the demo model beside the page's, in a worker (the demo's) or not. */
  create: (engine: EngineName, numThreads: number, inWorker: boolean) =>
    createDepthEstimator({
      model: modelSource(engine),
      numThreads,
      wasmPaths,
      ...(inWorker
        ? { worker: new Worker(new URL('./depth-worker.ts', import.meta.url), { type: 'module' }) }
        : {}),
    }),
};

function setStatus(text: string, error = false): void {
  ui.status.textContent = text;
  ui.status.classList.toggle('error', error);
}

async function load(): Promise<DepthEstimator> {
  const old = estimator;
  estimator = undefined;
  await old?.dispose();
  const int8 = ui.engine.value === 'wasm-int8';
  const engine = (int8 ? 'wasm' : ui.engine.value) as EngineName;
  const backend = ui.backend.value === 'auto' ? undefined : (ui.backend.value as BackendName);
  const numThreads = Number(ui.threads.value || '1');
  setStatus(`Loading ${engine} on ${backend ?? 'the first backend that works'}…`);
  const model = modelSource(engine, int8);
  // The demo's own worker runs every engine; `?worker=builtin` takes the package's (onnx, wasm).
  const worker = !ui.worker.checked
    ? undefined
    : params.get('worker') === 'builtin' && engine !== 'tfjs'
      ? engine === 'onnx'
        ? startOnnxDepthWorker()
        : startDepthWorker()
      : new Worker(new URL('./depth-worker.ts', import.meta.url), { type: 'module' });
  const loaded = await createDepthEstimator({
    model,
    ...(backend === undefined ? {} : { backend }),
    numThreads,
    wasmPaths,
    ...(worker === undefined ? {} : { worker }),
  });
  ui.stat.engine.textContent = loaded.inWorker ? `${loaded.engine} (in a worker)` : loaded.engine;
  ui.stat.engine.dataset.engine = loaded.engine;
  // What the runtime actually runs on (tfjs-wasm fixes its pool when it first initialises).
  ui.stat.backend.textContent =
    loaded.threads > 1 ? `${loaded.backend} × ${loaded.threads} threads` : loaded.backend;
  ui.stat.reason.textContent = loaded.backendReason;
  ui.stat.size.textContent = `${loaded.width} × ${loaded.height}`;
  // The first run compiles shaders / kernels (seconds on webgl): do it now, so the latency the
  // page shows is the steady one.
  setStatus(`Warming up ${loaded.engine} on ${loaded.backend}…`);
  const blank = new Uint8ClampedArray(loaded.width * loaded.height * 4).fill(128);
  const warm = await loaded.estimate({ data: blank, width: loaded.width, height: loaded.height });
  ui.stat.latency.textContent = `– (first run ${warm.latencyMs.toFixed(0)} ms)`;
  setStatus('Ready. Choose an image, drop one, or use the webcam.');
  estimator = loaded;
  return loaded;
}

/** The sample photo the page opens with (served from the shared data; absent: no sample). */
async function sample(): Promise<ImageBitmap | undefined> {
  const response = await fetch('/samples/demo01.jpg');
  if (!response.ok) return undefined;
  return createImageBitmap(await response.blob());
}

function reload(): void {
  const webcam = stream !== undefined;
  if (webcam) stopWebcam();
  loading = load();
  loading
    .then(async () => {
      if (webcam || params.get('camera') === '1') {
        params.delete('camera');
        await startWebcam();
        return;
      }
      lastImage ??= await sample();
      if (lastImage !== undefined) await run(lastImage);
    })
    .catch((error: unknown) => setStatus((error as Error).message, true));
}

function viewSize(width: number, height: number): [number, number] {
  const scale = Math.min(1, MAX_VIEW / Math.max(width, height));
  return [Math.max(1, Math.round(width * scale)), Math.max(1, Math.round(height * scale))];
}

/** The depth map coloured at the network's resolution; the canvas scales it onto the view. */
const depthSmall = document.createElement('canvas');

function drawDepth(result: DepthResult, range?: { min: number; max: number }): void {
  const colormap = ui.colormap.value as ColormapName;
  const [width, height] = [ui.imageCanvas.width, ui.imageCanvas.height];
  // A photo: its own 2-98 % range; video: the stream's smoothed range, so colours stay put.
  const [min, max] = range === undefined ? depthRange(result.depth) : [range.min, range.max];
  depthSmall.width = result.width;
  depthSmall.height = result.height;
  depthSmall
    .getContext('2d')!
    .putImageData(
      new ImageData(toColorMap(result.depth, { colormap, min, max }), result.width, result.height),
      0,
      0,
    );
  if (ui.depthCanvas.width !== width || ui.depthCanvas.height !== height) {
    ui.depthCanvas.width = width;
    ui.depthCanvas.height = height;
  }
  // Only the region the network saw is drawn: the sides of a centre-cropped photo stay empty.
  const { crop, width: sourceWidth, height: sourceHeight } = result.source;
  const [sx, sy] = [width / sourceWidth, height / sourceHeight];
  const context = ui.depthCanvas.getContext('2d')!;
  context.clearRect(0, 0, width, height);
  context.drawImage(depthSmall, crop.x * sx, crop.y * sy, crop.width * sx, crop.height * sy);
  const table = colormapTable(colormap);
  const bar = new ImageData(256, 1);
  for (let i = 0; i < 256; i++)
    bar.data.set([table[i * 3]!, table[i * 3 + 1]!, table[i * 3 + 2]!, 255], i * 4);
  const legend = ui.legendBar.getContext('2d')!;
  for (let y = 0; y < ui.legendBar.height; y++) legend.putImageData(bar, 0, y);
  ui.legendMin.textContent = `${min.toFixed(2)} m`;
  ui.legendMax.textContent = `${max.toFixed(2)} m`;
  ui.stat.latency.textContent = `${result.latencyMs.toFixed(1)} ms`;
  ui.stat.latency.dataset.ms = String(result.latencyMs);
  document.body.dataset.estimates = String(Number(document.body.dataset.estimates ?? '0') + 1);
}

function drawFrame(frame: StreamFrame): void {
  const video = ui.video;
  const [width, height] = viewSize(video.videoWidth, video.videoHeight);
  if (ui.imageCanvas.width !== width || ui.imageCanvas.height !== height) {
    ui.imageCanvas.width = width;
    ui.imageCanvas.height = height;
  }
  ui.imageCanvas.getContext('2d')!.drawImage(video, 0, 0, width, height);
  lastResult = frame.result;
  lastRange = frame.range;
  drawDepth(frame.result, frame.range);
  const { fps, sourceFps, dropped, latencyMs } = frame.stats;
  ui.stat.latency.textContent = `${latencyMs.median.toFixed(1)} ms (median)`;
  ui.stat.fps.textContent = `${fps.toFixed(1)} depth/s of ${sourceFps.toFixed(1)} camera frames/s, ${dropped} dropped`;
  ui.stat.fps.dataset.fps = String(fps);
}

let lastRange: { min: number; max: number } | undefined;

async function run(image: ImageBitmap | HTMLVideoElement): Promise<void> {
  const current = estimator ?? (await loading);
  if (current === undefined) return;
  const [sw, sh] =
    image instanceof HTMLVideoElement ? [image.videoWidth, image.videoHeight] : [image.width, image.height];
  const [width, height] = viewSize(sw, sh);
  ui.imageCanvas.width = width;
  ui.imageCanvas.height = height;
  ui.imageCanvas.getContext('2d')!.drawImage(image, 0, 0, width, height);
  lastResult = await current.estimate(image);
  lastRange = undefined;
  drawDepth(lastResult);
  ui.stat.fps.textContent = '–';
}

async function showFile(file: File): Promise<void> {
  stopWebcam();
  try {
    const bitmap = await createImageBitmap(file);
    lastImage = bitmap;
    setStatus(`${file.name}: ${bitmap.width} × ${bitmap.height}`);
    await run(bitmap);
  } catch (error) {
    setStatus(`${file.name}: ${(error as Error).message}`, true);
  }
}

function stopWebcam(): void {
  void depthStream?.stop();
  depthStream = undefined;
  stream?.getTracks().forEach((t) => t.stop());
  stream = undefined;
  ui.webcam.textContent = 'Use the webcam';
}

async function startWebcam(): Promise<void> {
  const current = estimator ?? (await loading);
  if (current === undefined) return;
  stream = await navigator.mediaDevices.getUserMedia({ video: { width: 640, height: 480 } });
  ui.video.srcObject = stream;
  await ui.video.play();
  ui.webcam.textContent = 'Stop the webcam';
  setStatus(`Webcam: estimating continuously${current.inWorker ? ' in a worker' : ''}.`);
  const maxFps = Number(params.get('maxFps') ?? Infinity);
  const framesInFlight = params.get('inFlight') === '2' ? 2 : 1;
  depthStream = current.stream(ui.video, drawFrame, {
    ...(Number.isFinite(maxFps) ? { maxFps } : {}),
    framesInFlight,
    onError: (error) => setStatus(`webcam: ${error.message}`, true),
  });
}

ui.file.addEventListener('change', () => {
  const file = ui.file.files?.[0];
  if (file !== undefined) void showFile(file);
  ui.file.value = '';
});
ui.webcam.addEventListener('click', () => {
  if (stream !== undefined) stopWebcam();
  else startWebcam().catch((error: unknown) => setStatus(`webcam: ${(error as Error).message}`, true));
});
for (const select of [ui.engine, ui.backend, ui.threads, ui.worker])
  select.addEventListener('change', reload);
ui.colormap.addEventListener('change', () => {
  if (lastResult !== undefined) drawDepth(lastResult, lastRange);
});
document.addEventListener('dragover', (event) => {
  event.preventDefault();
  ui.drop.classList.add('dragging');
});
document.addEventListener('dragleave', () => ui.drop.classList.remove('dragging'));
document.addEventListener('drop', (event) => {
  event.preventDefault();
  ui.drop.classList.remove('dragging');
  const file = event.dataTransfer?.files[0];
  if (file !== undefined) void showFile(file);
});

reload();
