/**
 * The op layer's ops on device tensors: the same ops, shapes and gradients
 * as the CPU ones (ops/linear.ts, norm.ts, elementwise.ts, attention.ts),
 * each a few kernels of the device contract (ops/device.ts) on the
 * tensors' buffers, with its backward recorded on the same tape. The CPU
 * functions hand over to these when an input is on a device (one check
 * per op call, none in a loop).
 *
 * Host tensors meeting a device tensor: a constant (no gradient: a batch's
 * features, a positional encoding) is uploaded once per host array
 * (`Device.uploadOnce`) and must not change afterwards; a host tensor that
 * needs gradients (a parameter left on the host) is an error.
 *
 * Dropout draws one 32-bit seed from the host random stream per call and
 * the mask from the contract's hash (`dropoutKeeps`): the same
 * distribution as the CPU's, not the same mask.
 *
 * @module
 */
import type { Device, DeviceBuffer, GeluForm } from "./device.ts";
import type { Random } from "../random.ts";
import { accumulateDevice, deviceGradOf, record, recording, Tensor } from "./tensor.ts";
import type { AttentionInput, AttentionOptions } from "./attention.ts";

/** The device of an op's inputs; an error when they are on different devices or a host input needs gradients. */
export function deviceOf(op: string, inputs: (Tensor | undefined)[]): Device {
  let d: Device | undefined;
  for (const t of inputs) {
    if (!t?.device) continue;
    if (d && t.device !== d) throw new Error(`${op}: inputs on different devices`);
    d = t.device;
  }
  if (!d) throw new Error(`${op}: no input on a device`);
  for (const t of inputs) {
    if (t && !t.device && t.requiresGrad) {
      throw new Error(
        `${op}: input [${t.shape}] needs gradients but is on the host while others are on ${d.name}: ` +
          `move the parameters with toDevice()`,
      );
    }
  }
  return d;
}

/** Whether any input is on a device. */
export function anyOnDevice(inputs: (Tensor | undefined)[]): boolean {
  for (const t of inputs) if (t?.device) return true;
  return false;
}

/** t's buffer on d (a host constant: its cached upload). */
function buf(d: Device, t: Tensor): DeviceBuffer {
  return t.device ? t.buffer! : d.uploadOnce(t.data);
}

/** A new device result of `shape` computed from `inputs`. */
function output(d: Device, shape: readonly number[], inputs: Tensor[]): Tensor {
  const n = shape.reduce((a, b) => a * b, 1);
  return new Tensor(d.alloc(n), shape, recording() && inputs.some((t) => t.requiresGrad), d);
}

/** A whole-buffer accumulation dst += alpha·src of n values. */
function addAll(d: Device, src: DeviceBuffer, dst: DeviceBuffer, n: number, alpha = 1): void {
  d.strided({ src, srcOff: 0, srcStride: n, dst, dstOff: 0, dstStride: n, rows: 1, width: n, accumulate: true, alpha });
}

/** [linear] y = x·W (+ b). */
export function deviceLinear(x: Tensor, w: Tensor, b?: Tensor): Tensor {
  const d = deviceOf("linear", [x, w, b]);
  const [K, N] = w.shape, M = x.rows;
  const X = buf(d, x), W = buf(d, w), B = b && buf(d, b);
  const inputs = b ? [x, w, b] : [x, w];
  const out = output(d, [...x.shape.slice(0, -1), N], inputs);
  const Y = out.buffer!;
  const mm = { m: M, n: N, k: K, alpha: 1 };
  d.gemm({ ...mm, ta: false, tb: false, beta: 0, a: X, aOff: 0, lda: K, b: W, bOff: 0, ldb: N, c: Y, cOff: 0, ldc: N });
  if (B) d.addRowVector(Y, B, M, N);
  record(out, inputs, () => {
    const dy = out.gradBuffer!;
    if (x.requiresGrad) {
      d.gemm({
        ta: false,
        tb: true,
        m: M,
        n: K,
        k: N,
        alpha: 1,
        beta: 1,
        a: dy,
        aOff: 0,
        lda: N,
        b: W,
        bOff: 0,
        ldb: N,
        c: deviceGradOf(x),
        cOff: 0,
        ldc: K,
      });
    }
    if (w.requiresGrad) {
      d.gemm({
        ta: true,
        tb: false,
        m: K,
        n: N,
        k: M,
        alpha: 1,
        beta: 1,
        a: X,
        aOff: 0,
        lda: K,
        b: dy,
        bOff: 0,
        ldb: N,
        c: deviceGradOf(w),
        cOff: 0,
        ldc: N,
      });
    }
    if (b?.requiresGrad) d.sumRows(dy, deviceGradOf(b), M, N);
  });
  return out;
}

