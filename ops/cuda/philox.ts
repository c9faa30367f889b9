/**
 * Philox4x32-10 in TypeScript (Salmon, Moraes, Dror, Shaw 2011, with
 * Random123's round constants): the host-side twin of the dropout kernels'
 * generator (ops/cuda/kernels/dropout.cu). Word i of a call's stream is word
 * i % 4 of Philox(counter = (⌊i/4⌋ low, ⌊i/4⌋ high, 0, 0), key = seed), so the
 * host can predict any element's mask and tests can compare the device's
 * words with these. Checked against Random123's published known-answer
 * vectors in tests/ops/cuda_runtime_test.ts.
 *
 * @module
 */

/** Philox4x32 with 10 rounds on counter (c0..c3) and key (k0, k1); four 32-bit words. */
export function philox4x32(c: readonly number[], k: readonly number[]): [number, number, number, number] {
  let [c0, c1, c2, c3] = c.map((v) => v >>> 0), [k0, k1] = k.map((v) => v >>> 0);
  for (let round = 0; round < 10; round++) {
    const p0 = BigInt(0xD2511F53) * BigInt(c0), p1 = BigInt(0xCD9E8D57) * BigInt(c2);
    const hi0 = Number(p0 >> 32n), lo0 = Number(p0 & 0xffffffffn);
    const hi1 = Number(p1 >> 32n), lo1 = Number(p1 & 0xffffffffn);
    [c0, c1, c2, c3] = [(hi1 ^ c1 ^ k0) >>> 0, lo1, (hi0 ^ c3 ^ k1) >>> 0, lo0];
    k0 = (k0 + 0x9E3779B9) >>> 0;
    k1 = (k1 + 0xBB67AE85) >>> 0;
  }
  return [c0, c1, c2, c3];
}

/** The first n words of the dropout stream of 64-bit seed (lo, hi). */
export function philoxWords(n: number, seedLo: number, seedHi: number): Uint32Array {
  const out = new Uint32Array(n);
  for (let q = 0; q * 4 < n; q++) {
    const w = philox4x32([q % 2 ** 32, Math.floor(q / 2 ** 32), 0, 0], [seedLo, seedHi]);
    for (let k = 0; k < 4 && q * 4 + k < n; k++) out[q * 4 + k] = w[k];
  }
  return out;
}

/** The dropout threshold of the kernels and of the CPU op: keep a value when its word is ≥ ⌊p·2³²⌋. */
export function dropThreshold(p: number): number {
  return Math.floor(p * 4294967296);
}
