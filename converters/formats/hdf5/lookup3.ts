/**
 * Bob Jenkins' lookup3 hash (`hashlittle`), which HDF5 uses as the checksum
 * of its version 2 metadata structures (superblock v2/v3, object headers
 * v2, fractal heaps, v2 B-trees, chunk index structures).
 *
 * @module
 */

function rot(x: number, k: number): number {
  return (x << k) | (x >>> (32 - k));
}

/** lookup3 `hashlittle` of `data` with seed `init` (HDF5 checksums use 0). */
export function lookup3(data: Uint8Array, init = 0): number {
  let length = data.length;
  let a = (0xdeadbeef + length + init) | 0, b = a, c = a;
  let p = 0;
  while (length > 12) {
    a = (a + (data[p] | (data[p + 1] << 8) | (data[p + 2] << 16) | (data[p + 3] << 24))) | 0;
    b = (b + (data[p + 4] | (data[p + 5] << 8) | (data[p + 6] << 16) | (data[p + 7] << 24))) | 0;
    c = (c + (data[p + 8] | (data[p + 9] << 8) | (data[p + 10] << 16) | (data[p + 11] << 24))) | 0;
    // mix(a, b, c)
    a = (a - c) | 0, a ^= rot(c, 4), c = (c + b) | 0;
    b = (b - a) | 0, b ^= rot(a, 6), a = (a + c) | 0;
    c = (c - b) | 0, c ^= rot(b, 8), b = (b + a) | 0;
    a = (a - c) | 0, a ^= rot(c, 16), c = (c + b) | 0;
    b = (b - a) | 0, b ^= rot(a, 19), a = (a + c) | 0;
    c = (c - b) | 0, c ^= rot(b, 4), b = (b + a) | 0;
    length -= 12;
    p += 12;
  }
  if (length === 0) return c >>> 0;
  // The last 1..12 bytes (fall-through of the C switch).
  const at = (i: number, shift: number) => (i < length ? data[p + i] << shift : 0);
  c = (c + (at(8, 0) | at(9, 8) | at(10, 16) | at(11, 24))) | 0;
  b = (b + (at(4, 0) | at(5, 8) | at(6, 16) | at(7, 24))) | 0;
  a = (a + (at(0, 0) | at(1, 8) | at(2, 16) | at(3, 24))) | 0;
  // final(a, b, c)
  c ^= b, c = (c - rot(b, 14)) | 0;
  a ^= c, a = (a - rot(c, 11)) | 0;
  b ^= a, b = (b - rot(a, 25)) | 0;
  c ^= b, c = (c - rot(b, 16)) | 0;
  a ^= c, a = (a - rot(c, 4)) | 0;
  b ^= a, b = (b - rot(a, 14)) | 0;
  c ^= b, c = (c - rot(b, 24)) | 0;
  return c >>> 0;
}

/**
 * Check the lookup3 checksum stored little-endian in the 4 bytes after
 * `data`; returns false on a mismatch.
 */
export function lookup3Matches(data: Uint8Array, stored: Uint8Array): boolean {
  const s = (stored[0] | (stored[1] << 8) | (stored[2] << 16) | (stored[3] << 24)) >>> 0;
  return lookup3(data) === s;
}
