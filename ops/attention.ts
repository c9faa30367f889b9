/**
 * Multi-head scaled dot-product attention as one fused op with its own
 * backward, processed in blocks of query rows (flash-attention style): a
 * block's scores against all keys (blockRows × keys floats) are the most it
 * ever holds, so memory grows linearly with sequence length, not with its
 * square; the backward pass reuses the probabilities when they fit in
 * `saveBytes`, else recomputes each block's from the saved log-sum-exp. Every product is an sgemm on
 * strided views of the q/k/v tensors (a head is a column range), so no head
 * is copied or transposed; the row work (max, exp, sums, the softmax
 * backward) runs in WebAssembly SIMD (simd/softmax.ts) on blocks kept
 * in that module's memory, which sgemm reads and writes directly.
 *
 * @module
 */
import { type Gemm, gemm } from "./blas.ts";
import { giveArray, takeArray } from "./pool.ts";
import { rowKernels, type SimdRows } from "../simd/softmax.ts";
import { gradOf, record, recording, result, type Tensor } from "./tensor.ts";
import { anyOnDevice, deviceAttention } from "./device_ops.ts";

/** A column range of a [batch, length, width] tensor: heads × headDim columns from `col`. */
export interface AttentionInput {
  /** The tensor, [batch, length, width]. */
  tensor: Tensor;
  /** First column. */
  col: number;
}

/** Options of {@link attention}. */
export interface AttentionOptions {
  /** Heads. */
  heads: number;
  /** Width of one head. */
  headDim: number;
  /** Per batch and key, 1 = attend, 0 = ignore ([batch, keys]); default all keys. */
  keyMask?: Uint8Array;
  /** Query rows per block. Default 64. */
  blockRows?: number;
  /** Keep the probabilities for the backward pass up to this many bytes, else recompute them. Default 64 MiB. */
  saveBytes?: number;
}

/**
 * softmax(q·kᵀ/√d)·v per head. q [B, Lq, ·], k and v [B, Lk, ·] (heads ×
 * headDim columns from their `col`), result [B, Lq, heads·headDim].
 */
export function attention(q: AttentionInput, k: AttentionInput, v: AttentionInput, opt: AttentionOptions): Tensor {
  if (anyOnDevice([q.tensor, k.tensor, v.tensor])) return deviceAttention(q, k, v, opt);
  const p = planAttention(q, k, v, opt);
  const inputs = [q.tensor, k.tensor, v.tensor];
  const g = gemm();
  const lse = new Float32Array(p.B * p.H * p.Lq);
  const save = recording() && inputs.some((t) => t.requiresGrad) &&
    p.B * p.H * p.Lq * p.Lp * 4 <= (opt.saveBytes ?? 64 * 2 ** 20);
  const saved = save ? takeArray(p.B * p.H * p.Lq * p.Lp) : undefined;
  const o = attentionForward(p, g, lse, saved);
  const out = result(o, [p.B, p.Lq, p.W], inputs);
  record(out, inputs, () => {
    attentionBackward(p, g, out.grad!, lse, saved);
    if (saved) giveArray(saved);
  });
  return out;
}

/** Shapes, strides and key masking of one attention call, shared by its forward and backward passes. */
interface AttentionPlan {
  q: AttentionInput;
  k: AttentionInput;
  v: AttentionInput;
  /** Batch, query rows, key rows, heads, head width, output width (heads · head width). */
  B: number;
  Lq: number;
  Lk: number;
  H: number;
  dh: number;
  W: number;
  /** Row strides of q, k and v. */
  ldq: number;
  ldk: number;
  ldv: number;
  /** 1/√headDim. */
  scale: number;
  /** Query rows per block. */
  QB: number;
  /** Length of a score row: keys padded to a multiple of 4 floats for the SIMD kernels. */
  Lp: number;
  /** Per batch, the score columns to silence: masked keys, then padding. */
  silenced: Int32Array[];
  /** Per batch, whether any key is left to attend to. */
  anyKey: boolean[];
}

/** Check the shapes and fix the block sizes and the silenced key columns. */
function planAttention(q: AttentionInput, k: AttentionInput, v: AttentionInput, opt: AttentionOptions): AttentionPlan {
  const { heads: H, headDim: dh } = opt;
  const [B, Lq, ldq] = q.tensor.shape;
  const [Bk, Lk, ldk] = k.tensor.shape;
  const ldv = v.tensor.shape[2];
  if (Bk !== B || v.tensor.shape[0] !== B || v.tensor.shape[1] !== Lk) {
    throw new Error(`attention: q [${q.tensor.shape}], k [${k.tensor.shape}], v [${v.tensor.shape}]`);
  }
  // Rows padded to a multiple of 4 floats for the SIMD kernels; padding holds −∞ scores, 0 probabilities.
  const Lp = Math.ceil(Lk / 4) * 4;
  const { silenced, anyKey } = silencedColumns(opt.keyMask, B, Lk, Lp);
  return {
    q,
    k,
    v,
    B,
    Lq,
    Lk,
    H,
    dh,
    W: H * dh,
    ldq,
    ldk,
    ldv,
    scale: 1 / Math.sqrt(dh),
    QB: Math.min(opt.blockRows ?? 64, Lq),
    Lp,
    silenced,
    anyKey,
  };
}

