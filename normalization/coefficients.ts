/**
 * Reading and applying coefficient sets (`*.norm.zarr`) of every kind: a
 * regular grid's (norm, global_norm, *_sfc over lat × lon), a mesh's (the
 * same over nodes, plus *_elem over elements) and a points store's. One
 * class reads them all, checks that a set fits the data store it is used
 * with, and turns coefficients into a {@link Scaling} that normalizes and
 * denormalizes values, transforms (log-space ozone) included.
 *
 * A zero standard deviation (a point constant over the month, e.g. at a
 * pole) scales by 1, so no NaN or infinity reaches a model.
 *
 * @module
 */
import { missesSoFar } from "../zarr/mirror.ts";
import { ArrayReader, readRootAttributes } from "../zarr/reader.ts";
import { assertComplete } from "../zarr/publish.ts";
import { NormalizationError } from "../errors.ts";
import { CachedArray, type ChunkCache } from "../datasets/cache.ts";
import { readWrapped } from "../datasets/grid.ts";
import { type CoefficientSetIdentity, coefficientSetIdentity } from "./identity.ts";
import type { TransformSpec, ValueTransform } from "./transforms.ts";
import { transformFromSpec } from "./registry.ts";

/** Per time step of a window: the coefficients that normalize it, and the field's transform. */
export interface Scaling {
  /** Per time step: one mean (global coefficients) or one per point. */
  mean: Float32Array[];
  /** Per time step: standard deviations (zero replaced by 1), same shape as `mean`. */
  std: Float32Array[];
  /** Per time step: 1 / std. */
  inv: Float32Array[];
  /** Applied before the z-score (and inverted after it). */
  transform?: ValueTransform;
}

/** A rectangle of a regular grid: rows [i0, i0+rows), columns j0 … j0+cols−1 modulo `width`. */
export interface GridRegion {
  /** First row. */
  i0: number;
  /** Rows. */
  rows: number;
  /** First column (wraps). */
  j0: number;
  /** Columns. */
  cols: number;
  /** Columns of the whole grid. */
  width: number;
}

/** Where a field's coefficients are: array name suffix, single-level or not, index. */
interface FieldEntry {
  suffix: "" | "_elem";
  sfc: boolean;
  index: number;
}

const FIELD_KEYS: [string, FieldEntry["suffix"], boolean][] = [
  ["fields", "", false],
  ["fields_sfc", "", true],
  ["fields_elem", "_elem", false],
  ["fields_elem_sfc", "_elem", true],
];

/** A coefficient set opened for reading. */
export class CoefficientSet {
  /** Store path. */
  readonly root: string;
  /** Month entries, yyyymm. */
  readonly months: number[];
  /** Levels of the 3-D fields. */
  readonly levels: number[];
  /** Whether the data's time stamps are instants (own month) or period ends (the month before them, FESOM means). */
  readonly instantaneous: boolean;
  /** Transforms by field. */
  readonly transforms: Map<string, ValueTransform> = new Map();
  private readonly fields = new Map<string, FieldEntry>();
  /** Fields per array (by name suffix: "", "_sfc", "_elem", "_elem_sfc"): the field dimension of its coefficients. */
  private readonly fieldCounts = new Map<string, number>();
  private readonly cache: ChunkCache;
  private readonly arrays = new Map<string, CachedArray>();
  private readonly globals = new Map<string, Float32Array>();

  constructor(root: string, cache: ChunkCache) {
    assertComplete(root);
    const a = readRootAttributes(root);
    if (a.kind !== "normalization") {
      throw new NormalizationError(root, "not a coefficient set (kind is not normalization)");
    }
    this.root = root;
    this.cache = cache;
    this.months = a.months as number[];
    this.levels = (a.levels as number[] | undefined) ?? [];
    this.instantaneous = (a.instantaneous as boolean | undefined) ?? !("fields_elem" in a);
    for (const [key, suffix, sfc] of FIELD_KEYS) {
      const names = (a[key] as string[] | undefined) ?? [];
      names.forEach((f, index) => this.fields.set(f, { suffix, sfc, index }));
      this.fieldCounts.set(`${suffix}${sfc ? "_sfc" : ""}`, names.length);
    }
    for (const [field, spec] of Object.entries((a.transforms as Record<string, TransformSpec> | undefined) ?? {})) {
      this.transforms.set(field, transformFromSpec(spec, `${root}: transforms.${field}`));
    }
  }

