/**
 * Mergeable float64 moments (count, mean, M2, min, max): Welford updates
 * and Chan et al.'s pairwise merge, so partial statistics from any split of
 * the data combine into exactly the statistics of the whole.
 *
 * @module
 */

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

  /** Add one plane `data[offset, offset+n)` (Welford). */
  add(data: Float32Array, offset: number): void {
    const { count, mean, m2 } = this;
    for (let i = 0; i < count.length; i++) {
      const x = data[offset + i];
      if (x !== x) continue;
      const c = ++count[i];
      const d = x - mean[i];
      const mu = mean[i] + d / c;
      mean[i] = mu;
      m2[i] += d * (x - mu);
    }
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

  /** Mean and population std per point as float32 planes (NaN where empty). */
  coefficients(): { mean: Float32Array; std: Float32Array } {
    const n = this.count.length;
    const mean = new Float32Array(n), std = new Float32Array(n);
    for (let i = 0; i < n; i++) {
      const c = this.count[i];
      mean[i] = c > 0 ? this.mean[i] : NaN;
      std[i] = c > 0 ? Math.sqrt(this.m2[i] / c) : NaN;
    }
    return { mean, std };
  }
}