/** Per batch: the key columns to silence (masked keys, then padding), and whether any key is left. */
function silencedColumns(
  mask: Uint8Array | undefined,
  B: number,
  Lk: number,
  Lp: number,
): { silenced: Int32Array[]; anyKey: boolean[] } {
  const silenced: Int32Array[] = [], anyKey: boolean[] = [];
  for (let b = 0; b < B; b++) {
    const cols: number[] = [];
    if (mask) { for (let j = 0; j < Lk; j++) if (!mask[b * Lk + j]) cols.push(j); }
    anyKey.push(cols.length < Lk);
    for (let j = Lk; j < Lp; j++) cols.push(j);
    silenced.push(Int32Array.from(cols));
  }
  return { silenced, anyKey };
}

/** Where head h's columns of query row r0 of batch b start in q. */
function qOffset(p: AttentionPlan, b: number, h: number, r0: number): number {
  return (b * p.Lq + r0) * p.ldq + p.q.col + h * p.dh;
}

/** Where head h's columns of batch b's first key start in k. */
function kOffset(p: AttentionPlan, b: number, h: number): number {
  return b * p.Lk * p.ldk + p.k.col + h * p.dh;
}

/** Where head h's columns of batch b's first value start in v. */
function vOffset(p: AttentionPlan, b: number, h: number): number {
  return b * p.Lk * p.ldv + p.v.col + h * p.dh;
}

/** Where head h's columns of output row r0 of batch b start. */
function oOffset(p: AttentionPlan, b: number, h: number, r0: number): number {
  return (b * p.Lq + r0) * p.W + h * p.dh;
}

/** Where the log-sum-exp of query row r0 of batch b and head h is kept. */
function lseOffset(p: AttentionPlan, b: number, h: number, r0: number): number {
  return (b * p.H + h) * p.Lq + r0;
}

/** The forward pass, block by block: scores, softmax, context; fills `lse` (and `saved` when given). */
function attentionForward(
  p: AttentionPlan,
  g: Gemm,
  lse: Float32Array,
  saved: Float32Array | undefined,
): Float32Array {
  const { B, H, Lq, QB, Lp } = p;
  const o = new Float32Array(B * Lq * p.W);
  const R = rowKernels();
  const [S] = R.blocks(QB * Lp);
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < H; h++) {
      for (let r0 = 0; r0 < Lq; r0 += QB) {
        const n = Math.min(QB, Lq - r0);
        const lOff = lseOffset(p, b, h, r0);
        if (!p.anyKey[b]) {
          lse.fill(Infinity, lOff, lOff + n);
          continue; // no key to attend to: the output stays zero
        }
        blockScores(p, g, S, b, h, r0, n);
        softmaxRows(R, S, p.silenced[b], n, Lp, lse, lOff);
        saved?.set(S.subarray(0, n * Lp), lOff * Lp);
        blockContext(p, g, S, o, b, h, r0, n);
      }
    }
  }
  return o;
}

/** S = scale · q·kᵀ for the n query rows from r0 of batch b, head h (rows Lp apart). */
function blockScores(p: AttentionPlan, g: Gemm, S: Float32Array, b: number, h: number, r0: number, n: number): void {
  const { Lk, dh, scale, ldq, ldk, Lp } = p;
  g.sgemm(
    false,
    true,
    n,
    Lk,
    dh,
    scale,
    p.q.tensor.data,
    qOffset(p, b, h, r0),
    ldq,
    p.k.tensor.data,
    kOffset(p, b, h),
    ldk,
    0,
    S,
    0,
    Lp,
  );
}

/** Scores to probabilities in place, row by row (silenced columns end at 0); each row's log-sum-exp into `lse`. */
function softmaxRows(
  R: SimdRows,
  S: Float32Array,
  sil: Int32Array,
  n: number,
  Lp: number,
  lse: Float32Array,
  lOff: number,
): void {
  for (let i = 0; i < n; i++) {
    const r = i * Lp;
    for (let c = 0; c < sil.length; c++) S[r + sil[c]] = -Infinity;
    const m = R.rowMax(r, Lp);
    const s = R.expSum(r, Lp, m);
    for (let c = 0; c < sil.length; c++) S[r + sil[c]] = 0;
    R.scale(r, Lp, 1 / s);
    lse[lOff + i] = m + Math.log(s);
  }
}

/** o = P·v for the block's rows of head h. */
function blockContext(
  p: AttentionPlan,
  g: Gemm,
  P: Float32Array,
  o: Float32Array,
  b: number,
  h: number,
  r0: number,
  n: number,
): void {
  const { dh, Lk, Lp, ldv, W } = p;
  g.sgemm(false, false, n, dh, Lk, 1, P, 0, Lp, p.v.tensor.data, vOffset(p, b, h), ldv, 0, o, oOffset(p, b, h, r0), W);
}

