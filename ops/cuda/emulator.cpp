// A CPU emulation of the CUDA execution model, for testing the kernels'
// indexing, reductions and launches without a GPU (tests/ops/cuda_emulated_test.ts).
// The kernel files are compiled by the host C++ compiler with `__global__`,
// `__device__` and `__shared__` mapped to host code: each block runs alone,
// its threads as real threads, `__syncthreads` a barrier of the block, warp
// shuffles an exchange through a per-warp barrier, atomics std::atomic_ref,
// `__shared__` arrays statics (one block at a time, so one copy suffices).
// Exited threads drop out of the barriers, as in CUDA. What it cannot show:
// the GPU's memory model, timing, the PTX JIT, and anything of cuBLAS.
//
// Protocol, one command per line, in the file named by the first argument (else stdin):
//   buffer ID BYTES PATH|-          allocate buffer ID, filled from PATH (raw bytes) or zeroed
//   launch NAME GX GY GZ BX BY BZ ARG…   ARG: bID+OFFSET (a buffer's address + byte offset) or a number
//   dump ID PATH                    write buffer ID's bytes to PATH
#include <cuda_bf16.h>

#include <atomic>
#include <barrier>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <iostream>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

using std::isfinite;

// ---- the execution model ----
static dim3 gridDim, blockDim;
static uint3 blockIdx;
static thread_local uint3 threadIdx;
static thread_local int emu_warp, emu_lane;

struct WarpExchange {
  std::unique_ptr<std::barrier<>> bar;
  double vals[32];
};
static std::barrier<>* emu_block_barrier;
static std::vector<WarpExchange>* emu_warps;

static void __syncthreads() { emu_block_barrier->arrive_and_wait(); }

template <typename T>
static T __shfl_xor_sync(unsigned, T v, int offset) {
  WarpExchange& w = (*emu_warps)[emu_warp];
  w.vals[emu_lane] = (double)v;  // float and double values round-trip exactly
  w.bar->arrive_and_wait();
  const T r = (T)w.vals[emu_lane ^ offset];
  w.bar->arrive_and_wait();
  return r;
}

template <typename T>
static T atomicAdd(T* p, T v) {
  return std::atomic_ref<T>(*p).fetch_add(v);
}

#undef __global__
#undef __device__
#undef __host__
#undef __shared__
#undef __forceinline__
#define __global__
#define __device__
#define __host__
#define __shared__ static
#define __forceinline__ inline

#include "kernels/adamw.cu"
#include "kernels/attention.cu"
#include "kernels/dropout.cu"
#include "kernels/elementwise.cu"
#include "kernels/layernorm.cu"
#include "kernels/losses.cu"

// ---- launching ----
struct Buffer {
  std::vector<unsigned char> bytes;
};
static std::map<int, Buffer> buffers;

/** One argument as the command gave it: a buffer address (id, offset) or a number. */
struct Arg {
  int buffer = -1;
  long long offset = 0;
  double number = 0;
};

template <typename T>
static T convert(const Arg& a) {
  if constexpr (std::is_pointer_v<T>) {
    if (a.buffer < 0) return a.number == 0 ? nullptr : throw std::runtime_error("pointer argument is a number");
    return reinterpret_cast<T>(buffers.at(a.buffer).bytes.data() + a.offset);
  } else {
    if (a.buffer >= 0) throw std::runtime_error("number argument is a buffer");
    return (T)a.number;
  }
}

using Caller = std::function<void(const std::vector<Arg>&)>;

template <typename... P>
static Caller caller(void (*f)(P...)) {
  return [f](const std::vector<Arg>& args) {
    if (args.size() != sizeof...(P)) throw std::runtime_error("wrong argument count");
    size_t i = 0;
    std::tuple<P...> values{convert<P>(args[i++])...};  // braced init: evaluated left to right
    std::apply(f, values);
  };
}

