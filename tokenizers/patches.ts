/**
 * The `regular` tokenizer: space-time patches of a regular lat-lon grid, as
 * AtmoRep's `tokenize`/`detokenize`: a (time, lat, lon) neighborhood of one
 * level is cut into non-overlapping patches,
 * tokens[nt_t][nt_lat][nt_lon][ts_t·ts_lat·ts_lon]. The plug-in cuts straight
 * from the store's chunks (patch_gather.ts), normalizing while it copies.
 *
 * @module
 */
import { ConfigError } from "../errors.ts";
import type { GridDataset } from "../datasets/grid.ts";
import type { SampleDataset } from "../datasets/dataset.ts";
import type { Window } from "../datasets/window.ts";
import { type CoefficientSet, denormalizeInPlace, type Scaling } from "../normalization/coefficients.ts";
import { gatherTokens } from "./patch_gather.ts";
import { levelSource, type TokenField, type TokenizerPlugin } from "./plugin.ts";

/** Token layout of one field. */
export interface TokenGrid {
  /** Tokens along time, lat, lon. */
  numTokens: [number, number, number];
  /** Points per token along time, lat, lon. */
  tokenSize: [number, number, number];
}

/** Neighborhood extent (points) of a token grid. */
export function extent(g: TokenGrid): [number, number, number] {
  return [0, 1, 2].map((i) => g.numTokens[i] * g.tokenSize[i]) as [number, number, number];
}

/** Values per token. */
export function tokenLength(g: TokenGrid): number {
  return g.tokenSize[0] * g.tokenSize[1] * g.tokenSize[2];
}

/** Cut a (T, H, W) block (C order) into tokens, written at `out[outOffset…]`. */
export function tokenize(block: Float32Array, g: TokenGrid, out: Float32Array, outOffset = 0): void {
  const [nt, nh, nw] = g.numTokens, [tt, th, tw] = g.tokenSize;
  const H = nh * th, W = nw * tw;
  let o = outOffset;
  for (let a = 0; a < nt; a++) {
    for (let b = 0; b < nh; b++) {
      for (let c = 0; c < nw; c++) {
        for (let t = 0; t < tt; t++) {
          for (let i = 0; i < th; i++) {
            // Plain loop: rows are short (tw values), where subarray + set costs more than the copy.
            const src = ((a * tt + t) * H + b * th + i) * W + c * tw;
            for (let j = 0; j < tw; j++) out[o + j] = block[src + j];
            o += tw;
          }
        }
      }
    }
  }
}

/** Inverse of {@link tokenize}. */
export function detokenize(tokens: Float32Array, g: TokenGrid, out: Float32Array, tokensOffset = 0): void {
  const [nt, nh, nw] = g.numTokens, [tt, th, tw] = g.tokenSize;
  const H = nh * th, W = nw * tw;
  let o = tokensOffset;
  for (let a = 0; a < nt; a++) {
    for (let b = 0; b < nh; b++) {
      for (let c = 0; c < nw; c++) {
        for (let t = 0; t < tt; t++) {
          for (let i = 0; i < th; i++) {
            const dst = ((a * tt + t) * H + b * th + i) * W + c * tw;
            out.set(tokens.subarray(o, o + tw), dst);
            o += tw;
          }
        }
      }
    }
  }
}

/** Values of token info, per token (AtmoRep's 8). */
export const TOKEN_INFO = [
  "year",
  "day_of_year",
  "hour",
  "level",
  "colatitude",
  "longitude",
  "level_index",
  "resolution",
];

function positiveInts(v: unknown, n: number): boolean {
  return Array.isArray(v) && v.length === n && v.every((x) => Number.isInteger(x) && x > 0);
}

function gridOf(d: SampleDataset): GridDataset {
  if (d.grid !== "regular_ll") {
    throw new ConfigError(d.root, `the regular tokenizer reads regular_ll grids, not ${d.grid}`);
  }
  return d as GridDataset;
}

/** The coefficients of one window of a field level: per time step, global or per point of the window. */
function windowScaling(
  d: GridDataset,
  c: CoefficientSet,
  field: TokenField,
  name: string,
  level: number,
  w: Window,
  g: TokenGrid,
): Scaling {
  const [T, H, W] = extent(g);
  const region = { i0: w.i0, rows: H, j0: w.j0, cols: W, width: d.lons.length };
  return c.scaling(name, level, d.times.subarray(w.t0, w.t0 + T), field.local, field.local ? region : undefined);
}