/** The backward pass from the output's gradient `dO`, block by block, into the inputs that need gradients. */
function attentionBackward(
  p: AttentionPlan,
  g: Gemm,
  dO: Float32Array,
  lse: Float32Array,
  saved: Float32Array | undefined,
): void {
  const { B, H, Lq, QB, Lp } = p;
  const dq = p.q.tensor.requiresGrad ? gradOf(p.q.tensor) : undefined;
  const dk = p.k.tensor.requiresGrad ? gradOf(p.k.tensor) : undefined;
  const dv = p.v.tensor.requiresGrad ? gradOf(p.v.tensor) : undefined;
  const R = rowKernels();
  const [P, dP] = R.blocks(QB * Lp);
  dP.fill(0, 0, QB * Lp); // padding columns stay 0 (sgemm writes only Lk of Lp)
  for (let b = 0; b < B; b++) {
    if (!p.anyKey[b]) continue;
    for (let h = 0; h < H; h++) {
      for (let r0 = 0; r0 < Lq; r0 += QB) {
        const n = Math.min(QB, Lq - r0);
        const lOff = lseOffset(p, b, h, r0);
        if (saved) P.set(saved.subarray(lOff * Lp, (lOff + n) * Lp));
        else recomputeProbabilities(p, g, R, P, b, h, r0, n, lse, lOff);
        if (dv) valueGradient(p, g, P, dO, dv, b, h, r0, n);
        probabilityGradient(p, g, dO, dP, b, h, r0, n);
        softmaxBackwardRows(R, n, Lp, p.scale);
        if (dq) queryGradient(p, g, dP, dq, b, h, r0, n);
        if (dk) keyGradient(p, g, dP, dk, b, h, r0, n);
      }
    }
  }
}

/** Recompute the block's probabilities from the saved log-sum-exp (when they were not kept). */
function recomputeProbabilities(
  p: AttentionPlan,
  g: Gemm,
  R: SimdRows,
  P: Float32Array,
  b: number,
  h: number,
  r0: number,
  n: number,
  lse: Float32Array,
  lOff: number,
): void {
  const { Lp } = p, sil = p.silenced[b];
  blockScores(p, g, P, b, h, r0, n);
  for (let i = 0; i < n; i++) {
    const r = i * Lp;
    R.expSum(r, Lp, lse[lOff + i]);
    for (let c = 0; c < sil.length; c++) P[r + sil[c]] = 0;
  }
}

/** dv += Pᵀ·dO. */
function valueGradient(
  p: AttentionPlan,
  g: Gemm,
  P: Float32Array,
  dO: Float32Array,
  dv: Float32Array,
  b: number,
  h: number,
  r0: number,
  n: number,
): void {
  const { Lk, dh, Lp, W, ldv } = p;
  g.sgemm(true, false, Lk, dh, n, 1, P, 0, Lp, dO, oOffset(p, b, h, r0), W, 1, dv, vOffset(p, b, h), ldv);
}

/** dP = dO·vᵀ. */
function probabilityGradient(
  p: AttentionPlan,
  g: Gemm,
  dO: Float32Array,
  dP: Float32Array,
  b: number,
  h: number,
  r0: number,
  n: number,
): void {
  const { Lk, dh, Lp, W, ldv } = p;
  g.sgemm(false, true, n, Lk, dh, 1, dO, oOffset(p, b, h, r0), W, p.v.tensor.data, vOffset(p, b, h), ldv, 0, dP, 0, Lp);
}

/** dS = P ∘ (dP − rowsum(P ∘ dP)) · scale, in place in dP (the row kernels' second block). */
function softmaxBackwardRows(R: SimdRows, n: number, Lp: number, scale: number): void {
  for (let i = 0; i < n; i++) {
    const r = i * Lp;
    R.softmaxBackward(r, Lp, R.dot(r, Lp), scale);
  }
}

/** dq += dS·k. */
function queryGradient(
  p: AttentionPlan,
  g: Gemm,
  dS: Float32Array,
  dq: Float32Array,
  b: number,
  h: number,
  r0: number,
  n: number,
): void {
  const { Lk, dh, Lp, ldk, ldq } = p;
  g.sgemm(
    false,
    false,
    n,
    dh,
    Lk,
    1,
    dS,
    0,
    Lp,
    p.k.tensor.data,
    kOffset(p, b, h),
    ldk,
    1,
    dq,
    qOffset(p, b, h, r0),
    ldq,
  );
}

/** dk += dSᵀ·q. */
function keyGradient(
  p: AttentionPlan,
  g: Gemm,
  dS: Float32Array,
  dk: Float32Array,
  b: number,
  h: number,
  r0: number,
  n: number,
): void {
  const { Lk, dh, Lp, ldq, ldk } = p;
  g.sgemm(
    true,
    false,
    Lk,
    dh,
    n,
    1,
    dS,
    0,
    Lp,
    p.q.tensor.data,
    qOffset(p, b, h, r0),
    ldq,
    1,
    dk,
    kOffset(p, b, h),
    ldk,
  );
}
