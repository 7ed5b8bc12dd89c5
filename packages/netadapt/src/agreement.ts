/**
 * How closely a pruned network's depth agrees with its teacher's: the authors' delta1 and
 * AbsRel with the teacher's depth standing in for ground truth. This is NetAdapt's accuracy
 * proxy when no labels exist; it is defined for any two depth maps, so proposals never tie on
 * it unless they compute the same depth.
 */

export interface Agreement {
  /** Share of pixels with max(p / t, t / p) < 1.25 (higher is better). */
  readonly delta1: number;
  /** Mean |p − t| / t (lower is better). */
  readonly absRel: number;
  /** ‖p − t‖ / ‖t‖ over every pixel, defined even where the teacher predicts 0. */
  readonly relL2: number;
  /** Pixels with a positive teacher depth (those delta1 and AbsRel count). */
  readonly pixels: number;
}

/** Teacher depths at or below this (metres) are not counted by delta1 / AbsRel. */
const MIN_DEPTH = 1e-3;

/** Agreement of `predicted` with `teacher`, pairwise over images, averaged per image as the authors do. */
export function agreement(
  predicted: readonly { readonly data: Float32Array }[],
  teacher: readonly { readonly data: Float32Array }[],
): Agreement {
  if (predicted.length !== teacher.length || predicted.length === 0)
    throw new Error(`agreement: ${predicted.length} predictions for ${teacher.length} teacher maps`);
  let delta1 = 0;
  let absRel = 0;
  let images = 0;
  let pixels = 0;
  let diff2 = 0;
  let ref2 = 0;
  predicted.forEach((p, i) => {
    const t = teacher[i]!;
    if (p.data.length !== t.data.length)
      throw new Error(`agreement: image ${i} has ${p.data.length} values, the teacher's ${t.data.length}`);
    let good = 0;
    let rel = 0;
    let valid = 0;
    for (let k = 0; k < t.data.length; k++) {
      const tv = t.data[k]!;
      const pv = p.data[k]!;
      diff2 += (pv - tv) * (pv - tv);
      ref2 += tv * tv;
      if (tv <= MIN_DEPTH) continue;
      valid++;
      rel += Math.abs(pv - tv) / tv;
      if (pv > 0 && Math.max(pv / tv, tv / pv) < 1.25) good++;
    }
    if (valid > 0) {
      delta1 += good / valid;
      absRel += rel / valid;
      images++;
      pixels += valid;
    }
  });
  return {
    delta1: images > 0 ? delta1 / images : Number.NaN,
    absRel: images > 0 ? absRel / images : Number.NaN,
    relL2: ref2 > 0 ? Math.sqrt(diff2 / ref2) : Math.sqrt(diff2),
    pixels,
  };
}

/**
 * One number to rank proposals by (higher is better): −AbsRel where the teacher predicts
 * depth, else −relative L2 of the raw outputs (a teacher whose output is all zeros, e.g. a
 * seeded network ending in ReLU, still separates proposals).
 */
export function agreementScore(a: Agreement): number {
  return a.pixels > 0 ? -a.absRel : -a.relL2;
}
