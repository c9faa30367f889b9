// The row work of attention (ops/attention.ts is the reference), first
// version: the scores of every (batch, head) are materialized by a
// strided-batched GEMM (cuBLAS, scale 1/√d as its alpha) into S [B, H, Lq, Lk]
// fp32, these kernels turn them into probabilities in place (key mask, max,
// exp, sum, log-sum-exp saved), a second batched GEMM gives P·V. The backward
// pass takes dP = dO·Vᵀ from a GEMM and forms dS = P∘(dP − Σ P∘dP)·scale in
// place. Memory: 4·B·H·Lq·Lk bytes for P kept for the backward plus as much
// for dP while it runs (1080 tokens, 16 heads: 75 MB per batch entry and layer).
#include "common.cuh"

// S (rows = B·H·Lq rows of Lk scores) → probabilities in place (the contract's softmaxRows); when lse is not
// null, lse[row] = max + log Σ exp. mask [B, Lk] floats (0 ignore, else attend) or null; a row of batch b =
// row / rowsPerBatch. A row with no key left gets P = 0 and lse = +∞ (the CPU's convention: its output is zero).
// Launch: one warp per row, block 256 (8 rows), grid ceil(rows / 8).
KERNEL void softmax_rows_fwd_f32(float* S, float* lse, const float* mask, long long rows, int Lk,
                                 int rowsPerBatch) {
  const int lane = threadIdx.x & 31;
  const long long r = blockIdx.x * 8LL + (threadIdx.x >> 5);
  if (r >= rows) return;
  float* s = S + r * Lk;
  const float* mk = mask ? mask + (r / rowsPerBatch) * Lk : nullptr;
  float m = -INFINITY;
  for (int j = lane; j < Lk; j += 32) if (!mk || mk[j] != 0.0f) m = fmaxf(m, s[j]);
  m = warp_max(m);
  if (m == -INFINITY) {  // every key masked
    for (int j = lane; j < Lk; j += 32) s[j] = 0.0f;
    if (lane == 0 && lse) lse[r] = INFINITY;
    return;
  }
  float sum = 0.0f;
  for (int j = lane; j < Lk; j += 32) {
    const float e = (!mk || mk[j] != 0.0f) ? expf(s[j] - m) : 0.0f;
    s[j] = e;
    sum += e;
  }
  sum = warp_sum(sum);
  const float inv = 1.0f / sum;
  for (int j = lane; j < Lk; j += 32) s[j] *= inv;
  if (lane == 0 && lse) lse[r] = m + logf(sum);
}

// dS = P∘(dP − Σ_j P∘dP)·scale, in place in dP (the scale is the forward's 1/√d, carried to q and k).
// Launch: one warp per row, block 256, grid ceil(rows / 8).
KERNEL void softmax_rows_bwd_f32(const float* P, float* dP, long long rows, int Lk, float scale) {
  const int lane = threadIdx.x & 31;
  const long long r = blockIdx.x * 8LL + (threadIdx.x >> 5);
  if (r >= rows) return;
  const float* p = P + r * Lk;
  float* d = dP + r * Lk;
  float dot = 0.0f;
  for (int j = lane; j < Lk; j += 32) dot += p[j] * d[j];
  dot = warp_sum(dot);
  for (int j = lane; j < Lk; j += 32) d[j] = p[j] * (d[j] - dot) * scale;
}
