/**
 * Value transforms applied before normalization statistics are taken and
 * before coefficients are applied (e.g. log-space ozone). Each transform is
 * defined once here, forward and inverse; a coefficient set records them as
 * `transforms: { field: { type, ...params } }`, and registry.ts makes them
 * back from that record.
 *
 * @module
 */
import { ConfigError } from "../errors.ts";

/** A transform as recorded in a coefficient set's attributes. */
export interface TransformSpec {
  /** Transform name (`log`). */
  type: string;
  /** Offset of the log transform. */
  eps?: number;
  /** Human-readable formula, informative only. */
  formula?: string;
}

/** A transform ready to apply. */
export interface ValueTransform {
  /** The spec it was made from (what a coefficient set records). */
  readonly spec: TransformSpec;
  /** Transform one value. */
  forward(x: number): number;
  /** Invert {@link forward}. */
  inverse(y: number): number;
  /** Transform `n` values of `src` from `from` into `dst` at `to` (may be the same array). */
  forwardInto(src: ArrayLike<number>, from: number, dst: Float32Array, to: number, n: number): void;
  /** Invert in place. */
  inverseInPlace(values: Float32Array): void;
}

/** log(x + eps) − log(eps): zero at zero, finite for x ≥ 0 (ozone, humidity). */
export function logTransform(eps: number): ValueTransform {
  if (!(eps > 0)) throw new ConfigError("transform.log.eps", `must be a positive number (got ${eps})`);
  const shift = Math.log(eps);
  return {
    spec: { type: "log", eps, formula: "log(x + eps) - log(eps)" },
    forward: (x) => Math.log(x + eps) - shift,
    inverse: (y) => Math.exp(y + shift) - eps,
    forwardInto(src, from, dst, to, n) {
      for (let k = 0; k < n; k++) dst[to + k] = Math.log(src[from + k] + eps) - shift;
    },
    inverseInPlace(values) {
      for (let i = 0; i < values.length; i++) values[i] = Math.exp(values[i] + shift) - eps;
    },
  };
}
