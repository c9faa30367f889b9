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
import { gemm } from "./blas.ts";
import { giveArray, takeArray } from "./pool.ts";
import { rowKernels } from "../simd/softmax.ts";
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
  const { heads: H, headDim: dh } = opt;
  const [B, Lq, ldq] = q.tensor.shape;
  const [Bk, Lk, ldk] = k.tensor.shape;
  const ldv = v.tensor.shape[2];
  if (Bk !== B || v.tensor.shape[0] !== B || v.tensor.shape[1] !== Lk) {
    throw new Error(`attention: q [${q.tensor.shape}], k [${k.tensor.shape}], v [${v.tensor.shape}]`);
  }
  const W = H * dh, scale = 1 / Math.sqrt(dh);
  const QB = Math.min(opt.blockRows ?? 64, Lq);
  // Rows padded to a multiple of 4 floats for the SIMD kernels; padding holds −∞ scores, 0 probabilities.
  const Lp = Math.ceil(Lk / 4) * 4;
  const mask = opt.keyMask;
  const o = new Float32Array(B * Lq * W);
  const lse = new Float32Array(B * H * Lq);
  const inputs = [q.tensor, k.tensor, v.tensor];
  const qd = q.tensor.data, kd = k.tensor.data, vd = v.tensor.data;
  const g = gemm();
  const save = recording() && inputs.some((t) => t.requiresGrad) &&
    B * H * Lq * Lp * 4 <= (opt.saveBytes ?? 64 * 2 ** 20);
  const saved = save ? takeArray(B * H * Lq * Lp) : undefined;
  // Per batch: the key columns to silence (masked keys, then padding), and whether any key is left.
  const silenced: Int32Array[] = [], anyKey: boolean[] = [];
  for (let b = 0; b < B; b++) {
    const cols: number[] = [];
    if (mask) { for (let j = 0; j < Lk; j++) if (!mask[b * Lk + j]) cols.push(j); }
    anyKey.push(cols.length < Lk);
    for (let j = Lk; j < Lp; j++) cols.push(j);
    silenced.push(Int32Array.from(cols));
  }
  const scores = (S: Float32Array, b: number, h: number, r0: number, n: number) => {
    const kOff = b * Lk * ldk + k.col + h * dh;
    const qOff = (b * Lq + r0) * ldq + q.col + h * dh;
    g.sgemm(false, true, n, Lk, dh, scale, qd, qOff, ldq, kd, kOff, ldk, 0, S, 0, Lp);
  };

  {
    const R = rowKernels();
    const [S] = R.blocks(QB * Lp);
    for (let b = 0; b < B; b++) {
      const sil = silenced[b];
      for (let h = 0; h < H; h++) {
        const vOff = b * Lk * ldv + v.col + h * dh;
        for (let r0 = 0; r0 < Lq; r0 += QB) {
          const n = Math.min(QB, Lq - r0);
          const lOff = (b * H + h) * Lq + r0;
          if (!anyKey[b]) {
            lse.fill(Infinity, lOff, lOff + n);
            continue; // no key to attend to: the output stays zero
          }
          scores(S, b, h, r0, n);
          for (let i = 0; i < n; i++) {
            const r = i * Lp;
            for (let c = 0; c < sil.length; c++) S[r + sil[c]] = -Infinity;
            const m = R.rowMax(r, Lp);
            const s = R.expSum(r, Lp, m);
            for (let c = 0; c < sil.length; c++) S[r + sil[c]] = 0;
            R.scale(r, Lp, 1 / s);
            lse[lOff + i] = m + Math.log(s);
          }
          saved?.set(S.subarray(0, n * Lp), lOff * Lp);
          g.sgemm(false, false, n, dh, Lk, 1, S, 0, Lp, vd, vOff, ldv, 0, o, (b * Lq + r0) * W + h * dh, W);
        }
      }
    }
  }
  const out = result(o, [B, Lq, W], inputs);
  record(out, inputs, () => {
    const dO = out.grad!;
    const dq = q.tensor.requiresGrad ? gradOf(q.tensor) : undefined;
    const dk = k.tensor.requiresGrad ? gradOf(k.tensor) : undefined;
    const dv = v.tensor.requiresGrad ? gradOf(v.tensor) : undefined;
    const R = rowKernels();
    const [P, dP] = R.blocks(QB * Lp);
    dP.fill(0, 0, QB * Lp); // padding columns stay 0 (sgemm writes only Lk of Lp)
    for (let b = 0; b < B; b++) {
      if (!anyKey[b]) continue;
      const sil = silenced[b];
      for (let h = 0; h < H; h++) {
        const kOff = b * Lk * ldk + k.col + h * dh, vOff = b * Lk * ldv + v.col + h * dh;
        for (let r0 = 0; r0 < Lq; r0 += QB) {
          const n = Math.min(QB, Lq - r0);
          const qOff = (b * Lq + r0) * ldq + q.col + h * dh;
          const oOff = (b * Lq + r0) * W + h * dh;
          const lOff = (b * H + h) * Lq + r0;
          if (saved) P.set(saved.subarray(lOff * Lp, (lOff + n) * Lp));
          else {
            // Recompute the block's probabilities from the saved log-sum-exp.
            scores(P, b, h, r0, n);
            for (let i = 0; i < n; i++) {
              const r = i * Lp;
              R.expSum(r, Lp, lse[lOff + i]);
              for (let c = 0; c < sil.length; c++) P[r + sil[c]] = 0;
            }
          }
          if (dv) g.sgemm(true, false, Lk, dh, n, 1, P, 0, Lp, dO, oOff, W, 1, dv, vOff, ldv);
          g.sgemm(false, true, n, Lk, dh, 1, dO, oOff, W, vd, vOff, ldv, 0, dP, 0, Lp);
          // dS = P ∘ (dP − rowsum(P ∘ dP)) · scale, in place in dP.
          for (let i = 0; i < n; i++) {
            const r = i * Lp;
            R.softmaxBackward(r, Lp, R.dot(r, Lp), scale);
          }
          if (dq) g.sgemm(false, false, n, dh, Lk, 1, dP, 0, Lp, kd, kOff, ldk, 1, dq, qOff, ldq);
          if (dk) g.sgemm(true, false, Lk, dh, n, 1, dP, 0, Lp, qd, qOff, ldq, 1, dk, kOff, ldk);
        }
      }
    }
    if (saved) giveArray(saved);
  });
  return out;
}
