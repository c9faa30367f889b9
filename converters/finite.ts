/**
 * The ±Inf policy of the converters: infinite input values are an error by
 * default (naming the file, variable and place), or become NaN when the
 * user asks for it. NaN is allowed (ERA5 sst over land) and counted in the
 * store's attributes.
 *
 * @module
 */
import { InputError } from "../errors.ts";

/** Where values came from, for the message. */
export interface ValueSource {
  /** Input file. */
  file: string;
  /** Variable name. */
  variable: string;
  /** Where in the variable (e.g. "time step 3"). */
  where?: (index: number) => string;
}

/**
 * Check `values[from, to)` for ±Inf: throw an {@link InputError} on the
 * first one, or with `toNaN` replace them with NaN. Returns the count replaced.
 */
export function checkInfinite(
  values: Float32Array | Float64Array,
  source: ValueSource,
  toNaN?: boolean,
  from = 0,
  to = values.length,
): number {
  // Only the ERA5 converter has the option; the others say nothing about it.
  const toNaNHint = toNaN === undefined ? "" : "; pass --inf-to-nan to store such values as NaN";
  let replaced = 0;
  for (let i = from; i < to; i++) {
    const v = values[i];
    if (v === Infinity || v === -Infinity) {
      if (!toNaN) {
        throw new InputError(
          source.file,
          `${source.variable} holds ${v > 0 ? "+" : "-"}Inf at ${
            source.where?.(i - from) ?? `value ${i - from}`
          }${toNaNHint}`,
          { field: source.variable },
        );
      }
      values[i] = NaN;
      replaced++;
    }
  }
  return replaced;
}