#define K(name) {#name, caller(name)}
static const std::map<std::string, Caller> KERNELS = {
    K(add_f32), K(scale_f32), K(add_broadcast_f32), K(scale_rows_f32), K(col_sum_add_f32),
    K(gelu_tanh_fwd_f32), K(gelu_tanh_bwd_f32), K(gelu_erf_fwd_f32), K(gelu_erf_bwd_f32),
    K(cols_to_wide_f32), K(wide_to_cols_f32), K(gather_rows_f32), K(scatter_add_rows_f32),
    K(cast_f32_bf16), K(cast_bf16_f32), K(philox_words), K(dropout_f32), K(dropout_mask_f32),
    K(layernorm_fwd_f32), K(layernorm_bwd_dx_f32), K(layernorm_bwd_affine_f32),
    K(softmax_rows_fwd_f32), K(softmax_rows_recompute_f32), K(softmax_rows_bwd_f32),
    K(field_loss_f32), K(loss_finish), K(loss_grad_apply_f32),
    K(sumsq_add_f32), K(clip_factor), K(adamw_update_f32),
};

/** Run every block of the grid, one after the other, each with blockDim real threads. */
static void launch(const Caller& call, const std::vector<Arg>& args) {
  const unsigned threads = blockDim.x * blockDim.y * blockDim.z;
  for (unsigned bz = 0; bz < gridDim.z; bz++)
    for (unsigned by = 0; by < gridDim.y; by++)
      for (unsigned bx = 0; bx < gridDim.x; bx++) {
        blockIdx = {bx, by, bz};
        std::barrier<> block(threads);
        std::vector<WarpExchange> warps((threads + 31) / 32);
        for (unsigned w = 0; w < warps.size(); w++) {
          warps[w].bar = std::make_unique<std::barrier<>>(std::min(32u, threads - 32 * w));
        }
        emu_block_barrier = &block;
        emu_warps = &warps;
        std::vector<std::thread> pool;
        std::atomic<bool> failed{false};
        for (unsigned t = 0; t < threads; t++) {
          pool.emplace_back([&, t] {
            threadIdx = {t % blockDim.x, (t / blockDim.x) % blockDim.y, t / (blockDim.x * blockDim.y)};
            emu_warp = t / 32;
            emu_lane = t % 32;
            try {
              call(args);
            } catch (...) {
              failed = true;
            }
            warps[emu_warp].bar->arrive_and_drop();  // an exited thread no longer holds the others back
            block.arrive_and_drop();
          });
        }
        for (auto& th : pool) th.join();
        if (failed) throw std::runtime_error("a thread failed");
      }
}

static Arg parse_arg(const std::string& s) {
  Arg a;
  if (s[0] == 'b') {
    const size_t plus = s.find('+');
    a.buffer = std::stoi(s.substr(1, plus - 1));
    a.offset = plus == std::string::npos ? 0 : std::stoll(s.substr(plus + 1));
  } else {
    a.number = std::stod(s);
  }
  return a;
}

int main(int argc, char** argv) {
  std::ifstream file;
  if (argc > 1) file.open(argv[1]);
  std::istream& script = argc > 1 ? static_cast<std::istream&>(file) : std::cin;
  if (!script) {
    fprintf(stderr, "emulator: cannot read %s\n", argv[1]);
    return 1;
  }
  std::string line;
  try {
    while (std::getline(script, line)) {
      std::istringstream in(line);
      std::string cmd;
      in >> cmd;
      if (cmd == "buffer") {
        int id;
        size_t bytes;
        std::string path;
        in >> id >> bytes >> path;
        Buffer& b = buffers[id];
        b.bytes.assign(bytes, 0);
        if (path != "-") {
          std::ifstream f(path, std::ios::binary);
          f.read(reinterpret_cast<char*>(b.bytes.data()), bytes);
          if (!f) throw std::runtime_error("cannot read " + path);
        }
      } else if (cmd == "launch") {
        std::string name;
        in >> name >> gridDim.x >> gridDim.y >> gridDim.z >> blockDim.x >> blockDim.y >> blockDim.z;
        std::vector<Arg> args;
        for (std::string s; in >> s;) args.push_back(parse_arg(s));
        const auto k = KERNELS.find(name);
        if (k == KERNELS.end()) throw std::runtime_error("no kernel " + name);
        launch(k->second, args);
      } else if (cmd == "dump") {
        int id;
        std::string path;
        in >> id >> path;
        std::ofstream f(path, std::ios::binary);
        f.write(reinterpret_cast<const char*>(buffers.at(id).bytes.data()), buffers.at(id).bytes.size());
      } else if (!cmd.empty()) {
        throw std::runtime_error("unknown command " + cmd);
      }
    }
  } catch (const std::exception& e) {
    fprintf(stderr, "emulator: %s (line: %s)\n", e.what(), line.c_str());
    return 1;
  }
  return 0;
}
