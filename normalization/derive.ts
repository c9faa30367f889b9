/**
 * Derive a new coefficient set from the partial statistics kept in a data
 * store (`statistics/`), without re-reading the data.
 *
 * Pooling rules (each output entry still has one row per month of the data
 * store, so AtmoRep's month indexing keeps working):
 * - `monthly`: each year-month from its own statistics (AtmoRep's scheme);
 *   months outside the period get NaN.
 * - `calendar-month`: every January from all Januaries in the period, etc.
 * - `all`: one pooled mean/std over the whole period for every month.
 *
 * @module
 */
import { ArrayReader, readGroupAttributes, readRootAttributes } from "../zarr/reader.ts";
import { assertComplete, finalizeStore, pathExists, publishStore, removeStore } from "../zarr/publish.ts";
import { emptyMoments, mergeMoments, type Moments, PointMoments } from "./moments.ts";
import { ConfigError } from "../errors.ts";
import { parseMonth as parseYearMonth } from "../time.ts";
import {
  createNormArrays,
  monthLabel,
  type NormArrays,
  type NormLayout,
  writeGlobalCoefficients,
  writeLocalCoefficients,
} from "./sets.ts";
import { basename, dirname, resolve } from "node:path";
import type { ZarrFormat } from "../zarr/metadata.ts";
import { checkReplaceable, clearStage, lockPath, stagePath } from "../zarr/outputs.ts";
import { acquireLock } from "../zarr/lock.ts";

/** How source months are pooled into each output entry. */
export type Pooling = "monthly" | "calendar-month" | "all";

/** Options of {@link deriveNormSet}. */
export interface DeriveOptions {
  /** Data store with `statistics/`. */
  store: string;
  /** Output coefficient store. */
  out: string;
  /** First month of the period, `YYYY-MM` (default: first month of data). */
  from?: string;
  /** Last month of the period, `YYYY-MM` (default: last month of data). */
  to?: string;
  /** Pooling rule (default `calendar-month`). */
  pooling?: Pooling;
  /** Replace an existing output. */
  overwrite?: boolean;
}

/** `YYYY-MM` as yyyymm; a clear error naming `option` otherwise. */
export function parseMonth(text: string, option: string): number {
  const [year, month] = parseYearMonth(text, option);
  return year * 100 + month;
}

/** Derive a coefficient set; returns the number of source months pooled. */
export function deriveNormSet(opts: DeriveOptions): { months: number; used: number } {
  const store = opts.store.replace(/\/+$/, "");
  const { format, rootAttrs, statAttrs, months } = openStatistics(store);
  const pooling = checkPooling(opts.pooling ?? "calendar-month");
  const from = opts.from ? parseMonth(opts.from, "--from") : months[0];
  const to = opts.to ? parseMonth(opts.to, "--to") : months.at(-1)!;
  if (from > to && opts.from && opts.to) throw new Error(`--from ${opts.from} is after --to ${opts.to}`);
  if (!months.some((m) => m >= from && m <= to)) {
    const range = (a: number, b: number) => `${monthLabel(a)} .. ${monthLabel(b)}`;
    throw new ConfigError(
      opts.from && opts.to ? "--from/--to" : opts.from ? "--from" : "--to",
      `the period ${range(from, to)} holds none of the months of ${store} (${range(months[0], months.at(-1)!)})`,
    );
  }
  const layout = normLayout(store, format, rootAttrs, months);
  const out = opts.out.replace(/\/+$/, "");
  const stage = stagePath(out);
  // The rules of every output (zarr/outputs.ts): one writer, --overwrite only over a coefficient set, and never
  // the data store it reads; a user's folder named OUT.partial is refused, not removed.
  const lock = acquireLock(lockPath(out), out, "normalize");
  try {
    checkReplaceable(out, "normalization", { overwrite: opts.overwrite, inputs: [store] });
    clearStage(stage);
    return derive({ store, format, statAttrs, months, pooling, from, to, layout, out, stage });
  } finally {
    lock.release();
  }
}