/** [layerNorm] over the last axis with optional affine. */
export function deviceLayerNorm(x: Tensor, gamma: Tensor | undefined, beta: Tensor | undefined, eps: number): Tensor {
  const d = deviceOf("layerNorm", [x, gamma, beta]);
  const D = x.last, R = x.rows;
  const X = buf(d, x), G = gamma && buf(d, gamma), Bt = beta && buf(d, beta);
  const inputs = gamma ? [x, gamma, beta!] : [x];
  const out = output(d, x.shape, inputs);
  const mean = d.alloc(R), rstd = d.alloc(R);
  d.layerNorm({ x: X, y: out.buffer!, mean, rstd, rows: R, D, eps, gamma: G, beta: Bt });
  record(out, inputs, () => {
    d.layerNormBackward({
      x: X,
      dy: out.gradBuffer!,
      mean,
      rstd,
      rows: R,
      D,
      gamma: G,
      dx: x.requiresGrad ? deviceGradOf(x) : undefined,
      dgamma: gamma?.requiresGrad ? deviceGradOf(gamma) : undefined,
      dbeta: beta?.requiresGrad ? deviceGradOf(beta) : undefined,
    });
  });
  return out;
}

/** [add] a + b. */
export function deviceAdd(a: Tensor, b: Tensor): Tensor {
  const d = deviceOf("add", [a, b]);
  const n = a.size, out = output(d, a.shape, [a, b]);
  const Y = out.buffer!;
  d.strided({
    src: buf(d, a),
    srcOff: 0,
    srcStride: n,
    dst: Y,
    dstOff: 0,
    dstStride: n,
    rows: 1,
    width: n,
    accumulate: false,
    alpha: 1,
  });
  addAll(d, buf(d, b), Y, n);
  record(out, [a, b], () => {
    if (a.requiresGrad) accumulateDevice(a, out.gradBuffer!, a !== b);
    if (b.requiresGrad) accumulateDevice(b, out.gradBuffer!);
  });
  return out;
}

/** [addBroadcast] a + b, b's shape a's trailing axes. */
export function deviceAddBroadcast(a: Tensor, b: Tensor): Tensor {
  const d = deviceOf("addBroadcast", [a, b]);
  const n = b.size, rows = a.size / n;
  const out = output(d, a.shape, [a, b]);
  d.addRowVector(out.buffer!, buf(d, b), rows, n, buf(d, a));
  record(out, [a, b], () => {
    if (a.requiresGrad) accumulateDevice(a, out.gradBuffer!, true);
    if (b.requiresGrad) d.sumRows(out.gradBuffer!, deviceGradOf(b), rows, n);
  });
  return out;
}

/** [scale] s·a. */
export function deviceScale(a: Tensor, s: number): Tensor {
  const d = deviceOf("scale", [a]);
  const n = a.size, out = output(d, a.shape, [a]);
  d.strided({
    src: a.buffer!,
    srcOff: 0,
    srcStride: n,
    dst: out.buffer!,
    dstOff: 0,
    dstStride: n,
    rows: 1,
    width: n,
    accumulate: false,
    alpha: s,
  });
  record(out, [a], () => addAll(d, out.gradBuffer!, deviceGradOf(a), n, s));
  return out;
}

/** [gelu, geluErf] GELU of the given form. */
export function deviceGelu(a: Tensor, form: GeluForm): Tensor {
  const d = deviceOf("gelu", [a]);
  const n = a.size, out = output(d, a.shape, [a]);
  d.gelu(a.buffer!, out.buffer!, n, form);
  record(out, [a], () => d.geluBackward(a.buffer!, out.gradBuffer!, deviceGradOf(a), n, form));
  return out;
}

/** [dropout] inverted dropout, mask from the contract's hash seeded by one draw of `rng`. */
export function deviceDropout(a: Tensor, p: number, rng: Random): Tensor {
  const d = deviceOf("dropout", [a]);
  const n = a.size, out = output(d, a.shape, [a]);
  const keep = d.alloc(n);
  d.dropout(a.buffer!, out.buffer!, keep, n, p, rng.nextUint());
  record(out, [a], () => d.mulAdd(out.gradBuffer!, keep, deviceGradOf(a), n));
  return out;
}

