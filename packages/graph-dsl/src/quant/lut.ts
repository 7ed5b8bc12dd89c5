/**
 * int8 sigmoid, hardSigmoid and hardSwish as 256-entry lookup tables: the function in float32 on
 * every dequantised int8 input, requantised to the output's parameters. TFLite's int8 LOGISTIC
 * (its default optimized kernel, `PopulateLookupTable` in kernels/activations.cc) and XNNPACK's
 * qs8 sigmoid and hard-swish operators (`init_lut_op_with_config` in operators/
 * unary-elementwise-nc.c running the reference kernel of reference/unary-elementwise.cc on all
 * 256 bytes) are built this way; what differs is the float function and the rounding:
 *
 * - `tflite`: `x = f32(s_in * (q - zp_in))`, `t = f(x)`, `q' = round(f32(t * f32(1 / s_out))) +
 *   zp_out` with halves away from zero (`std::round`), clamped. f is TFLite's float formula:
 *   `1 / (1 + exp(-x))`, `x * relu6(x + 3) / 6` (reference_ops::HardSwish), relu6(x + 3) / 6.
 *   TFLite's own int8 HARD_SWISH kernel is a fixed-point computation (16-bit multipliers), which
 *   can differ from this table by a step on some inputs; the table is what a converter that
 *   lowers hard-swish to a LUT (and XNNPACK) computes.
 * - `xnnpack`: `q' = nearbyint(f32(f32(t * f32(1 / s_out)) + zp_out))`, halves to even, clamped;
 *   f is XNNPACK's reference: sigmoid `e / (1 + e)` with `e = exp(x)` in double (0 below -100,
 *   1 above 100), hard-swish `(x / 6) * clamp(x + 3, 0, 6)` in float32.
 *
 * The `xnnpack` tables are XNNPACK's own qs8 operators'. TFLite's XNNPACK delegate (the versions
 * read: `VisitLogisticNode`, `VisitHardSwishNode` in delegates/xnnpack/xnnpack_delegate.cc)
 * takes float LOGISTIC and HARD_SWISH only, so a TFLite run with the delegate leaves int8 ones to
 * TFLite's kernels; the `xnnpack` tables model XNNPACK used directly (or a delegate that takes them).
 *
 * Neither runtime has a hard-sigmoid op (converters lower it to an add, a relu6 and a mul); its
 * table tabulates relu6(x + 3) / 6 in float32 under both arithmetics, each rounding its own way.
 *
 * Sigmoid and hardSigmoid outputs have the fixed parameters of TFLite's LOGISTIC (scale 1/256,
 * zero point -128: [0, 1) in 256 steps); hardSwish's are calibrated. Every step but `exp` is a
 * correctly rounded float32 operation (`Math.fround` of the double result), so the wasm build
 * precomputes the same 256 bytes at emit time; `Math.exp` can differ from a C library's `expf`
 * in the last float32 bit on rare inputs, which moves an entry only where it sits on a rounding
 * boundary.
 */
import { GraphError } from '../errors.js';
import { clampInt, roundHalfAwayFromZero } from './fixed-point.js';
import { INT8_MAX, INT8_MIN, type IntegerArithmetic, type QuantParams } from './ir.js';
import { roundHalfEven } from './xnnpack.js';

const f32 = Math.fround;

/** The ops computed through a table. */
export type LutOp = 'sigmoid' | 'hardSigmoid' | 'hardSwish';

/** Whether `op` is an int8 table lookup. */
export function isLutOp(op: string): op is LutOp {
  return op === 'sigmoid' || op === 'hardSigmoid' || op === 'hardSwish';
}

/**
 * The output parameters sigmoid and hardSigmoid must carry (TFLite's LOGISTIC requirement:
 * scale 1/256, zero point -128); hardSwish has none fixed.
 */
export const LOGISTIC_OUTPUT_PARAMS: QuantParams = { scale: 1 / 256, zeroPoint: -128 };

/** The fixed output parameters of `op`, if it has any. */
export function fixedOutputParams(op: string): QuantParams | undefined {
  return op === 'sigmoid' || op === 'hardSigmoid' ? LOGISTIC_OUTPUT_PARAMS : undefined;
}

/** relu6(x + 3) / 6 in float32 steps. */
const hardSigmoid32 = (x: number): number => f32(Math.min(Math.max(f32(x + 3), 0), 6) / 6);

/** The float32 function each arithmetic tabulates (see the module comment). */
function lutFunction(op: LutOp, arithmetic: IntegerArithmetic): (x: number) => number {
  switch (op) {
    case 'sigmoid':
      return arithmetic === 'xnnpack'
        ? (x) => {
            if (x > 100) return 1;
            if (x < -100) return 0;
            const e = Math.exp(x);
            return f32(e / (1 + e));
          }
        : (x) => f32(1 / f32(1 + f32(Math.exp(-x))));
    case 'hardSigmoid':
      return hardSigmoid32;
    case 'hardSwish':
      return arithmetic === 'xnnpack'
        ? (x) => f32(f32(x / 6) * Math.min(Math.max(f32(x + 3), 0), 6))
        : (x) => f32(f32(x * Math.min(Math.max(f32(x + 3), 0), 6)) / 6);
  }
}

/**
 * The 256-entry table of `op` from `input` to `output` parameters in `arithmetic`: entry
 * `q + 128` is the output integer of input integer q.
 */
export function lookupTable(
  op: LutOp,
  input: QuantParams,
  output: QuantParams,
  arithmetic: IntegerArithmetic,
): Int8Array {
  const f = lutFunction(op, arithmetic);
  const inverseScale = f32(1 / output.scale);
  const table = new Int8Array(256);
  for (let q = INT8_MIN; q <= INT8_MAX; q++) {
    const t = f(f32(input.scale * (q - input.zeroPoint)));
    const scaled = f32(t * inverseScale);
    const v =
      arithmetic === 'xnnpack'
        ? roundHalfEven(f32(scaled + output.zeroPoint))
        : roundHalfAwayFromZero(scaled) + output.zeroPoint;
    table[q - INT8_MIN] = clampInt(v, INT8_MIN, INT8_MAX);
  }
  return table;
}

/**
 * Checks that a sigmoid or hardSigmoid output carries `LOGISTIC_OUTPUT_PARAMS` (throws a
 * `GraphError` naming `layer`).
 */
export function checkLutOutput(op: string, layer: string, params: QuantParams): void {
  const fixed = fixedOutputParams(op);
  if (fixed && (params.scale !== fixed.scale || params.zeroPoint !== fixed.zeroPoint))
    throw new GraphError(
      layer,
      `int8 ${op} must output scale 1/256 and zero point -128 (TFLite's LOGISTIC), found scale ${params.scale}, zero point ${params.zeroPoint}`,
    );
}
