// LayerNorm over the last axis (ops/norm.ts is the reference), with and
// without the affine gamma/beta. QK-LayerNorm (models/encoder.ts `headNorm`)
// is the same kernels over rows·heads rows of width headDim: no kernel of its own.
// Moments in two passes over the row (mean, then Σ(x − mean)²), as the CPU,
// eps inside the square root as PyTorch.
#include "common.cuh"

// One warp per row: y = (x − mean)·rstd (·gamma + beta); mean and rstd saved per row for the backward.
// Launch: block 256 (8 rows), grid ceil(rows / 8). gamma and beta null for no affine.
KERNEL void layernorm_fwd_f32(const float* x, const float* gamma, const float* beta, float* y, float* mean,
                              float* rstd, int rows, int D, float eps) {
  const int lane = threadIdx.x & 31;
  const long long r = blockIdx.x * 8LL + (threadIdx.x >> 5);
  if (r >= rows) return;
  const float* xr = x + r * D;
  float s = 0.0f;
  for (int j = lane; j < D; j += 32) s += xr[j];
  const float m = warp_sum(s) / D;
  float v = 0.0f;
  for (int j = lane; j < D; j += 32) {
    const float d = xr[j] - m;
    v += d * d;
  }
  const float rs = 1.0f / sqrtf(warp_sum(v) / D + eps);
  float* yr = y + r * D;
  for (int j = lane; j < D; j += 32) {
    const float h = (xr[j] - m) * rs;
    yr[j] = gamma ? h * gamma[j] + beta[j] : h;
  }
  if (lane == 0) {
    mean[r] = m;
    rstd[r] = rs;
  }
}

// dx (+)= rstd·(dh − mean(dh) − h·mean(dh·h)), dh = dy·gamma (or dy). One warp per row.
// Launch: block 256 (8 rows), grid ceil(rows / 8).
KERNEL void layernorm_bwd_dx_f32(const float* x, const float* gamma, const float* dy, const float* mean,
                                 const float* rstd, float* dx, int rows, int D, int acc) {
  const int lane = threadIdx.x & 31;
  const long long r = blockIdx.x * 8LL + (threadIdx.x >> 5);
  if (r >= rows) return;
  const float* xr = x + r * D;
  const float* dyr = dy + r * D;
  const float m = mean[r], rs = rstd[r];
  float s1 = 0.0f, s2 = 0.0f;
  for (int j = lane; j < D; j += 32) {
    const float h = (xr[j] - m) * rs, dh = gamma ? dyr[j] * gamma[j] : dyr[j];
    s1 += dh;
    s2 += dh * h;
  }
  s1 = warp_sum(s1) / D;
  s2 = warp_sum(s2) / D;
  for (int j = lane; j < D; j += 32) {
    const float h = (xr[j] - m) * rs, dh = gamma ? dyr[j] * gamma[j] : dyr[j];
    store_or_add(dx, r * D + j, rs * (dh - s1 - h * s2), acc);
  }
}

// dgamma[j] += Σ_r dy·h, dbeta[j] += Σ_r dy (either may be null): a column reduction.
// Launch: block (32, 8), grid (ceil(D / 32), min(ceil(rows / 256), 1024)); partial sums per block
// reduced in shared memory, then one atomicAdd per column and block (addition order may vary).
KERNEL void layernorm_bwd_affine_f32(const float* x, const float* dy, const float* mean, const float* rstd,
                                     float* dgamma, float* dbeta, int rows, int D) {
  __shared__ float pg[8][33], pb[8][33];
  const int j = blockIdx.x * 32 + threadIdx.x;
  float sg = 0.0f, sb = 0.0f;
  if (j < D) {
    for (long long r = blockIdx.y * 8 + threadIdx.y; r < rows; r += gridDim.y * 8) {
      const float d = dy[r * D + j];
      sg += d * (x[r * D + j] - mean[r]) * rstd[r];
      sb += d;
    }
  }
  pg[threadIdx.y][threadIdx.x] = sg;
  pb[threadIdx.y][threadIdx.x] = sb;
  __syncthreads();
  if (threadIdx.y == 0 && j < D) {
    for (int k = 1; k < 8; k++) (sg += pg[k][threadIdx.x], sb += pb[k][threadIdx.x]);
    if (dgamma) atomicAdd(&dgamma[j], sg);
    if (dbeta) atomicAdd(&dbeta[j], sb);
  }
}
