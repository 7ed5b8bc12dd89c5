/**
 * Content-addressed data in Redis: graphs as graph-DSL JSON, weights and images as safetensors,
 * each stored once under its SHA-256 with an expiry and fetched by workers on demand. Workers
 * check the hash and read everything with the existing loaders; no code is ever stored.
 */
import { createHash } from 'node:crypto';
import type { Redis } from 'ioredis';
import {
  checkWeights,
  decodeSafetensors,
  encodeSafetensors,
  FastDepthError,
  loadGraph,
  saveGraph,
  type Model,
  type TensorF32,
} from '@fastdepth/graph-dsl';
import type { DepthSample } from '../train.js';

export const KEY_PREFIX = 'fastdepth:netadapt';

/** A model by content: its graph JSON and its safetensors weights. */
export interface ModelRef {
  readonly graph: string;
  readonly weights: string;
}

export const sha256 = (bytes: Uint8Array): string => createHash('sha256').update(bytes).digest('hex');
const blobKey = (hash: string): string => `${KEY_PREFIX}:blob:${hash}`;

/** Images [3, H, W] as one safetensors file (`image.0`, `image.1`, ...). */
export function encodeImages(images: readonly TensorF32[]): Uint8Array {
  const pad = String(images.length).length;
  return encodeSafetensors(new Map(images.map((t, i) => [`image.${String(i).padStart(pad, '0')}`, t])));
}

/** Training pairs as one safetensors file (`rgb.N`, `depth.N`). */
export function encodeSamples(samples: readonly DepthSample[]): Uint8Array {
  const pad = String(samples.length).length;
  const map = new Map<string, TensorF32>();
  samples.forEach((s, i) => {
    map.set(`rgb.${String(i).padStart(pad, '0')}`, s.rgb);
    map.set(`depth.${String(i).padStart(pad, '0')}`, s.depth);
  });
  return encodeSafetensors(map);
}

/** Tensors of a decoded file named `${stem}.N`, in N's order. */
function numbered(weights: ReadonlyMap<string, TensorF32>, stem: string): TensorF32[] {
  return [...weights.keys()]
    .filter((k) => k.startsWith(`${stem}.`))
    .sort()
    .map((k) => weights.get(k)!);
}

function checkImage(t: TensorF32, what: string, i: number, channels: number, like?: TensorF32): void {
  const [c, h, w] = t.shape as [number, number, number];
  if (t.shape.length !== 3 || c !== channels || !(h > 0 && w > 0))
    throw new FastDepthError(
      `${what}: image ${i} has shape [${t.shape.join(', ')}], expected [${channels}, H, W]`,
    );
  if (like && (like.shape[1] !== h || like.shape[2] !== w))
    throw new FastDepthError(
      `${what}: image ${i} is ${h}x${w}, image 0 is ${like.shape[1]}x${like.shape[2]}`,
    );
  for (const v of t.data)
    if (!Number.isFinite(v)) throw new FastDepthError(`${what}: image ${i} holds a non-finite value`);
}

/** Where blobs live: Redis for the queue, a map in memory for worker threads. */
export interface BlobBackend {
  /** Stores `bytes` under `hash` unless present; either way its expiry restarts. */
  put(hash: string, bytes: Uint8Array): Promise<void>;
  get(hash: string): Promise<Uint8Array | null>;
  touch(hashes: readonly string[]): Promise<void>;
  remove(hashes: readonly string[]): Promise<void>;
}

/** Blobs in Redis under `fastdepth:netadapt:blob:<sha256>`, each with an expiry. */
export function redisBlobs(redis: Redis, ttlSeconds = 24 * 3600): BlobBackend {
  return {
    async put(hash, bytes) {
      const key = blobKey(hash);
      const buffer = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
      const set = await redis.set(key, buffer, 'EX', ttlSeconds, 'NX');
      if (set === null) await redis.expire(key, ttlSeconds);
    },
    get: (hash) => redis.getBuffer(blobKey(hash)),
    async touch(hashes) {
      const p = redis.pipeline();
      for (const h of hashes) p.expire(blobKey(h), ttlSeconds);
      await p.exec();
    },
    async remove(hashes) {
      if (hashes.length > 0) await redis.del(...hashes.map(blobKey));
    },
  };
}

/** Blobs in a map (worker threads of one process; nothing expires). */
export function memoryBlobs(
  map = new Map<string, Uint8Array>(),
): BlobBackend & { readonly map: Map<string, Uint8Array> } {
  return {
    map,
    put: (hash, bytes) => {
      if (!map.has(hash)) map.set(hash, bytes);
      return Promise.resolve();
    },
    get: (hash) => Promise.resolve(map.get(hash) ?? null),
    touch: () => Promise.resolve(),
    remove: (hashes) => {
      for (const h of hashes) map.delete(h);
      return Promise.resolve();
    },
  };
}

