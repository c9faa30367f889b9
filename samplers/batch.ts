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
import { TOKEN_INFO, type TokenGrid, tokenLength } from "../tokenizers/regular.ts";
import type { PointTokens } from "../tokenizers/unstructured.ts";

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

/** Where the points of a mesh field's token slots come from, per sample. */
export interface PointSlots {
  /** (batch, maxTokens·pointsPerToken) point index, −1 for padding. */
  index: Int32Array;
  /** (batch, maxTokens·pointsPerToken, 2) latitude and longitude of each slot (0 for padding). */
  coords: Float32Array;
  /** (batch) tokens holding points. */
  tokens: Int32Array;
  /** (batch) points of the neighborhood beyond maxTokens tokens. */
  dropped: Int32Array;
  /** (batch) store time index of the first step. */
  t0: Int32Array;
}

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

/** Where and when a sample was drawn. */
export interface SampleInfo {
  /** Store time index of the window's first step. */
  t0: number;
  /** First row (colatitude index); −1 when a mesh places the samples. */
  i0: number;
  /** First column (may exceed the row length: it wraps). −1 when a mesh places the samples. */
  j0: number;
  /** The window's last time (seconds since 1970); other datasets take their last step at or before it. */
  end: number;
  /** [south, north, west, width] in degrees: where other datasets' points are taken. */
  box: [number, number, number, number];
}

/** Milliseconds spent per stage while making (part of) a batch. */
export interface BatchTimings {
  /** Reading stored chunk bytes (I/O). */
  read: number;
  /** Decompressing and unshuffling chunks. */
  decode: number;
  /** Cutting windows into tokens (and token info). */
  tokenize: number;
  /** Normalizing. */
  normalize: number;
  /** Masking. */
  mask: number;
}

/** Read counters of (part of) a batch. */
export interface ReadStats {
  /** Chunks decoded. */
  chunksDecoded: number;
  /** Bytes of decoded chunks. */
  bytesDecoded: number;
  /** Bytes of values delivered. */
  bytesDelivered: number;
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
  samples: SampleInfo[];
  /** Per field. */
  fields: FieldBatch[];
}

/** Zeroed timings. */
export function noTimings(): BatchTimings {
  return { read: 0, normalize: 0, tokenize: 0, mask: 0, decode: 0 };
}

/** Zeroed counters. */
export function noStats(): ReadStats {
  return { chunksDecoded: 0, bytesDecoded: 0, bytesDelivered: 0 };
}

/** Add `b` into `a`, key by key. */
export function accumulate<T extends object>(a: T, b: T): T {
  for (const k of Object.keys(b) as (keyof T)[]) (a[k] as number) += b[k] as number;
  return a;
}

/** Tokens per level and values per token of a layout. */
export function tokenShape(layout: TokenGrid | PointTokens): { tokens: number; values: number } {
  if ("pointsPerToken" in layout) {
    return { tokens: layout.timeSteps * layout.maxTokens, values: layout.pointsPerToken };
  }
  const [a, b, c] = layout.numTokens;
  return { tokens: a * b * c, values: tokenLength(layout) };
}

/** The fixed-size arrays of a field batch, allocated on `alloc` (plain or shared memory). */
export function allocateField(
  meta: { dataset: number; field: string; levels: number[]; layout: TokenGrid | PointTokens },
  batchSize: number,
  alloc: (bytes: number) => ArrayBufferLike = (n) => new ArrayBuffer(n),
): FieldBatch {
  const { tokens: N, values: V } = tokenShape(meta.layout);
  const n = batchSize * meta.levels.length * N;
  const fb: FieldBatch = {
    ...meta,
    tokens: new Float32Array(alloc(n * V * 4)),
    mask: new Uint8Array(alloc(n)),
    replaced: new Int32Array(0),
    replacements: new Float32Array(0),
    tokenInfo: new Float32Array(alloc(n * TOKEN_INFO.length * 4)),
  };
  if ("pointsPerToken" in meta.layout) {
    const slots = batchSize * meta.layout.maxTokens * meta.layout.pointsPerToken;
    fb.points = {
      index: new Int32Array(alloc(slots * 4)),
      coords: new Float32Array(alloc(slots * 8)),
      tokens: new Int32Array(alloc(batchSize * 4)),
      dropped: new Int32Array(alloc(batchSize * 4)),
      t0: new Int32Array(alloc(batchSize * 4)),
    };
  }
  return fb;
}

/** Bytes of the fixed-size arrays of a field batch. */
export function fieldBytes(layout: TokenGrid | PointTokens, levels: number, batchSize: number): number {
  const { tokens: N, values: V } = tokenShape(layout);
  const n = batchSize * levels * N;
  let bytes = n * V * 4 + n + n * TOKEN_INFO.length * 4;
  if ("pointsPerToken" in layout) bytes += batchSize * (layout.maxTokens * layout.pointsPerToken * 12 + 12);
  return bytes;
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