/** What {@link deriveNormSet} checked and resolved before writing. */
interface DerivePlan {
  store: string;
  format: ZarrFormat;
  statAttrs: Record<string, unknown>;
  months: number[];
  pooling: Pooling;
  from: number;
  to: number;
  layout: NormLayout;
  out: string;
  stage: string;
}

/** Write the coefficient set into its stage and publish it (the stage removed on failure). */
function derive(
  { store, format, statAttrs, months, pooling, from, to, layout, out, stage }: DerivePlan,
): { months: number; used: number } {
  const pool = poolingOf(months, from, to, pooling);
  const used = new Set<number>();
  try {
    const d: Derivation = { store, format, layout, pool, arrays: createNormArrays(stage, format, "", layout), used };
    writeGlobals(d);
    writeLocals(d);
    finalizeStore(stage, format, {
      kind: "normalization",
      source: dirname(resolve(out)) === dirname(resolve(store)) ? basename(store) : resolve(store),
      fields: layout.fields,
      fields_sfc: layout.fieldsSfc,
      levels: layout.levels,
      months,
      pooling,
      transforms: statAttrs.transforms ?? {},
      period: [monthLabel(Math.max(from, months[0])), monthLabel(Math.min(to, months.at(-1)!))],
      coefficients: ["mean", "std"],
      created: new Date().toISOString(),
    });
    publishStore(stage, out);
  } catch (e) {
    removeStore(stage);
    throw e;
  }
  return { months: months.length, used: used.size };
}

/** What one derivation reads from and writes to. */
interface Derivation {
  /** The data store and its format. */
  store: string;
  format: ZarrFormat;
  /** The layout of the coefficient set (one entry per month of the data store). */
  layout: NormLayout;
  /** The source months (indices) pooled into output entry `entry`. */
  pool: (entry: number) => number[];
  /** The coefficient set's arrays, in its staging directory. */
  arrays: NormArrays;
  /** Source months whose point statistics were read. */
  used: Set<number>;
}

/** The data store's format, attributes, statistics attributes and months; an error when it has no statistics. */
function openStatistics(store: string): {
  format: ZarrFormat;
  rootAttrs: Record<string, unknown>;
  statAttrs: Record<string, unknown>;
  months: number[];
} {
  const format = assertComplete(store);
  const rootAttrs = readRootAttributes(store);
  if (!pathExists(`${store}/statistics`)) {
    throw new Error(`${store}: no statistics/ group (written by \`deno task convert\`); cannot derive coefficients`);
  }
  const statAttrs = readGroupAttributes(store, "statistics");
  return { format, rootAttrs, statAttrs, months: statAttrs.months as number[] };
}

/** `pooling` when it is one of the rules, else an error naming the option. */
function checkPooling(pooling: Pooling): Pooling {
  if (!["monthly", "calendar-month", "all"].includes(pooling)) {
    throw new Error(`--pool must be monthly, calendar-month or all (got "${pooling}")`);
  }
  return pooling;
}

/** The coefficient set's layout: the data store's fields, levels and point grid, one entry per month. */
function normLayout(
  store: string,
  format: ZarrFormat,
  rootAttrs: Record<string, unknown>,
  months: number[],
): NormLayout {
  const pointCount = new ArrayReader(store, "statistics/point_count", format);
  return {
    months,
    fields: rootAttrs.fields as string[],
    fieldsSfc: rootAttrs.fields_sfc as string[],
    levels: rootAttrs.levels as number[],
    pointShape: pointCount.shape.slice(3),
    pointDims: pointCount.dimensions.slice(3),
  };
}

/** For each output entry, the source months of the period that the pooling rule merges into it. */
function poolingOf(months: number[], from: number, to: number, pooling: Pooling): (entry: number) => number[] {
  const inPeriod = months.map((m) => m >= from && m <= to);
  return (entry) =>
    months.map((_, i) => i).filter((i) =>
      inPeriod[i] &&
      (pooling === "all" || (pooling === "monthly" ? i === entry : months[i] % 100 === months[entry] % 100))
    );
}

