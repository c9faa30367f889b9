/**
 * A regular lat-lon store written by `convert era5` opened for sampling:
 * fields, levels, times, grid, reads of (time, lat, lon) windows that wrap
 * around in longitude, and window placement on the grid.
 *
 * @module
 */
import { ArrayReader, readRootAttributes, readTimeCoordinate } from "../zarr/reader.ts";
import { assertComplete } from "../zarr/publish.ts";
import { StoreError } from "../errors.ts";
import { CachedArray, type ChunkCache } from "./cache.ts";
import type { RandomSource, SampleDataset } from "./dataset.ts";
import type { Window, WindowShape } from "./window.ts";
import { tileGrid } from "./tiling.ts";

/** A regular-grid dataset. */
export class GridDataset implements SampleDataset {
  /** Store path. */
  readonly root: string;
  /** The store's grid kind. */
  readonly grid = "regular_ll";
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
    if (a.grid !== "regular_ll" && !a.res) throw new StoreError(root, "not a regular lat-lon store");
    this.root = root;
    this.fields = a.fields as string[];
    this.fieldsSfc = a.fields_sfc as string[];
    this.levels = a.levels as number[];
    this.res = a.res as [number, number];
    this.isGlobal = Boolean(a.is_global);
    this.times = readTimeCoordinate(root);
    this.colat = new ArrayReader(root, "lats").read() as Float64Array;
    this.lons = new ArrayReader(root, "lons").read() as Float64Array;
    this.data = new CachedArray(root, "data", cache);
    this.dataSfc = new CachedArray(root, "data_sfc", cache);
  }

  /** @inheritdoc */
  get gridKey(): string {
    return [this.grid, this.res.join(), this.colat.length, this.lons.length, this.colat[0], this.lons[0]].join("|");
  }

  /** @inheritdoc */
  pointShape(): number[] {
    return [this.colat.length, this.lons.length];
  }

  /** Whether `field` is single-level. */
  isSurface(field: string): boolean {
    if (this.fieldsSfc.includes(field)) return true;
    if (this.fields.includes(field)) return false;
    throw new StoreError(
      this.root,
      `no field "${field}" (fields: ${[...this.fields, ...this.fieldsSfc].join(", ")})`,
      { field },
    );
  }

  /** @inheritdoc */
  checkField(field: string, levels: number[], surface?: string): void {
    if (surface !== undefined && !this.isSurface(surface)) {
      throw new StoreError(this.root, `${field}'s surface ${surface} is not a single-level field`, { field });
    }
    for (const level of levels) {
      const name = surface !== undefined && level === 0 ? surface : field;
      if (!this.isSurface(name) && !this.levels.includes(level)) {
        throw new StoreError(this.root, `${field} has no level ${level} (levels: ${this.levels.join(", ")})`, {
          field,
        });
      }
    }
  }

  /** The array holding `field` and the coordinates of `field` (and `level`) between its time and lat axes. */
  source(field: string, level: number): { reader: ArrayReader; fixed: number[] } {
    if (this.isSurface(field)) return { reader: this.dataSfc.reader, fixed: [this.fieldsSfc.indexOf(field)] };
    const l = this.levels.indexOf(level);
    if (l < 0) throw new StoreError(this.root, `${field} has no level ${level}`, { field });
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
    if (l < 0) throw new StoreError(this.root, `${field} has no level ${level}`, { field });
    const box = (a: number, b: number): [number, number][] =>
      sfc
        ? [[t0, t0 + nt], [f, f + 1], [i0, i0 + nh], [a, b]]
        : [[t0, t0 + nt], [f, f + 1], [l, l + 1], [i0, i0 + nh], [a, b]];
    const array = sfc ? this.dataSfc : this.data;
    return readWrapped((a, b) => array.read(box(a, b)), j0, nw, W, nt * nh);
  }

  /** @inheritdoc */
  checkShape(shape: WindowShape): void {
    if (this.colat.length < shape.rows || (!this.isGlobal && this.lons.length < shape.cols)) {
      throw new StoreError(
        this.root,
        `the grid (${this.colat.length}×${this.lons.length}) is smaller than the neighborhood ${shape.rows}×${shape.cols}`,
      );
    }
  }

  /** The row whose window of `rows` rows is centred nearest `lat`, clamped so it touches but never crosses a pole. */
  private firstRow(lat: number, rows: number): number {
    const centreRow = Math.round((90 - lat - this.colat[0]) / this.res[0]);
    return Math.min(Math.max(0, centreRow - Math.floor(rows / 2)), this.colat.length - rows);
  }

  /** @inheritdoc */
  randomWindow(rng: RandomSource, end: number, lat: number, shape: WindowShape): Window {
    const i0 = this.firstRow(lat, shape.rows);
    const nlon = this.lons.length;
    const j0 = this.isGlobal ? rng.int(nlon) : rng.int(nlon - shape.cols + 1);
    return this.window(end - shape.steps + 1, i0, j0, shape);
  }

  /** @inheritdoc */
  windowAt(end: number, lat: number, lon: number, shape: WindowShape): Window {
    const nlon = this.lons.length;
    const centreCol = Math.round((((lon - this.lons[0]) % 360 + 360) % 360) / this.res[1]);
    let j0 = centreCol - Math.floor(shape.cols / 2);
    j0 = this.isGlobal ? ((j0 % nlon) + nlon) % nlon : Math.min(Math.max(0, j0), nlon - shape.cols);
    return this.window(end - shape.steps + 1, this.firstRow(lat, shape.rows), j0, shape);
  }

  /** @inheritdoc */
  tiles(end: number, shape: WindowShape, token: [number, number], overlap: [number, number]): Window[] {
    const grid = { rows: this.colat.length, cols: this.lons.length, periodic: this.isGlobal };
    return tileGrid(grid, { window: [shape.rows, shape.cols], token, overlap }).map(({ i0, j0 }) =>
      this.window(end - shape.steps + 1, i0, j0, shape)
    );
  }

  /** The window of `shape` starting at time index t0, row i0, column j0. */
  window(t0: number, i0: number, j0: number, shape: WindowShape): Window {
    const [dlat, dlon] = this.res;
    // The box of the grid cells (edges half a cell beyond the outer points), where other datasets' points are taken.
    const north = 90 - (this.colat[0] + i0 * dlat) + dlat / 2;
    const south = 90 - (this.colat[0] + (i0 + shape.rows - 1) * dlat) - dlat / 2;
    const end = this.times[t0 + shape.steps - 1];
    return { t0, i0, j0, end, box: [south, north, this.lons[0] + j0 * dlon - dlon / 2, shape.cols * dlon] };
  }
}

/**
 * Columns j0 … j0+nw−1 modulo W of `rows` rows: one read, or two joined
 * column-wise when the window crosses 0°/360°.
 */
export function readWrapped(
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
