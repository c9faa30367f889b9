// Inverted dropout with the device contract's counter-based hash (ops/device.ts `dropoutKeeps`, the same
// on every backend): element i of a call drawn with `seed` is kept when pcg(seed ^ pcg(i)) >= floor(p·2³²),
// pcg being PCG's output permutation of one 32-bit word. The mask is a pure function of (seed, i), so the
// device's mask equals the TypeScript one bit for bit (tests/ops/device_test.ts checks every element).
// The keep factors (0 or 1/(1 − p)) are written for the backward pass (dx += dy·keep: mul_add_f32).
//
// Launch: 1-D, 256 threads, grid = min(ceil(n / 256), 65535), grid-stride.
#include "common.cuh"

// PCG's output permutation (RXS-M-XS) of one LCG step from v (u32 arithmetic wraps, as Math.imul's).
__host__ __device__ __forceinline__ unsigned pcg_hash(unsigned v) {
  const unsigned state = v * 747796405u + 2891336453u;
  const unsigned word = ((state >> ((state >> 28u) + 4u)) ^ state) * 277803737u;
  return (word >> 22u) ^ word;
}

// keep[i] = pcg(seed ^ pcg(i)) >= drop ? s : 0 and y[i] = x[i]·keep[i]; drop = floor(p·2³²), s = 1/(1 − p).
KERNEL void dropout_hash_f32(const float* x, float* y, float* keep, long long n, unsigned seed, unsigned drop,
                             float s) {
  for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < n; i += (long long)gridDim.x * blockDim.x) {
    const float k = pcg_hash(seed ^ pcg_hash((unsigned)i)) >= drop ? s : 0.0f;
    keep[i] = k;
    y[i] = x[i] * k;
  }
}
