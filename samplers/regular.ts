/**
 * A regular lat-lon store written by `convert era5` opened for sampling:
 * fields, levels, times, grid, and reads of (time, lat, lon) windows that
 * wrap around in longitude, plus the coefficient sets to normalize them.
 *
 * @module
 */
import { assertComplete, readRootAttributes } from "../zarr/store.ts";
import { ArrayReader } from "../zarr/store.ts";
import { CachedArray, type ChunkCache } from "./cache.ts";

/** A regular-grid dataset. */
export class RegularDataset {
  /** Store path. */
  readonly root: string;
  /** 3-D fields. */
  readonly fields: string[];
  /** Single-level fields. */
  readonly fieldsSfc: string[];
  /** Levels. */
  readonly levels: number[];
  /** Times, seconds since 1970. */
  readonly times: Float64Array;
  /** Colatitudes of the rows (0 = north pole). */
  readonly colat: Float64Array;
  /** Longitudes of the columns. */
  readonly lons: Float64Array;
  /** Grid spacing [dlat, dlon]. */
  readonly res: [number, number];
  /** Whether longitude wraps around. */
  readonly isGlobal: boolean;
  private readonly data: CachedArray;
  private readonly dataSfc: CachedArray;

  constructor(root: string, cache: ChunkCache) {
    assertComplete(root);
    const a = readRootAttributes(root);
    if (a.grid !== "regular_ll" && !a.res) throw new Error(`${root}: not a regular lat-lon store`);
    this.root = root;
    this.fields = a.fields as string[];
    this.fieldsSfc = a.fields_sfc as string[];
    this.levels = a.levels as number[];
    this.res = a.res as [number, number];
    this.isGlobal = Boolean(a.is_global);
    this.times = Float64Array.from(new ArrayReader(root, "time").read() as BigInt64Array, Number);
    this.colat = new ArrayReader(root, "lats").read() as Float64Array;
    this.lons = new ArrayReader(root, "lons").read() as Float64Array;
    this.data = new CachedArray(root, "data", cache);
    this.dataSfc = new CachedArray(root, "data_sfc", cache);
  }

  /** Whether `field` is single-level. */
  isSurface(field: string): boolean {
    if (this.fieldsSfc.includes(field)) return true;
    if (this.fields.includes(field)) return false;
    throw new Error(`${this.root}: no field "${field}" (fields: ${[...this.fields, ...this.fieldsSfc].join(", ")})`);
  }

  /** The array holding `field` and the coordinates of `field` (and `level`) between its time and lat axes. */
  source(field: string, level: number): { reader: ArrayReader; fixed: number[] } {
    if (this.isSurface(field)) return { reader: this.dataSfc.reader, fixed: [this.fieldsSfc.indexOf(field)] };
    const l = this.levels.indexOf(level);
    if (l < 0) throw new Error(`${this.root}: ${field} has no level ${level}`);
    return { reader: this.data.reader, fixed: [this.fields.indexOf(field), l] };
  }

  /**
   * Values of `field` at `level` for times [t0, t0+nt), rows [i0, i0+nh)
   * and columns j0 … j0+nw−1 modulo the row length, as (nt, nh, nw).
   */
  read(
    field: string,
    level: number,
    t0: number,
    nt: number,
    i0: number,
    nh: number,
    j0: number,
    nw: number,
  ): Float32Array {
    const W = this.lons.length;
    const sfc = this.isSurface(field);
    const f = sfc ? this.fieldsSfc.indexOf(field) : this.fields.indexOf(field);
    const l = sfc ? 0 : this.levels.indexOf(level);
    if (l < 0) throw new Error(`${this.root}: ${field} has no level ${level}`);
    const box = (a: number, b: number): [number, number][] =>
      sfc
        ? [[t0, t0 + nt], [f, f + 1], [i0, i0 + nh], [a, b]]
        : [[t0, t0 + nt], [f, f + 1], [l, l + 1], [i0, i0 + nh], [a, b]];
    const array = sfc ? this.dataSfc : this.data;
    return readWrapped((a, b) => array.read(box(a, b)), j0, nw, W, nt * nh);
  }
}

