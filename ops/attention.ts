/**
 * Multi-head scaled dot-product attention as one fused op with its own
 * backward, processed in blocks of query rows: a block's scores against
 * all keys (blockRows × keys floats) are the most it ever holds at once, so
 * memory grows linearly with sequence length, not with its square. The
 * backward pass either reuses the block probabilities saved in the forward
 * pass (when they fit in `saveBytes`) or recomputes them from the saved
 * log-sum-exp (flash-attention style). Every product is an sgemm on strided
 * views of the q/k/v tensors (a head is a column range), so no head is
 * ever copied or transposed.
 *
 * @module
 */
import { gemm } from "./blas.ts";
import { simdExp } from "./simd_exp.ts";
import { gradOf, record, recording, result, type Tensor } from "./tensor.ts";

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
  /** Query rows per block. Default 128. */
  blockRows?: number;
  /** Keep probabilities for the backward pass up to this many bytes, else recompute. Default 256 MiB. */
  saveBytes?: number;
}

/**
 * softmax(q·kᵀ/√d)·v per head. q [B, Lq, ·], k and v [B, Lk, ·] (heads ×
 * headDim columns from their `col`), result [B, Lq, heads·headDim].
 */
export function attention(q: AttentionInput, k: AttentionInput, v: AttentionInput, opt: AttentionOptions): Tensor {
  const { heads: H, headDim: dh } = opt;
  const [B, Lq, ldq] = q.tensor.shape;
  const [Bk, Lk, ldk] = k.tensor.shape;
  const ldv = v.tensor.shape[2];
  if (Bk !== B || v.tensor.shape[0] !== B || v.tensor.shape[1] !== Lk) {
    throw new Error(`attention: q [${q.tensor.shape}], k [${k.tensor.shape}], v [${v.tensor.shape}]`);
  }
  const W = H * dh, scale = 1 / Math.sqrt(dh);
  const QB = Math.min(opt.blockRows ?? 128, Lq);
  const mask = opt.keyMask;
  const o = new Float32Array(B * Lq * W);
  const lse = new Float32Array(B * H * Lq);
  const inputs = [q.tensor, k.tensor, v.tensor];
  const willBackprop = recording() && inputs.some((t) => t.requiresGrad);
  const save = willBackprop && B * H * Lq * Lk * 4 <= (opt.saveBytes ?? 256 * 2 ** 20);
  const saved = save ? new Float32Array(B * H * Lq * Lk) : undefined;
  const S = saved ? undefined : new Float32Array(QB * Lk);
  const qd = q.tensor.data, kd = k.tensor.data, vd = v.tensor.data;
  const g = gemm();

  for (let b = 0; b < B; b++) {
    for (let h = 0; h < H; h++) {
      const kOff = b * Lk * ldk + k.col + h * dh, vOff = b * Lk * ldv + v.col + h * dh;
      for (let r0 = 0; r0 < Lq; r0 += QB) {
        const n = Math.min(QB, Lq - r0);
        const P = saved ?? S!;
        const pOff = saved ? ((b * H + h) * Lq + r0) * Lk : 0;
        const qOff = (b * Lq + r0) * ldq + q.col + h * dh;
        g.sgemm(false, true, n, Lk, dh, scale, qd, qOff, ldq, kd, kOff, ldk, 0, P, pOff, Lk);
        softmaxRows(P, pOff, n, Lk, mask, b * Lk, lse, (b * H + h) * Lq + r0);
        g.sgemm(false, false, n, dh, Lk, 1, P, pOff, Lk, vd, vOff, ldv, 0, o, (b * Lq + r0) * W + h * dh, W);
      }
    }
  }
  const out = result(o, [B, Lq, W], inputs);
  record(out, inputs, () => {
    const dO = out.grad!;
    const dq = q.tensor.requiresGrad ? gradOf(q.tensor) : undefined;
    const dk = k.tensor.requiresGrad ? gradOf(k.tensor) : undefined;
    const dv = v.tensor.requiresGrad ? gradOf(v.tensor) : undefined;
    const P = saved ? undefined : new Float32Array(QB * Lk);
    const dP = new Float32Array(QB * Lk);
    for (let b = 0; b < B; b++) {
      for (let h = 0; h < H; h++) {
        const kOff = b * Lk * ldk + k.col + h * dh, vOff = b * Lk * ldv + v.col + h * dh;
        for (let r0 = 0; r0 < Lq; r0 += QB) {
          const n = Math.min(QB, Lq - r0);
          const qOff = (b * Lq + r0) * ldq + q.col + h * dh;
          const oOff = (b * Lq + r0) * W + h * dh;
          const lOff = (b * H + h) * Lq + r0;
          let Pm: Float32Array, pOff: number;
          if (saved) (Pm = saved, pOff = lOff * Lk);
          else {
            Pm = P!;
            pOff = 0;
            g.sgemm(false, true, n, Lk, dh, scale, qd, qOff, ldq, kd, kOff, ldk, 0, Pm, 0, Lk);
            expRows(Pm, n, Lk, mask, b * Lk, lse, lOff);
          }
          if (dv) g.sgemm(true, false, Lk, dh, n, 1, Pm, pOff, Lk, dO, oOff, W, 1, dv, vOff, ldv);
          g.sgemm(false, true, n, Lk, dh, 1, dO, oOff, W, vd, vOff, ldv, 0, dP, 0, Lk);
          // dS = P ∘ (dP − rowsum(P ∘ dP)) · scale, in place in dP.
          for (let i = 0; i < n; i++) {
            const pr = pOff + i * Lk, dr = i * Lk;
            let s = 0;
            for (let j = 0; j < Lk; j++) s += Pm[pr + j] * dP[dr + j];
            for (let j = 0; j < Lk; j++) dP[dr + j] = Pm[pr + j] * (dP[dr + j] - s) * scale;
          }
          if (dq) g.sgemm(false, false, n, dh, Lk, 1, dP, 0, Lk, kd, kOff, ldk, 1, dq, qOff, ldq);
          if (dk) g.sgemm(true, false, Lk, dh, n, 1, dP, 0, Lk, qd, qOff, ldq, 1, dk, kOff, ldk);
        }
      }
    }
  });
  return out;
}

