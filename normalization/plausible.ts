/**
 * Plausible physical ranges of ERA5 fields (by short name, in the units the
 * stores hold), and the check of a coefficient set against them: a monthly
 * mean outside the range, or a standard deviation wider than the range, is
 * finite but absurd — the mark of a corrupt input value (a fill value such
 * as 3.4e38 read as data) that would otherwise normalize every sample
 * silently wrong. The table is a default; callers may pass their own
 * (`inspect --ranges FILE`).
 *
 * @module
 */
import { StoreError } from "../errors.ts";
import { ArrayReader, readRootAttributes } from "../zarr/reader.ts";
import type { ZarrFormat } from "../zarr/metadata.ts";

/** A plausible range [min, max] of a field's values. */
export type Range = [number, number];

/** Plausible ranges of ERA5 short names (SI units as stored: K, Pa, m s⁻¹, kg kg⁻¹, m² s⁻², %). */
export const PLAUSIBLE_RANGES: Record<string, Range> = {
  t: [150, 350],
  t2m: [170, 345],
  d2m: [150, 335],
  skt: [170, 355],
  sst: [265, 315],
  stl1: [190, 350],
  msl: [85000, 110000],
  sp: [45000, 110000],
  u: [-150, 150],
  v: [-150, 150],
  u10: [-80, 80],
  v10: [-80, 80],
  u100: [-100, 100],
  v100: [-100, 100],
  w: [-30, 30],
  q: [0, 0.05],
  r: [0, 150],
  z: [-10000, 600000],
  vo: [-0.01, 0.01],
  d: [-0.01, 0.01],
  tcwv: [0, 120],
  tp: [0, 0.5],
  ci: [0, 1],
  lsm: [0, 1],
};

/** A coefficient outside its field's plausible range. */
export interface Implausible {
  /** Field (short name). */
  field: string;
  /** Level (0 for a single-level field). */
  level: number;
  /** Month entry (YYYYMM). */
  month: number;
  /** Monthly mean and standard deviation. */
  mean: number;
  std: number;
  /** The range it was checked against. */
  range: Range;
}

/**
 * The monthly (global) coefficients of the coefficient set at `norm` (a
 * finished set, or a staged one given its attributes and format) that
 * are finite but outside their field's plausible range (mean outside it, or
 * standard deviation wider than it). Fields without a range are not
 * checked; months without data (NaN) are skipped.
 */
export function implausibleCoefficients(
  norm: string,
  ranges: Record<string, Range> = PLAUSIBLE_RANGES,
  staged?: { attrs: Record<string, unknown>; format: ZarrFormat },
): Implausible[] {
  const a = staged?.attrs ?? readRootAttributes(norm);
  const months = (a.months as number[] | undefined) ?? [];
  const out: Implausible[] = [];
  const check = (array: string, fields: string[], levels: number[]) => {
    if (!fields.length) return;
    let reader: ArrayReader;
    try {
      reader = new ArrayReader(norm, array, staged?.format);
    } catch {
      return; // a set without this array (another layout): nothing to check here
    }
    const F = fields.length, L = levels.length;
    // [month, coefficient, field, (level)]: another layout (a mesh set's layers) is not checked here.
    const expected = array.endsWith("_sfc") ? [months.length, 2, F] : [months.length, 2, F, L];
    if (reader.shape.join() !== expected.join()) return;
    const v = reader.read() as Float32Array;
    for (const [m, month] of months.entries()) {
      for (const [f, field] of fields.entries()) {
        const range = ranges[field];
        if (!range) continue;
        for (const [l, level] of levels.entries()) {
          const mean = v[((m * 2 + 0) * F + f) * L + l], std = v[((m * 2 + 1) * F + f) * L + l];
          if (!Number.isFinite(mean) || !Number.isFinite(std)) continue;
          if (mean < range[0] || mean > range[1] || std > range[1] - range[0]) {
            out.push({ field, level, month, mean, std, range });
          }
        }
      }
    }
  };
  check("global_norm", (a.fields as string[] | undefined) ?? [], (a.levels as number[] | undefined) ?? []);
  check("global_norm_sfc", (a.fields_sfc as string[] | undefined) ?? [], [0]);
  return out;
}

/** One line per implausible coefficient, naming the set, field, level, month, values and range. */
export function describeImplausible(norm: string, found: Implausible[]): string[] {
  return found.map((x) =>
    `${norm}: ${x.field}${x.level ? ` ${x.level}` : ""} in ${Math.floor(x.month / 100)}-${
      String(x.month % 100).padStart(2, "0")
    }: mean ${x.mean.toPrecision(4)}, std ${x.std.toPrecision(4)} — implausible for ${x.field} ` +
    `(plausible values ${x.range[0]} .. ${x.range[1]}); a corrupt input value?`
  );
}

/**
 * Refuse a staged coefficient set (at `stage`, to be published at `norm`)
 * holding coefficients that are finite but physically absurd — a fill
 * value such as 3.4e38 read as data: a {@link StoreError} naming the set,
 * the first such coefficient and how to keep them (`allowFlag`).
 */
export function refuseImplausible(
  stage: string,
  norm: string,
  staged: { attrs: Record<string, unknown>; format: ZarrFormat },
  allowFlag = "--allow-implausible",
): void {
  const found = implausibleCoefficients(stage, PLAUSIBLE_RANGES, staged);
  if (!found.length) return;
  const first = describeImplausible(norm, found)[0].slice(norm.length + 2);
  throw new StoreError(
    norm,
    `${found.length} coefficient(s) outside the plausible range of their field, e.g. ${first}; nothing was ` +
      `published: fix the input, or rerun with ${allowFlag} to keep them`,
  );
}
