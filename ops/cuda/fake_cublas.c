/* A stand-in libcublas for tests/ops/cuda_cublas_test.ts, on a machine without a GPU: the entry points
 * ops/cuda/cublas.ts binds, with cuBLAS's documented semantics (column-major, op(A) m×k, op(B) k×n, C m×n,
 * leading dimensions checked as cuBLAS checks them, strided batches, fp32 or bf16 A/B, fp32 C and compute)
 * computed on host memory (the "device pointers" are host addresses). It checks our side of the boundary —
 * the FFI marshaling of every argument and the row-major → column-major mapping of Cublas.gemm — not cuBLAS.
 * Built by the test with cc into a temporary folder; never shipped. */
#include <stdint.h>
#include <string.h>

enum { OK = 0, INVALID_VALUE = 7, NOT_SUPPORTED = 15 };
enum { R_32F = 0, R_16BF = 14, COMPUTE_32F = 68 };

int cublasCreate_v2(void** handle) { *handle = (void*)0x1; return OK; }
int cublasDestroy_v2(void* handle) { (void)handle; return OK; }
int cublasGetVersion_v2(void* handle, int* version) { (void)handle; *version = 999; return OK; }
int cublasSetStream_v2(void* handle, void* stream) { (void)handle; (void)stream; return OK; }
int cublasSetMathMode(void* handle, int mode) { (void)handle; return mode == 0 ? OK : NOT_SUPPORTED; }
const char* cublasGetStatusString(int status) { return status == INVALID_VALUE ? "CUBLAS_STATUS_INVALID_VALUE" : "fake"; }

static float load(const void* p, int type, int64_t i) {
  if (type == R_32F) return ((const float*)p)[i];
  uint32_t u = (uint32_t)((const uint16_t*)p)[i] << 16;
  float f;
  memcpy(&f, &u, 4);
  return f;
}

int cublasGemmStridedBatchedEx(void* handle, int transa, int transb, int m, int n, int k, const void* alpha,
                               const void* A, int Atype, int lda, long long strideA, const void* B, int Btype,
                               int ldb, long long strideB, const void* beta, void* C, int Ctype, int ldc,
                               long long strideC, int batchCount, int computeType, int algo) {
  (void)handle;
  (void)algo;
  if (m < 0 || n < 0 || k < 0 || batchCount < 0) return INVALID_VALUE;
  if (lda < (transa ? (k > 1 ? k : 1) : (m > 1 ? m : 1))) return INVALID_VALUE;
  if (ldb < (transb ? (n > 1 ? n : 1) : (k > 1 ? k : 1))) return INVALID_VALUE;
  if (ldc < (m > 1 ? m : 1)) return INVALID_VALUE;
  if (Atype != Btype || (Atype != R_32F && Atype != R_16BF) || Ctype != R_32F || computeType != COMPUTE_32F) {
    return NOT_SUPPORTED;
  }
  const float al = *(const float*)alpha, be = *(const float*)beta;
  for (int t = 0; t < batchCount; t++) {
    const int64_t a0 = t * strideA, b0 = t * strideB, c0 = t * strideC;
    for (int i = 0; i < m; i++) {
      for (int j = 0; j < n; j++) {
        double s = 0;
        for (int p = 0; p < k; p++) {
          const float a = load(A, Atype, a0 + (transa ? p + (int64_t)i * lda : i + (int64_t)p * lda));
          const float b = load(B, Btype, b0 + (transb ? j + (int64_t)p * ldb : p + (int64_t)j * ldb));
          s += (double)a * b;
        }
        float* c = (float*)C + c0 + i + (int64_t)j * ldc;
        *c = (float)(al * s + (be == 0 ? 0.0 : be * *c));
      }
    }
  }
  return OK;
}

int cublasGemmEx(void* handle, int transa, int transb, int m, int n, int k, const void* alpha, const void* A,
                 int Atype, int lda, const void* B, int Btype, int ldb, const void* beta, void* C, int Ctype, int ldc,
                 int computeType, int algo) {
  return cublasGemmStridedBatchedEx(handle, transa, transb, m, n, k, alpha, A, Atype, lda, 0, B, Btype, ldb, 0, beta,
                                    C, Ctype, ldc, 0, 1, computeType, algo);
}

int cublasSgemm_v2(void* handle, int transa, int transb, int m, int n, int k, const float* alpha, const float* A,
                   int lda, const float* B, int ldb, const float* beta, float* C, int ldc) {
  return cublasGemmEx(handle, transa, transb, m, n, k, alpha, A, R_32F, lda, B, R_32F, ldb, beta, C, R_32F, ldc,
                      COMPUTE_32F, -1);
}
