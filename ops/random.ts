/**
 * A small seeded random stream (xoshiro128**) whose whole state is four
 * integers, so a checkpoint can store it and a resumed run draws the same
 * dropout masks and initial weights as the uninterrupted one.
 *
 * @module
 */

/** Seeded random numbers with a savable state. */
export class Random {
  private s: Uint32Array;

  constructor(seed: number) {
    // splitmix32 spreads the seed over the four words.
    this.s = new Uint32Array(4);
    let z = seed >>> 0;
    for (let i = 0; i < 4; i++) {
      z = (z + 0x9e3779b9) >>> 0;
      let t = z;
      t = Math.imul(t ^ (t >>> 16), 0x85ebca6b);
      t = Math.imul(t ^ (t >>> 13), 0xc2b2ae35);
      this.s[i] = (t ^ (t >>> 16)) >>> 0;
    }
    if (!this.s.some((v) => v !== 0)) this.s[0] = 1;
  }

  /** The state (four unsigned 32-bit words). */
  get state(): number[] {
    return Array.from(this.s);
  }

  /** Restore a state from {@link state}. */
  set state(v: number[]) {
    if (v.length !== 4) throw new Error("random state needs 4 words");
    this.s = Uint32Array.from(v);
  }

  /** Next unsigned 32-bit integer. */
  nextUint(): number {
    const s = this.s;
    const r = Math.imul(rotl(Math.imul(s[1], 5), 7), 9) >>> 0;
    const t = s[1] << 9;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 11);
    return r;
  }

  /** Uniform in [0, 1). */
  next(): number {
    return this.nextUint() / 4294967296;
  }

  /** Standard normal (Box–Muller). */
  normal(): number {
    const u = 1 - this.next(), v = this.next();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
  }
}

function rotl(x: number, k: number): number {
  return ((x << k) | (x >>> (32 - k))) >>> 0;
}
