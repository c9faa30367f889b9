/**
 * The project's one random generator: xoshiro128** seeded through
 * splitmix32, whose whole state is four integers. The sampler's streams
 * (samplers/rng.ts) and the model's dropout and initial weights
 * (ops/random.ts) draw from it, each with its own seeding and normal draws.
 *
 * @module
 */

/** xoshiro128** with a savable state. */
export class Xoshiro128 {
  /** The four state words. */
  protected s: Uint32Array = new Uint32Array(4);

  /** Spread one 32-bit seed word over the state (splitmix32). */
  constructor(seedWord: number) {
    let z = seedWord >>> 0;
    for (let i = 0; i < 4; i++) {
      z = (z + 0x9e3779b9) >>> 0;
      let t = z;
      t = Math.imul(t ^ (t >>> 16), 0x85ebca6b);
      t = Math.imul(t ^ (t >>> 13), 0xc2b2ae35);
      this.s[i] = (t ^ (t >>> 16)) >>> 0;
    }
    if (!this.s.some((v) => v !== 0)) this.s[0] = 1;
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
}

function rotl(x: number, k: number): number {
  return ((x << k) | (x >>> (32 - k))) >>> 0;
}
