// The tail ensemble's losses (training/losses.ts `fieldLoss` is the
// reference), one thread per (member token m, value v) over the ensemble E:
// the thread writes the unnormalized per-member gradient as the CPU does, and
// adds its value, weight and (kernel_crps) spread terms into three double
// accumulators. loss_finish turns them into the scalar loss on the device;
// loss_grad_apply multiplies the saved gradient by d loss / d out / n.
// Loss ids: 0 mse_ensemble, 1 stats, 2 mse, 3 weighted_mse, 4 crps, 5 stats_area, 6 kernel_crps
// (the order of LOSSES in training/losses.ts).
#include "common.cuh"

#define SIGMA_EPS 1e-6

struct Gaussian { double value, dMu, dSigma; };

// The loss term of ensemble mean mu and spread sigma at truth y, and its derivatives (losses.ts gaussianTerm).
__host__ __device__ inline Gaussian gaussian_term(int loss, double y, double mu, double sigma) {
  const double z = (y - mu) / sigma;
  if (loss == 1) {  // stats
    const double a = exp(-0.5 * z * z), dz = 2 * (a - 1) * a * -z;
    return {(a - 1) * (a - 1) + sqrt(sigma), dz * (-1 / sigma), dz * (-z / sigma) + 0.5 / sqrt(sigma)};
  }
  if (loss == 5) {  // stats_area: AtmoRep divides by σ², not σ√2
    const double u = (y - mu) / (sigma * sigma), a = erf_as(u);
    const double du = 0.4 * a * 1.1283791670955126 * exp(-u * u);
    return {0.2 * a * a + sqrt(sigma), du * (-1 / (sigma * sigma)), du * (-2 * u / sigma) + 0.5 / sqrt(sigma)};
  }
  // crps: Gaussian CRPS of N(mu, sigma)
  const double pdf = exp(-0.5 * z * z) * 0.3989422804014327, cdf = 0.5 * (1 + erf_as(z * 0.7071067811865476));
  const double isp = 0.5641895835477563;  // 1/√π
  return {sigma * (z * (2 * cdf - 1) + 2 * pdf - isp), -(2 * cdf - 1), 2 * pdf - isp};
}

// What one (m, v) adds to the loss: value, weight (count) and the kernel_crps spread.
struct LossCell { double total, count, spread; };

// One (m, v) cell: members p [M, E, V] (E values V apart from `base`), truth y, weight rw (1 but for
// weighted_mse); writes the cell's unnormalized gradient into grad (same layout) as training/losses.ts.
__host__ __device__ inline LossCell loss_cell(const float* p, float* grad, long long base, int E, int V, double y,
                                              double rw, int loss) {
  LossCell c = {0, rw, 0};
  if (loss == 0 || loss == 3) {
    for (int e = 0; e < E; e++) {
      const double d = (double)p[base + e * V] - y;
      c.total += rw * d * d / E;
      grad[base + e * V] = (float)(2 * rw * d / E);
    }
    return c;
  }
  if (loss == 6) {
    for (int e = 0; e < E; e++) {
      const double d = (double)p[base + e * V] - y;
      c.total += fabs(d) / E;
      grad[base + e * V] = (float)((d > 0) - (d < 0)) / E;
      for (int f = 0; f < E; f++) c.spread += fabs((double)p[base + e * V] - p[base + f * V]);
    }
    return c;
  }
  double mu = 0;
  for (int e = 0; e < E; e++) mu += p[base + e * V];
  mu /= E;
  double dMu = 0, dSigma = 0, sigma = 0;
  if (loss == 2) {
    const double d = mu - y;
    c.total = d * d;
    dMu = 2 * d;
  } else {
    double ss = 0;
    for (int e = 0; e < E; e++) ss += (p[base + e * V] - mu) * (p[base + e * V] - mu);
    sigma = sqrt(ss / (E - 1)) + SIGMA_EPS;
    const Gaussian g = gaussian_term(loss, y, mu, sigma);
    c.total = g.value;
    dMu = g.dMu;
    dSigma = g.dSigma;
  }
  for (int e = 0; e < E; e++) {
    const double dev = p[base + e * V] - mu;
    const double sd = sigma - SIGMA_EPS != 0 ? sigma - SIGMA_EPS : 1.0;
    const double dsd = sigma > 0 && dSigma != 0 ? dev / ((E - 1) * sd) : 0.0;
    grad[base + e * V] = (float)(dMu / E + dSigma * dsd);
  }
  return c;
}

// The weight of cell (m, v): valueWeights [M, V] when not null, else latWeight [M], for weighted_mse; else 1.
__host__ __device__ inline double cell_weight(int loss, const float* latWeight, const float* valueWeights,
                                              long long m, long long mv) {
  return loss == 3 ? (valueWeights ? valueWeights[mv] : latWeight[m]) : 1.0;
}

// One (m, v) of members [M, E, V] against values/valid [M, V] per thread. grad [M, E, V] is written (0 where
// the value does not count). sums: [total, count, spread] doubles, zeroed by the caller.
// Launch: 1-D, 256 threads, grid ceil(M·V / 256); block sums, then three double atomicAdds per block.
KERNEL void field_loss_f32(const float* members, const float* values, const float* valid, const float* latWeight,
                           const float* valueWeights, float* grad, double* sums, int M, int E, int V, int loss) {
  const long long mv = blockIdx.x * (long long)blockDim.x + threadIdx.x;
  LossCell c = {0, 0, 0};
  if (mv < (long long)M * V) {
    const long long m = mv / V, v = mv % V, base = m * E * V + v;
    if (valid[mv] == 0.0f) {
      for (int e = 0; e < E; e++) grad[base + e * V] = 0.0f;
    } else {
      c = loss_cell(members, grad, base, E, V, values[mv], cell_weight(loss, latWeight, valueWeights, m, mv), loss);
    }
  }
  const double total = block_sum_d(c.total), count = block_sum_d(c.count), spread = block_sum_d(c.spread);
  if (threadIdx.x == 0) {
    atomicAdd(&sums[0], total);
    atomicAdd(&sums[1], count);
    atomicAdd(&sums[2], spread);
  }
}

// The loss from the sums: (total − spread/(2E(E−1)) for kernel_crps) / (count or 1).
__host__ __device__ inline double loss_value(const double* sums, int E, int loss) {
  double total = sums[0];
  if (loss == 6 && E > 1) total -= sums[2] / (2.0 * E * (E - 1));
  return total / (sums[1] != 0 ? sums[1] : 1.0);
}

// out[0] = (total − spread/(2E(E−1)) for kernel_crps) / (count or 1). Launch: 1 thread.
KERNEL void loss_finish(const double* sums, float* out, int E, int loss) {
  if (blockIdx.x == 0 && threadIdx.x == 0) out[0] = (float)loss_value(sums, E, loss);
}

// g (+)= grad · dout[0] / n with n = count or 1: the loss's backward, dout the scalar's gradient on the device.
// Launch: 1-D, 256 threads, grid min(ceil(n / 256), 65535), grid-stride.
KERNEL void loss_grad_apply_f32(const float* grad, const double* sums, const float* dout, float* g, long long n,
                                int acc) {
  const float s = (float)(dout[0] / (sums[1] != 0 ? sums[1] : 1.0));
  for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < n; i += (long long)gridDim.x * blockDim.x) {
    store_or_add(g, i, grad[i] * s, acc);
  }
}
