/**
 * Mergeable float64 moments (count, mean, M2, min, max): Welford updates
 * and Chan et al.'s pairwise merge, so partial statistics from any split of
 * the data combine into exactly the statistics of the whole.
 *
 * @module
 */
import { adviseHugePages } from "../native/malloc.ts";
import { addBlockScalar, finishScalar, type SimdSumsMemory, simdSumsMemory } from "../simd/point_sums.ts";
import { growMemory } from "../simd/asm.ts";

/** Room for values after the sums in the kernel's memory: one 6 × 91 × 180 chunk (grown for larger blocks). */
const SIMD_BLOCK_BYTES = 6 * 91 * 180 * 4;

/** Moments of a set of values (NaN excluded). */
export interface Moments {
  /** Number of finite values. */
  count: number;
  /** Mean. */
  mean: number;
  /** Sum of squared deviations from the mean. */
  m2: number;
  /** Minimum (Infinity when empty). */
  min: number;
  /** Maximum (−Infinity when empty). */
  max: number;
}

/** Moments of nothing. */
export function emptyMoments(): Moments {
  return { count: 0, mean: 0, m2: 0, min: Infinity, max: -Infinity };
}

/** Two-pass moments of `data[offset, offset+n)`, skipping NaN. */
export function momentsOf(data: Float32Array, offset = 0, n = data.length - offset): Moments {
  let count = 0, sum = 0, min = Infinity, max = -Infinity;
  for (let i = offset; i < offset + n; i++) {
    const x = data[i];
    if (x !== x) continue;
    count++;
    sum += x;
    if (x < min) min = x;
    if (x > max) max = x;
  }
  if (count === 0) return emptyMoments();
  const mean = sum / count;
  let m2 = 0;
  for (let i = offset; i < offset + n; i++) {
    const x = data[i];
    if (x !== x) continue;
    const d = x - mean;
    m2 += d * d;
  }
  return { count, mean, m2, min, max };
}

/** Merge two sets of moments (Chan et al.). */
export function mergeMoments(a: Moments, b: Moments): Moments {
  if (b.count === 0) return { ...a };
  if (a.count === 0) return { ...b };
  const count = a.count + b.count;
  const delta = b.mean - a.mean;
  return {
    count,
    mean: a.mean + delta * (b.count / count),
    m2: a.m2 + b.m2 + delta * delta * (a.count * b.count / count),
    min: Math.min(a.min, b.min),
    max: Math.max(a.max, b.max),
  };
}

/** Population standard deviation (what AtmoRep stores, computed as `np.std`). */
export function stdOf(m: Moments): number {
  return m.count > 0 ? Math.sqrt(m.m2 / m.count) : NaN;
}

/** Per-grid-point moments (count, mean, M2) of a stack of planes. */
export class PointMoments {
  /** Count per point. */
  readonly count: Float64Array;
  /** Mean per point. */
  readonly mean: Float64Array;
  /** M2 per point. */
  readonly m2: Float64Array;

  constructor(n: number, count?: Float64Array, mean?: Float64Array, m2?: Float64Array) {
    this.count = count ?? new Float64Array(n);
    this.mean = mean ?? new Float64Array(n);
    this.m2 = m2 ?? new Float64Array(n);
  }

  /** Merge another accumulator into this one. */
  merge(o: PointMoments): void {
    const { count, mean, m2 } = this;
    for (let i = 0; i < count.length; i++) {
      const nb = o.count[i];
      if (nb === 0) continue;
      const na = count[i];
      const n = na + nb;
      const d = o.mean[i] - mean[i];
      mean[i] += d * (nb / n);
      m2[i] += o.m2[i] + d * d * (na * nb / n);
      count[i] = n;
    }
  }

  /** Moments of all points together (Chan's merge over points), without min/max. */
  pooled(): Moments {
    const { count, mean, m2 } = this;
    let n = 0, sum = 0;
    for (let i = 0; i < count.length; i++) (n += count[i], sum += count[i] * mean[i]);
    if (n === 0) return emptyMoments();
    const mu = sum / n;
    let total = 0;
    for (let i = 0; i < count.length; i++) {
      if (count[i] === 0) continue;
      const d = mean[i] - mu;
      total += m2[i] + count[i] * d * d;
    }
    return { count: n, mean: mu, m2: total, min: Infinity, max: -Infinity };
  }

  /** Mean and population std per point as float32 planes (NaN where empty). */
  coefficients(): { mean: Float32Array; std: Float32Array } {
    const n = this.count.length;
    const both = this.coefficientsInto(new Float32Array(2 * n));
    return { mean: both.subarray(0, n), std: both.subarray(n) };
  }

