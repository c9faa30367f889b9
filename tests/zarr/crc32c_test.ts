/**
 * CRC-32C (the zarr v3 shard index checksum) against a bitwise definition, at
 * any offset, length and split.
 *
 * @module
 */
import assert from "node:assert/strict";
import { crc32c, crc32cUpdate } from "../../zarr/crc32c.ts";

/** The definition, bit by bit (reflected polynomial 0x82F63B78). */
function bitwise(bytes: Uint8Array): number {
  let c = 0xffffffff;
  for (const b of bytes) {
    c ^= b;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1;
  }
  return (c ^ 0xffffffff) >>> 0;
}

Deno.test("crc32c: the check value of CRC-32C, and any offset, length and split equal the bitwise definition", () => {
  assert.equal(crc32c(new TextEncoder().encode("123456789")), 0xe3069283);
  assert.equal(crc32c(new Uint8Array(0)), 0);
  const data = new Uint8Array(5000);
  let x = 12345;
  for (let i = 0; i < data.length; i++) data[i] = (x = (x * 1103515245 + 12345) >>> 0) >>> 24;
  for (let start = 0; start < 9; start++) {
    for (const length of [0, 1, 3, 7, 8, 9, 15, 16, 17, 63, 64, 65, 1000, 4000]) {
      const piece = data.subarray(start, start + length);
      const want = bitwise(piece);
      assert.equal(crc32c(piece), want, `offset ${start}, length ${length}`);
      const cut = Math.floor(length / 3);
      assert.equal(crc32cUpdate(crc32c(piece.subarray(0, cut)), piece.subarray(cut)), want, `split at ${cut}`);
    }
  }
});
