// Inverted dropout with a counter-based generator, Philox4x32-10 (Salmon et
// al. 2011, Random123's constants): element i's random word is word i % 4 of
// Philox(counter = (i / 4 low, i / 4 high, 0, 0), key = the call's 64-bit
// seed). The mask is a pure function of (seed, i), so the backward pass
// regenerates it instead of storing it. The CPU reference draws from
// xoshiro128** one element after another; no device generator can equal that
// stream, so tests compare the Philox words with a TypeScript Philox checked
// against Random123's published vectors, and the kept fraction with a
// binomial bound. Keep rule as the CPU: keep when word >= floor(p·2³²).
//
// Launch: 1-D, 256 threads, one thread per group of 4 elements,
// grid = min(ceil(ceil(n / 4) / 256), 65535), grid-stride.
#include "common.cuh"

struct Philox4 { unsigned w[4]; };

__host__ __device__ __forceinline__ unsigned mulhi32(unsigned a, unsigned b) {
  return (unsigned)(((unsigned long long)a * b) >> 32);
}

// Philox4x32 with 10 rounds.
__host__ __device__ __forceinline__ Philox4 philox4x32_10(unsigned c0, unsigned c1, unsigned c2, unsigned c3,
                                                         unsigned k0, unsigned k1) {
  for (int round = 0; round < 10; round++) {
    const unsigned hi0 = mulhi32(0xD2511F53u, c0), lo0 = 0xD2511F53u * c0;
    const unsigned hi1 = mulhi32(0xCD9E8D57u, c2), lo1 = 0xCD9E8D57u * c2;
    c0 = hi1 ^ c1 ^ k0;
    c1 = lo1;
    c2 = hi0 ^ c3 ^ k1;
    c3 = lo0;
    k0 += 0x9E3779B9u;
    k1 += 0xBB67AE85u;
  }
  return Philox4{{c0, c1, c2, c3}};
}

// The raw words for elements [0, n): out[i] = word i of the stream (tests compare it with the TypeScript Philox).
KERNEL void philox_words(unsigned* out, long long n, unsigned seed_lo, unsigned seed_hi) {
  const long long groups = (n + 3) / 4;
  for (long long q = blockIdx.x * (long long)blockDim.x + threadIdx.x; q < groups; q += (long long)gridDim.x * blockDim.x) {
    const Philox4 r = philox4x32_10((unsigned)q, (unsigned)(q >> 32), 0u, 0u, seed_lo, seed_hi);
    for (int k = 0; k < 4 && q * 4 + k < n; k++) out[q * 4 + k] = r.w[k];
  }
}

// y = x · keep / (1 − p): forward (x the input) and backward (x the output gradient, acc 1 adds into dx).
// `drop` = floor(p·2³²), `s` = 1 / (1 − p).
KERNEL void dropout_f32(const float* x, float* y, long long n, unsigned drop, float s, unsigned seed_lo,
                        unsigned seed_hi, int acc) {
  const long long groups = (n + 3) / 4;
  for (long long q = blockIdx.x * (long long)blockDim.x + threadIdx.x; q < groups; q += (long long)gridDim.x * blockDim.x) {
    const Philox4 r = philox4x32_10((unsigned)q, (unsigned)(q >> 32), 0u, 0u, seed_lo, seed_hi);
    for (int k = 0; k < 4 && q * 4 + k < n; k++) {
      const long long i = q * 4 + k;
      store_or_add(y, i, r.w[k] >= drop ? x[i] * s : 0.0f, acc);
    }
  }
}

// y (+)= x · mask[i] · s with an explicit 0/1 mask (tests: the CPU's own mask applied on the device).
KERNEL void dropout_mask_f32(const float* x, const unsigned char* mask, float* y, long long n, float s, int acc) {
  for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < n; i += (long long)gridDim.x * blockDim.x) {
    store_or_add(y, i, mask[i] ? x[i] * s : 0.0f, acc);
  }
}