/**
 * AtmoRep's token info of one sample's level on a grid: the time of each
 * token's last step, the token centre's colatitude and longitude. `times`
 * are the window's step times (seconds), from its first step on.
 */
export function patchTokenInfo(
  out: Float32Array,
  tokenOffset: number,
  d: GridDataset,
  g: TokenGrid,
  level: number,
  li: number,
  w: Window,
  times: ArrayLike<number>,
): void {
  const [nt, nh, nw] = g.numTokens, [tt, th, tw] = g.tokenSize;
  const n = TOKEN_INFO.length;
  let k = tokenOffset * n;
  for (let a = 0; a < nt; a++) {
    const time = new Date(times[(a + 1) * tt - 1] * 1000);
    const year = time.getUTCFullYear(), hour = time.getUTCHours();
    const doy = Math.floor((time.getTime() - Date.UTC(year, 0, 1)) / 86400000);
    for (let b = 0; b < nh; b++) {
      const colat = d.colat[0] + (w.i0 + b * th + (th - 1) / 2) * d.res[0];
      for (let c = 0; c < nw; c++, k += n) {
        const col = w.j0 + c * tw + (tw - 1) / 2;
        out[k] = year;
        out[k + 1] = doy;
        out[k + 2] = hour;
        out[k + 3] = level;
        out[k + 4] = colat;
        out[k + 5] = ((d.lons[0] + col * d.res[1]) % 360 + 360) % 360;
        out[k + 6] = li;
        out[k + 7] = d.res[0];
      }
    }
  }
}

/** The `regular` tokenizer plug-in: AtmoRep's space-time patches of a regular lat-lon grid. */
export const patchTokenizer: TokenizerPlugin<TokenGrid> = {
  name: "regular",
  grid: "regular_ll",
  check(layout, where) {
    const g = layout as TokenGrid;
    if (!positiveInts(g?.numTokens, 3) || !positiveInts(g?.tokenSize, 3)) {
      throw new ConfigError(where, "a regular grid needs tokens {numTokens: [t, lat, lon], tokenSize: [t, lat, lon]}");
    }
    return g;
  },
  shape(g) {
    const [a, b, c] = g.numTokens;
    return { tokens: a * b * c, values: tokenLength(g) };
  },
  windowShape(g) {
    const [steps, rows, cols] = extent(g);
    return { steps, rows, cols };
  },
  units: (levels) => Array.from({ length: levels }, (_, l) => [l]),
  maskGeometry: (g) => [g.numTokens, g.tokenSize],
  padding: () => undefined,
  allocate: () => undefined,
  extraBytes: () => 0,
  cut({ dataset, coefficients, field, layout: g, levels, windows, out, timings, stats }) {
    const d = gridOf(dataset);
    const ntok = g.numTokens[0] * g.numTokens[1] * g.numTokens[2], len = tokenLength(g);
    const L = field.levels.length;
    for (const li of levels) {
      const level = field.levels[li], src = levelSource(field, level);
      gatherTokens(
        {
          ...d.source(src.name, src.level),
          windows,
          grid: g,
          out: out.tokens,
          offset: (s) => (s * L + li) * ntok * len,
          scaling: (s) => {
            const t = performance.now();
            const sc = windowScaling(d, coefficients, field, src.name, src.level, windows[s], g);
            timings.normalize += performance.now() - t;
            return sc;
          },
          done: (s) => {
            const t = performance.now();
            const w = windows[s];
            patchTokenInfo(out.tokenInfo, (s * L + li) * ntok, d, g, level, li, w, d.times.subarray(w.t0));
            timings.tokenize += performance.now() - t;
          },
        },
        timings,
        stats,
      );
    }
  },
  restore({ dataset, coefficients, field, layout: g, level, window, tokens }) {
    const d = gridOf(dataset);
    const [T, H, W] = extent(g);
    const block = new Float32Array(T * H * W);
    detokenize(tokens, g, block);
    const src = levelSource(field, field.levels[level]);
    denormalizeInPlace(block, H * W, windowScaling(d, coefficients, field, src.name, src.level, window, g));
    return { values: block, shape: [T, H, W], t0: window.t0 };
  },
};
