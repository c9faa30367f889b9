// The kernels' per-element math run on the host: every kernel file is
// included, and the `__host__ __device__` functions they launch per element
// (the dropout hash, GELU and its derivatives, the loss cells, the AdamW element) are
// evaluated here on inputs from files, so tests/ops/cuda_host_test.ts can
// compare them with the CPU reference without a GPU. Only the math is checked
// this way; indexing, reductions and launches need a device
// (tests/ops/device_test.ts on the emulator and a GPU). Built by that test with nvcc into a
// temporary folder; not shipped.
//
// Usage: host_check MODE ARGS… (files are raw little-endian float32 / uint32)
//   pcg N SEED OUT                          OUT: N words pcg(seed ^ pcg(i)), dropout's draws
//   gelu N X OUT                            OUT: tanh y, tanh y', erf y, erf y' (4·N floats)
//   loss ID M E V MEMBERS VALUES VALID LAT VW|- OUT   OUT: loss, gradient of the loss [M·E·V]
//   adamw N W G M V SCALARS OUT             SCALARS: gs lr b1 b2 eps wd bc1 bc2; OUT: w, m, v
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "kernels/adamw.cu"
#include "kernels/attention.cu"
#include "kernels/dropout.cu"
#include "kernels/elementwise.cu"
#include "kernels/layernorm.cu"
#include "kernels/losses.cu"

template <typename T>
static std::vector<T> read_file(const char* path, size_t n) {
  std::vector<T> v(n);
  FILE* f = fopen(path, "rb");
  if (!f || fread(v.data(), sizeof(T), n, f) != n) {
    fprintf(stderr, "%s: cannot read %zu values\n", path, n);
    exit(2);
  }
  fclose(f);
  return v;
}

template <typename T>
static void write_file(const char* path, const std::vector<T>& v) {
  FILE* f = fopen(path, "wb");
  if (!f || fwrite(v.data(), sizeof(T), v.size(), f) != v.size()) {
    fprintf(stderr, "%s: cannot write\n", path);
    exit(2);
  }
  fclose(f);
}

static int pcg(char** a) {
  const long long n = atoll(a[0]);
  const unsigned seed = (unsigned)strtoul(a[1], nullptr, 10);
  std::vector<unsigned> out(n);
  for (long long i = 0; i < n; i++) out[i] = pcg_hash(seed ^ pcg_hash((unsigned)i));
  write_file(a[2], out);
  return 0;
}

static int gelu(char** a) {
  const size_t n = atoll(a[0]);
  const std::vector<float> x = read_file<float>(a[1], n);
  std::vector<float> out(4 * n);
  for (size_t i = 0; i < n; i++) {
    out[i] = gelu_tanh(x[i]);
    out[n + i] = gelu_tanh_grad(x[i]);
    out[2 * n + i] = x[i] * normal_cdf_nr(x[i]);
    out[3 * n + i] = gelu_erf_grad(x[i]);
  }
  write_file(a[2], out);
  return 0;
}

static int loss(char** a) {
  const int id = atoi(a[0]), M = atoi(a[1]), E = atoi(a[2]), V = atoi(a[3]);
  const std::vector<float> p = read_file<float>(a[4], (size_t)M * E * V);
  const std::vector<float> values = read_file<float>(a[5], (size_t)M * V), valid = read_file<float>(a[6], (size_t)M * V);
  const std::vector<float> lat = read_file<float>(a[7], M);
  std::vector<float> vw;
  if (strcmp(a[8], "-") != 0) vw = read_file<float>(a[8], (size_t)M * V);
  std::vector<float> grad((size_t)M * E * V, 0.0f);
  double sums[3] = {0, 0, 0};
  for (long long mv = 0; mv < (long long)M * V; mv++) {
    const long long m = mv / V, v = mv % V, base = m * E * V + v;
    if (valid[mv] == 0.0f) continue;
    const LossCell c = loss_cell(p.data(), grad.data(), base, E, V, values[mv],
                                 id == 3 ? (vw.empty() ? lat[m] : vw[mv]) : 1.0, id);
    sums[0] += c.total;
    sums[1] += c.count;
    sums[2] += c.spread;
  }
  std::vector<float> out(1 + grad.size());
  const double spread = id == 6 && E > 1 ? sums[2] / (2.0 * E * (E - 1)) : 0.0;
  out[0] = (float)((sums[0] - spread) / (sums[1] != 0 ? sums[1] : 1.0));
  const double s = 1.0 / (sums[1] != 0 ? sums[1] : 1.0);
  for (size_t i = 0; i < grad.size(); i++) out[1 + i] = (float)(grad[i] * s);
  write_file(a[9], out);
  return 0;
}

static int adamw(char** a) {
  const size_t n = atoll(a[0]);
  std::vector<float> w = read_file<float>(a[1], n), g = read_file<float>(a[2], n);
  std::vector<float> m = read_file<float>(a[3], n), v = read_file<float>(a[4], n);
  const std::vector<float> s = read_file<float>(a[5], 8);  // gs lr b1 b2 eps wd bc1 bc2
  for (size_t i = 0; i < n; i++) adamw_element(&w[i], &m[i], &v[i], g[i], s[0], s[1], s[2], s[3], s[4], 1.0f - s[1] * s[5], s[6], s[7]);
  std::vector<float> out(w);
  out.insert(out.end(), m.begin(), m.end());
  out.insert(out.end(), v.begin(), v.end());
  write_file(a[6], out);
  return 0;
}

int main(int argc, char** argv) {
  const char* mode = argc > 1 ? argv[1] : "";
  if (!strcmp(mode, "pcg") && argc == 5) return pcg(argv + 2);
  if (!strcmp(mode, "gelu") && argc == 5) return gelu(argv + 2);
  if (!strcmp(mode, "loss") && argc == 12) return loss(argv + 2);
  if (!strcmp(mode, "adamw") && argc == 9) return adamw(argv + 2);
  fprintf(stderr, "usage: host_check pcg|gelu|loss|adamw ARGS (see the file's opening comment)\n");
  return 2;
}