/** The global coefficients (one mean/std per field and level) of every entry, data then surface. */
function writeGlobals(d: Derivation): void {
  const layout = d.layout, months = layout.months;
  const nf = layout.fields.length, ns = layout.fieldsSfc.length, nl = layout.levels.length;
  const gData = nf * nl > 0 ? pooledGlobals(d, false, nf, nl) : months.map(() => []);
  const gSfc = ns > 0 ? pooledGlobals(d, true, ns, 1) : months.map(() => []);
  writeGlobalCoefficients(d.arrays, layout, gData, gSfc);
}

/** Per entry, field and level: the moments of the entry's source months merged. */
function pooledGlobals(d: Derivation, sfc: boolean, nf: number, nl: number): Moments[][][] {
  const sx = sfc ? "_sfc" : "";
  const names = ["count", "mean", "m2", "min", "max"] as const;
  const read = names.map((n) => new ArrayReader(d.store, `statistics/${n}${sx}`, d.format).read() as Float64Array);
  const at = (m: number, f: number, l: number): Moments => {
    const i = (m * nf + f) * nl + l;
    const c = read[0][i];
    return c > 0 ? { count: c, mean: read[1][i], m2: read[2][i], min: read[3][i], max: read[4][i] } : emptyMoments();
  };
  return d.layout.months.map((_, e) =>
    Array.from(
      { length: nf },
      (_, f) =>
        Array.from({ length: nl }, (_, l) =>
          d.pool(e).reduce((acc, m) => mergeMoments(acc, at(m, f, l)), emptyMoments())),
    )
  );
}

/** The per-point coefficients of every field and level, data then surface. */
function writeLocals(d: Derivation): void {
  const nf = d.layout.fields.length, ns = d.layout.fieldsSfc.length, nl = d.layout.levels.length;
  for (let f = 0; f < nf; f++) for (let l = 0; l < nl; l++) writeLocal(d, false, f, l);
  for (let f = 0; f < ns; f++) writeLocal(d, true, f, 0);
}

/** One field level's per-point coefficients for every entry; entries pooling the same months share one result. */
function writeLocal(d: Derivation, sfc: boolean, f: number, l: number): void {
  const sx = sfc ? "_sfc" : "";
  const readers = ["point_count", "point_mean", "point_m2"].map((n) =>
    new ArrayReader(d.store, `statistics/${n}${sx}`, d.format)
  );
  const cache = new Map<string, { mean: Float32Array; std: Float32Array }>();
  d.layout.months.forEach((_, e) => {
    const src = d.pool(e);
    const key = src.join(",");
    let coef = cache.get(key);
    if (!coef) {
      coef = pooledPoints(d, readers, src, sfc, f, l);
      cache.set(key, coef);
    }
    writeLocalCoefficients(d.arrays, sfc, e, f, l, coef.mean, coef.std);
  });
}

/** The per-point moments of source months `src` merged, as mean and std. */
function pooledPoints(
  d: Derivation,
  readers: ArrayReader[],
  src: number[],
  sfc: boolean,
  f: number,
  l: number,
): { mean: Float32Array; std: Float32Array } {
  const pointShape = d.layout.pointShape;
  const acc = new PointMoments(pointShape.reduce((a, b) => a * b, 1));
  for (const m of src) {
    d.used.add(m);
    const zeros = pointShape.map(() => 0);
    const coords = sfc ? [m, f, ...zeros] : [m, f, l, ...zeros];
    const [c, mu, m2] = readers.map((r) => r.readChunk(coords) as Float64Array);
    // Months never written hold NaN (the fill value): nothing to merge.
    for (let i = 0; i < c.length; i++) if (c[i] !== c[i]) (c[i] = 0, mu[i] = 0, m2[i] = 0);
    acc.merge(new PointMoments(0, c, mu, m2));
  }
  return acc.coefficients();
}
