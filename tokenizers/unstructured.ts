/**
 * Unstructured tokenizer (FESOM nodes and elements, reduced Gaussian
 * points): no regridding. The real points of a neighborhood are bucketed by
 * their nested HEALPix cell (ids precomputed in the store), sorted within a
 * cell by colatitude then longitude, and cut into tokens of a fixed number
 * of points with padding and a mask (as WeatherGenerator does with 128
 * points per token). Every token keeps its points' indices and coordinates,
 * so detokenizing puts every value back on its node exactly.
 *
 * @module
 */

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
