/**
 * Data for `prune`: calibration photos (augmented crops for the reconstruction refit and the
 * ranking, held-out photos prepared as runtime-web prepares an image) and labelled NYU frames,
 * prepared exactly as the authors' validation transform does, then subsampled (nearest).
 */
import { readdir } from 'node:fs/promises';
import { extname, join } from 'node:path';
import sharp, { type OutputInfo } from 'sharp';
import type { PreparedSample } from '@fastdepth/eval';
import { SeededRandom, type TensorF32 } from '@fastdepth/graph-dsl';
import type { DepthSample } from '@fastdepth/netadapt';
import { preprocess } from '@fastdepth/runtime-web';
import { readInput } from './arch-source.js';
import { errorLine, UserError } from './errors.js';

const IMAGE_EXTENSIONS = new Set(['.png', '.jpg', '.jpeg', '.webp', '.tif', '.tiff']);

/** A prepared (224x224) NYU frame subsampled to `size` x `size`: rgb CHW [3, s, s], depth [1, s, s]. */
export function sampleAt(frame: PreparedSample, size: number): DepthSample {
  const { width, height } = frame;
  const rgb = new Float32Array(3 * size * size);
  const depth = new Float32Array(size * size);
  for (let y = 0; y < size; y++) {
    const sy = Math.min(height - 1, Math.floor(((y + 0.5) * height) / size));
    for (let x = 0; x < size; x++) {
      const sx = Math.min(width - 1, Math.floor(((x + 0.5) * width) / size));
      const src = sy * width + sx;
      const dst = y * size + x;
      for (let c = 0; c < 3; c++) rgb[c * size * size + dst] = frame.rgb[src * 3 + c]!;
      depth[dst] = frame.depth[src]!;
    }
  }
  return { rgb: { shape: [3, size, size], data: rgb }, depth: { shape: [1, size, size], data: depth } };
}

/** Calibration images for reconstruction: augmented crops, scoring crops and held-out photos. */
export interface CalibrationSet {
  /** Augmented crops of the pruning photos, [3, H, W] at the network's resolution. */
  readonly calibration: TensorF32[];
  /** Augmented crops proposals are ranked on: of the ranking photos, else of the calibration photos. */
  readonly scoring: TensorF32[];
  /** Photos never used while pruning (centre crop, as runtime-web prepares them). */
  readonly heldOut: TensorF32[];
  /** Photos the calibration crops come from. */
  readonly photos: readonly string[];
  /** Photos only the ranking crops come from (empty: they come from `photos`). */
  readonly rankingNames: readonly string[];
  readonly heldOutNames: readonly string[];
}

export interface CalibrationOptions {
  readonly count: number;
  readonly scoring: number;
  /** Photos held out (default: one in five). */
  readonly holdout?: number;
  /**
   * Photos, of those not held out, that only the ranking crops come from (default: one in four;
   * 0: the ranking crops are other crops of the calibration photos).
   */
  readonly rankingPhotos?: number;
  readonly height: number;
  readonly width: number;
  readonly seed: number;
}

/** Smallest side a calibration photo may have: smaller ones carry no scene to learn from. */
const MIN_PHOTO_SIDE = 32;

interface DecodedPhoto {
  readonly name: string;
  readonly data: Buffer;
  readonly width: number;
  readonly height: number;
}

async function decodePhotos(dir: string): Promise<DecodedPhoto[]> {
  let names: string[];
  try {
    names = (await readdir(dir)).filter((n) => IMAGE_EXTENSIONS.has(extname(n).toLowerCase())).sort();
  } catch {
    throw new UserError(`--images "${dir}": cannot read this folder`);
  }
  if (names.length === 0)
    throw new UserError(`--images "${dir}": no .png/.jpg/.webp/.tif images in this folder`);
  const photos: DecodedPhoto[] = [];
  for (const name of names) {
    const path = join(dir, name);
    const bytes = await readInput(path, 'image', 'image');
    let raw: { data: Buffer; info: OutputInfo };
    try {
      raw = await sharp(bytes).rotate().removeAlpha().raw().toBuffer({ resolveWithObject: true });
    } catch (e) {
      throw new UserError(`cannot decode image "${path}": ${errorLine(e)}`);
    }
    const { width, height } = raw.info;
    if (Math.min(width, height) < MIN_PHOTO_SIDE)
      throw new UserError(
        `image "${path}" is ${width}x${height}: calibration photos need at least ${MIN_PHOTO_SIDE} pixels on each side`,
      );
    photos.push({ name, data: raw.data, width, height });
  }
  return photos;
}

