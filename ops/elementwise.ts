/**
 * Elementwise and shape ops on the autograd tape: sums, scaling, GELU
 * (tanh form, fused forward and backward), dropout, concatenation and
 * splitting along the last axis, and row gathers.
 *
 * @module
 */
import type { Random } from "../random.ts";
import { accumulate, gradOf, record, result, type Tensor } from "./tensor.ts";
import { rowKernels } from "../simd/softmax.ts";
import {
  deviceAdd,
  deviceAddBroadcast,
  deviceConcatLast,
  deviceDropout,
  deviceGatherRows,
  deviceGelu,
  deviceScale,
  deviceScaleRows,
  deviceSliceLast,
} from "./device_ops.ts";

/** a + b (same shape). */
export function add(a: Tensor, b: Tensor): Tensor {
  if (a.size !== b.size) throw new Error(`add: shapes [${a.shape}] and [${b.shape}]`);
  if (a.device || b.device) return deviceAdd(a, b);
  const y = new Float32Array(a.size);
  const x1 = a.data, x2 = b.data;
  for (let i = 0; i < y.length; i++) y[i] = x1[i] + x2[i];
  const out = result(y, a.shape, [a, b]);
  record(out, [a, b], () => {
    // a may take over the gradient array (out is done with it); b gets a copy.
    if (a.requiresGrad) accumulate(a, out.grad!, a !== b);
    if (b.requiresGrad) accumulate(b, out.grad!);
  });
  return out;
}

/** a + b where b's shape is a's trailing axes (broadcast over leading rows). */
export function addBroadcast(a: Tensor, b: Tensor): Tensor {
  const n = b.size;
  if (a.size % n) throw new Error(`addBroadcast: [${a.shape}] and [${b.shape}]`);
  if (a.device || b.device) return deviceAddBroadcast(a, b);
  const y = new Float32Array(a.size);
  const x1 = a.data, x2 = b.data;
  for (let i = 0; i < y.length; i += n) for (let j = 0; j < n; j++) y[i + j] = x1[i + j] + x2[j];
  const out = result(y, a.shape, [a, b]);
  record(out, [a, b], () => {
    const dy = out.grad!;
    if (a.requiresGrad) accumulate(a, dy, true);
    if (b.requiresGrad) {
      const g = gradOf(b);
      for (let i = 0; i < dy.length; i += n) for (let j = 0; j < n; j++) g[j] += dy[i + j];
    }
  });
  return out;
}

/** s·a. */
export function scale(a: Tensor, s: number): Tensor {
  if (a.device) return deviceScale(a, s);
  const y = new Float32Array(a.size);
  const x = a.data; // hoisted: a getter (device tensors refuse it)
  for (let i = 0; i < y.length; i++) y[i] = x[i] * s;
  const out = result(y, a.shape, [a]);
  record(out, [a], () => {
    const g = gradOf(a), dy = out.grad!;
    for (let i = 0; i < g.length; i++) g[i] += dy[i] * s;
  });
  return out;
}

/** GELU, tanh form (PyTorch's `gelu(approximate="tanh")`), in WebAssembly SIMD where available. */
export function gelu(a: Tensor): Tensor {
  if (a.device) return deviceGelu(a, "tanh");
  const n = a.size, k = rowKernels();
  const [buf] = k.blocks(n);
  buf.set(a.data);
  k.gelu(n);
  const out = result(buf.slice(0, n), a.shape, [a]);
  record(out, [a], () => {
    const [x, dy] = k.blocks(n);
    x.set(a.data);
    dy.set(out.grad!);
    k.geluGrad(n);
    accumulate(a, dy.subarray(0, n));
  });
  return out;
}

/** Inverted dropout with keep probability 1 − p (identity when p = 0 or no random stream). */
export function dropout(a: Tensor, p: number, rng?: Random): Tensor {
  if (p <= 0 || !rng) return a;
  if (a.device) return deviceDropout(a, p, rng);
  const s = 1 / (1 - p);
  const keep = new Float32Array(a.size); // 0 or 1/(1 − p): the backward pass is one multiply
  const y = new Float32Array(a.size);
  const x = a.data, drop = Math.floor(p * 4294967296);
  for (let i = 0; i < y.length; i++) {
    if (rng.nextUint() >= drop) (keep[i] = s, y[i] = x[i] * s);
  }
  const out = result(y, a.shape, [a]);
  record(out, [a], () => {
    const dy = out.grad!;
    if (!a.grad) {
      for (let i = 0; i < dy.length; i++) keep[i] *= dy[i];
      a.grad = keep;
    } else {
      const g = a.grad;
      for (let i = 0; i < g.length; i++) g[i] += dy[i] * keep[i];
    }
  });
  return out;
}

/** Multiply each row of x (viewed as [rows, last]) by a constant weight `w[row]` (e.g. 0 for padding). */
export function scaleRows(x: Tensor, w: Float32Array): Tensor {
  const n = x.last;
  if (w.length !== x.rows) throw new Error(`scaleRows: ${w.length} weights for ${x.rows} rows`);
  if (x.device) return deviceScaleRows(x, w);
  const y = new Float32Array(x.size);
  const xs = x.data;
  for (let r = 0; r < w.length; r++) for (let j = 0; j < n; j++) y[r * n + j] = xs[r * n + j] * w[r];
  const out = result(y, x.shape, [x]);
  record(out, [x], () => {
    const g = gradOf(x), dy = out.grad!;
    for (let r = 0; r < w.length; r++) for (let j = 0; j < n; j++) g[r * n + j] += dy[r * n + j] * w[r];
  });
  return out;
}