/** [scaleRows] each row times a constant weight. */
export function deviceScaleRows(x: Tensor, w: Float32Array): Tensor {
  const d = deviceOf("scaleRows", [x]);
  const n = x.last, W = d.uploadOnce(w);
  const out = output(d, x.shape, [x]);
  d.scaleRows(x.buffer!, W, out.buffer!, w.length, n, false);
  record(out, [x], () => d.scaleRows(out.gradBuffer!, W, deviceGradOf(x), w.length, n, true));
  return out;
}

/** [concatLast] concatenation along the last axis. */
export function deviceConcatLast(parts: Tensor[]): Tensor {
  const d = deviceOf("concatLast", parts);
  const rows = parts[0].rows, W = parts.reduce((a, p) => a + p.last, 0);
  const out = output(d, [...parts[0].shape.slice(0, -1), W], parts);
  let off = 0;
  for (const p of parts) {
    if (p.rows !== rows) throw new Error(`concatLast: [${p.shape}] vs [${parts[0].shape}]`);
    const w = p.last;
    d.strided({
      src: buf(d, p),
      srcOff: 0,
      srcStride: w,
      dst: out.buffer!,
      dstOff: off,
      dstStride: W,
      rows,
      width: w,
      accumulate: false,
      alpha: 1,
    });
    off += w;
  }
  record(out, parts, () => {
    let o = 0;
    for (const p of parts) {
      const w = p.last;
      if (p.requiresGrad) {
        d.strided({
          src: out.gradBuffer!,
          srcOff: o,
          srcStride: W,
          dst: deviceGradOf(p),
          dstOff: 0,
          dstStride: w,
          rows,
          width: w,
          accumulate: true,
          alpha: 1,
        });
      }
      o += w;
    }
  });
  return out;
}

/** [sliceLast] columns [start, start + width). */
export function deviceSliceLast(x: Tensor, start: number, width: number): Tensor {
  const d = deviceOf("sliceLast", [x]);
  const W = x.last, R = x.rows;
  const out = output(d, [...x.shape.slice(0, -1), width], [x]);
  d.strided({
    src: x.buffer!,
    srcOff: start,
    srcStride: W,
    dst: out.buffer!,
    dstOff: 0,
    dstStride: width,
    rows: R,
    width,
    accumulate: false,
    alpha: 1,
  });
  record(out, [x], () => {
    d.strided({
      src: out.gradBuffer!,
      srcOff: 0,
      srcStride: width,
      dst: deviceGradOf(x),
      dstOff: start,
      dstStride: W,
      rows: R,
      width,
      accumulate: true,
      alpha: 1,
    });
  });
  return out;
}

/** The inverse of a row index as CSR (rows + 1 starts, then the sources), cached per index array. */
const inverses = new WeakMap<Int32Array, { start: Int32Array; sources: Int32Array }>();
function inverseIndex(index: Int32Array, rows: number): { start: Int32Array; sources: Int32Array } {
  let inv = inverses.get(index);
  if (inv && inv.start.length === rows + 1) return inv;
  const start = new Int32Array(rows + 1);
  for (const r of index) start[r + 1]++;
  for (let r = 0; r < rows; r++) start[r + 1] += start[r];
  const fill = start.slice(0, rows), sources = new Int32Array(index.length);
  for (let i = 0; i < index.length; i++) sources[fill[index[i]]++] = i;
  inverses.set(index, inv = { start, sources });
  return inv;
}

/** [gatherRows] rows `index` of x viewed as [rows, last]. */
export function deviceGatherRows(x: Tensor, index: Int32Array): Tensor {
  const d = deviceOf("gatherRows", [x]);
  const w = x.last, rows = x.rows;
  for (const r of index) if (r < 0 || r >= rows) throw new Error(`gatherRows: row ${r} of ${rows}`);
  const out = output(d, [index.length, w], [x]);
  d.gatherRows(x.buffer!, d.uploadOnce(index), out.buffer!, index.length, w);
  record(out, [x], () => {
    const inv = inverseIndex(index, rows);
    d.scatterAddRows(out.gradBuffer!, d.uploadOnce(inv.start), d.uploadOnce(inv.sources), deviceGradOf(x), rows, w);
  });
  return out;
}

/** Key masks as floats (1 attend, 0 ignore), cached per mask array. */
const masks = new WeakMap<Uint8Array, Float32Array>();
function maskFloats(m: Uint8Array): Float32Array {
  let f = masks.get(m);
  if (!f) masks.set(m, f = Float32Array.from(m, (v) => v ? 1 : 0));
  return f;
}

