/**
 * Losses of the tail ensemble on the masked tokens (AtmoRep's
 * `Trainer_Base.loss`), each one fused op with its own gradient. Only
 * values that count enter (the `valid` weights: NaN truth and padding
 * slots are 0), so visible tokens and missing points never reach a loss.
 *
 * - `mse_ensemble`: mean over members of the MSE of each member;
 * - `stats`: mean((exp(−½((t−μ)/σ)²) − 1)²) + mean(√σ), μ and σ the
 *   ensemble mean and (unbiased) standard deviation;
 * - `mse`: MSE of the ensemble mean;
 * - `weighted_mse`: as AtmoRep, per member Σ w·(x − t)² / Σ w, averaged
 *   over the members; w is cos(latitude), per value when the targets carry
 *   `valueWeights` (AtmoRep's per grid row), else per token;
 * - `crps`: the Gaussian CRPS of N(μ, σ) (Gneiting et al. 2005) — not
 *   AtmoRep's `crps`, whose formula is not the CRPS;
 * - `stats_area`: AtmoRep's 0.2·mean(erf((t−μ)/σ²)²) + mean(√σ);
 * - `kernel_crps`: AtmoRep's fair ensemble CRPS, mean over members of
 *   mean |x − t| minus Σᵢⱼ |xᵢ − xⱼ| / (2E(E−1)·n); as in AtmoRep the
 *   spread term carries no gradient.
 *
 * Members on a device: the same losses as device kernels (ops/device.ts,
 * `ensembleLoss`), the loss a device scalar; the targets are uploaded
 * once per targets object.
 *
 * @module
 */
import { deviceGradOf, deviceOf, record, recording, result, Tensor } from "../ops/mod.ts";
import type { FieldTargets } from "../models/inputs.ts";

/** Loss names. */
export const LOSSES = ["mse_ensemble", "stats", "mse", "weighted_mse", "crps", "stats_area", "kernel_crps"] as const;
/** A loss name. */
export type LossName = typeof LOSSES[number];

const SIGMA_EPS = 1e-6;

/**
 * One loss of one field: members [M, E, V] against the targets; a scalar
 * tensor (0 when no value counts).
 */
export function fieldLoss(name: LossName, members: Tensor, t: FieldTargets): Tensor {
  const [M, E, V] = members.shape;
  if ((name === "stats" || name === "crps" || name === "stats_area") && E < 2) {
    throw new Error(`loss ${name} needs an ensemble of at least 2 members (got ${E})`);
  }
  if (members.device) return deviceFieldLoss(name, members, t);
  const p = members.data;
  // Per value: d loss / d μ and d loss / d σ, or per member directly (mse_ensemble); normalized at the end.
  const grad = new Float32Array(p.length);
  let total = 0, count = 0, spread = 0;
  for (let m = 0; m < M; m++) {
    for (let v = 0; v < V; v++) {
      const w = t.valid[m * V + v];
      if (w === 0) continue;
      const rw = name === "weighted_mse" ? (t.valueWeights ? t.valueWeights[m * V + v] : t.latWeight[m]) : 1;
      const y = t.values[m * V + v];
      count += rw;
      const base = m * E * V + v;
      if (name === "mse_ensemble" || name === "weighted_mse") {
        for (let e = 0; e < E; e++) {
          const d = p[base + e * V] - y;
          total += rw * d * d / E;
          grad[base + e * V] = 2 * rw * d / E;
        }
        continue;
      }
      if (name === "kernel_crps") {
        for (let e = 0; e < E; e++) {
          const d = p[base + e * V] - y;
          total += Math.abs(d) / E;
          grad[base + e * V] = Math.sign(d) / E;
          for (let f = 0; f < E; f++) spread += Math.abs(p[base + e * V] - p[base + f * V]);
        }
        continue;
      }
      let mu = 0;
      for (let e = 0; e < E; e++) mu += p[base + e * V];
      mu /= E;
      let dMu = 0, dSigma = 0, sigma = 0;
      if (name === "mse") {
        const d = mu - y;
        total += d * d;
        dMu = 2 * d;
      } else {
        let ss = 0;
        for (let e = 0; e < E; e++) ss += (p[base + e * V] - mu) ** 2;
        sigma = Math.sqrt(ss / (E - 1)) + SIGMA_EPS;
        const g = gaussianTerm(name, y, mu, sigma);
        total += g.value;
        dMu = g.dMu;
        dSigma = g.dSigma;
      }
      for (let e = 0; e < E; e++) {
        const dev = p[base + e * V] - mu;
        const dsd = sigma > 0 && dSigma !== 0 ? dev / ((E - 1) * (sigma - SIGMA_EPS || 1)) : 0;
        grad[base + e * V] = dMu / E + dSigma * dsd;
      }
    }
  }
  const n = count || 1;
  // kernel_crps: the fair spread term, without gradient (AtmoRep builds it detached)
  if (name === "kernel_crps" && E > 1) total -= spread / (2 * E * (E - 1));
  const out = result(Float32Array.of(total / n), [1], [members]);
  record(out, [members], () => {
    const g = members.grad ??= new Float32Array(p.length);
    const s = out.grad![0] / n;
    for (let i = 0; i < g.length; i++) g[i] += grad[i] * s;
  });
  return out;
}

