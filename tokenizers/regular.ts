/**
 * Regular-grid tokenizer, as AtmoRep's `tokenize`/`detokenize`: a
 * (time, lat, lon) neighborhood of one level is cut into non-overlapping
 * space-time patches, tokens[nt_t][nt_lat][nt_lon][ts_t·ts_lat·ts_lon].
 *
 * @module
 */

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
