/**
 * The project's one random generator: xoshiro128** seeded through
 * splitmix32, whose whole state is four integers (so a checkpoint can store
 * it and a resumed run draws what the uninterrupted one would). The
 * sampler draws its placement and masking from per-batch streams
 * ({@link Random.stream}: batch b of seed s is the same on any machine and
 * with any worker count); the model draws its initial weights and dropout
 * masks from a plain seed.
 *
 * @module
 */

/** Seeded random numbers (xoshiro128**) with a savable state. */
export class Random {
  /** The four state words. */
  private s: Uint32Array = new Uint32Array(4);
  /** The second value of the last polar pair, NaN when used ({@link polarNormal}). */
  private spare = NaN;

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

  /** The generator of stream `stream` of `seed`: e.g. (config seed, batch index). */
  static stream(seed: number, stream = 0): Random {
    return new Random(seed ^ Math.imul(stream + 1, 0x9e3779b9));
  }

  /** The state (four unsigned 32-bit words). */
  get state(): number[] {
    return Array.from(this.s);
  }

  /** Restore a state from {@link state}. */
  set state(v: number[]) {
    if (v.length !== 4) throw new Error("random state needs 4 words");
    this.s = Uint32Array.from(v);
    this.spare = NaN;
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

  /** Integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.next() * n);
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

  /** Standard normal, one per two uniforms (Box–Muller): the model's weights and noise. */
  normal(): number {
    const u = 1 - this.next(), v = this.next();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
  }

  /**
   * Standard normal by Marsaglia's polar method, both values of each pair
   * used in turn: the sampler's masking noise.
   */
  polarNormal(): number {
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
}

function rotl(x: number, k: number): number {
  return ((x << k) | (x >>> (32 - k))) >>> 0;
}