  /** The identity a checkpoint records. */
  identity(): Promise<CoefficientSetIdentity> {
    return coefficientSetIdentity(this.root);
  }

  /** Month entry of a time (seconds since 1970); a month without coefficients is an error naming it. */
  entry(seconds: number): number {
    const d = new Date((this.instantaneous ? seconds : seconds - 1) * 1000);
    const e = this.months.indexOf(d.getUTCFullYear() * 100 + d.getUTCMonth() + 1);
    if (e < 0) {
      throw new NormalizationError(
        this.root,
        `no coefficients for ${d.toISOString().slice(0, 7)} (months ${this.months[0]}–${this.months.at(-1)})`,
      );
    }
    return e;
  }

  private field(field: string): FieldEntry {
    const f = this.fields.get(field);
    if (!f) {
      throw new NormalizationError(
        this.root,
        `no coefficients for field "${field}" (has ${[...this.fields.keys()].join(", ")})`,
        {
          field,
        },
      );
    }
    return f;
  }

  private levelIndex(field: string, f: FieldEntry, level: number): number {
    if (f.sfc) return -1;
    const l = this.levels.indexOf(level);
    if (l < 0) {
      throw new NormalizationError(
        this.root,
        `no coefficients for ${field} at level ${level} (levels ${this.levels.join(", ")})`,
        {
          field,
        },
      );
    }
    return l;
  }

  private array(name: string): CachedArray {
    let a = this.arrays.get(name);
    if (!a) this.arrays.set(name, a = new CachedArray(this.root, name, this.cache));
    return a;
  }

  private global(name: string): Float32Array {
    let g = this.globals.get(name);
    if (g) return g;
    const misses = missesSoFar();
    g = new ArrayReader(this.root, name).read() as Float32Array;
    // Of a set opened by URL whose chunks are not downloaded yet: fill values, not worth keeping (zarr/mirror.ts).
    if (missesSoFar() === misses) this.globals.set(name, g);
    return g;
  }

  /**
   * Throw a {@link NormalizationError} naming both stores when this set does
   * not fit `store`: a field or level it lacks, or another grid (the points
   * of its per-point coefficients differ from the store's).
   */
  assertFits(store: string, fields: { name: string; levels: number[]; points: number[] }[]): void {
    for (const { name, levels, points } of fields) {
      const f = this.field(name);
      for (const level of levels) this.levelIndex(name, f, level);
      const arr = this.array(`norm${f.suffix}${f.sfc ? "_sfc" : ""}`);
      const own = arr.shape.slice(f.sfc ? 3 : 4);
      if (own.join() !== points.join()) {
        throw new NormalizationError(
          this.root,
          `made for another grid than ${store}: ${name}'s coefficients cover ${own.join("×")} points, the store ${
            points.join("×")
          }`,
          { field: name },
        );
      }
    }
  }

