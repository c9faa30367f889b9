/**
 * AdamW (decoupled weight decay, as `torch.optim.AdamW`) with global-norm
 * gradient clipping, and its learning-rate schedule: linear warm-up from
 * `lrStart` to `lrMax`, then exponential decay to a floor `lrMin` (AtmoRep
 * decays by 1/1.025 per epoch; here per step with a configurable rate).
 * Parameters on a device update there (moments on the device too, the
 * gradient norm and the clipping computed there, nothing read back: a
 * step whose gradient norm is not finite leaves the weights unchanged and
 * the norm, read with {@link AdamW.readGradNorm}, says so).
 *
 * @module
 */
import type { Device, DeviceBuffer, Tensor } from "../ops/mod.ts";

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
  /** First and second moments per parameter name (host parameters; device ones: {@link readMoments}). */
  readonly moments: Map<string, { m: Float32Array; v: Float32Array }>;
  private readonly params: Map<string, Tensor>;
  /** The parameters' device, when they are on one. */
  readonly device?: Device;
  private readonly deviceMoments = new Map<string, { m: DeviceBuffer; v: DeviceBuffer }>();
  /** Device: the last update's squared gradient norm [1]. */
  private normSq?: DeviceBuffer;

  constructor(params: Map<string, Tensor>, config: OptimizerConfig) {
    this.params = params;
    this.config = config;
    const first = params.values().next().value;
    this.device = first?.device;
    for (const [k, t] of params) {
      if (t.device !== this.device) throw new Error(`AdamW: parameter ${k} is not on the same device as the others`);
    }
    const d = this.device;
    this.moments = new Map(
      d ? [] : [...params].map(([k, t]) => [k, { m: new Float32Array(t.size), v: new Float32Array(t.size) }]),
    );
    if (d) {
      for (const [k, t] of params) {
        const m = d.alloc(t.size, true), v = d.alloc(t.size, true);
        d.fill(m, 0, t.size);
        d.fill(v, 0, t.size);
        this.deviceMoments.set(k, { m, v });
      }
      d.fill(this.normSq = d.alloc(1, true), 0, 1);
    }
  }

  /** Device parameters: the moments' values, read back (for a checkpoint). */
  async readMoments(): Promise<Map<string, { m: Float32Array; v: Float32Array }>> {
    if (!this.device) return this.moments;
    const out = new Map<string, { m: Float32Array; v: Float32Array }>();
    for (const [k, { m, v }] of this.deviceMoments) {
      const n = this.params.get(k)!.size;
      out.set(k, { m: await this.device.read(m, 0, n), v: await this.device.read(v, 0, n) });
    }
    return out;
  }

  /** Device parameters: overwrite the moments (resuming from a checkpoint). */
  writeMoments(moments: Map<string, { m: Float32Array; v: Float32Array }>): void {
    if (!this.device) throw new Error("AdamW.writeMoments: host moments are written in place");
    for (const [k, { m, v }] of moments) {
      const dm = this.deviceMoments.get(k);
      if (!dm) throw new Error(`AdamW.writeMoments: no parameter ${k}`);
      this.device.write(dm.m, m);
      this.device.write(dm.v, v);
    }
  }

  /** Device: the buffer holding the last update's squared gradient norm (overwritten by the next update). */
  get normSqBuffer(): DeviceBuffer | undefined {
    return this.normSq;
  }

  /** The gradient norm (before clipping) of the last update: on a device, read back now. */
  async readGradNorm(): Promise<number> {
    if (!this.device) return this.lastNorm;
    return Math.sqrt((await this.device.read(this.normSq!, 0, 1))[0]);
  }

  private lastNorm = NaN;

  /** Zero every parameter's gradient. */
  zeroGrad(): void {
    const d = this.device;
    if (d) { for (const t of this.params.values()) if (t.gradBuffer) d.fill(t.gradBuffer, 0, t.size); }
    if (!d) { for (const t of this.params.values()) t.grad?.fill(0); }
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

  /**
   * Clip, then one AdamW update with the scheduled rate; returns {lr, gradNorm (before clipping)}. On a device
   * gradNorm is NaN (nothing is read back): {@link readGradNorm} reads it.
   */
  update(): { lr: number; gradNorm: number } {
    if (this.device) return { lr: this.updateOnDevice(this.device), gradNorm: NaN };
    const c = this.config;
    const [b1, b2] = c.betas ?? [0.9, 0.999];
    const eps = c.eps ?? 1e-8, wd = c.weightDecay ?? 0.025;
    const norm = this.lastNorm = this.gradNorm();
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

  /** The update on the device: Σ g² into normSq, then the AdamW kernel per parameter; the learning rate. */
  private updateOnDevice(d: Device): number {
    const c = this.config;
    const [b1, b2] = c.betas ?? [0.9, 0.999];
    const normSq = this.normSq!;
    d.fill(normSq, 0, 1);
    for (const t of this.params.values()) if (t.gradBuffer) d.sumSquares(t.gradBuffer, t.size, normSq, 0);
    const lr = learningRate(c, this.step);
    this.step++;
    const bc1 = 1 - Math.pow(b1, this.step), bc2 = 1 - Math.pow(b2, this.step);
    for (const [k, t] of this.params) {
      if (!t.gradBuffer) continue;
      const { m, v } = this.deviceMoments.get(k)!;
      d.adamw({
        w: t.buffer!,
        g: t.gradBuffer,
        m,
        v,
        n: t.size,
        normSq,
        lr,
        b1,
        b2,
        eps: c.eps ?? 1e-8,
        wd: c.weightDecay ?? 0.025,
        bc1,
        bc2,
        clip: c.clipNorm ?? 1,
      });
    }
    return lr;
  }
}
