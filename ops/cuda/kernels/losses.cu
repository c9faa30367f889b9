// The tail ensemble's losses of the device contract (ops/device.ts; training/losses.ts `fieldLoss` is the
// reference), one thread per (member token m, value v) over the ensemble E: the thread writes the
// unnormalized per-member gradient and its slot's value, count and (kernel_crps) spread terms, computed in
// double; loss_total sums them in one block (no atomics: the same bits every run), loss_backward scales the
// gradient by d loss / d out / count.
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

// The contract's ensembleLoss: one (m, v) slot s of members [M, E, V] against values/valid [M, V] per thread.
// terms[2s] the slot's loss term, terms[2s + 1] its count (rowWeights[s] for weighted_mse, else 1; 0 when not
// valid), terms[2MV + s] the kernel_crps spread (else 0); grad [M, E, V] the unnormalized member gradient.
// Launch: 1-D, 256 threads, grid ceil(M·V / 256).
KERNEL void ensemble_loss_f32(const float* members, const float* values, const float* valid, const float* rowWeights,
                              float* terms, float* grad, int M, int E, int V, int loss) {
  const long long s = blockIdx.x * (long long)blockDim.x + threadIdx.x, n = (long long)M * V;
  if (s >= n) return;
  const long long m = s / V, v = s % V, base = m * E * V + v;
  LossCell c = {0, 0, 0};
  if (valid[s] == 0.0f) {
    for (int e = 0; e < E; e++) grad[base + e * V] = 0.0f;
  } else {
    c = loss_cell(members, grad, base, E, V, values[s], loss == 3 ? rowWeights[s] : 1.0, loss);
  }
  terms[2 * s] = (float)c.total;
  terms[2 * s + 1] = (float)c.count;
  terms[2 * n + s] = (float)c.spread;
}

// out[0] = (Σ terms[2s] − spreadScale·Σ terms[2n + s]) / count, out[1] = count = Σ terms[2s + 1] (1 when 0),
// summed in double. Launch: one block of 256 threads.
KERNEL void loss_total_f32(const float* terms, int n, float spreadScale, float* out) {
  double a = 0, c = 0, sp = 0;
  for (int s = threadIdx.x; s < n; s += blockDim.x) {
    a += terms[2 * (long long)s];
    c += terms[2 * (long long)s + 1];
    sp += terms[2 * (long long)n + s];
  }
  a = block_sum_d(a);
  c = block_sum_d(c);
  sp = block_sum_d(sp);
  if (threadIdx.x == 0) {
    const double count = c != 0 ? c : 1.0;
    out[0] = (float)((a - spreadScale * sp) / count);
    out[1] = (float)count;
  }
}

// dx += grad·dout[0]/total[1] (the loss's backward: total is loss_total's out, dout the scalar's gradient).
// Launch: 1-D, 256 threads, grid min(ceil(n / 256), 65535), grid-stride.
KERNEL void loss_backward_f32(const float* grad, const float* total, const float* dout, float* dx, long long n) {
  const float s = dout[0] / total[1];
  for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < n; i += (long long)gridDim.x * blockDim.x) {
    dx[i] += grad[i] * s;
  }
}

// out[0] = mean over valid (m, v) of (mean_e members[m, e, v] − values[m, v])², out[1] = their count.
// Launch: one block of 256 threads.
KERNEL void ensemble_mean_mse_f32(const float* members, const float* values, const float* valid, int M, int E,
                                  int V, float* out) {
  double a = 0, c = 0;
  for (long long s = threadIdx.x; s < (long long)M * V; s += blockDim.x) {
    if (valid[s] == 0.0f) continue;
    const long long m = s / V, v = s % V;
    double mu = 0;
    for (int e = 0; e < E; e++) mu += members[(m * E + e) * V + v];
    const double d = mu / E - values[s];
    a += d * d;
    c += 1;
  }
  a = block_sum_d(a);
  c = block_sum_d(c);
  if (threadIdx.x == 0) {
    out[0] = (float)(a / c);
    out[1] = (float)c;
  }
}
