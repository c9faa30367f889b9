/**
 * Tilings that cover a grid with windows (a global forecast, an evaluation
 * over the whole domain), with an overlap in tokens.
 *
 * @module
 */
import { ConfigError } from "../errors.ts";

/** A grid to tile. */
export interface TilingGrid {
  /** Rows (latitudes). */
  rows: number;
  /** Columns (longitudes). */
  cols: number;
  /** Whether columns wrap around (a global grid). */
  periodic: boolean;
}

/** Tiling geometry: window and token extents in grid points, overlap in tokens. */
export interface TilingOptions {
  /** Window [rows, columns] in points. */
  window: [number, number];
  /** Token [rows, columns] in points. */
  token: [number, number];
  /** Overlap of neighbouring windows [rows, columns] in tokens. Default [0, 0]. */
  overlap?: [number, number];
}

/** Starts of windows of `size` with `stride` along an axis of `n`; a last one ends at the edge. */
function starts(n: number, size: number, stride: number, periodic: boolean): number[] {
  const out: number[] = [];
  if (periodic) {
    for (let s = 0; s < n; s += stride) out.push(s);
    return out;
  }
  for (let s = 0; s + size < n; s += stride) out.push(s);
  if (out.at(-1) !== n - size) out.push(n - size);
  return out;
}

/**
 * The corners (first row, first column) of windows that cover every point
 * of `grid`: rows from the north edge every (window − overlap) points, the
 * last row ending at the south edge (the pole on a global grid, as
 * AtmoRep's global forecast); columns likewise, wrapping around on a
 * periodic grid, the last column ending at the east edge otherwise.
 */
export function tileGrid(grid: TilingGrid, opts: TilingOptions): { i0: number; j0: number }[] {
  const [h, w] = opts.window, [th, tw] = opts.token, [oh, ow] = opts.overlap ?? [0, 0];
  if (h > grid.rows || (!grid.periodic && w > grid.cols)) {
    throw new ConfigError("tiling", `the window ${h}×${w} is larger than the grid ${grid.rows}×${grid.cols}`);
  }
  const sh = h - oh * th, sw = w - ow * tw;
  if (!(oh >= 0 && ow >= 0 && Number.isInteger(oh) && Number.isInteger(ow)) || sh <= 0 || sw <= 0) {
    throw new ConfigError("tiling.overlap", `overlap [${oh}, ${ow}] tokens must be whole and smaller than the window`);
  }
  const rows = starts(grid.rows, h, sh, false), cols = starts(grid.cols, w, sw, grid.periodic);
  return rows.flatMap((i0) => cols.map((j0) => ({ i0, j0 })));
}
