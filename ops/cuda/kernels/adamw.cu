// AdamW with decoupled weight decay and global-norm clipping (training/adamw.ts
// is the reference), the device contract's sumSquares and adamw: sum_squares
// adds Σg² of each parameter into one word, adamw_f32 updates each parameter
// with the clipping factor derived on the device from it (the host reads the
// norm only when it reports it). A non-finite norm leaves every parameter
// untouched: the CPU throws there, the device run cannot, so the host checks
// the norm it reads.
#include "common.cuh"

// acc[0] += Σ g[i]² (the contract's sumSquares; acc points at the accumulator word). Launch: 1-D, 256
// threads, grid min(ceil(n / 256), 1024), grid-stride; each block sums in double, then one float atomicAdd.
KERNEL void sum_squares_f32(const float* g, long long n, float* acc) {
  double s = 0;
  for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < n; i += (long long)gridDim.x * blockDim.x) {
    const double v = g[i];
    s += v * v;
  }
  s = block_sum_d(s);
  if (threadIdx.x == 0) atomicAdd(acc, (float)s);
}

// One element's AdamW step (host and device: the host check runs it against training/adamw.ts).
__host__ __device__ __forceinline__ void adamw_element(float* w, float* m, float* v, float g, float gs, float lr,
                                                       float b1, float b2, float eps, float decay, float bc1,
                                                       float bc2) {
  const float gi = g * gs;
  const float mi = b1 * *m + (1.0f - b1) * gi;
  const float vi = b2 * *v + (1.0f - b2) * gi * gi;
  *m = mi;
  *v = vi;
  *w = *w * decay - lr * (mi / bc1) / (sqrtf(vi / bc2) + eps);
}

// One AdamW step of one parameter (the contract's adamw): gs = clip / √normSq[0] when clip > 0 and the norm
// exceeds it, else 1; moments, bias corrections bc1 = 1 − β₁ᵗ, bc2 = 1 − β₂ᵗ,
// w ← w(1 − lr·wd) − lr·(m/bc1)/(√(v/bc2) + eps). A non-finite normSq leaves the parameter untouched.
// Launch: 1-D, 256 threads, grid min(ceil(n / 256), 65535), grid-stride.
KERNEL void adamw_f32(float* w, const float* g, float* m, float* v, long long n, const float* normSq, float lr,
                      float b1, float b2, float eps, float wd, float bc1, float bc2, float clip) {
  const float ns = normSq[0];
  if (!isfinite(ns)) return;
  const float norm = sqrtf(ns), gs = clip > 0 && norm > clip ? clip / norm : 1.0f, decay = 1.0f - lr * wd;
  for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < n; i += (long long)gridDim.x * blockDim.x) {
    adamw_element(&w[i], &m[i], &v[i], g[i], gs, lr, b1, b2, eps, decay, bc1, bc2);
  }
}
