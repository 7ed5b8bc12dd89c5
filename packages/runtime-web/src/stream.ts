/// <reference lib="dom" />
/**
 * `estimator.stream(source, onDepth, options)`: depth from a live `<video>`, `MediaStream` or
 * canvas. One frame is in flight at a time (`framesInFlight`: 1); the frames the source presents
 * meanwhile are dropped (counted), except the newest, which goes next, so the depth is never
 * older than one estimate. That next frame is sent as soon as a result comes back, before
 * `onDepth` colours and draws the result, so the page's work overlaps the next estimate. With
 * `framesInFlight: 2` a second frame waits in the estimator's queue (a worker's mailbox), so the
 * worker starts it the moment the first is done instead of idling until the page has handled
 * the result and sent the next: more estimates a second on a busy page, each up to one estimate
 * older. With a worker-backed
 * estimator (`worker` option) each frame is captured as a `VideoFrame` (a `<video>`: no pixel
 * copy on the page) or an `ImageBitmap` and transferred, so the page's thread only captures,
 * posts and draws.
 *
 * The colour range of each result (`depthRange`: 2-98 % percentiles by default) is smoothed
 * over time (an exponential moving average), so a legend and the colours stay steady on video;
 * the depth itself can be smoothed the same way (`depthSmoothing`).
 */
import { depthRange, type DepthRangeOptions } from './colormap.js';
import { DepthEstimatorError } from './errors.js';
import type { DepthEstimator, DepthResult } from './types.js';

/** What `stream` reads frames from. */
export type StreamSource = HTMLVideoElement | MediaStream | HTMLCanvasElement | OffscreenCanvas;

/** Options of `estimator.stream`. */
export interface StreamOptions extends DepthRangeOptions {
  /**
   * Weight of each new frame's colour range in the running one, in (0, 1]: 1 follows every frame,
   * smaller is steadier. Default 0.1 (about the last 10 estimates).
   */
  readonly rangeSmoothing?: number;
  /** Weight of each new depth map in the running one, in (0, 1]; default 1 (no smoothing). */
  readonly depthSmoothing?: number;
  /**
   * At most this many estimates per second (frames in between are dropped and counted), to
   * spare a phone's battery or leave the CPU to the page; default: as fast as the engine goes.
   */
  readonly maxFps?: number;
  /**
   * Frames sent to the estimator before the first comes back: 1 (default: the newest depth, never
   * older than one estimate) or 2 (a worker-backed estimator starts the next frame as soon as it
   * finishes one: higher throughput when the page's thread is busy, latency up to one estimate
   * longer; estimates still run one after another and arrive in order).
   */
  readonly framesInFlight?: 1 | 2;
  /** Start paused (`resume()` starts). */
  readonly paused?: boolean;
  /** A failed estimate stops the stream and is passed here (default: `console.error`). */
  readonly onError?: (error: Error) => void;
}

/** Running statistics of a stream (over the last ~2 s where it says so). */
export interface StreamStats {
  /** Frames the source presented while running. */
  readonly frames: number;
  /** Estimates delivered to `onDepth`. */
  readonly delivered: number;
  /**
   * Frames never estimated: superseded by a newer frame while one was in flight (or, with
   * `maxFps`, before the next estimate was due).
   */
  readonly dropped: number;
  /** Estimates delivered per second, over the last ~2 s. */
  readonly fps: number;
  /** Frames the source presented per second, over the last ~2 s. */
  readonly sourceFps: number;
  /** Capture to result, milliseconds: the last and the median of the last 30. */
  readonly latencyMs: { readonly last: number; readonly median: number };
}

/** One delivered estimate. */
export interface StreamFrame {
  /** The estimate (its depth smoothed with `depthSmoothing` < 1). */
  readonly result: DepthResult;
  /** The smoothed colour range, metres: pass it to `toColorMap` and a legend. */
  readonly range: { readonly min: number; readonly max: number };
  /** This estimate's own colour range, unsmoothed. */
  readonly frameRange: { readonly min: number; readonly max: number };
  /** 0, 1, ... in delivery order. */
  readonly index: number;
  readonly stats: StreamStats;
}

/** A running stream. */
export interface DepthStream {
  readonly state: 'running' | 'paused' | 'stopped';
  readonly stats: StreamStats;
  /** Stops taking frames (the estimates in flight still arrive). */
  pause(): void;
  resume(): void;
  /** Stops for good; resolves once the estimates in flight (if any) have settled. */
  stop(): Promise<void>;
}

const WINDOW_MS = 2000;

function checkWeight(name: string, value: number | undefined, fallback: number): number {
  const v = value ?? fallback;
  if (!(v > 0 && v <= 1))
    throw new DepthEstimatorError(
      `stream: ${name} ${String(value)}, expected a number in (0, 1]`,
      'BAD_OPTION',
    );
  return v;
}

function checkFramesInFlight(value: number | undefined): number {
  if (value === undefined) return 1;
  if (value !== 1 && value !== 2)
    throw new DepthEstimatorError(`stream: framesInFlight ${String(value)}, expected 1 or 2`, 'BAD_OPTION');
  return value;
}

