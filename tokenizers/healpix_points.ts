/**
 * The `healpix-points` tokenizer for unstructured stores (FESOM nodes and
 * elements, reduced Gaussian points): no regridding. The real points of a neighborhood are bucketed by
 * their nested HEALPix cell (ids precomputed in the store), sorted within a
 * cell by colatitude then longitude, and cut into tokens of a fixed number
 * of points with padding and a mask (as WeatherGenerator does with 128
 * points per token). Every token keeps its points' indices and coordinates,
 * so detokenizing puts every value back on its node exactly.
 *
 * @module
 */
import { ConfigError, StoreError } from "../errors.ts";
import type { MeshDataset } from "../datasets/mesh.ts";
import type { SampleDataset } from "../datasets/dataset.ts";
import { denormalizeInPlace, normalizeInPlace } from "../normalization/coefficients.ts";
import { levelSource, type PointSlots, type TokenizerPlugin } from "./plugin.ts";
import { TOKEN_INFO } from "./patches.ts";

/** Token layout of an unstructured field. */
export interface PointTokens {
  /** Points per token. */
  pointsPerToken: number;
  /** HEALPix order used for bucketing (its ids must be in the store). */
  healpixOrder: number;
  /** Tokens per sample and level (padded; points beyond are dropped and counted). */
  maxTokens: number;
  /** Time steps per sample (the window's last steps of this dataset). */
  timeSteps: number;
}

/** The token layout of one neighborhood: which point sits in which slot. */
export interface PointLayout {
  /** Point index per slot (maxTokens × pointsPerToken), −1 for padding. */
  index: Int32Array;
  /** Number of tokens holding points. */
  tokens: number;
  /** Points of the neighborhood that did not fit in maxTokens tokens. */
  dropped: number;
}

/**
 * Bucket the points `selected` (indices) by HEALPix cell and cut them into
 * tokens. `cell`, `lat`, `lon` are per point of the whole mesh.
 */
export function layoutPoints(
  selected: Int32Array,
  cell: ArrayLike<number>,
  lat: ArrayLike<number>,
  lon: ArrayLike<number>,
  t: PointTokens,
): PointLayout {
  const order = Array.from(selected).sort((a, b) =>
    cell[a] - cell[b] || (90 - lat[a]) - (90 - lat[b]) || lon[a] - lon[b] || a - b
  );
  const index = new Int32Array(t.maxTokens * t.pointsPerToken).fill(-1);
  let token = 0, slot = 0, dropped = 0;
  for (let k = 0; k < order.length; k++) {
    const p = order[k];
    // A new cell starts a new token, so a token never mixes cells.
    if (k > 0 && cell[p] !== cell[order[k - 1]] && slot > 0) (token++, slot = 0);
    if (slot === t.pointsPerToken) (token++, slot = 0);
    if (token >= t.maxTokens) {
      dropped = order.length - k;
      break;
    }
    index[token * t.pointsPerToken + slot++] = p;
  }
  return { index, tokens: Math.min(t.maxTokens, slot > 0 ? token + 1 : token), dropped };
}

/** Gather values (per point of the mesh) into token slots; padding gets 0. */
export function gatherPoints(values: Float32Array, layout: PointLayout, out: Float32Array, outOffset = 0): void {
  const idx = layout.index;
  for (let s = 0; s < idx.length; s++) out[outOffset + s] = idx[s] >= 0 ? values[idx[s]] : 0;
}

/** Scatter token slots back onto the mesh's points (inverse of {@link gatherPoints}). */
export function scatterPoints(tokens: Float32Array, layout: PointLayout, out: Float32Array, tokensOffset = 0): void {
  const idx = layout.index;
  for (let s = 0; s < idx.length; s++) if (idx[s] >= 0) out[idx[s]] = tokens[tokensOffset + s];
}

/** Indices of the points inside a lat/lon box (longitudes wrap; the box may cross 0°/360°). */
export function pointsInBox(
  lat: ArrayLike<number>,
  lon: ArrayLike<number>,
  latRange: [number, number],
  lonStart: number,
  lonWidth: number,
): Int32Array {
  const out: number[] = [];
  for (let p = 0; p < lat.length; p++) {
    if (lat[p] < latRange[0] || lat[p] > latRange[1]) continue;
    const d = (((lon[p] - lonStart) % 360) + 360) % 360;
    if (d <= lonWidth) out.push(p);
  }
  return Int32Array.from(out);
}

function meshOf(d: SampleDataset): MeshDataset {
  if (d.grid !== "unstructured") {
    throw new ConfigError(d.root, `the healpix-points tokenizer reads unstructured stores, not ${d.grid}`);
  }
  return d as MeshDataset;
}