/** Concatenate along the last axis (all other axes equal). */
export function concatLast(parts: Tensor[]): Tensor {
  if (parts.some((p) => p.device)) return deviceConcatLast(parts);
  const rows = parts[0].rows;
  const widths = parts.map((p) => p.last);
  const W = widths.reduce((a, b) => a + b, 0);
  const y = new Float32Array(rows * W);
  let off = 0;
  for (const [pi, p] of parts.entries()) {
    const w = widths[pi];
    if (p.rows !== rows) throw new Error(`concatLast: [${p.shape}] vs [${parts[0].shape}]`);
    const ps = p.data;
    for (let r = 0; r < rows; r++) y.set(ps.subarray(r * w, (r + 1) * w), r * W + off);
    off += w;
  }
  const out = result(y, [...parts[0].shape.slice(0, -1), W], parts);
  record(out, parts, () => {
    const dy = out.grad!;
    let o = 0;
    for (const [pi, p] of parts.entries()) {
      const w = widths[pi];
      if (p.requiresGrad) {
        const g = gradOf(p);
        for (let r = 0; r < rows; r++) {
          const a = r * w, b = r * W + o;
          for (let j = 0; j < w; j++) g[a + j] += dy[b + j];
        }
      }
      o += w;
    }
  });
  return out;
}

/** Rows `index` of x viewed as [rows, last] → [index.length, last]. */
export function gatherRows(x: Tensor, index: Int32Array): Tensor {
  if (x.device) return deviceGatherRows(x, index);
  const w = x.last;
  const y = new Float32Array(index.length * w);
  const xs = x.data;
  for (let i = 0; i < index.length; i++) y.set(xs.subarray(index[i] * w, (index[i] + 1) * w), i * w);
  const out = result(y, [index.length, w], [x]);
  record(out, [x], () => {
    const g = gradOf(x), dy = out.grad!;
    for (let i = 0; i < index.length; i++) {
      const a = index[i] * w, b = i * w;
      for (let j = 0; j < w; j++) g[a + j] += dy[b + j];
    }
  });
  return out;
}

/** Columns [start, start + width) of the last axis → [..., width]. */
export function sliceLast(x: Tensor, start: number, width: number): Tensor {
  const W = x.last, R = x.rows;
  if (start < 0 || start + width > W) throw new Error(`sliceLast: [${start}, ${start + width}) of width ${W}`);
  if (x.device) return deviceSliceLast(x, start, width);
  const y = new Float32Array(R * width);
  const xs = x.data;
  for (let r = 0; r < R; r++) y.set(xs.subarray(r * W + start, r * W + start + width), r * width);
  const out = result(y, [...x.shape.slice(0, -1), width], [x]);
  record(out, [x], () => {
    const g = gradOf(x), dy = out.grad!;
    for (let r = 0; r < R; r++) {
      const a = r * W + start, b = r * width;
      for (let j = 0; j < width; j++) g[a + j] += dy[b + j];
    }
  });
  return out;
}

/**
 * erfc(x), the Chebyshev fit of Numerical Recipes' `erfcc`: fractional
 * error below 1.2e-7 everywhere, so GELU's small negative tail keeps its
 * relative precision.
 */
export function erfc(x: number): number {
  const z = Math.abs(x), t = 1 / (1 + 0.5 * z);
  const r = t * Math.exp(
    -z * z - 1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418 + t * (-0.18628806 +
                      t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277)))))))),
  );
  return x >= 0 ? r : 2 - r;
}

/** GELU, exact form x·Φ(x) (PyTorch's default `GELU()`, which AtmoRep uses); Φ is kept for the backward pass. */
export function geluErf(a: Tensor): Tensor {
  if (a.device) return deviceGelu(a, "erf");
  const x = a.data, n = a.size;
  const y = new Float32Array(n), cdf = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    // Φ(v) = erfc(−v/√2)/2, erfc inlined (Numerical Recipes' erfcc, fractional error < 1.2e-7)
    const v = x[i], z = Math.abs(v) * Math.SQRT1_2, t = 1 / (1 + 0.5 * z);
    const r = t * Math.exp(
      -z * z - 1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418 + t * (-0.18628806 +
                        t *
                          (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277)))))))),
    );
    const p = v >= 0 ? 1 - 0.5 * r : 0.5 * r;
    cdf[i] = p;
    y[i] = v * p;
  }
  const out = result(y, a.shape, [a]);
  record(out, [a], () => {
    const g = gradOf(a), dy = out.grad!;
    const c = 1 / Math.sqrt(2 * Math.PI);
    for (let i = 0; i < n; i++) {
      const v = x[i];
      g[i] += dy[i] * (cdf[i] + v * c * Math.exp(-0.5 * v * v));
    }
  });
  return out;
}