  /**
   * {@link coefficients} into one buffer of at least 2 × points values:
   * mean in the first half, std in the second (the layout of a local
   * coefficient chunk). Returns the filled part.
   */
  coefficientsInto(out: Float32Array): Float32Array {
    const n = this.count.length;
    for (let i = 0; i < n; i++) {
      const c = this.count[i];
      out[i] = c > 0 ? this.mean[i] : NaN;
      out[n + i] = c > 0 ? Math.sqrt(this.m2[i] / c) : NaN;
    }
    return out.subarray(0, 2 * n);
  }
}

/**
 * Per-point accumulation of a stack of planes without divisions: sums of
 * `x − K` and `(x − K)²` around a per-point shift `K` (the point's value in
 * the first plane, 0 where that is NaN), which keeps the variance free of
 * cancellation. Global min and max are tracked on the way.
 */
export class ShiftedPointSums {
  /** Count per point (float64, so that {@link finish} hands it on as the count array). */
  private n!: Float64Array;
  private shift: Float64Array | undefined;
  private s1!: Float64Array;
  private s2!: Float64Array;
  /** The SIMD kernel's instance, whose memory holds the four arrays (absent: plain arrays, scalar code). */
  private readonly simd: SimdSumsMemory | undefined;
  private finished = false;
  /** Minimum over all points. */
  min = Infinity;
  /** Maximum over all points. */
  max = -Infinity;

  /**
   * Sums over `points` points. `simd: false` keeps to the scalar code
   * (the SIMD kernel's sums are bit-identical to it; tests compare them).
   */
  constructor(points: number, options: { simd?: boolean } = {}) {
    // Room after the sums for a copied block, later for the results and coefficient planes of finish.
    const room = Math.max(SIMD_BLOCK_BYTES, 32 + 8 * points);
    this.simd = options.simd === false ? undefined : simdSumsMemory(points, room);
    if (this.simd) {
      // Planes of sums are tens of MB, touched all over by the first plane added.
      adviseHugePages(new Uint8Array(this.simd.memory.buffer));
      this.bind(points);
    } else {
      this.n = new Float64Array(points);
      this.s1 = new Float64Array(points);
      this.s2 = new Float64Array(points);
      for (const a of [this.n, this.s1, this.s2]) adviseHugePages(a);
    }
  }

  /** Views of the arrays in the kernel's memory (again after it grew: growing replaces its buffer). */
  private bind(points: number): void {
    const buffer = this.simd!.memory.buffer;
    [this.n, this.s1, this.s2, this.shift] = [0, 1, 2, 3].map((k) => new Float64Array(buffer, 8 * k * points, points));
  }

  /** Number of points. */
  get points(): number {
    return this.n.length;
  }

  /**
   * Start over with no values, keeping the arrays (a thread converting
   * plane after plane reuses them instead of touching fresh memory). The
   * arrays {@link finish} handed out are zeroed: their user must be done.
   */
  reset(): void {
    this.n.fill(0);
    this.s1.fill(0);
    this.s2.fill(0);
    this.shift?.fill(0);
    this.min = Infinity;
    this.max = -Infinity;
    this.finished = false;
  }

  /** Add one plane `data[offset, offset + points)`; NaN values are skipped. */
  add(data: Float32Array, offset: number): void {
    this.addPlanes(data, offset, 1);
  }

  /** Add `planes` consecutive planes starting at `offset`. */
  addPlanes(data: Float32Array, offset: number, planes: number): void {
    const len = this.n.length;
    this.addBlock(data, offset, len, 0, planes, 1, len, 0, 0);
  }

  /**
   * Add a block of `steps` × `rows` × `cols` values (e.g. one chunk while it
   * is hot in cache): value (p, r, c) is at `offset + p·stepStride +
   * r·rowStride + c` and belongs to point `point0 + r·pointRowStride + c`.
   * Each point is summed over the steps in registers, so the float64 sums
   * are touched once per block.
   */
  addBlock(
    data: Float32Array,
    offset: number,
    stepStride: number,
    rowStride: number,
    steps: number,
    rows: number,
    cols: number,
    point0: number,
    pointRowStride: number,
  ): void {
    if (this.finished) throw new Error("ShiftedPointSums: finished; no more values can be added");
    if (steps <= 0 || rows <= 0 || cols <= 0) return;
    // Groups of four columns in SIMD, the remaining columns in scalar code.
    const simdCols = this.simd ? cols - (cols % 4) : 0;
    if (simdCols > 0) this.addSimd(data, offset, stepStride, rowStride, steps, rows, simdCols, point0, pointRowStride);
    if (simdCols < cols) {
      this.addScalar(
        data,
        offset + simdCols,
        stepStride,
        rowStride,
        steps,
        rows,
        cols - simdCols,
        point0 + simdCols,
        pointRowStride,
      );
    }
  }

