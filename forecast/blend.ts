/**
 * Blending tile predictions into one field on the whole grid. Each tile
 * weighs its points with a smooth taper that rises from its edges over the
 * overlap with its neighbours (a raised cosine), and the blended value is
 * Σ wₖ·vₖ / Σ wₖ: the normalized weights sum to one at every point, so a
 * read-out that returns its input reconstructs the field exactly, and
 * tiles that disagree meet without a seam. Edges of the domain (the poles,
 * the borders of a regional grid) do not taper: no neighbour shares them.
 * AtmoRep only overwrites tiles; the taper is what makes a tiled forecast
 * seamless.
 *
 * @module
 */
import { ConfigError } from "../errors.ts";

/** The grid tiles are blended onto. */
export interface BlendGrid {
  /** Rows (latitudes, north to south). */
  rows: number;
  /** Columns (longitudes). */
  cols: number;
  /** Whether columns wrap around (a global grid). */
  periodic: boolean;
}

/** A tile: its first row and column (the column may exceed the grid's width: it wraps). */
export interface TilePlace {
  /** First row. */
  i0: number;
  /** First column. */
  j0: number;
}

/** Smooth ramp from 0 (x ≤ 0) to 1 (x ≥ 1): sin²(πx/2). */
function ramp(x: number): number {
  if (x >= 1) return 1;
  if (x <= 0) return 0;
  const s = Math.sin(Math.PI * x / 2);
  return s * s;
}

/**
 * Taper of one axis of a tile of `n` points whose neighbours overlap it by
 * `overlap` points: point k weighs ramp((distance to the nearer tapered
 * edge + ½) / overlap), never 0; an edge on the domain's border does not taper.
 */
export function taper1d(n: number, overlap: number, taperStart: boolean, taperEnd: boolean): Float32Array {
  const w = new Float32Array(n);
  const r = Math.max(1, overlap);
  for (let k = 0; k < n; k++) {
    const a = taperStart ? (k + 0.5) / r : Infinity, b = taperEnd ? (n - k - 0.5) / r : Infinity;
    w[k] = ramp(Math.min(a, b, 1));
  }
  return w;
}

/** Options of {@link TileBlender}. */
export interface BlendOptions {
  /** Tile [rows, columns] in points. */
  tile: [number, number];
  /** Overlap of neighbouring tiles [rows, columns] in points (sets the taper width; 0: a one-point taper). */
  overlap: [number, number];
  /** Planes blended at once (e.g. time steps of a window), each rows × cols. Default 1. */
  planes?: number;
  /**
   * Token size [rows, columns]: when given, weights also fall towards every
   * token's edges (sin² bump per token), so a second tiling shifted by half
   * a token covers the first one's token edges with its token centres.
   * Default none (flat within tokens).
   */
  token?: [number, number];
}

/**
 * Accumulates tiles of (planes, H, W) values into (planes, rows, cols)
 * with taper weights; {@link result} divides by the weight sum.
 */
export class TileBlender {
  /** Grid. */
  readonly grid: BlendGrid;
  /** Options. */
  readonly options: Required<BlendOptions>;
  private readonly sum: Float64Array;
  private readonly weight: Float64Array;
  private readonly rowTaper = new Map<string, Float32Array>();
  private readonly colTaper = new Map<string, Float32Array>();

  constructor(grid: BlendGrid, options: BlendOptions) {
    const [h, w] = options.tile;
    if (h > grid.rows || (!grid.periodic && w > grid.cols)) {
      throw new ConfigError("tile", `a ${h}×${w} tile does not fit the ${grid.rows}×${grid.cols} grid`);
    }
    this.grid = grid;
    this.options = { planes: 1, ...options, token: options.token ?? [0, 0] };
    const n = grid.rows * grid.cols;
    this.sum = new Float64Array(this.options.planes * n);
    this.weight = new Float64Array(n);
  }

  /** The taper weights of a tile at `place` [H·W] (before normalization). */
  weights(place: TilePlace): Float32Array {
    const [h, w] = this.options.tile, [oh, ow] = this.options.overlap;
    const north = place.i0 > 0, south = place.i0 + h < this.grid.rows;
    const west = this.grid.periodic || place.j0 > 0, east = this.grid.periodic || place.j0 + w < this.grid.cols;
    const rk = `${north}${south}`, ck = `${west}${east}`;
    let rt = this.rowTaper.get(rk), ct = this.colTaper.get(ck);
    if (!rt) this.rowTaper.set(rk, rt = taper1d(h, oh, north, south));
    if (!ct) this.colTaper.set(ck, ct = taper1d(w, ow, west, east));
    const out = new Float32Array(h * w);
    const [th, tw] = this.options.token;
    const bump = (k: number, n: number) => (n > 1 ? Math.sin(Math.PI * ((k % n) + 0.5) / n) ** 2 : 1);
    for (let i = 0; i < h; i++) {
      for (let j = 0; j < w; j++) out[i * w + j] = rt[i] * ct[j] * bump(i, th) * bump(j, tw);
    }
    return out;
  }

  /** Add a tile's values (planes, H, W); NaN values are skipped (they carry no weight). */
  add(place: TilePlace, values: Float32Array): void {
    const [h, w] = this.options.tile, P = this.options.planes, { rows, cols } = this.grid;
    if (values.length !== P * h * w) throw new Error(`blend: a tile needs ${P}×${h}×${w} values, got ${values.length}`);
    const wt = this.weights(place);
    for (let i = 0; i < h; i++) {
      const gi = place.i0 + i;
      if (gi < 0 || gi >= rows) throw new Error(`blend: row ${gi} outside the grid`);
      for (let j = 0; j < w; j++) {
        const gj = this.grid.periodic ? (((place.j0 + j) % cols) + cols) % cols : place.j0 + j;
        const g = gi * cols + gj, k = wt[i * w + j];
        let any = false;
        for (let p = 0; p < P; p++) {
          const v = values[(p * h + i) * w + j];
          if (Number.isNaN(v)) continue;
          this.sum[p * rows * cols + g] += k * v;
          any = true;
        }
        if (any) this.weight[g] += k;
      }
    }
  }

  /** Sum of the weights at every point [rows·cols] (0 where no tile reached). */
  weightSum(): Float64Array {
    return this.weight;
  }

  /** The blended field (planes, rows, cols); NaN where no tile contributed. */
  result(): Float32Array {
    const n = this.grid.rows * this.grid.cols, out = new Float32Array(this.sum.length);
    for (let p = 0; p < this.options.planes; p++) {
      for (let g = 0; g < n; g++) out[p * n + g] = this.weight[g] > 0 ? this.sum[p * n + g] / this.weight[g] : NaN;
    }
    return out;
  }
}

/** Cut (planes, H, W) at `place` out of a (planes, rows, cols) field, wrapping columns on a periodic grid. */
export function cutTile(
  field: Float32Array,
  grid: BlendGrid,
  place: TilePlace,
  tile: [number, number],
  planes = 1,
): Float32Array {
  const [h, w] = tile, { rows, cols } = grid;
  const out = new Float32Array(planes * h * w);
  for (let p = 0; p < planes; p++) {
    for (let i = 0; i < h; i++) {
      const src = (p * rows + place.i0 + i) * cols;
      for (let j = 0; j < w; j++) {
        const gj = grid.periodic ? (((place.j0 + j) % cols) + cols) % cols : place.j0 + j;
        out[(p * h + i) * w + j] = field[src + gj];
      }
    }
  }
  return out;
}