/** {@link fieldLoss} on the members' device: per-value terms and gradients, one reduction, a device scalar. */
function deviceFieldLoss(name: LossName, members: Tensor, t: FieldTargets): Tensor {
  const d = members.device!, [M, E, V] = members.shape;
  const terms = d.alloc(3 * M * V), grad = d.alloc(M * E * V), out = d.alloc(2);
  d.ensembleLoss({
    name,
    M,
    E,
    V,
    members: members.buffer!,
    values: d.uploadOnce(t.values),
    valid: d.uploadOnce(t.valid),
    rowWeights: d.uploadOnce(valueWeights(t, M, V)),
    terms,
    grad,
  });
  d.lossTotal(terms, M * V, name === "kernel_crps" && E > 1 ? 1 / (2 * E * (E - 1)) : 0, out);
  const loss = new Tensor(out, [1], recording() && members.requiresGrad, d);
  record(loss, [members], () => d.lossBackward(grad, out, loss.gradBuffer!, deviceGradOf(members), M * E * V));
  return loss;
}

/** weighted_mse's weight per value [M, V] (the per-value weights, else each token's latitude weight), cached. */
const weightsOf = new WeakMap<FieldTargets, Float32Array>();
function valueWeights(t: FieldTargets, M: number, V: number): Float32Array {
  let w = weightsOf.get(t);
  if (!w) {
    w = t.valueWeights ?? new Float32Array(M * V);
    if (!t.valueWeights) { for (let m = 0; m < M; m++) w.fill(t.latWeight[m], m * V, (m + 1) * V); }
    weightsOf.set(t, w);
  }
  return w;
}

/** A loss term of the ensemble's mean μ and spread σ at truth y, with its derivatives by μ and σ. */
function gaussianTerm(
  name: LossName,
  y: number,
  mu: number,
  sigma: number,
): { value: number; dMu: number; dSigma: number } {
  const z = (y - mu) / sigma;
  if (name === "stats") {
    const a = Math.exp(-0.5 * z * z);
    const dz = 2 * (a - 1) * a * -z; // d/dz (a − 1)²
    return {
      value: (a - 1) ** 2 + Math.sqrt(sigma),
      dMu: dz * (-1 / sigma),
      dSigma: dz * (-z / sigma) + 0.5 / Math.sqrt(sigma),
    };
  }
  if (name === "stats_area") {
    // AtmoRep divides by σ², not σ√2
    const u = (y - mu) / (sigma * sigma), a = erf(u);
    const du = 0.4 * a * (2 / Math.sqrt(Math.PI)) * Math.exp(-u * u); // d/du 0.2·erf(u)²
    return {
      value: 0.2 * a * a + Math.sqrt(sigma),
      dMu: du * (-1 / (sigma * sigma)),
      dSigma: du * (-2 * u / sigma) + 0.5 / Math.sqrt(sigma),
    };
  }
  // crps: the Gaussian CRPS of N(μ, σ)
  const pdf = Math.exp(-0.5 * z * z) / Math.sqrt(2 * Math.PI), cdf = 0.5 * (1 + erf(z / Math.SQRT2));
  return {
    value: sigma * (z * (2 * cdf - 1) + 2 * pdf - 1 / Math.sqrt(Math.PI)),
    dMu: -(2 * cdf - 1),
    dSigma: 2 * pdf - 1 / Math.sqrt(Math.PI),
  };
}

