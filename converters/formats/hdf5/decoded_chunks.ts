/**
 * The decoded chunks this thread keeps for reads that need them again (a
 * source chunk spanning two reads of a conversion), 64 MB at most across
 * all files, least recently used dropped first; and the count of chunks
 * decoded, by which tests check that none is decoded twice.
 *
 * @module
 */
import { adviseHugePages } from "../../../native/malloc.ts";

/** Decoded chunks by key (file and chunk coordinates), least recently used evicted past a byte limit. */
export class DecodedChunkCache {
  private readonly map = new Map<string, Uint8Array>();
  private bytes = 0;
  constructor(private readonly limit: number) {}
  get(key: string): Uint8Array | undefined {
    const v = this.map.get(key);
    if (v) (this.map.delete(key), this.map.set(key, v));
    return v;
  }
  /** A buffer for a new entry: an evicted one of the same size when possible. */
  put(key: string, n: number): Uint8Array {
    let reuse: Uint8Array | undefined;
    while (this.bytes + n > this.limit && this.map.size > 0) {
      const [k, v] = this.map.entries().next().value!;
      this.map.delete(k);
      this.bytes -= v.length;
      if (v.length === n) reuse = v;
    }
    const buf = reuse ?? new Uint8Array(n);
    if (!reuse) adviseHugePages(buf);
    this.map.set(key, buf);
    this.bytes += n;
    return buf;
  }
  delete(key: string): void {
    const v = this.map.get(key);
    if (v) (this.map.delete(key), this.bytes -= v.length);
  }
}

/** Chunks decoded (filters undone) by this thread so far: lets tests check that none is decoded twice. */
export const decodeCounter = { chunks: 0 };

/** Decoded chunks of this thread, all files: 64 MB at most. */
export const decodedChunks: DecodedChunkCache = new DecodedChunkCache(64 << 20);
