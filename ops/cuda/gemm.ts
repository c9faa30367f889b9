/**
 * The op layer's host sgemm (`Gemm` of ops/blas.ts) on cuBLAS: the bridge
 * that lets `--backend cuda` serve today's host-array tensors before they
 * live on the device. Each call uploads the spans of A and B it reads (and
 * of C when beta ≠ 0 or C's rows have gaps), runs one fp32 GEMM and
 * downloads C's span. The device buffers are kept and grown. Per-call copies
 * make small products slower than OpenBLAS; device-resident tensors remove them.
 *
 * @module
 */
import type { Gemm } from "../blas.ts";
import type { DeviceBuffer } from "./driver.ts";
import type { CudaContext } from "./kernels.ts";

/** A cuBLAS-backed {@link Gemm} with a `close` that frees its buffers (the device stays open). */
export interface CudaGemm extends Gemm {
  close(): void;
}

/** Elements a row-major operand of `rows` × `cols` with row stride `ld` spans. */
function span(rows: number, cols: number, ld: number): number {
  return rows === 0 || cols === 0 ? 0 : (rows - 1) * ld + cols;
}

/** The cuBLAS sgemm on host arrays of a device context. */
export function cudaGemm(c: CudaContext): CudaGemm {
  const buffers: (DeviceBuffer | undefined)[] = [undefined, undefined, undefined];
  const device = (slot: number, floats: number): DeviceBuffer => {
    const have = buffers[slot];
    if (have && have.bytes >= 4 * floats) return have;
    if (have) c.device.free(have);
    return buffers[slot] = c.device.alloc(4 * Math.max(floats, 1024));
  };
  const view = (x: Float32Array, off: number, n: number) => x.subarray(off, off + n);
  return {
    name: `cuBLAS sgemm on ${c.device.info.name}`,
    sgemm(ta, tb, m, n, k, alpha, a, aOff, lda, b, bOff, ldb, beta, cc, cOff, ldc) {
      if (m === 0 || n === 0) return;
      const na = span(ta ? k : m, ta ? m : k, lda), nb = span(tb ? n : k, tb ? k : n, ldb), nc = span(m, n, ldc);
      const A = device(0, na), B = device(1, nb), C = device(2, nc);
      if (na) c.device.upload(A, view(a, aOff, na));
      if (nb) c.device.upload(B, view(b, bOff, nb));
      if (beta !== 0 || ldc !== n) c.device.upload(C, view(cc, cOff, nc)); // gaps between rows come back unchanged
      c.cublas.gemm({
        transA: ta,
        transB: tb,
        M: m,
        N: n,
        K: k,
        alpha,
        a: A.ptr,
        lda,
        b: B.ptr,
        ldb,
        beta,
        c: C.ptr,
        ldc,
      });
      c.device.download(C, view(cc, cOff, nc));
    },
    setThreads() {},
    close() {
      for (const b of buffers) if (b) c.device.free(b);
      buffers.fill(undefined);
    },
  };
}
