/**
 * The demo page: loads the model with the chosen engine/backend, estimates depth for a picked,
 * dropped or webcam image and shows it beside the image with latency and a legend in metres.
 * URL parameters `engine`, `backend`, `threads` preselect the controls (the e2e test uses them).
 */
import {
  colormapTable,
  createDepthEstimator,
  depthRange,
  resizeDepth,
  toColorMap,
  type BackendName,
  type ColormapName,
  type DepthEstimator,
  type DepthResult,
  type EngineName,
  type ModelSource,
} from '@fastdepth/runtime-web';
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

const params = new URLSearchParams(location.search);
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
  const model: ModelSource =
    engine === 'tfjs'
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
  const loaded = await createDepthEstimator({ model, backend, numThreads, wasmPaths });
  ui.stat.engine.textContent = loaded.engine;
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

function reload(): void {
  loading = load();
  loading
    .then(() => (lastImage !== undefined && stream === undefined ? run(lastImage) : undefined))
    .catch((error: unknown) => setStatus((error as Error).message, true));
}

function viewSize(width: number, height: number): [number, number] {
  const scale = Math.min(1, MAX_VIEW / Math.max(width, height));
  return [Math.max(1, Math.round(width * scale)), Math.max(1, Math.round(height * scale))];
}

function drawDepth(result: DepthResult): void {
  const colormap = ui.colormap.value as ColormapName;
  const [width, height] = [ui.imageCanvas.width, ui.imageCanvas.height];
  // The sides the network did not see (a wide photo is centre-cropped) stay transparent.
  const depth = resizeDepth(result, width, height, { interpolation: 'bilinear', outside: 'nan' });
  const [min, max] = depthRange(result.depth);
  ui.depthCanvas.width = width;
  ui.depthCanvas.height = height;
  ui.depthCanvas
    .getContext('2d')!
    .putImageData(new ImageData(toColorMap(depth, { colormap, min, max }), width, height), 0, 0);
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
}

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
  drawDepth(lastResult);
  document.body.dataset.estimates = String(Number(document.body.dataset.estimates ?? '0') + 1);
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
  stream?.getTracks().forEach((t) => t.stop());
  stream = undefined;
  ui.webcam.textContent = 'Use the webcam';
}

async function startWebcam(): Promise<void> {
  stream = await navigator.mediaDevices.getUserMedia({ video: { width: 640, height: 480 } });
  ui.video.srcObject = stream;
  await ui.video.play();
  ui.webcam.textContent = 'Stop the webcam';
  setStatus('Webcam: estimating continuously.');
  const loop = async (): Promise<void> => {
    if (stream === undefined) return;
    if (ui.video.videoWidth > 0) await run(ui.video);
    requestAnimationFrame(
      () => void loop().catch((error: unknown) => setStatus((error as Error).message, true)),
    );
  };
  await loop();
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
for (const select of [ui.engine, ui.backend, ui.threads]) select.addEventListener('change', reload);
ui.colormap.addEventListener('change', () => {
  if (lastResult !== undefined) drawDepth(lastResult);
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