/**
 * [attention] softmax(q·kᵀ/√d)·v per head with the scores materialized per (batch, head):
 * B·H·Lq·Lk floats kept for the backward pass, and as many again during it.
 */
export function deviceAttention(
  q: AttentionInput,
  k: AttentionInput,
  v: AttentionInput,
  opt: AttentionOptions,
): Tensor {
  const inputs = [q.tensor, k.tensor, v.tensor];
  const d = deviceOf("attention", inputs);
  const { heads: H, headDim: dh } = opt;
  const [B, Lq, ldq] = q.tensor.shape, [, Lk, ldk] = k.tensor.shape, ldv = v.tensor.shape[2];
  if (k.tensor.shape[0] !== B || v.tensor.shape[0] !== B || v.tensor.shape[1] !== Lk) {
    throw new Error(`attention: q [${q.tensor.shape}], k [${k.tensor.shape}], v [${v.tensor.shape}]`);
  }
  const W = H * dh, scale = 1 / Math.sqrt(dh), Q = buf(d, q.tensor), K = buf(d, k.tensor), V = buf(d, v.tensor);
  const S = d.alloc(B * H * Lq * Lk), sS: [number, number] = [H * Lq * Lk, Lq * Lk];
  const at = (t: DeviceBuffer, off: number, ld: number, L: number) => ({
    buf: t,
    off,
    ld,
    stride: [L * ld, dh] as [number, number],
  });
  const q_ = at(Q, q.col, ldq, Lq), k_ = at(K, k.col, ldk, Lk), v_ = at(V, v.col, ldv, Lk);
  const batch: [number, number] = [B, H];
  const prod = (
    ta: boolean,
    tb: boolean,
    m: number,
    n: number,
    kk: number,
    alpha: number,
    beta: number,
    A: Operand,
    Bo: Operand,
    C: Operand,
  ) => headProduct(d, { ta, tb, m, n, k: kk, alpha, beta }, A, Bo, C, batch);
  const s_ = { buf: S, off: 0, ld: Lk, stride: sS };
  prod(false, true, Lq, Lk, dh, scale, 0, q_, k_, s_);
  d.softmaxRows(S, B * H * Lq, Lk, opt.keyMask ? d.uploadOnce(maskFloats(opt.keyMask)) : undefined, H * Lq);
  const out = output(d, [B, Lq, W], inputs);
  const o_ = at(out.buffer!, 0, W, Lq);
  prod(false, false, Lq, dh, Lk, 1, 0, s_, v_, o_);
  record(out, inputs, () => {
    const dO = at(out.gradBuffer!, 0, W, Lq);
    if (v.tensor.requiresGrad) prod(true, false, Lk, dh, Lq, 1, 1, s_, dO, at(deviceGradOf(v.tensor), v.col, ldv, Lk));
    const dP = d.alloc(B * H * Lq * Lk), dp_ = { buf: dP, off: 0, ld: Lk, stride: sS };
    prod(false, true, Lq, Lk, dh, 1, 0, dO, v_, dp_);
    d.softmaxBackwardRows(S, dP, B * H * Lq, Lk, scale);
    if (q.tensor.requiresGrad) {
      prod(false, false, Lq, dh, Lk, 1, 1, dp_, k_, at(deviceGradOf(q.tensor), q.col, ldq, Lq));
    }
    if (k.tensor.requiresGrad) prod(true, false, Lk, dh, Lq, 1, 1, dp_, q_, at(deviceGradOf(k.tensor), k.col, ldk, Lk));
  });
  return out;
}

/** C = alpha·op(A)·op(B) + beta·C for every (batch, head) item, each operand at its own strides. */
function headProduct(
  d: Device,
  p: { ta: boolean; tb: boolean; m: number; n: number; k: number; alpha: number; beta: number },
  A: Operand,
  B: Operand,
  C: Operand,
  batch: [number, number],
): void {
  d.gemm({
    ...p,
    a: A.buf,
    aOff: A.off,
    lda: A.ld,
    aStride: A.stride,
    b: B.buf,
    bOff: B.off,
    ldb: B.ld,
    bStride: B.stride,
    c: C.buf,
    cOff: C.off,
    ldc: C.ld,
    cStride: C.stride,
    batch,
  });
}

/** A gemm operand: buffer, offset, leading dimension, (batch, head) strides. */
interface Operand {
  buf: DeviceBuffer;
  off: number;
  ld: number;
  stride: [number, number];
}
