/**
 * Chunk-level reads with a byte-bounded LRU cache, for the small arrays a
 * sampler reads piecemeal (coefficient planes, mesh fields); the bulk of a
 * regular store is gathered by tokenizers/patch_gather.ts, each chunk once per batch.
 *
 * @module
 */
import type { ChunkData } from "../zarr/metadata.ts";
import { gridIndices } from "../zarr/chunk_grid.ts";
import { ArrayReader } from "../zarr/reader.ts";
import { missesSoFar } from "../zarr/mirror.ts";
import { noStats, type ReadStats } from "./counters.ts";

/** LRU cache of decoded chunks. */
export class ChunkCache {
  private readonly map = new Map<string, ChunkData>();
  private bytes = 0;
  /** Read counters (chunks decoded on misses, bytes handed out by {@link CachedArray}). */
  readonly stats: ReadStats = noStats();
  private readonly maxBytes: number;

  constructor(maxBytes = 512e6) {
    this.maxBytes = maxBytes;
  }

  /** A chunk from the cache, decoding it on a miss. */
  get(key: string, load: () => ChunkData): ChunkData {
    const hit = this.map.get(key);
    if (hit) {
      this.map.delete(key);
      this.map.set(key, hit);
      return hit;
    }
    const misses = missesSoFar();
    const data = load();
    // A chunk of a store opened by URL that is not downloaded yet reads as the fill value: never keep that.
    if (missesSoFar() !== misses) return data;
    this.stats.chunksDecoded++;
    this.stats.bytesDecoded += data.byteLength;
    this.map.set(key, data);
    this.bytes += data.byteLength;
    while (this.bytes > this.maxBytes && this.map.size > 1) {
      const [k, v] = this.map.entries().next().value!;
      this.map.delete(k);
      this.bytes -= v.byteLength;
    }
    return data;
  }
}

/** An array of a store read through a {@link ChunkCache}. */
export class CachedArray {
  /** The underlying reader. */
  readonly reader: ArrayReader;
  private readonly cache: ChunkCache;
  private readonly id: string;

  constructor(root: string, path: string, cache: ChunkCache) {
    this.reader = new ArrayReader(root, path);
    this.cache = cache;
    this.id = `${root}/${path}`;
  }

  /** Shape. */
  get shape(): number[] {
    return this.reader.shape;
  }

  /** Read a box `[start, stop)` per dimension into a float32 array (C order). */
  read(box: [number, number][]): Float32Array {
    const r = this.reader;
    const outShape = box.map(([a, b]) => b - a);
    const out = new Float32Array(outShape.reduce((a, b) => a * b, 1));
    const lo = box.map(([a], i) => Math.floor(a / r.chunks[i]));
    const hi = box.map(([, b], i) => Math.ceil(b / r.chunks[i]));
    for (const rel of gridIndices(hi.map((h, i) => h - lo[i]))) {
      const coords = rel.map((x, i) => x + lo[i]);
      const chunk = this.cache.get(`${this.id}:${coords.join(".")}`, () => r.readChunk(coords));
      const cStart = coords.map((c, i) => c * r.chunks[i]);
      const a = box.map(([s], i) => Math.max(s, cStart[i]));
      const b = box.map(([, e], i) => Math.min(e, cStart[i] + r.chunks[i]));
      const rows = a.slice(0, -1).map((x, i) => b[i] - x);
      const d = r.shape.length - 1;
      const len = b[d] - a[d];
      for (const row of gridIndices(rows)) {
        let src = 0, dst = 0;
        for (let k = 0; k < d; k++) {
          src = src * r.chunks[k] + (a[k] + row[k] - cStart[k]);
          dst = dst * outShape[k] + (a[k] + row[k] - box[k][0]);
        }
        src = src * r.chunks[d] + (a[d] - cStart[d]);
        dst = dst * outShape[d] + (a[d] - box[d][0]);
        if (chunk instanceof BigInt64Array) { for (let j = 0; j < len; j++) out[dst + j] = Number(chunk[src + j]); }
        else out.set(chunk.subarray(src, src + len), dst);
      }
    }
    this.cache.stats.bytesDelivered += out.byteLength;
    return out;
  }
}
