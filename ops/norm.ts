/**
 * Layer normalization over the last axis, fused: one pass for the
 * moments, one for the output, and a two-pass backward from the saved
 * mean and reciprocal standard deviation (no intermediate tensors).
 *
 * @module
 */
import { gradOf, record, result, type Tensor } from "./tensor.ts";
import { deviceLayerNorm } from "./device_ops.ts";

/** LayerNorm over the last axis, with optional affine `gamma`, `beta` [last]. eps as PyTorch (1e-5). */
export function layerNorm(x: Tensor, gamma?: Tensor, beta?: Tensor, eps = 1e-5): Tensor {
  if (x.device || gamma?.device || beta?.device) return deviceLayerNorm(x, gamma, beta, eps);
  const D = x.last, R = x.rows, xs = x.data;
  const y = new Float32Array(x.size);
  const mean = new Float32Array(R), rstd = new Float32Array(R);
  const g = gamma?.data, b = beta?.data;
  for (let r = 0; r < R; r++) {
    const o = r * D;
    let s = 0;
    for (let j = 0; j < D; j++) s += xs[o + j];
    const m = s / D;
    let v = 0;
    for (let j = 0; j < D; j++) {
      const d = xs[o + j] - m;
      v += d * d;
    }
    const rs = 1 / Math.sqrt(v / D + eps);
    mean[r] = m;
    rstd[r] = rs;
    for (let j = 0; j < D; j++) {
      const h = (xs[o + j] - m) * rs;
      y[o + j] = g ? h * g[j] + b![j] : h;
    }
  }
  const inputs = gamma ? [x, gamma, beta!] : [x];
  const out = result(y, x.shape, inputs);
  record(out, inputs, () => {
    const dy = out.grad!;
    const dx = x.requiresGrad ? gradOf(x) : undefined;
    const dg = gamma?.requiresGrad ? gradOf(gamma) : undefined;
    const db = beta?.requiresGrad ? gradOf(beta) : undefined;
    for (let r = 0; r < R; r++) {
      const o = r * D, m = mean[r], rs = rstd[r];
      let s1 = 0, s2 = 0;
      for (let j = 0; j < D; j++) {
        const h = (xs[o + j] - m) * rs;
        const dh = g ? dy[o + j] * g[j] : dy[o + j];
        s1 += dh;
        s2 += dh * h;
        if (dg) dg[j] += dy[o + j] * h;
        if (db) db[j] += dy[o + j];
      }
      if (!dx) continue;
      s1 /= D;
      s2 /= D;
      for (let j = 0; j < D; j++) {
        const h = (xs[o + j] - m) * rs;
        const dh = g ? dy[o + j] * g[j] : dy[o + j];
        dx[o + j] += rs * (dh - s1 - h * s2);
      }
    }
  });
  return out;
}