/** A coefficient set (`*.norm.zarr`) for normalizing at load time. */
export class NormSet {
  /** Store path. */
  readonly root: string;
  /** Month entries, yyyymm. */
  readonly months: number[];
  /** Transforms applied before the z-score (e.g. log for ozone). */
  readonly transforms: Record<string, { type: string; eps: number }>;
  private readonly fields: string[];
  private readonly fieldsSfc: string[];
  private readonly levels: number[];
  private readonly norm: CachedArray;
  private readonly normSfc: CachedArray;
  private readonly global: Float32Array;
  private readonly globalSfc: Float32Array;

  constructor(root: string, cache: ChunkCache) {
    assertComplete(root);
    const a = readRootAttributes(root);
    if (a.kind !== "normalization") throw new Error(`${root}: not a normalization store`);
    this.root = root;
    this.months = a.months as number[];
    this.fields = a.fields as string[];
    this.fieldsSfc = a.fields_sfc as string[];
    this.levels = a.levels as number[];
    this.transforms = (a.transforms as NormSet["transforms"]) ?? {};
    this.norm = new CachedArray(root, "norm", cache);
    this.normSfc = new CachedArray(root, "norm_sfc", cache);
    this.global = new ArrayReader(root, "global_norm").read() as Float32Array;
    this.globalSfc = new ArrayReader(root, "global_norm_sfc").read() as Float32Array;
  }

  /** Month entry of a time (seconds since 1970). */
  entry(seconds: number): number {
    const d = new Date(seconds * 1000);
    const e = this.months.indexOf(d.getUTCFullYear() * 100 + d.getUTCMonth() + 1);
    if (e < 0) throw new Error(`${this.root}: no coefficients for ${d.toISOString().slice(0, 7)}`);
    return e;
  }

  /** Global mean and std of a field level for a month entry. */
  globalCoefficients(field: string, level: number, entry: number): [number, number] {
    const sfc = this.fieldsSfc.includes(field);
    if (sfc) {
      const f = this.fieldsSfc.indexOf(field), n = this.fieldsSfc.length;
      return [this.globalSfc[(entry * 2) * n + f], this.globalSfc[(entry * 2 + 1) * n + f]];
    }
    const f = this.fields.indexOf(field), l = this.levels.indexOf(level);
    if (f < 0 || l < 0) throw new Error(`${this.root}: no coefficients for ${field} at level ${level}`);
    const nf = this.fields.length, nl = this.levels.length;
    return [this.global[((entry * 2) * nf + f) * nl + l], this.global[((entry * 2 + 1) * nf + f) * nl + l]];
  }

  /** Per-point mean and std planes (nh, nw) of a field level, wrapping in longitude. */
  localCoefficients(
    field: string,
    level: number,
    entry: number,
    i0: number,
    nh: number,
    j0: number,
    nw: number,
    W: number,
  ): [Float32Array, Float32Array] {
    const sfc = this.fieldsSfc.includes(field);
    const f = sfc ? this.fieldsSfc.indexOf(field) : this.fields.indexOf(field);
    const l = this.levels.indexOf(level);
    const read = (c: number, a: number, b: number) =>
      sfc
        ? this.normSfc.read([[entry, entry + 1], [c, c + 1], [f, f + 1], [i0, i0 + nh], [a, b]])
        : this.norm.read([[entry, entry + 1], [c, c + 1], [f, f + 1], [l, l + 1], [i0, i0 + nh], [a, b]]);
    const plane = (c: number) => readWrapped((a, b) => read(c, a, b), j0, nw, W, nh);
    return [plane(0), plane(1)];
  }
}

/**
 * Columns j0 … j0+nw−1 modulo W of `rows` rows: one read, or two joined
 * column-wise when the window crosses 0°/360°.
 */
function readWrapped(
  read: (from: number, to: number) => Float32Array,
  j0: number,
  nw: number,
  W: number,
  rows: number,
): Float32Array {
  const start = ((j0 % W) + W) % W;
  if (start + nw <= W) return read(start, start + nw);
  const left = W - start, right = nw - left;
  const a = read(start, W), b = read(0, right);
  const out = new Float32Array(rows * nw);
  for (let r = 0; r < rows; r++) {
    out.set(a.subarray(r * left, (r + 1) * left), r * nw);
    out.set(b.subarray(r * right, (r + 1) * right), r * nw + left);
  }
  return out;
}
