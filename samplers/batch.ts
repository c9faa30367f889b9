/**
 * The batch format the sampler delivers and model code consumes: plain
 * typed arrays per field, C order, documented shapes. Values are stored
 * once: `tokens` holds the normalized truth of every token, `mask` says
 * which tokens are targets and what the model sees in their place (zero,
 * the truth, or a corrupted copy kept in `replacements`), so a batch costs
 * one float per point instead of two (input and target).
 *
 * @module
 */
import { TOKEN_INFO, type TokenGrid } from "../tokenizers/patches.ts";
import type { PointTokens } from "../tokenizers/healpix_points.ts";
import type { PointSlots, TokenizerPlugin } from "../tokenizers/plugin.ts";
import type { BatchTimings, ReadStats } from "../datasets/counters.ts";
import type { Window } from "../datasets/window.ts";

export type { PointSlots } from "../tokenizers/plugin.ts";
export type { BatchTimings, ReadStats } from "../datasets/counters.ts";
export { accumulate, noStats, noTimings } from "../datasets/counters.ts";
export type { Window } from "../datasets/window.ts";

/** Mask codes, per token. */
export const MASK = {
  /** Not a target; the model sees the token. */
  visible: 0,
  /** A target the model sees unchanged (BERT leaves some chosen tokens as they are). */
  unchanged: 1,
  /** A target the model sees as zeros (the mean, in normalized units). */
  zeroed: 2,
  /** A target the model sees corrupted (noised and/or coarsened): its values are in `replacements`. */
  replaced: 3,
} as const;

/**
 * One field of a batch. With L levels, N tokens per level and V values per
 * token: `tokens` (batch, L, N, V) float32, tokens ordered (t, lat, lon) on
 * regular grids, (t, slot) on meshes; `mask` (batch, L, N) uint8 codes
 * ({@link MASK}); `replaced` the flat token indices (b·L + l)·N + k of the
 * tokens coded `replaced`, `replacements` (replaced.length, V) what the
 * model sees there; `tokenInfo` (batch, L, N, 8) = year, day of year − 1,
 * hour (last of the token), level, colatitude and longitude of the token
 * centre, level index, resolution (degrees; HEALPix order on meshes).
 */
export interface FieldBatch {
  /** Dataset index. */
  dataset: number;
  /** Field name. */
  field: string;
  /** Levels. */
  levels: number[];
  /** Token layout. */
  layout: TokenGrid | PointTokens;
  /** Name of the tokenizer that cut it (tokenizers/registry.ts). */
  tokenizer: string;
  /** Normalized values of every token (the targets where masked). */
  tokens: Float32Array;
  /** Mask codes. */
  mask: Uint8Array;
  /** Flat indices of the tokens coded {@link MASK.replaced}. */
  replaced: Int32Array;
  /** Model input of those tokens. */
  replacements: Float32Array;
  /** Token info. */
  tokenInfo: Float32Array;
  /** Mesh fields: which point sits in which token slot. */
  points?: PointSlots;
}

/** A batch. */
export interface Batch {
  /** Batch index. */
  index: number;
  /** Where the time went (summed over the threads that made it). */
  timings: BatchTimings;
  /** Read counters (read amplification = bytesDecoded / bytesDelivered). */
  stats: ReadStats;
  /** Per sample, where it was drawn (in the first dataset's grid). */
  samples: Window[];
  /** Per field. */
  fields: FieldBatch[];
}

/** The fixed-size arrays of a field batch, allocated on `alloc` (plain or shared memory). */
export function allocateField(
  meta: { dataset: number; field: string; levels: number[]; layout: TokenGrid | PointTokens },
  tokenizer: TokenizerPlugin,
  batchSize: number,
  alloc: (bytes: number) => ArrayBufferLike = (n) => new ArrayBuffer(n),
): FieldBatch {
  const { tokens: N, values: V } = tokenizer.shape(meta.layout);
  const n = batchSize * meta.levels.length * N;
  const fb: FieldBatch = {
    ...meta,
    tokenizer: tokenizer.name,
    tokens: new Float32Array(alloc(n * V * 4)),
    mask: new Uint8Array(alloc(n)),
    replaced: new Int32Array(0),
    replacements: new Float32Array(0),
    tokenInfo: new Float32Array(alloc(n * TOKEN_INFO.length * 4)),
  };
  const points = tokenizer.allocate(meta.layout, batchSize, alloc);
  if (points) fb.points = points;
  return fb;
}

/** Bytes of the fixed-size arrays of a field batch. */
export function fieldBytes(
  layout: TokenGrid | PointTokens,
  tokenizer: TokenizerPlugin,
  levels: number,
  batchSize: number,
): number {
  const { tokens: N, values: V } = tokenizer.shape(layout);
  const n = batchSize * levels * N;
  return n * V * 4 + n + n * TOKEN_INFO.length * 4 + tokenizer.extraBytes(layout, batchSize);
}

/**
 * The model input of a field (what AtmoRep feeds its encoder): `tokens`
 * with masked tokens zeroed or replaced. Model code on a GPU can do the
 * same from `tokens`, `mask` and `replacements` without this copy.
 */
export function maskedInput(f: FieldBatch, out: Float32Array = new Float32Array(f.tokens.length)): Float32Array {
  const V = f.tokens.length / f.mask.length;
  out.set(f.tokens);
  for (let k = 0; k < f.mask.length; k++) {
    if (f.mask[k] === MASK.zeroed) out.fill(0, k * V, (k + 1) * V);
  }
  for (let r = 0; r < f.replaced.length; r++) {
    out.set(f.replacements.subarray(r * V, (r + 1) * V), f.replaced[r] * V);
  }
  return out;
}
