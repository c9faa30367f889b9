/**
 * Stage timings and read counters of the reading path (datasets,
 * tokenizers, sampler), summed over the threads that made a batch.
 *
 * @module
 */

/** Milliseconds spent per stage while making (part of) a batch. */
export interface BatchTimings {
  /** Reading stored chunk bytes (I/O). */
  read: number;
  /** Decompressing and unshuffling chunks. */
  decode: number;
  /** Cutting windows into tokens (and token info), normalization arithmetic included. */
  tokenize: number;
  /** Looking up normalization coefficients. */
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
