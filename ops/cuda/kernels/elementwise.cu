// Elementwise and shape kernels of the device contract (ops/device.ts; ops/elementwise.ts is the
// CPU reference): strided copies, broadcast sums, row scaling, GELU (tanh and erf forms), column sums
// (the broadcast backward and bias gradients), row gathers and their CSR scatter-add backward.
//
// Launch: 1-D, 256 threads, grid = min(ceil(n / 256), 65535), grid-stride
// loops over `long long` indices, unless a kernel says otherwise.
#include "common.cuh"

#define GRID_STRIDE(i, n) \
  for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < (n); i += (long long)gridDim.x * blockDim.x)

// y[r, j] = a[r, j] + b[j] with b of width `width` (addBroadcast's forward).
KERNEL void add_broadcast_f32(const float* a, const float* b, float* y, long long n, int width) {
  GRID_STRIDE(i, n) y[i] = a[i] + b[i % width];
}

// out[r, j] (+)= x[r, j]·w[r] (scaleRows: forward with acc 0, backward with the gradient as x and acc 1).
KERNEL void scale_rows_f32(const float* x, const float* w, float* out, long long n, int width, int acc) {
  GRID_STRIDE(i, n) store_or_add(out, i, x[i] * w[i / width], acc);
}

// g[j] += Σ_r dy[r, j] over `rows` rows of width `width`: addBroadcast's and linear's bias gradient.
// Launch: block (32, 8); grid (ceil(width / 32), min(ceil(rows / 256), 1024)). Each block sums a strip
// of 32 columns over its rows, reduces its 8 partial rows in shared memory, and adds to g atomically
// (so the order of the additions, and the last bits of g, may differ between runs).
KERNEL void col_sum_add_f32(const float* dy, float* g, int rows, int width) {
  __shared__ float part[8][33];
  const int j = blockIdx.x * 32 + threadIdx.x;
  float s = 0.0f;
  if (j < width) {
    for (long long r = blockIdx.y * 8 + threadIdx.y; r < rows; r += gridDim.y * 8) s += dy[r * width + j];
  }
  part[threadIdx.y][threadIdx.x] = s;
  __syncthreads();
  if (threadIdx.y == 0 && j < width) {
    for (int k = 1; k < 8; k++) s += part[k][threadIdx.x];
    atomicAdd(&g[j], s);
  }
}

constexpr float GELU_C = 0.7978845608028654f;  // √(2/π)

// GELU, tanh form (PyTorch's approximate="tanh"): ½v(1 + tanh(z)), z = √(2/π)(v + 0.044715v³), evaluated as
// v·σ(2z) (½(1 + tanh z) = σ(2z)): in fp32, 1 + tanh z cancels for v below ≈ −3 (relative errors up to 5e-2
// against the double reference at v = −6), σ(2z) = 1/(1 + e^(−2z)) does not.
__host__ __device__ __forceinline__ float gelu_tanh(float v) {
  const float z = GELU_C * (v + 0.044715f * v * v * v);
  return v / (1.0f + expf(-2.0f * z));
}

// GELU'(v), tanh form (simd/softmax.ts `geluGrad`): ½(1 + t) + ½v(1 − t²)·z', with ½(1 + t) = s = σ(2z) and
// 1 − t² = 4s(1 − s), for the same reason.
__host__ __device__ __forceinline__ float gelu_tanh_grad(float v) {
  const float z = GELU_C * (v + 0.044715f * v * v * v), s = 1.0f / (1.0f + expf(-2.0f * z));
  return s + 2.0f * v * s * (1.0f - s) * GELU_C * (1.0f + 3.0f * 0.044715f * v * v);
}

// GELU'(v), exact form: Φ(v) + v·φ(v) (Φ recomputed from v; the CPU keeps it: same formula).
__host__ __device__ __forceinline__ float gelu_erf_grad(float v) {
  return normal_cdf_nr(v) + v * 0.3989422804014327f * expf(-0.5f * v * v);
}

// y = GELU(x), tanh form.
KERNEL void gelu_tanh_fwd_f32(const float* x, float* y, long long n) {
  GRID_STRIDE(i, n) y[i] = gelu_tanh(x[i]);
}

// dx (+)= dy · GELU'(x), tanh form.
KERNEL void gelu_tanh_bwd_f32(const float* x, const float* dy, float* dx, long long n, int acc) {
  GRID_STRIDE(i, n) store_or_add(dx, i, dy[i] * gelu_tanh_grad(x[i]), acc);
}

// GELU, exact form x·Φ(x) (PyTorch's default), Φ from Numerical Recipes' erfcc as ops/elementwise.ts.
KERNEL void gelu_erf_fwd_f32(const float* x, float* y, long long n) {
  GRID_STRIDE(i, n) y[i] = x[i] * normal_cdf_nr(x[i]);
}

// dx (+)= dy · GELU'(x), exact form.
KERNEL void gelu_erf_bwd_f32(const float* x, const float* dy, float* dx, long long n, int acc) {
  GRID_STRIDE(i, n) store_or_add(dx, i, dy[i] * gelu_erf_grad(x[i]), acc);
}

// dst[r·dstStride + j] (+)= alpha·src[r·srcStride + j], `rows` rows of `width` (the contract's `strided`:
// concatLast, sliceLast, scale, add and gradient accumulation; pointers already at their offsets).
KERNEL void strided_f32(const float* src, long long srcStride, float* dst, long long dstStride, int rows,
                        int width, int acc, float alpha) {
  const long long n = (long long)rows * width;
  GRID_STRIDE(i, n) {
    const long long r = i / width, j = i % width;
    store_or_add(dst, r * dstStride + j, alpha * src[r * srcStride + j], acc);
  }
}

// dx += dy·w elementwise (dropout's backward with w the saved keep factors).
KERNEL void mul_add_f32(const float* dy, const float* w, float* dx, long long n) {
  GRID_STRIDE(i, n) dx[i] += dy[i] * w[i];
}

// y[i, j] = x[index[i], j] for `count` rows of width w (gatherRows, the embedding lookup).
KERNEL void gather_rows_f32(const float* x, const int* index, float* y, int count, int w) {
  const long long n = (long long)count * w;
  GRID_STRIDE(i, n) y[i] = x[(long long)index[i / w] * w + i % w];
}

// dx[r, j] += Σ dy[sources[q], j] for q in [start[r], start[r + 1]) (gatherRows' backward through the
// inverse index in CSR form: each output element summed by one thread in a fixed order, no atomics).
KERNEL void scatter_add_csr_f32(const float* dy, const int* start, const int* sources, float* dx, int rows, int w) {
  const long long n = (long long)rows * w;
  GRID_STRIDE(i, n) {
    const long long r = i / w, j = i % w;
    float s = 0.0f;
    for (int q = start[r]; q < start[r + 1]; q++) s += dy[(long long)sources[q] * w + j];
    dx[i] += s;
  }
}