/** A crop of a photo resized to width x height, optionally mirrored, as CHW in [0, 1]. */
async function cropOf(
  p: DecodedPhoto,
  box: { left: number; top: number; width: number; height: number },
  size: { width: number; height: number },
  flip: boolean,
): Promise<Float32Array> {
  let img = sharp(p.data, { raw: { width: p.width, height: p.height, channels: 3 } })
    .extract(box)
    .resize(size.width, size.height, { fit: 'fill' });
  if (flip) img = img.flop();
  const hwc = await img.raw().toBuffer();
  const plane = size.width * size.height;
  const out = new Float32Array(3 * plane);
  for (let i = 0; i < plane; i++) for (let c = 0; c < 3; c++) out[c * plane + i] = hwc[i * 3 + c]! / 255;
  return out;
}

/** Brightness, contrast and saturation jitter of +-20 %, in place (values stay in [0, 1]). */
function jitterColour(chw: Float32Array, plane: number, rng: SeededRandom): void {
  const brightness = 0.8 + 0.4 * rng.uniform();
  const contrast = 0.8 + 0.4 * rng.uniform();
  const saturation = 0.8 + 0.4 * rng.uniform();
  let mean = 0;
  for (let i = 0; i < 3 * plane; i++) mean += chw[i]!;
  mean /= 3 * plane;
  for (let i = 0; i < plane; i++) {
    const r = chw[i]!;
    const g = chw[plane + i]!;
    const b = chw[2 * plane + i]!;
    const grey = 0.299 * r + 0.587 * g + 0.114 * b;
    for (let c = 0; c < 3; c++) {
      let v = chw[c * plane + i]!;
      v = grey + (v - grey) * saturation;
      v = mean + (v - mean) * contrast;
      chw[c * plane + i] = Math.min(1, Math.max(0, v * brightness));
    }
  }
}

/** `count` random crops (side 50-100 % of the photo's, any position), mirrored half the time, colour-jittered. */
async function augmentedCrops(
  photos: readonly DecodedPhoto[],
  count: number,
  size: { width: number; height: number },
  rng: SeededRandom,
): Promise<TensorF32[]> {
  const out: TensorF32[] = [];
  const aspect = size.width / size.height;
  for (let k = 0; k < count; k++) {
    const p = photos[k % photos.length]!;
    const scale = 0.5 + 0.5 * rng.uniform();
    const full = Math.min(p.width / aspect, p.height);
    const h = Math.max(1, Math.round(full * scale));
    const w = Math.max(1, Math.min(p.width, Math.round(h * aspect)));
    const box = {
      left: Math.floor(rng.uniform() * (p.width - w + 1)),
      top: Math.floor(rng.uniform() * (p.height - h + 1)),
      width: w,
      height: h,
    };
    const data = await cropOf(p, box, size, rng.uniform() < 0.5);
    jitterColour(data, size.width * size.height, rng);
    out.push({ shape: [3, size.height, size.width], data });
  }
  return out;
}

/**
 * Reads every photo in `dir`, holds `holdout` of them out (a seeded choice), sets
 * `rankingPhotos` of the rest apart for ranking, and makes `count` calibration crops of the
 * others and `scoring` ranking crops of the ranking photos at the network's resolution.
 * Held-out photos are centre-cropped as runtime-web prepares an image.
 */
