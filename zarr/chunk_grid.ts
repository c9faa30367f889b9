/**
 * Walking a regular chunk grid in C order, and copying one chunk out of a
 * whole C-order array (edges padded with the fill value).
 *
 * @module
 */
import type { ChunkData } from "./metadata.ts";

/** All index tuples of a grid, in C order. */
export function* gridIndices(grid: number[]): Generator<number[]> {
  const n = grid.reduce((a, b) => a * b, 1);
  const idx = new Array(grid.length).fill(0);
  for (let k = 0; k < n; k++) {
    yield idx.slice();
    for (let d = grid.length - 1; d >= 0; d--) {
      if (++idx[d] < grid[d]) break;
      idx[d] = 0;
    }
  }
}

/** Number of chunks (or shards) of shape `chunks` along each dimension of `shape`. */
export function gridShape(shape: number[], chunks: number[]): number[] {
  return shape.map((s, i) => Math.ceil(s / chunks[i]));
}

/** Copy chunk `coords` out of a C-order array of `shape`, padding edges with NaN/0. */
export function extractChunk(
  data: ChunkData,
  shape: number[],
  chunks: number[],
  coords: number[],
): ChunkData {
  const n = chunks.reduce((a, b) => a * b, 1);
  const out = new (data.constructor as { new (n: number): ChunkData })(n);
  if (out instanceof Float32Array || out instanceof Float64Array) out.fill(NaN);
  const start = coords.map((c, i) => c * chunks[i]);
  const extent = start.map((s, i) => Math.min(chunks[i], shape[i] - s));
  if (shape.length === 0) {
    out.set(data as never);
    return out;
  }
  const rows = extent.slice(0, -1);
  const last = extent.at(-1)!;
  for (const r of gridIndices(rows)) {
    let src = 0, dst = 0;
    for (let d = 0; d < shape.length - 1; d++) {
      src = src * shape[d] + start[d] + r[d];
      dst = dst * chunks[d] + r[d];
    }
    src = src * shape.at(-1)! + start.at(-1)!;
    dst = dst * chunks.at(-1)!;
    out.set(data.subarray(src, src + last) as never, dst);
  }
  return out;
}
