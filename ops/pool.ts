/**
 * A pool of large float32 scratch arrays reused across training steps, so
 * that big per-step buffers (attention probabilities kept for the backward
 * pass) are not fresh memory every step: fresh pages cost a page fault and
 * zeroing per 4 KiB, which made allocation a visible part of a step.
 *
 * @module
 */

const free = new Map<number, Float32Array[]>();
let pooled = 0;
/** Bytes the pool may keep. */
const LIMIT = 1024 * 2 ** 20;

/** An array of exactly `n` floats (contents undefined). */
export function takeArray(n: number): Float32Array {
  const list = free.get(n);
  const a = list?.pop();
  if (a) {
    pooled -= 4 * n;
    return a;
  }
  return new Float32Array(n);
}

/** Hand an array back for reuse (dropped when the pool is full). */
export function giveArray(a: Float32Array): void {
  if (pooled + a.byteLength > LIMIT) return;
  pooled += a.byteLength;
  const list = free.get(a.length);
  if (list) list.push(a);
  else free.set(a.length, [a]);
}
