/**
 * Hyperslab arithmetic of the value readers: row-major strides, the copy of
 * the part of a decoded block (a chunk, or rows of contiguous storage) that
 * lies inside a requested slab, fill values, and byte order.
 *
 * @module
 */
import { Hdf5Corrupt } from "./cursor.ts";

/** Row-major strides of a grid. */
export function downOf(grid: number[]): number[] {
  const down = new Array<number>(grid.length).fill(1);
  for (let i = grid.length - 2; i >= 0; i--) down[i] = down[i + 1] * grid[i + 1];
  return down;
}

/**
 * Copy the part of a decoded block (origin `origin`, extent `extent`, elements
 * of `es` bytes) inside the slab `start`/`count` into `out`.
 */
export function copyBlock(
  es: number,
  block: Uint8Array,
  extent: number[],
  origin: number[],
  start: number[],
  count: number[],
  out: Uint8Array,
): void {
  const rank = extent.length;
  const lo: number[] = [], hi: number[] = [];
  for (let d = 0; d < rank; d++) {
    lo.push(Math.max(start[d], origin[d]));
    hi.push(Math.min(start[d] + count[d], origin[d] + extent[d]));
    if (lo[d] >= hi[d]) return;
  }
  if (block.length < extent.reduce((a, b) => a * b, es)) throw new Hdf5Corrupt("a block is shorter than its extent");
  const srcDown = downOf(extent), dstDown = downOf(count);
  // Merge trailing dimensions that are whole in both the block and the slab into one run.
  let inner = rank - 1;
  while (
    inner > 0 && lo[inner] === origin[inner] && hi[inner] - lo[inner] === extent[inner] &&
    lo[inner] === start[inner] && hi[inner] - lo[inner] === count[inner]
  ) inner--;
  const run = (hi[inner] - lo[inner]) * srcDown[inner] * es;
  const idx = lo.slice(0, inner);
  for (;;) {
    let s = 0, o = 0;
    for (let d = 0; d < inner; d++) {
      s += (idx[d] - origin[d]) * srcDown[d];
      o += (idx[d] - start[d]) * dstDown[d];
    }
    s += (lo[inner] - origin[inner]) * srcDown[inner];
    o += (lo[inner] - start[inner]) * dstDown[inner];
    out.set(block.subarray(s * es, s * es + run), o * es);
    let d = inner - 1;
    while (d >= 0) {
      if (++idx[d] < hi[d]) break;
      idx[d] = lo[d];
      d--;
    }
    if (d < 0) break;
  }
}
/** Fill `out` with `fill` (one element of `es` bytes) repeated; zeros when there is none or it is all zeros. */
export function fillWith(fill: Uint8Array | undefined, es: number, out: Uint8Array): void {
  if (!fill || fill.every((b) => b === 0)) return void out.fill(0);
  out.set(fill);
  let filled = es;
  while (filled < out.length) {
    const n = Math.min(filled, out.length - filled);
    out.copyWithin(filled, 0, n);
    filled += n;
  }
}

/** Swap the byte order of `es`-byte elements in place. */
export function swapBytes(b: Uint8Array, es: number): void {
  for (let i = 0; i + es <= b.length; i += es) {
    for (let lo = i, hi = i + es - 1; lo < hi; lo++, hi--) {
      const t = b[lo];
      b[lo] = b[hi];
      b[hi] = t;
    }
  }
}
