/**
 * Matrix products on the autograd tape, through {@link gemm} (OpenBLAS when
 * available): a dense layer `x·W + b` over the last axis, forward and
 * gradients as three sgemm calls without any transposed copies.
 *
 * @module
 */
import { gemm } from "./blas.ts";
import { gradOf, record, result, type Tensor } from "./tensor.ts";
import { deviceLinear } from "./device_ops.ts";

/** y = x·W (+ b): x [..., K], W [K, N], b [N] → [..., N]. */
export function linear(x: Tensor, w: Tensor, b?: Tensor): Tensor {
  if (x.device || w.device || b?.device) return deviceLinear(x, w, b);
  const [K, N] = w.shape;
  if (x.last !== K) throw new Error(`linear: input width ${x.last}, weight [${w.shape}]`);
  const M = x.rows;
  const y = new Float32Array(M * N);
  if (b) { for (let i = 0; i < M; i++) y.set(b.data, i * N); }
  gemm().sgemm(false, false, M, N, K, 1, x.data, 0, K, w.data, 0, N, b ? 1 : 0, y, 0, N);
  const inputs = b ? [x, w, b] : [x, w];
  const out = result(y, [...x.shape.slice(0, -1), N], inputs);
  record(out, inputs, () => {
    const dy = out.grad!;
    const g = gemm();
    if (x.requiresGrad) g.sgemm(false, true, M, K, N, 1, dy, 0, N, w.data, 0, N, 1, gradOf(x), 0, K);
    if (w.requiresGrad) g.sgemm(true, false, K, N, M, 1, x.data, 0, K, dy, 0, N, 1, gradOf(w), 0, N);
    if (b?.requiresGrad) {
      const db = gradOf(b);
      for (let i = 0; i < M; i++) {
        const o = i * N;
        for (let j = 0; j < N; j++) db[j] += dy[o + j];
      }
    }
  });
  return out;
}