/** The `healpix-points` tokenizer plug-in: real points bucketed by nested HEALPix cell. */
export const healpixPointsTokenizer: TokenizerPlugin<PointTokens> = {
  name: "healpix-points",
  grid: "unstructured",
  check(layout, where) {
    const p = layout as PointTokens;
    const ok = [p?.pointsPerToken, p?.maxTokens, p?.timeSteps].every((x) => Number.isInteger(x) && x > 0) &&
      Number.isInteger(p?.healpixOrder) && p.healpixOrder >= 0;
    if (!ok) throw new ConfigError(where, "a mesh needs tokens {pointsPerToken, healpixOrder, maxTokens, timeSteps}");
    return p;
  },
  shape: (p) => ({ tokens: p.timeSteps * p.maxTokens, values: p.pointsPerToken }),
  windowShape: (p) => ({ steps: p.timeSteps, rows: 0, cols: 0 }),
  units: (levels) => [Array.from({ length: levels }, (_, l) => l)],
  maskGeometry: (p) => [[p.timeSteps, 1, p.maxTokens], [1, 1, p.pointsPerToken]],
  padding(p, out, s) {
    const used = out.points!.tokens[s];
    return (k) => k % p.maxTokens >= used;
  },
  allocate(p, batchSize, alloc): PointSlots {
    const slots = batchSize * p.maxTokens * p.pointsPerToken;
    return {
      index: new Int32Array(alloc(slots * 4)),
      coords: new Float32Array(alloc(slots * 8)),
      tokens: new Int32Array(alloc(batchSize * 4)),
      dropped: new Int32Array(alloc(batchSize * 4)),
      t0: new Int32Array(alloc(batchSize * 4)),
    };
  },
  extraBytes: (p, batchSize) => batchSize * (p.maxTokens * p.pointsPerToken * 12 + 12),
  cut({ dataset, coefficients, field, layout: pt, levels, windows, out, timings }) {
    const d = meshOf(dataset);
    const { lat, lon, cell } = d.points(field.name, pt.healpixOrder);
    const L = field.levels.length, P = pt.pointsPerToken;
    const slots = pt.maxTokens * P, ntok = pt.timeSteps * pt.maxTokens;
    const points = out.points!;
    const n = lat.length;
    for (const [s, w] of windows.entries()) {
      let t = performance.now();
      const [south, north, west, width] = w.box;
      const layout = layoutPoints(pointsInBox(lat, lon, [south, north], west, width), cell, lat, lon, pt);
      points.index.set(layout.index, s * slots);
      points.coords.fill(0, s * slots * 2, (s + 1) * slots * 2);
      for (let k = 0; k < slots; k++) {
        const p = layout.index[k];
        if (p >= 0) points.coords.set([lat[p], lon[p]], (s * slots + k) * 2);
      }
      points.tokens[s] = layout.tokens;
      points.dropped[s] = layout.dropped;
      const t0 = d.lastTimeAtOrBefore(w.end) - pt.timeSteps + 1;
      if (t0 < 0) {
        throw new StoreError(
          d.root,
          `no ${pt.timeSteps} time step(s) at or before ${new Date(w.end * 1000).toISOString()}`,
          { field: field.name },
        );
      }
      points.t0[s] = t0;
      timings.tokenize += performance.now() - t;
      for (const li of levels) {
        const level = field.levels[li];
        t = performance.now();
        const src = levelSource(field, level);
        const block = d.read(src.name, src.level, t0, pt.timeSteps);
        const t1 = performance.now();
        timings.read += t1 - t;
        const sc = coefficients.scaling(src.name, src.level, d.times.subarray(t0, t0 + pt.timeSteps), field.local);
        normalizeInPlace(block, n, sc);
        const t2 = performance.now();
        timings.normalize += t2 - t1;
        for (let ts = 0; ts < pt.timeSteps; ts++) {
          gatherPoints(
            block.subarray(ts * n, (ts + 1) * n),
            layout,
            out.tokens,
            ((s * L + li) * ntok + ts * pt.maxTokens) * P,
          );
          const time = new Date(d.times[t0 + ts] * 1000);
          const doy = Math.floor((time.getTime() - Date.UTC(time.getUTCFullYear(), 0, 1)) / 86400000);
          for (let k = 0; k < pt.maxTokens; k++) {
            const first = layout.index[k * P];
            const info = ((s * L + li) * ntok + ts * pt.maxTokens + k) * TOKEN_INFO.length;
            out.tokenInfo.set([
              time.getUTCFullYear(),
              doy,
              time.getUTCHours(),
              level,
              first >= 0 ? 90 - lat[first] : 0,
              first >= 0 ? lon[first] : 0,
              li,
              pt.healpixOrder,
            ], info);
          }
        }
        timings.tokenize += performance.now() - t2;
      }
    }
  },
  restore({ dataset, coefficients, field, layout: pt, level, tokens, points }) {
    const d = meshOf(dataset);
    if (!points) throw new ConfigError(field.name, "restoring points tokens needs the sample's point slots");
    const n = d.points(field.name, pt.healpixOrder).lat.length;
    const T = pt.timeSteps, slots = pt.maxTokens * pt.pointsPerToken;
    const full = new Float32Array(T * n).fill(NaN);
    const layout = { index: points.index, tokens: 0, dropped: 0 };
    for (let ts = 0; ts < T; ts++) scatterPoints(tokens, layout, full.subarray(ts * n, (ts + 1) * n), ts * slots);
    const src = levelSource(field, field.levels[level]);
    denormalizeInPlace(
      full,
      n,
      coefficients.scaling(src.name, src.level, d.times.subarray(points.t0, points.t0 + T), field.local),
    );
    const used = Int32Array.from(points.index.filter((p) => p >= 0));
    const values = new Float32Array(T * used.length);
    for (let ts = 0; ts < T; ts++) {
      for (let c = 0; c < used.length; c++) values[ts * used.length + c] = full[ts * n + used[c]];
    }
    return { values, shape: [T, used.length], points: used, t0: points.t0 };
  },
};