export async function loadCalibrationSet(dir: string, o: CalibrationOptions): Promise<CalibrationSet> {
  const { used, held: heldPhotos } = splitHoldout(dir, await decodePhotos(dir), o.holdout, o.seed);
  // Ranked on crops of the photos it was fitted on, a refit that only fits those photos wins:
  // the pruned FastDepth kept 0.96 delta1 on such crops and 0.86 on unseen photos.
  const ranking = o.rankingPhotos ?? Math.floor(used.length / 4);
  if (ranking > 0 && ranking >= used.length)
    throw new UserError(
      `--ranking-photos ${ranking}: "${dir}" has ${used.length} photo(s) besides the held-out ones; at least one must remain for calibration`,
    );
  const { used: fitted, held: rankingPhotos } = splitHoldout(dir, used, ranking, o.seed + 3);
  const size = { width: o.width, height: o.height };
  const calibration = await augmentedCrops(fitted, o.count, size, new SeededRandom(o.seed + 1));
  const scoring = await augmentedCrops(
    ranking > 0 ? rankingPhotos : fitted,
    o.scoring,
    size,
    new SeededRandom(o.seed + 2),
  );
  return {
    calibration,
    scoring,
    heldOut: heldPhotos.map((p) => prepared(p, o.width, o.height)),
    photos: fitted.map((p) => p.name),
    rankingNames: rankingPhotos.map((p) => p.name),
    heldOutNames: heldPhotos.map((p) => p.name),
  };
}

/** Holds `holdout` photos out (default one in five; a seeded choice), keeping at least one. */
function splitHoldout(
  dir: string,
  photos: readonly DecodedPhoto[],
  holdout: number | undefined,
  seed: number,
): { used: DecodedPhoto[]; held: DecodedPhoto[] } {
  const count = holdout ?? Math.floor(photos.length / 5);
  if (count >= photos.length)
    throw new UserError(
      `--holdout ${count}: "${dir}" has ${photos.length} photo(s); at least one must remain for calibration`,
    );
  const rng = new SeededRandom(seed);
  const order = photos.map((_, i) => i);
  for (let i = order.length - 1; i > 0; i--) {
    const j = Math.floor(rng.uniform() * (i + 1));
    [order[i], order[j]] = [order[j]!, order[i]!];
  }
  const held = new Set(order.slice(0, count));
  return { used: photos.filter((_, i) => !held.has(i)), held: photos.filter((_, i) => held.has(i)) };
}

/** A photo as runtime-web prepares an image (cover, centre crop, bilinear, RGB / 255), [3, H, W]. */
function prepared(p: DecodedPhoto, width: number, height: number): TensorF32 {
  return {
    shape: [3, height, width],
    data: preprocess({ data: p.data, width: p.width, height: p.height, channels: 3 }, width, height, 'nchw'),
  };
}

/** Photos for post-training quantisation: calibration and held-out sets, both prepared as runtime-web prepares an image. */
export interface QuantizationImages {
  readonly calibration: TensorF32[];
  readonly heldOut: TensorF32[];
  readonly photos: readonly string[];
  readonly heldOutNames: readonly string[];
}

/**
 * Reads every photo in `dir` and holds `holdout` of them out (a seeded choice, default one in
 * five, at least one): the rest calibrate the activation ranges, the held-out ones measure agreement. No
 * augmentation: calibration should see what the deployed network sees.
 */
export async function loadQuantizationImages(
  dir: string,
  o: { readonly holdout?: number; readonly height: number; readonly width: number; readonly seed: number },
): Promise<QuantizationImages> {
  const photos = await decodePhotos(dir);
  // At least one held out: the agreement report is the point of holding any out.
  const holdout = o.holdout ?? Math.max(1, Math.floor(photos.length / 5));
  const { used, held } = splitHoldout(dir, photos, holdout, o.seed);
  return {
    calibration: used.map((p) => prepared(p, o.width, o.height)),
    heldOut: held.map((p) => prepared(p, o.width, o.height)),
    photos: used.map((p) => p.name),
    heldOutNames: held.map((p) => p.name),
  };
}
