/**
 * A small seeded random generator (SplitMix32 seeding of xoshiro128**), so
 * batch b of seed s is the same on any machine and with any worker count.
 *
 * @module
 */
import { Xoshiro128 } from "../random.ts";

/** Deterministic random numbers. */
export class Rng extends Xoshiro128 {
  /** A generator for (seed, stream): e.g. (config seed, batch index). */
  constructor(seed: number, stream = 0) {
    super(seed ^ Math.imul(stream + 1, 0x9e3779b9));
  }

  /** Integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }

  private spare = NaN;

  /** Standard normal (Marsaglia's polar method; both values of a pair are used). */
  normal(): number {
    if (!Number.isNaN(this.spare)) {
      const z = this.spare;
      this.spare = NaN;
      return z;
    }
    let u, v, s;
    do {
      u = 2 * this.next() - 1;
      v = 2 * this.next() - 1;
      s = u * u + v * v;
    } while (s >= 1 || s === 0);
    const f = Math.sqrt(-2 * Math.log(s) / s);
    this.spare = v * f;
    return u * f;
  }

  /** `k` distinct integers from [0, n), in random order. */
  choose(n: number, k: number): Int32Array {
    const a = new Int32Array(n);
    for (let i = 0; i < n; i++) a[i] = i;
    for (let i = 0; i < k; i++) {
      const j = i + this.int(n - i);
      [a[i], a[j]] = [a[j], a[i]];
    }
    return a.slice(0, k);
  }
}
