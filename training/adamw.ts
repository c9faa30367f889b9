/**
 * AdamW (decoupled weight decay, as `torch.optim.AdamW`) with global-norm
 * gradient clipping, and its learning-rate schedule: linear warm-up from
 * `lrStart` to `lrMax`, then exponential decay to a floor `lrMin` (AtmoRep
 * decays by 1/1.025 per epoch; here per step with a configurable rate).
 *
 * @module
 */
import type { Tensor } from "../ops/mod.ts";

/** Optimizer settings. */
export interface OptimizerConfig {
  /** Peak learning rate. */
  lrMax: number;
  /** Learning rate at step 0 (warm-up start). Default lrMax / 10. */
  lrStart?: number;
  /** Floor of the decay. Default lrMax / 10. */
  lrMin?: number;
  /** Warm-up steps. Default 0. */
  warmupSteps?: number;
  /** After warm-up, the rate is multiplied by this every step (≤ 1). Default 1 (constant). */
  decayPerStep?: number;
  /** Decoupled weight decay. Default 0.025 (AtmoRep's multiformer). */
  weightDecay?: number;
  /** Adam β₁, β₂. Default 0.9, 0.999. */
  betas?: [number, number];
  /** Adam ε. Default 1e-8. */
  eps?: number;
  /** Clip the global gradient norm to this (0: off). Default 1. */
  clipNorm?: number;
}

/** Learning rate at `step` (0-based). */
export function learningRate(c: OptimizerConfig, step: number): number {
  const lrStart = c.lrStart ?? c.lrMax / 10, lrMin = c.lrMin ?? c.lrMax / 10;
  const warm = c.warmupSteps ?? 0;
  if (step < warm) return lrStart + (c.lrMax - lrStart) * (step / warm);
  return Math.max(lrMin, c.lrMax * Math.pow(c.decayPerStep ?? 1, step - warm));
}

/** AdamW over a fixed list of named parameters. */
export class AdamW {
  /** Settings. */
  readonly config: OptimizerConfig;
  /** Steps taken. */
  step = 0;
  /** First and second moments per parameter name. */
  readonly moments: Map<string, { m: Float32Array; v: Float32Array }>;
  private readonly params: Map<string, Tensor>;

  constructor(params: Map<string, Tensor>, config: OptimizerConfig) {
    this.params = params;
    this.config = config;
    this.moments = new Map(
      [...params].map(([k, t]) => [k, { m: new Float32Array(t.size), v: new Float32Array(t.size) }]),
    );
  }

  /** Zero every parameter's gradient. */
  zeroGrad(): void {
    for (const t of this.params.values()) t.grad?.fill(0);
  }

  /** Global L2 norm of the gradients. */
  gradNorm(): number {
    let s = 0;
    for (const t of this.params.values()) {
      const g = t.grad;
      if (!g) continue;
      for (let i = 0; i < g.length; i++) s += g[i] * g[i];
    }
    return Math.sqrt(s);
  }

  /** Clip, then one AdamW update with the scheduled rate; returns {lr, gradNorm (before clipping)}. */
  update(): { lr: number; gradNorm: number } {
    const c = this.config;
    const [b1, b2] = c.betas ?? [0.9, 0.999];
    const eps = c.eps ?? 1e-8, wd = c.weightDecay ?? 0.025;
    const norm = this.gradNorm();
    if (!Number.isFinite(norm)) throw new Error(`gradient norm is ${norm}: the step diverged`);
    const clip = c.clipNorm ?? 1;
    const gs = clip > 0 && norm > clip ? clip / norm : 1;
    const lr = learningRate(c, this.step);
    this.step++;
    const bc1 = 1 - Math.pow(b1, this.step), bc2 = 1 - Math.pow(b2, this.step);
    for (const [k, t] of this.params) {
      const g = t.grad;
      if (!g) continue;
      const { m, v } = this.moments.get(k)!;
      const w = t.data;
      const decay = 1 - lr * wd;
      for (let i = 0; i < w.length; i++) {
        const gi = g[i] * gs;
        m[i] = b1 * m[i] + (1 - b1) * gi;
        v[i] = b2 * v[i] + (1 - b2) * gi * gi;
        w[i] = w[i] * decay - lr * (m[i] / bc1) / (Math.sqrt(v[i] / bc2) + eps);
      }
    }
    return { lr, gradNorm: norm };
  }
}