  /** {@link addBlock} through the SIMD kernel (`cols` a multiple of 4). */
  private addSimd(
    data: Float32Array,
    offset: number,
    stepStride: number,
    rowStride: number,
    steps: number,
    rows: number,
    cols: number,
    point0: number,
    pointRowStride: number,
  ): void {
    const { memory, block, blockWorkspace, workspace } = this.simd!;
    const points = this.n.length;
    const minmax = 32 * points, scratch = minmax + 32;
    let kernel = block, at = scratch;
    if (blockWorkspace && data.buffer === workspace?.buffer) {
      // Values in the tile workspace (a conversion's slab) are read where they lie.
      kernel = blockWorkspace;
      at = data.byteOffset + 4 * offset;
    } else {
      // Otherwise the block's values as they lie (same strides), copied after the sums.
      const span = (steps - 1) * stepStride + (rows - 1) * rowStride + cols;
      if (growMemory(memory, scratch + 4 * span)) this.bind(points);
      new Float32Array(memory.buffer, scratch, span).set(data.subarray(offset, offset + span));
    }
    const lanes = new Float32Array(memory.buffer, minmax, 8);
    lanes.fill(this.min, 0, 4).fill(this.max, 4, 8);
    kernel(
      at,
      4 * stepStride,
      4 * rowStride,
      steps,
      rows,
      cols / 4,
      8 * point0,
      8 * pointRowStride,
      8 * points,
      minmax,
    );
    let lo = this.min, hi = this.max;
    for (let k = 0; k < 4; k++) {
      if (lanes[k] < lo) lo = lanes[k];
      if (lanes[4 + k] > hi) hi = lanes[4 + k];
    }
    this.min = lo;
    this.max = hi;
  }

  /** {@link addBlock} in scalar code (the reference the SIMD kernel reproduces; simd/point_sums.ts). */
  private addScalar(
    data: Float32Array,
    offset: number,
    stepStride: number,
    rowStride: number,
    steps: number,
    rows: number,
    cols: number,
    point0: number,
    pointRowStride: number,
  ): void {
    if (!this.shift) adviseHugePages(this.shift = new Float64Array(this.n.length));
    const sums = { n: this.n, s1: this.s1, s2: this.s2, shift: this.shift };
    addBlockScalar(sums, this, data, offset, stepStride, rowStride, steps, rows, cols, point0, pointRowStride);
  }

  /**
   * Per-point moments plus the pooled moments of all points (with min/max).
   * Computed in place: the sums' own arrays become the count, mean and M2
   * arrays (a conversion finishes planes of millions of points per task;
   * fresh arrays would cost memory and page faults), so the accumulator
   * takes no more values afterwards.
   */
  finish(): { points: PointMoments; global: Moments; coefficients?: Float32Array } {
    if (this.finished) throw new Error("ShiftedPointSums: finished twice");
    if (this.simd) return this.finishSimd();
    const { n, s1, s2 } = this;
    const mean = this.shift ?? new Float64Array(n.length);
    finishScalar({ n, s1, s2 }, mean);
    this.finished = true;
    const points = new PointMoments(n.length, n, mean, s2);
    const global = points.pooled();
    if (global.count > 0) (global.min = this.min, global.max = this.max);
    return { points, global };
  }

  /**
   * {@link finish} in the kernel's module, with the coefficient planes
   * (float32 mean, then std; as {@link PointMoments.coefficientsInto}
   * fills them) computed on the way: one module call instead of four
   * passes of scalar code, which also costs tens of milliseconds per
   * thread before the JIT has compiled it.
   */
  private finishSimd(): { points: PointMoments; global: Moments; coefficients: Float32Array } {
    const { memory, finish } = this.simd!;
    const points = this.n.length;
    // After the sums and min/max lanes, where blocks were copied: results, then the coefficient planes.
    const results = 32 * points + 32, coefficients = results + 32;
    if (growMemory(memory, coefficients + 8 * points)) this.bind(points);
    finish(points, 8 * points, coefficients, results);
    this.finished = true;
    const [count, mean, m2] = new Float64Array(memory.buffer, results, 3);
    const global = count === 0 ? emptyMoments() : { count, mean, m2, min: this.min, max: this.max };
    return {
      points: new PointMoments(points, this.n, this.shift!, this.s2),
      global,
      coefficients: new Float32Array(memory.buffer, coefficients, 2 * points),
    };
  }
}
