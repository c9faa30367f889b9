// AdamW with decoupled weight decay and global-norm clipping (training/adamw.ts
// is the reference), in two passes over the gradients: sumsq_add accumulates
// Σg² of every parameter into one double, clip_factor turns it into
// [norm, factor], and adamw_update updates each parameter with the factor read
// on the device (the host reads the norm only when it reports it). A
// non-finite norm leaves every parameter untouched: the CPU throws there, the
// device run cannot, so the host checks the norm it reads.
#include "common.cuh"

// acc[0] += Σ g[i]². Launch: 1-D, 256 threads, grid min(ceil(n / 256), 4096), grid-stride,
// one double atomicAdd per block.
KERNEL void sumsq_add_f32(const float* g, long long n, double* acc) {
  double s = 0;
  for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < n; i += (long long)gridDim.x * blockDim.x) {
    const double v = g[i];
    s += v * v;
  }
  s = block_sum_d(s);
  if (threadIdx.x == 0) atomicAdd(acc, s);
}

// out = [norm, factor]: factor = clip / norm when clip > 0 and norm > clip, else 1. Launch: 1 thread.
KERNEL void clip_factor(const double* acc, float* out, float clip) {
  if (blockIdx.x != 0 || threadIdx.x != 0) return;
  const double norm = sqrt(acc[0]);
  out[0] = (float)norm;
  out[1] = clip > 0 && norm > clip ? (float)(clip / norm) : 1.0f;
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

// One AdamW step of one parameter: g·factor, moments, bias corrections bc1 = 1 − β₁ᵗ, bc2 = 1 − β₂ᵗ,
// w ← w(1 − lr·wd) − lr·(m/bc1)/(√(v/bc2) + eps). Launch: 1-D, 256 threads, grid min(ceil(n / 256), 65535).
KERNEL void adamw_update_f32(float* w, const float* g, float* m, float* v, long long n, const float* normFactor,
                             float lr, float b1, float b2, float eps, float wd, float bc1, float bc2) {
  if (!isfinite(normFactor[0])) return;
  const float gs = normFactor[1], decay = 1.0f - lr * wd;
  for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < n; i += (long long)gridDim.x * blockDim.x) {
    adamw_element(&w[i], &m[i], &v[i], g[i], gs, lr, b1, b2, eps, decay, bc1, bc2);
  }
}