function checkMaxFps(value: number | undefined): number {
  if (value === undefined) return Infinity;
  if (!(value > 0))
    throw new DepthEstimatorError(`stream: maxFps ${String(value)}, expected a number > 0`, 'BAD_OPTION');
  return value;
}

/** Times within the last WINDOW_MS -> events per second. */
function rate(times: number[], now: number): number {
  while (times.length > 0 && times[0]! < now - WINDOW_MS) times.shift();
  if (times.length < 2) return 0;
  return ((times.length - 1) * 1000) / (times[times.length - 1]! - times[0]!);
}

function median(values: readonly number[]): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[sorted.length >> 1]!;
}

/** Frame notifications from a source: `requestVideoFrameCallback`, or each animation frame. */
interface FrameClock {
  start: (onFrame: () => void) => void;
  stop: () => void;
}

type VideoWithCallback = HTMLVideoElement & {
  requestVideoFrameCallback?(callback: () => void): number;
  cancelVideoFrameCallback?(handle: number): void;
};

function videoClock(video: VideoWithCallback): FrameClock {
  let handle: number | undefined;
  let stopped = true;
  if (typeof video.requestVideoFrameCallback === 'function') {
    return {
      start(onFrame) {
        stopped = false;
        const next = (): void => {
          if (stopped) return;
          onFrame();
          handle = video.requestVideoFrameCallback(next);
        };
        handle = video.requestVideoFrameCallback(next);
      },
      stop() {
        stopped = true;
        if (handle !== undefined) video.cancelVideoFrameCallback?.(handle);
      },
    };
  }
  // No per-frame callback: a new frame is a change of currentTime, looked at every animation frame.
  let last = -1;
  return {
    start(onFrame) {
      stopped = false;
      const tick = (): void => {
        if (stopped) return;
        if (video.currentTime !== last && video.readyState >= 2) {
          last = video.currentTime;
          onFrame();
        }
        handle = requestAnimationFrame(tick);
      };
      handle = requestAnimationFrame(tick);
    },
    stop() {
      stopped = true;
      if (handle !== undefined) cancelAnimationFrame(handle);
    },
  };
}

function animationClock(): FrameClock {
  let handle: number | undefined;
  let stopped = true;
  return {
    start(onFrame) {
      stopped = false;
      const tick = (): void => {
        if (stopped) return;
        onFrame();
        handle = requestAnimationFrame(tick);
      };
      handle = requestAnimationFrame(tick);
    },
    stop() {
      stopped = true;
      if (handle !== undefined) cancelAnimationFrame(handle);
    },
  };
}

/** The frame source behind `source`: a MediaStream plays in a video element of our own. */
function openSource(source: StreamSource): {
  drawable: HTMLVideoElement | HTMLCanvasElement | OffscreenCanvas;
  clock: FrameClock;
  close: () => void;
} {
  if (typeof MediaStream !== 'undefined' && source instanceof MediaStream) {
    const video = document.createElement('video');
    video.muted = true;
    video.playsInline = true;
    video.srcObject = source;
    void video.play().catch(() => undefined);
    return {
      drawable: video,
      clock: videoClock(video),
      close() {
        video.pause();
        video.srcObject = null;
      },
    };
  }
  if (typeof HTMLVideoElement !== 'undefined' && source instanceof HTMLVideoElement)
    return { drawable: source, clock: videoClock(source), close: () => undefined };
  if (
    (typeof HTMLCanvasElement !== 'undefined' && source instanceof HTMLCanvasElement) ||
    (typeof OffscreenCanvas !== 'undefined' && source instanceof OffscreenCanvas)
  )
    return { drawable: source, clock: animationClock(), close: () => undefined };
  throw new DepthEstimatorError(
    'stream: the source must be an HTMLVideoElement, a MediaStream or a canvas',
    'BAD_IMAGE',
  );
}

function hasFrame(drawable: HTMLVideoElement | HTMLCanvasElement | OffscreenCanvas): boolean {
  if (typeof HTMLVideoElement !== 'undefined' && drawable instanceof HTMLVideoElement)
    return drawable.readyState >= 2 && drawable.videoWidth > 0;
  return drawable.width > 0 && drawable.height > 0;
}

