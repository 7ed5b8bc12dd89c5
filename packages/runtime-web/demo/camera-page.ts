/**
 * What the fake-camera test and the stream bench read from the demo page: a script run before
 * the page's own that records every requestAnimationFrame interval (the page's rendering), and
 * the reader of the stream's statistics.
 */
import type { Page } from 'playwright-core';

/**
 * Installed with `page.addInitScript({ content })`: every requestAnimationFrame interval in
 * `globalThis.frameGaps`, from the start. A string, not a function: a function's source as tsx
 * compiles it calls a helper (`__name`) that the page does not have.
 */
export const RECORD_FRAME_GAPS = `(() => {
  const gaps = [];
  globalThis.frameGaps = gaps;
  let last;
  const tick = (now) => {
    if (last !== undefined) gaps.push(now - last);
    last = now;
    requestAnimationFrame(tick);
  };
  requestAnimationFrame(tick);
})();`;

/** The stream's statistics and the page's state, after `since` rAF intervals were recorded. */
export interface CameraReading {
  readonly inWorker: boolean;
  readonly engine: string;
  readonly backend: string;
  readonly threads: number;
  readonly frames: number;
  readonly delivered: number;
  readonly dropped: number;
  readonly fps: number;
  readonly sourceFps: number;
  readonly latencyMedianMs: number;
  /** The longest rAF interval since `since`, and the count of intervals. */
  readonly longestGapMs: number;
  readonly gaps: number;
  /** Model and wasm files the page's own thread fetched (workers' fetches are not in its timeline). */
  readonly pageModelFetches: string[];
}

export async function readCamera(page: Page, since: number): Promise<CameraReading> {
  return page.evaluate((from) => {
    interface Demo {
      estimator?: { inWorker: boolean; engine: string; backend: string; threads: number };
      stream?: {
        stats: {
          frames: number;
          delivered: number;
          dropped: number;
          fps: number;
          sourceFps: number;
          latencyMs: { median: number };
        };
      };
    }
    const demo = (globalThis as { demo?: Demo }).demo!;
    const s = demo.stream!.stats;
    const gaps = ((globalThis as { frameGaps?: number[] }).frameGaps ?? []).slice(from);
    return {
      inWorker: demo.estimator!.inWorker,
      engine: demo.estimator!.engine,
      backend: demo.estimator!.backend,
      threads: demo.estimator!.threads,
      frames: s.frames,
      delivered: s.delivered,
      dropped: s.dropped,
      fps: s.fps,
      sourceFps: s.sourceFps,
      latencyMedianMs: s.latencyMs.median,
      longestGapMs: Math.max(0, ...gaps),
      gaps: gaps.length,
      pageModelFetches: performance
        .getEntriesByType('resource')
        .map((e) => e.name)
        // Model and runtime files, not source modules (Vite dev serves src/wasm-weights.ts).
        .filter((n) => /\.(wasm|onnx|bin)(\?|$)|\.weights\.json|wasm-manifest/.test(n)),
    };
  }, since);
}

/** Chromium flags for a fake webcam playing `y4m`. */
export function fakeCameraArgs(y4m: string): string[] {
  return [
    '--use-fake-ui-for-media-stream',
    '--use-fake-device-for-media-stream',
    `--use-file-for-fake-video-capture=${y4m}`,
    // A page in the background tab must keep rendering (headless has none in front otherwise).
    '--disable-background-timer-throttling',
    '--disable-renderer-backgrounding',
  ];
}
