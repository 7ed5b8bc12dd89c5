/**
 * `estimator.stream`'s bookkeeping, deterministic: a canvas source (a stub `OffscreenCanvas`)
 * whose frames are animation frames driven by hand, and an estimator whose estimates resolve
 * when the test says. One frame in flight (or two with `framesInFlight`), the newest waiting one
 * taken next, the ones it superseded counted as dropped, and sent before the previous result is
 * drawn; `maxFps` (on a
 * fake clock); pause/resume/stop; the colour range and depth smoothing.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { depthRange } from './colormap.js';
import { startDepthStream, type StreamFrame } from './stream.js';
import type { DepthEstimator, DepthResult } from './types.js';

class StubCanvas {
  constructor(
    readonly width: number,
    readonly height: number,
  ) {}
}

let callbacks: Map<number, (time: number) => void>;
let nextHandle: number;
const saved: Record<string, unknown> = {};

beforeEach(() => {
  callbacks = new Map();
  nextHandle = 1;
  const g = globalThis as Record<string, unknown>;
  for (const k of ['OffscreenCanvas', 'requestAnimationFrame', 'cancelAnimationFrame']) saved[k] = g[k];
  g['OffscreenCanvas'] = StubCanvas;
  g['requestAnimationFrame'] = (cb: (time: number) => void): number => {
    callbacks.set(nextHandle, cb);
    return nextHandle++;
  };
  g['cancelAnimationFrame'] = (handle: number): void => {
    callbacks.delete(handle);
  };
});
afterEach(() => {
  const g = globalThis as Record<string, unknown>;
  for (const [k, v] of Object.entries(saved)) g[k] = v;
});

/** Runs the pending animation frames (one source frame each), then lets promises settle. */
async function frame(): Promise<void> {
  const due = [...callbacks.values()];
  callbacks.clear();
  for (const cb of due) cb(performance.now());
  await settle();
}

const settle = (): Promise<void> => new Promise((resolve) => setTimeout(resolve, 0));

/** An estimator whose estimates wait for `finish(depthValues)`. */
function manualEstimator(): DepthEstimator & { calls: number; finish(values: number[]): void } {
  const waiting: ((result: DepthResult) => void)[] = [];
  const estimator = {
    engine: 'wasm',
    backend: 'wasm',
    backendReason: 'test',
    threads: 1,
    inWorker: false,
    fit: 'cover',
    width: 2,
    height: 2,
    calls: 0,
    estimate(): Promise<DepthResult> {
      estimator.calls++;
      return new Promise((resolve) => waiting.push(resolve));
    },
    estimateRgb: () => Promise.reject(new Error('unused')),
    stream: () => {
      throw new Error('unused');
    },
    dispose: () => Promise.resolve(),
    finish(values: number[]): void {
      waiting.shift()!({
        depth: Float32Array.from(values),
        width: 2,
        height: 2,
        backend: 'wasm',
        engine: 'wasm',
        latencyMs: 1,
        source: { width: 2, height: 2, crop: { x: 0, y: 0, width: 2, height: 2 } },
      });
    },
  };
  return estimator as DepthEstimator & { calls: number; finish(values: number[]): void };
}