/** The coordinator's side: stores data once per content, refreshing the expiry of what it reuses. */
export class BlobWriter {
  private readonly models = new WeakMap<Model, ModelRef>();
  private readonly lists = new WeakMap<object, string>();
  constructor(readonly backend: BlobBackend) {}

  async put(bytes: Uint8Array): Promise<string> {
    const hash = sha256(bytes);
    await this.backend.put(hash, bytes);
    return hash;
  }

  /** Extends the expiry of blobs still in use (a long run outlives one TTL). */
  touch(hashes: readonly string[]): Promise<void> {
    return this.backend.touch(hashes);
  }

  remove(hashes: readonly string[]): Promise<void> {
    return this.backend.remove(hashes);
  }

  async model(model: Model): Promise<ModelRef> {
    const known = this.models.get(model);
    if (known) return known;
    const ref = {
      graph: await this.put(new TextEncoder().encode(saveGraph(model.graph))),
      weights: await this.put(encodeSafetensors(model.weights)),
    };
    this.models.set(model, ref);
    return ref;
  }

  /** A list of images or samples, hashed once per list object. */
  async list(list: object, encode: () => Uint8Array): Promise<string> {
    const known = this.lists.get(list);
    if (known) return known;
    const hash = await this.put(encode());
    this.lists.set(list, hash);
    return hash;
  }
}

/** A small cache that keeps the `size` most recently used entries. */
export class Recent<V> {
  private readonly map = new Map<string, V>();
  constructor(private readonly size: number) {}
  get(key: string, make: () => V): V {
    const hit = this.map.get(key);
    if (hit !== undefined) {
      this.map.delete(key);
      this.map.set(key, hit);
      return hit;
    }
    const v = make();
    this.map.set(key, v);
    while (this.map.size > this.size) this.map.delete(this.map.keys().next().value!);
    return v;
  }
  delete(key: string): void {
    this.map.delete(key);
  }
}

/** The worker's side: fetches by hash, checks the hash, validates with the loaders, caches. */
export class BlobReader {
  private readonly models = new Recent<Promise<Model>>(4);
  private readonly images = new Recent<Promise<TensorF32[]>>(4);
  private readonly samples = new Recent<Promise<DepthSample[]>>(2);
  constructor(private readonly backend: BlobBackend) {}

  async bytes(hash: string, what: string): Promise<Buffer> {
    if (!/^[0-9a-f]{64}$/.test(hash))
      throw new FastDepthError(`${what}: "${hash}" is not a SHA-256 content hash`);
    const got = await this.backend.get(hash);
    if (got === null)
      throw new FastDepthError(
        `${what} (${hash.slice(0, 12)}) is not in Redis: it expired or was deleted; resume the coordinator to store it again`,
      );
    const bytes = Buffer.from(got.buffer, got.byteOffset, got.byteLength);
    if (sha256(bytes) !== hash)
      throw new FastDepthError(`${what} (${hash.slice(0, 12)}): content does not match its hash`);
    return bytes;
  }

  model(ref: ModelRef, what: string): Promise<Model> {
    return this.models.get(`${ref.graph}/${ref.weights}`, async () => {
      const graph = loadGraph(
        (await this.bytes(ref.graph, `${what} graph`)).toString('utf8'),
        `${what} graph`,
      );
      const weights = decodeSafetensors(
        await this.bytes(ref.weights, `${what} weights`),
        `${what} weights`,
      ).weights;
      checkWeights(graph, weights, `${what} weights`);
      return { graph, weights };
    });
  }

  imageList(hash: string, what: string): Promise<TensorF32[]> {
    return this.images.get(hash, async () => {
      const images = numbered(decodeSafetensors(await this.bytes(hash, what), what).weights, 'image');
      if (images.length === 0) throw new FastDepthError(`${what}: no images`);
      images.forEach((t, i) => checkImage(t, what, i, 3, images[0]));
      return images;
    });
  }

  sampleList(hash: string, what: string): Promise<DepthSample[]> {
    return this.samples.get(hash, async () => {
      const w = decodeSafetensors(await this.bytes(hash, what), what).weights;
      const rgb = numbered(w, 'rgb');
      const depth = numbered(w, 'depth');
      if (rgb.length === 0 || rgb.length !== depth.length)
        throw new FastDepthError(`${what}: ${rgb.length} rgb and ${depth.length} depth tensors`);
      return rgb.map((r, i) => {
        checkImage(r, what, i, 3, rgb[0]);
        checkImage(depth[i]!, what, i, 1);
        return { rgb: r, depth: depth[i]! };
      });
    });
  }
}
