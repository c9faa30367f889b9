// Shared pieces of the project's CUDA kernels: warp and block reductions,
// the grid-stride loop bound, and the error functions the CPU reference uses
// (so device and CPU evaluate the same formulas, not merely close ones).
// Every kernel is `extern "C"` so its PTX name is the one ops/cuda/kernels.ts
// passes to cuModuleGetFunction.
#pragma once
#include <cuda_bf16.h>

#define KERNEL extern "C" __global__

// Sum of `v` over the 32 lanes of a warp (every lane gets the total).
__device__ __forceinline__ float warp_sum(float v) {
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}

// Maximum of `v` over the 32 lanes of a warp (every lane gets it).
__device__ __forceinline__ float warp_max(float v) {
  for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
  return v;
}

// Double-precision warp sum (loss and norm accumulators: the CPU sums in double).
__device__ __forceinline__ double warp_sum_d(double v) {
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}

// Sum of `v` over a 1-D block of at most 1024 threads; the result is valid in thread 0.
__device__ __forceinline__ double block_sum_d(double v) {
  __shared__ double part[32];
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  v = warp_sum_d(v);
  if (lane == 0) part[warp] = v;
  __syncthreads();
  const int warps = (blockDim.x + 31) >> 5;
  v = threadIdx.x < warps ? part[threadIdx.x] : 0.0;
  if (warp == 0) v = warp_sum_d(v);
  __syncthreads();  // part[] may be reused by a following call
  return v;
}

// out = acc ? out + v : v (backward kernels add into gradients like the CPU tape, or overwrite).
__device__ __forceinline__ void store_or_add(float* out, long long i, float v, int acc) {
  out[i] = acc ? out[i] + v : v;
}

// Φ(v) = erfc(−v/√2)/2 with Numerical Recipes' erfcc, the formula of ops/elementwise.ts `geluErf`.
__host__ __device__ __forceinline__ float normal_cdf_nr(float v) {
  const float z = fabsf(v) * 0.70710678118654752f, t = 1.0f / (1.0f + 0.5f * z);
  const float r = t * expf(-z * z - 1.26551223f +
                           t * (1.00002368f + t * (0.37409196f + t * (0.09678418f + t * (-0.18628806f +
                           t * (0.27886807f + t * (-1.13520398f + t * (1.48851587f +
                           t * (-0.82215223f + t * 0.17087277f)))))))));
  return v >= 0.0f ? 1.0f - 0.5f * r : 0.5f * r;
}

// erf by Abramowitz & Stegun 7.1.26, the formula of training/losses.ts `erf` (|error| < 1.5e-7).
__host__ __device__ __forceinline__ double erf_as(double x) {
  const double s = x > 0 ? 1.0 : (x < 0 ? -1.0 : 0.0), a = fabs(x);
  const double t = 1.0 / (1.0 + 0.3275911 * a);
  const double y = 1.0 - ((((1.061405429 * t - 1.453152027) * t + 1.421413741) * t - 0.284496736) * t +
                          0.254829592) * t * exp(-a * a);
  return s * y;
}