  /**
   * Mean and standard deviation of a field level in month `entry`: global
   * (length 1), or per point — of `region` on a grid, of every point on a
   * mesh. A month whose global coefficients are missing (no data in it) is
   * an error: normalizing with NaN would silently empty the batch.
   */
  coefficients(
    field: string,
    level: number,
    entry: number,
    local: boolean,
    region?: GridRegion,
  ): { mean: Float32Array; std: Float32Array } {
    const f = this.field(field), l = this.levelIndex(field, f, level);
    const name = `${f.suffix}${f.sfc ? "_sfc" : ""}`;
    const g = this.global(`global_norm${name}`);
    const nf = this.fieldCounts.get(name)!;
    const nl = f.sfc ? 1 : this.levels.length, at = f.index * nl + Math.max(l, 0);
    const gMean = g[(entry * 2) * nf * nl + at], gStd = g[(entry * 2 + 1) * nf * nl + at];
    if (!Number.isFinite(gMean) || !Number.isFinite(gStd)) {
      throw new NormalizationError(
        this.root,
        `no data behind the coefficients of ${field}${f.sfc ? "" : ` at level ${level}`} in ${this.months[entry]}`,
        { field },
      );
    }
    if (!local) return { mean: Float32Array.of(gMean), std: Float32Array.of(gStd) };
    const arr = this.array(`norm${name}`);
    const lead: [number, number][] = f.sfc
      ? [[entry, entry + 1], [0, 2], [f.index, f.index + 1]]
      : [[entry, entry + 1], [0, 2], [f.index, f.index + 1], [l, l + 1]];
    if (region) {
      const { i0, rows, j0, cols, width } = region;
      // Both coefficients of a column range in one read: (2, rows, columns).
      const both = readWrapped((a, b) => arr.read([...lead, [i0, i0 + rows], [a, b]]), j0, cols, width, 2 * rows);
      const n = rows * cols;
      return { mean: both.slice(0, n), std: both.slice(n) };
    }
    const points = arr.shape.slice(lead.length).reduce((a, b) => a * b, 1);
    const v = arr.read([...lead, ...arr.shape.slice(lead.length).map((n): [number, number] => [0, n])]);
    return { mean: v.slice(0, points), std: v.slice(points) };
  }

  /**
   * The scaling of a field level over time steps at `times` (seconds): one
   * entry per step, coefficients looked up once per month.
   */
  scaling(field: string, level: number, times: ArrayLike<number>, local: boolean, region?: GridRegion): Scaling {
    const byEntry = new Map<number, { mean: Float32Array; std: Float32Array; inv: Float32Array }>();
    const out: Scaling = { mean: [], std: [], inv: [], transform: this.transforms.get(field) };
    for (let t = 0; t < times.length; t++) {
      const entry = this.entry(times[t]);
      let c = byEntry.get(entry);
      if (!c) {
        const { mean, std } = this.coefficients(field, level, entry, local, region);
        const safe = std.map((x) => (x > 0 ? x : 1));
        byEntry.set(entry, c = { mean, std: safe, inv: safe.map((x) => 1 / x) });
      }
      out.mean.push(c.mean);
      out.std.push(c.std);
      out.inv.push(c.inv);
    }
    return out;
  }
}

/**
 * Normalize `values` in place: time step t is values[t·plane … (t+1)·plane),
 * transformed, then (x − mean) / std with one or `plane` coefficients.
 */
export function normalizeInPlace(values: Float32Array, plane: number, s: Scaling): void {
  for (let t = 0; t < s.mean.length; t++) {
    const v = values.subarray(t * plane, (t + 1) * plane);
    if (s.transform) s.transform.forwardInto(v, 0, v, 0, v.length);
    const mean = s.mean[t], inv = s.inv[t];
    if (mean.length === 1) {
      const m = mean[0], k = inv[0];
      for (let i = 0; i < v.length; i++) v[i] = (v[i] - m) * k;
    } else for (let i = 0; i < v.length; i++) v[i] = (v[i] - mean[i]) * inv[i];
  }
}

/** Invert {@link normalizeInPlace}: x · std + mean, then the inverse transform. */
export function denormalizeInPlace(values: Float32Array, plane: number, s: Scaling): void {
  for (let t = 0; t < s.mean.length; t++) {
    const v = values.subarray(t * plane, (t + 1) * plane);
    const mean = s.mean[t], std = s.std[t];
    if (mean.length === 1) {
      const m = mean[0], sd = std[0];
      for (let i = 0; i < v.length; i++) v[i] = v[i] * sd + m;
    } else for (let i = 0; i < v.length; i++) v[i] = v[i] * std[i] + mean[i];
    if (s.transform) s.transform.inverseInPlace(v);
  }
}