/** Row softmax of P[pOff..] (n × L) in place, masked keys → 0; log-sum-exp per row into lse. */
function softmaxRows(
  P: Float32Array,
  pOff: number,
  n: number,
  L: number,
  mask: Uint8Array | undefined,
  mOff: number,
  lse: Float32Array,
  lOff: number,
): void {
  const k = simdExp();
  const row = k?.row(L);
  for (let i = 0; i < n; i++) {
    const r = pOff + i * L;
    let m = -Infinity;
    if (mask) {
      for (let j = 0; j < L; j++) if (mask[mOff + j]) m = Math.max(m, P[r + j]);
    } else {
      for (let j = 0; j < L; j++) if (P[r + j] > m) m = P[r + j];
    }
    if (m === -Infinity) {
      // No key to attend to: the row attends to nothing (output zero).
      P.fill(0, r, r + L);
      lse[lOff + i] = Infinity;
      continue;
    }
    let s = 0;
    if (row) {
      row.set(P.subarray(r, r + L));
      k!.expSum(L, m);
      if (mask) { for (let j = 0; j < L; j++) if (!mask[mOff + j]) row[j] = 0; }
      for (let j = 0; j < L; j++) s += row[j];
      const inv = 1 / s;
      for (let j = 0; j < L; j++) P[r + j] = row[j] * inv;
    } else {
      for (let j = 0; j < L; j++) {
        const e = mask && !mask[mOff + j] ? 0 : Math.exp(P[r + j] - m);
        P[r + j] = e;
        s += e;
      }
      const inv = 1 / s;
      for (let j = 0; j < L; j++) P[r + j] *= inv;
    }
    lse[lOff + i] = m + Math.log(s);
  }
}

/** P = exp(S − lse) per row (recomputed probabilities), masked keys → 0. */
function expRows(
  P: Float32Array,
  n: number,
  L: number,
  mask: Uint8Array | undefined,
  mOff: number,
  lse: Float32Array,
  lOff: number,
): void {
  const k = simdExp();
  const row = k?.row(L);
  for (let i = 0; i < n; i++) {
    const r = i * L, l = lse[lOff + i];
    if (l === Infinity) {
      P.fill(0, r, r + L);
      continue;
    }
    if (row) {
      row.set(P.subarray(r, r + L));
      k!.expSum(L, l);
      P.set(row, r);
      if (mask) { for (let j = 0; j < L; j++) if (!mask[mOff + j]) P[r + j] = 0; }
    } else {
      for (let j = 0; j < L; j++) P[r + j] = mask && !mask[mOff + j] ? 0 : Math.exp(P[r + j] - l);
    }
  }
}