/** MSE of the ensemble mean over the values that count, and how many counted (the validation metric). */
export function ensembleMeanMse(members: Tensor, t: FieldTargets): { mse: number; count: number } {
  const [M, E, V] = members.shape;
  if (members.device) throw new Error("ensembleMeanMse: the members are on a device; use deviceEnsembleMeanMse");
  let s = 0, n = 0;
  const p = members.data;
  for (let m = 0; m < M; m++) {
    for (let v = 0; v < V; v++) {
      if (t.valid[m * V + v] === 0) continue;
      let mu = 0;
      for (let e = 0; e < E; e++) mu += p[(m * E + e) * V + v];
      s += (mu / E - t.values[m * V + v]) ** 2;
      n++;
    }
  }
  return { mse: n ? s / n : NaN, count: n };
}

/** {@link ensembleMeanMse} on the members' device: a tensor [mse, count] there, read when asked. */
export function deviceEnsembleMeanMse(members: Tensor, t: FieldTargets): Tensor {
  const d = members.device!, [M, E, V] = members.shape;
  const out = d.alloc(2);
  d.ensembleMeanMse(members.buffer!, d.uploadOnce(t.values), d.uploadOnce(t.valid), M, E, V, out);
  return new Tensor(out, [2], false, d);
}

/** erf, Abramowitz & Stegun 7.1.26 (|error| < 1.5e-7). */
export function erf(x: number): number {
  const s = Math.sign(x), a = Math.abs(x);
  const t = 1 / (1 + 0.3275911 * a);
  const y = 1 - ((((1.061405429 * t - 1.453152027) * t + 1.421413741) * t - 0.284496736) * t + 0.254829592) * t *
      Math.exp(-a * a);
  return s * y;
}

/** Weighted sum of scalar tensors Σ wᵢ·xᵢ. */
export function weightedSum(parts: { loss: Tensor; weight: number }[]): Tensor {
  if (parts.some((q) => q.loss.device)) return deviceWeightedSum(parts);
  let total = 0;
  for (const q of parts) total += q.weight * q.loss.data[0];
  const inputs = parts.map((q) => q.loss);
  const out = result(Float32Array.of(total), [1], inputs);
  record(out, inputs, () => {
    for (const q of parts) {
      if (!q.loss.requiresGrad) continue;
      const g = q.loss.grad ??= new Float32Array(1);
      g[0] += q.weight * out.grad![0];
    }
  });
  return out;
}

/** {@link weightedSum} on the parts' device. */
function deviceWeightedSum(parts: { loss: Tensor; weight: number }[]): Tensor {
  const inputs = parts.map((q) => q.loss), d = deviceOf("weightedSum", inputs);
  const total = d.alloc(1);
  d.fill(total, 0, 1);
  const one = { srcOff: 0, srcStride: 1, dstOff: 0, dstStride: 1, rows: 1, width: 1, accumulate: true };
  for (const q of parts) d.strided({ ...one, src: q.loss.buffer!, dst: total, alpha: q.weight });
  const out = new Tensor(total, [1], recording() && inputs.some((t) => t.requiresGrad), d);
  record(out, inputs, () => {
    for (const q of parts) {
      if (q.loss.requiresGrad) d.strided({ ...one, src: out.gradBuffer!, dst: deviceGradOf(q.loss), alpha: q.weight });
    }
  });
  return out;
}