/** `estimator.stream`: see the module comment and `StreamOptions`. */
export function startDepthStream(
  estimator: DepthEstimator,
  source: StreamSource,
  onDepth: (frame: StreamFrame) => void,
  options: StreamOptions = {},
): DepthStream {
  if (typeof requestAnimationFrame !== 'function')
    throw new DepthEstimatorError('stream: needs a page (requestAnimationFrame)', 'UNSUPPORTED');
  const rangeWeight = checkWeight('rangeSmoothing', options.rangeSmoothing, 0.1);
  const depthWeight = checkWeight('depthSmoothing', options.depthSmoothing, 1);
  // A frame may start an estimate this long after the previous start. A tenth of the interval
  // less, so that a 30 frames/s camera capped at 30 is not turned into 15 by frame-time jitter.
  const minIntervalMs = (1000 / checkMaxFps(options.maxFps)) * 0.9;
  const framesInFlight = checkFramesInFlight(options.framesInFlight);
  const rangeOptions: DepthRangeOptions = {
    ...(options.range === undefined ? {} : { range: options.range }),
    ...(options.percentiles === undefined ? {} : { percentiles: options.percentiles }),
  };
  depthRange([0, 1], rangeOptions); // bad range options fail here, not on the first frame
  const onError = options.onError ?? ((error: Error) => console.error(error));
  const { drawable, clock, close } = openSource(source);
  let state: DepthStream['state'] = options.paused === true ? 'paused' : 'running';
  /** The estimates sent and not yet settled (at most `framesInFlight`). */
  const inFlight = new Set<Promise<void>>();
  let pending = false;
  let lastLaunch = -Infinity;
  let frames = 0;
  let delivered = 0;
  let dropped = 0;
  const frameTimes: number[] = [];
  const deliveryTimes: number[] = [];
  const latencies: number[] = [];
  let range: { min: number; max: number } | undefined;
  let smoothDepth: Float32Array | undefined;
  const canCapture = estimator.inWorker && typeof VideoFrame !== 'undefined';

  const stats = (): StreamStats => {
    const now = performance.now();
    return {
      frames,
      delivered,
      dropped,
      fps: rate(deliveryTimes, now),
      sourceFps: rate(frameTimes, now),
      latencyMs: { last: latencies[latencies.length - 1] ?? Number.NaN, median: median(latencies) },
    };
  };

  /** Captures the current frame and estimates it; resolves with the capture time and the result. */
  async function estimateOne(): Promise<{ start: number; result: DepthResult }> {
    const start = performance.now();
    // A worker-backed estimator takes the frame itself (transferred): no pixels cross the page.
    const result = canCapture
      ? await estimator.estimate(new VideoFrame(drawable, { timestamp: Math.round(start * 1000) }), {
          transfer: true,
        })
      : await estimator.estimate(drawable);
    return { start, result };
  }

  /** The colour range, statistics and `onDepth` of one estimate (on the page's thread). */
  function deliver(start: number, result: DepthResult): void {
    let { depth } = result;
    if (depthWeight < 1) {
      if (smoothDepth === undefined || smoothDepth.length !== depth.length) smoothDepth = depth.slice();
      else
        for (let i = 0; i < depth.length; i++) smoothDepth[i]! += depthWeight * (depth[i]! - smoothDepth[i]!);
      depth = smoothDepth.slice();
    }
    const [lo, hi] = depthRange(depth, rangeOptions);
    if (Number.isFinite(lo) && Number.isFinite(hi)) {
      if (range === undefined) range = { min: lo, max: hi };
      else
        range = {
          min: range.min + rangeWeight * (lo - range.min),
          max: range.max + rangeWeight * (hi - range.max),
        };
    }
    const end = performance.now();
    latencies.push(end - start);
    if (latencies.length > 30) latencies.shift();
    deliveryTimes.push(end);
    const index = delivered++;
    onDepth({
      result: depth === result.depth ? result : { ...result, depth },
      range: range ?? { min: lo, max: hi },
      frameRange: { min: lo, max: hi },
      index,
      stats: stats(),
    });
  }

  function fail(error: Error): void {
    if (state === 'stopped') return;
    state = 'stopped';
    clock.stop();
    close();
    onError(error);
  }

  /** Whether an estimate may start now: a free place in flight, and `maxFps` allows one. */
  const canLaunch = (): boolean =>
    inFlight.size < framesInFlight && performance.now() - lastLaunch >= minIntervalMs;

  function launch(): void {
    pending = false;
    lastLaunch = performance.now();
    const estimate: Promise<void> = estimateOne().then(
      ({ start, result }) => {
        inFlight.delete(estimate);
        if (state === 'stopped') return;
        // The next frame goes to the estimator before this one is coloured and drawn, so the
        // page's work on a result overlaps the next estimate instead of delaying it.
        if (pending && state === 'running' && canLaunch()) launch();
        try {
          deliver(start, result);
        } catch (error) {
          fail(error as Error);
        }
      },
      (error: unknown) => {
        inFlight.delete(estimate);
        fail(error as Error);
      },
    );
    inFlight.add(estimate);
  }

  function onFrame(): void {
    if (state !== 'running' || !hasFrame(drawable)) return;
    frames++;
    frameTimes.push(performance.now());
    // A frame waiting (for the one in flight, or for maxFps) is superseded by this newer one.
    if (pending) dropped++;
    if (canLaunch()) launch();
    else pending = true;
  }

  if (state === 'running') clock.start(onFrame);
  return {
    get state() {
      return state;
    },
    get stats() {
      return stats();
    },
    pause() {
      if (state !== 'running') return;
      state = 'paused';
      clock.stop();
      if (pending) dropped++;
      pending = false;
    },
    resume() {
      if (state !== 'paused') return;
      state = 'running';
      clock.start(onFrame);
    },
    async stop() {
      if (state === 'stopped') {
        await Promise.all(inFlight);
        return;
      }
      state = 'stopped';
      clock.stop();
      if (pending) dropped++;
      pending = false;
      close();
      await Promise.all(inFlight);
    },
  };
}