describe('estimator.stream', () => {
  it('keeps one frame in flight, takes the newest next, counts the superseded as dropped', async () => {
    const estimator = manualEstimator();
    const got: StreamFrame[] = [];
    const stream = startDepthStream(estimator, new OffscreenCanvas(2, 2), (f) => got.push(f), {
      rangeSmoothing: 1,
    });
    await frame(); // frame 1: estimated
    expect(estimator.calls).toBe(1);
    await frame(); // frame 2: waits
    await frame(); // frame 3: supersedes 2 (dropped)
    await frame(); // frame 4: supersedes 3 (dropped)
    expect(estimator.calls).toBe(1);
    expect(stream.stats).toMatchObject({ frames: 4, delivered: 0, dropped: 2 });
    estimator.finish([1, 2, 3, 4]);
    await settle();
    // Delivered, and the newest waiting frame launched at once.
    expect(got.length).toBe(1);
    expect(estimator.calls).toBe(2);
    expect(got[0]!.index).toBe(0);
    expect(got[0]!.stats.delivered).toBe(1);
    estimator.finish([1, 2, 3, 4]);
    await settle();
    expect(stream.stats).toMatchObject({ frames: 4, delivered: 2, dropped: 2 });
    await stream.stop();
    expect(stream.state).toBe('stopped');
    await frame();
    expect(estimator.calls).toBe(2);
  });

  it('sends the waiting frame before onDepth draws the result; an onDepth that throws stops it', async () => {
    const estimator = manualEstimator();
    const callsInOnDepth: number[] = [];
    const errors: Error[] = [];
    const stream = startDepthStream(
      estimator,
      new OffscreenCanvas(2, 2),
      () => {
        callsInOnDepth.push(estimator.calls);
        if (callsInOnDepth.length === 2) throw new Error('drawing failed');
      },
      { onError: (e) => errors.push(e) },
    );
    await frame();
    await frame(); // waits for the first
    estimator.finish([1, 2, 3, 4]);
    await settle();
    // The second frame was already with the estimator while the first result was drawn.
    expect(callsInOnDepth).toEqual([2]);
    estimator.finish([1, 2, 3, 4]);
    await settle();
    expect(callsInOnDepth).toEqual([2, 2]);
    expect(errors.map((e) => e.message)).toEqual(['drawing failed']);
    expect(stream.state).toBe('stopped');
    await frame();
    expect(estimator.calls).toBe(2);
  });

  it('framesInFlight 2: a second frame goes before the first comes back; results arrive in order', async () => {
    const estimator = manualEstimator();
    const got: StreamFrame[] = [];
    const stream = startDepthStream(estimator, new OffscreenCanvas(2, 2), (f) => got.push(f), {
      framesInFlight: 2,
      rangeSmoothing: 1,
    });
    await frame(); // frame 1: sent
    await frame(); // frame 2: sent too, queued behind it
    expect(estimator.calls).toBe(2);
    await frame(); // frame 3: waits
    await frame(); // frame 4: supersedes 3 (dropped)
    expect(estimator.calls).toBe(2);
    expect(stream.stats).toMatchObject({ frames: 4, delivered: 0, dropped: 1 });
    estimator.finish([1, 1, 1, 1]);
    await settle();
    // Frame 1 delivered; frame 4 sent at once, so two are in flight again.
    expect(got.map((f) => f.result.depth[0])).toEqual([1]);
    expect(estimator.calls).toBe(3);
    estimator.finish([2, 2, 2, 2]);
    estimator.finish([4, 4, 4, 4]);
    await settle();
    expect(got.map((f) => [f.index, f.result.depth[0]])).toEqual([
      [0, 1],
      [1, 2],
      [2, 4],
    ]);
    // Every presented frame is delivered or dropped.
    expect(stream.stats).toMatchObject({ frames: 4, delivered: 3, dropped: 1 });
    await stream.stop();
    expect(() =>
      startDepthStream(estimator, new OffscreenCanvas(2, 2), () => undefined, {
        framesInFlight: 3 as 2,
      }),
    ).toThrow(/framesInFlight 3, expected 1 or 2/);
  });

  it('maxFps: no estimate starts sooner than its interval; the frames between are dropped, counted', async () => {
    vi.useFakeTimers({ toFake: ['performance'] });
    try {
      const estimator = manualEstimator();
      const stream = startDepthStream(estimator, new OffscreenCanvas(2, 2), () => undefined, {
        maxFps: 10, // one estimate per 100 ms (90 with the jitter allowance)
      });
      const frameAt = async (ms: number): Promise<void> => {
        vi.advanceTimersByTime(ms - performance.now());
        await frame();
      };
      const start = performance.now();
      await frameAt(start); // starts the first estimate
      estimator.finish([1, 2, 3, 4]);
      await settle();
      await frameAt(start + 30); // due at +90: waits
      await frameAt(start + 60); // supersedes the one from +30
      expect(estimator.calls).toBe(1);
      await frameAt(start + 100); // due: supersedes the one from +60 and starts
      expect(estimator.calls).toBe(2);
      await frameAt(start + 130);
      await frameAt(start + 160); // supersedes the one from +130
      vi.advanceTimersByTime(10);
      estimator.finish([1, 2, 3, 4]); // at +170, not yet due: the frame from +160 keeps waiting
      await settle();
      expect(estimator.calls).toBe(2);
      await frameAt(start + 200); // due: supersedes +160 and starts
      expect(estimator.calls).toBe(3);
      expect(stream.stats).toMatchObject({ frames: 7, delivered: 2, dropped: 4 });
      estimator.finish([1, 2, 3, 4]);
      await settle();
      expect(stream.stats).toMatchObject({ frames: 7, delivered: 3, dropped: 4 });
      await stream.stop();
    } finally {
      vi.useRealTimers();
    }
  });

  it('pause takes no frames, resume takes them again, stop waits for the estimate in flight', async () => {
    const estimator = manualEstimator();
    let delivered = 0;
    const stream = startDepthStream(estimator, new OffscreenCanvas(2, 2), () => delivered++, {
      paused: true,
    });
    expect(stream.state).toBe('paused');
    await frame();
    expect(estimator.calls).toBe(0);
    stream.resume();
    await frame();
    expect(estimator.calls).toBe(1);
    stream.pause();
    await frame();
    expect(stream.stats.frames).toBe(1);
    estimator.finish([1, 1, 1, 1]);
    await settle();
    expect(delivered).toBe(1); // the estimate in flight when paused still arrives
    stream.resume();
    await frame();
    expect(estimator.calls).toBe(2);
    let stopped = false;
    const stopping = stream.stop().then(() => (stopped = true));
    await settle();
    expect(stopped).toBe(false);
    estimator.finish([1, 1, 1, 1]);
    await stopping;
    expect(delivered).toBe(1); // a result after stop() is not delivered
  });

  it('smooths the colour range over frames, and the depth when asked', async () => {
    const estimator = manualEstimator();
    const got: StreamFrame[] = [];
    const stream = startDepthStream(estimator, new OffscreenCanvas(2, 2), (f) => got.push(f), {
      rangeSmoothing: 0.5,
      depthSmoothing: 0.25,
      range: 'full',
    });
    await frame();
    estimator.finish([1, 1, 3, 3]);
    await settle();
    await frame();
    estimator.finish([5, 5, 7, 7]);
    await settle();
    expect(got.length).toBe(2);
    expect(got[0]!.range).toEqual({ min: 1, max: 3 });
    // Depth: 1 + 0.25 * (5 - 1) = 2 and 3 + 0.25 * (7 - 3) = 4.
    expect([...got[1]!.result.depth]).toEqual([2, 2, 4, 4]);
    expect(got[1]!.frameRange).toEqual({ min: 2, max: 4 });
    // Range: halfway from [1, 3] to this frame's [2, 4].
    expect(got[1]!.range).toEqual({ min: 1.5, max: 3.5 });
    expect(depthRange(got[1]!.result.depth, { range: 'full' })).toEqual([2, 4]);
    await stream.stop();
  });

  it('stops on a failed estimate and reports it; rejects bad options and sources', async () => {
    const estimator = manualEstimator();
    estimator.estimate = () => Promise.reject(new Error('worker died'));
    const errors: string[] = [];
    const stream = startDepthStream(estimator, new OffscreenCanvas(2, 2), () => undefined, {
      onError: (e) => errors.push(e.message),
    });
    await frame();
    await settle();
    expect(errors).toEqual(['worker died']);
    expect(stream.state).toBe('stopped');
    expect(() =>
      startDepthStream(estimator, new OffscreenCanvas(2, 2), () => undefined, { rangeSmoothing: 0 }),
    ).toThrow(/rangeSmoothing 0, expected a number in \(0, 1\]/);
    expect(() =>
      startDepthStream(estimator, new OffscreenCanvas(2, 2), () => undefined, { percentiles: [90, 10] }),
    ).toThrow(/percentiles \[90, 10\]/);
    expect(() =>
      startDepthStream(estimator, new OffscreenCanvas(2, 2), () => undefined, { maxFps: 0 }),
    ).toThrow(/maxFps 0, expected a number > 0/);
    expect(() => startDepthStream(estimator, {} as OffscreenCanvas, () => undefined)).toThrow(
      /source must be an HTMLVideoElement, a MediaStream or a canvas/,
    );
  });
});

describe('worker option', () => {
  it('needs Web Workers: in Node it is a clear UNSUPPORTED error', async () => {
    const { createDepthEstimator } = await import('./estimator.js');
    await expect(
      createDepthEstimator({ model: { engine: 'onnx', model: new Uint8Array(1) }, worker: {} as Worker }),
    ).rejects.toMatchObject({
      code: 'UNSUPPORTED',
      message: expect.stringMatching(/Web Workers are not available here/) as unknown,
    });
  });
});
