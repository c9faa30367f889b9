// A CPU emulation of the CUDA execution model, for testing the kernels'
// indexing, reductions and launches without a GPU (ops/cuda/emulated.ts drives it).
// The kernel files are compiled by the host C++ compiler with `__global__`,
// `__device__` and `__shared__` mapped to host code: each block runs alone,
// its threads as fibers switched at barriers (below), `__syncthreads` a
// barrier of the block, warp shuffles an exchange through a per-warp
// barrier, atomics std::atomic_ref, `__shared__` arrays statics (one block
// at a time, so one copy suffices).
// Exited threads drop out of the barriers, as in CUDA. What it cannot show:
// the GPU's memory model, timing, the PTX JIT, and anything of cuBLAS.
//
// It runs as one process per emulated device, reading the commands of
// ops/cuda/emulated.ts (the protocol above `main`) from stdin: buffers stay in
// the process, and only a `dump` (a read) waits for the work before it.
#include <cuda_bf16.h>

#include <atomic>
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
#include <ucontext.h>
#include <vector>

using std::isfinite;

// ---- the execution model ----
// A block's threads are fibers (ucontext) of one OS thread, switched only at a barrier: each runs until it
// waits at `__syncthreads` or a warp exchange, or ends; the scheduler resumes them in turn until all have
// ended. Creating an OS thread per CUDA thread cost ≈ 20 ms per block of 256; a fiber switch is ~100 ns.
static dim3 gridDim, blockDim;
static uint3 blockIdx;
static uint3 threadIdx;
static int emu_warp, emu_lane;

/** A barrier of `expected` fibers; one that ends drops out (as an exited CUDA thread). */
struct Barrier {
  int expected = 0, arrived = 0;
  unsigned generation = 0;
};

struct Fiber {
  ucontext_t context;
  std::unique_ptr<char[]> stack;
  uint3 thread;
  bool done = false;
};
static constexpr size_t FIBER_STACK = 256 * 1024;
static std::vector<Fiber> emu_fibers;
static ucontext_t emu_scheduler;
static int emu_current;

static void emu_yield() { swapcontext(&emu_fibers[emu_current].context, &emu_scheduler); }

static void arrive_and_wait(Barrier& b) {
  const unsigned g = b.generation;
  if (++b.arrived == b.expected) {
    b.arrived = 0;
    b.generation++;
    return;
  }
  while (b.generation == g) emu_yield();
}

static void arrive_and_drop(Barrier& b) {
  b.expected--;
  if (b.arrived > 0 && b.arrived == b.expected) {
    b.arrived = 0;
    b.generation++;
  }
}

struct WarpExchange {
  Barrier bar;
  double vals[32];
};
static Barrier emu_block_barrier;
static std::vector<WarpExchange> emu_warps;

static void __syncthreads() { arrive_and_wait(emu_block_barrier); }

template <typename T>
static T __shfl_xor_sync(unsigned, T v, int offset) {
  WarpExchange& w = emu_warps[emu_warp];
  w.vals[emu_lane] = (double)v;  // float and double values round-trip exactly
  arrive_and_wait(w.bar);
  const T r = (T)w.vals[emu_lane ^ offset];
  arrive_and_wait(w.bar);
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
    K(strided_f32), K(add_broadcast_f32), K(scale_rows_f32), K(col_sum_add_f32),
    K(gelu_tanh_fwd_f32), K(gelu_tanh_bwd_f32), K(gelu_erf_fwd_f32), K(gelu_erf_bwd_f32),
    K(mul_add_f32), K(gather_rows_f32), K(scatter_add_csr_f32), K(dropout_hash_f32),
    K(layernorm_fwd_f32), K(layernorm_bwd_dx_f32), K(layernorm_bwd_affine_f32),
    K(softmax_rows_fwd_f32), K(softmax_rows_bwd_f32),
    K(ensemble_loss_f32), K(loss_total_f32), K(loss_backward_f32), K(ensemble_mean_mse_f32),
    K(sum_squares_f32), K(adamw_f32),
};

static const Caller* emu_call;
static const std::vector<Arg>* emu_args;
static bool emu_failed;

/** A fiber's body: the kernel for one thread, then leave the barriers. */
static void fiber_main() {
  const int t = emu_current;
  try {
    (*emu_call)(*emu_args);
  } catch (...) {
    emu_failed = true;
  }
  arrive_and_drop(emu_warps[t / 32].bar);  // an exited thread no longer holds the others back
  arrive_and_drop(emu_block_barrier);
  emu_fibers[t].done = true;
}  // returns to uc_link: the scheduler

/** Run every block of the grid, one after the other, each with blockDim fibers. */
static void launch(const Caller& call, const std::vector<Arg>& args) {
  const unsigned threads = blockDim.x * blockDim.y * blockDim.z;
  if (threads == 0 || threads > 1024) throw std::runtime_error("block of " + std::to_string(threads) + " threads");
  emu_call = &call;
  emu_args = &args;
  emu_failed = false;
  if (emu_fibers.size() < threads) emu_fibers.resize(threads);
  for (unsigned bz = 0; bz < gridDim.z; bz++)
    for (unsigned by = 0; by < gridDim.y; by++)
      for (unsigned bx = 0; bx < gridDim.x; bx++) {
        blockIdx = {bx, by, bz};
        emu_block_barrier = Barrier{(int)threads};
        emu_warps.assign((threads + 31) / 32, WarpExchange{});
        for (unsigned w = 0; w < emu_warps.size(); w++) emu_warps[w].bar.expected = std::min(32u, threads - 32 * w);
        for (unsigned t = 0; t < threads; t++) {
          Fiber& f = emu_fibers[t];
          if (!f.stack) f.stack.reset(new char[FIBER_STACK]);
          f.thread = {t % blockDim.x, (t / blockDim.x) % blockDim.y, t / (blockDim.x * blockDim.y)};
          f.done = false;
          getcontext(&f.context);
          f.context.uc_stack.ss_sp = f.stack.get();
          f.context.uc_stack.ss_size = FIBER_STACK;
          f.context.uc_link = &emu_scheduler;
          makecontext(&f.context, fiber_main, 0);
        }
        for (unsigned left = threads; left > 0;) {
          left = 0;
          for (unsigned t = 0; t < threads; t++) {
            Fiber& f = emu_fibers[t];
            if (f.done) continue;
            emu_current = (int)t;
            threadIdx = f.thread;
            emu_warp = (int)t / 32;
            emu_lane = (int)t % 32;
            swapcontext(&emu_scheduler, &f.context);
            if (!f.done) left++;
          }
        }
        if (emu_failed) throw std::runtime_error("a thread failed");
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

/** The bytes of buffer `id` from `offset` on, checked to hold `bytes` of them. */
static unsigned char* span(int id, long long offset, long long bytes) {
  Buffer& b = buffers.at(id);
  if (offset < 0 || bytes < 0 || offset + bytes > (long long)b.bytes.size()) {
    throw std::runtime_error("access outside buffer " + std::to_string(id));
  }
  return b.bytes.data() + offset;
}

/** An fp32 matrix operand of a gemm item: bID+OFFSET plus `item` floats, checked to hold rows × cols at stride ld. */
static float* matrix(const Arg& a, long long item, long long rows, long long cols, long long ld) {
  if (a.buffer < 0) throw std::runtime_error("gemm operand is not a buffer");
  const long long extent = rows == 0 || cols == 0 ? 0 : (rows - 1) * ld + cols;
  return reinterpret_cast<float*>(span(a.buffer, a.offset + 4 * item, 4 * extent));
}

// cuBLAS's place: row-major C = alpha·op(A)·op(B) + beta·C per batch item (C not read when beta is 0), fp32 with
// a double accumulator, items `count` apart by the strides (elements); each item's operands bounds-checked.
static void gemm(std::istringstream& in) {
  int ta, tb;
  long long M, N, K, lda, ldb, ldc, sa, sb, sc, count;
  double alpha, beta;
  std::string A, B, C;
  in >> ta >> tb >> M >> N >> K >> alpha >> A >> lda >> sa >> B >> ldb >> sb >> beta >> C >> ldc >> sc >> count;
  if (!in) throw std::runtime_error("gemm: bad arguments");
  const Arg a = parse_arg(A), b = parse_arg(B), c = parse_arg(C);
  for (long long t = 0; t < count; t++) {
    const float* at = matrix(a, t * sa, ta ? K : M, ta ? M : K, lda);
    const float* bt = matrix(b, t * sb, tb ? N : K, tb ? K : N, ldb);
    float* ct = matrix(c, t * sc, M, N, ldc);
    for (long long i = 0; i < M; i++)
      for (long long j = 0; j < N; j++) {
        double s = 0;
        for (long long k = 0; k < K; k++) s += (double)at[ta ? k * lda + i : i * lda + k] * bt[tb ? j * ldb + k : k * ldb + j];
        float* out = ct + i * ldc + j;
        *out = (float)(alpha * s + (beta == 0 ? 0.0 : beta * *out));
      }
  }
}

// Protocol: commands from the file (FIFO) COMMANDS, one a line; replies to REPLIES; an error ends the process
// with its message in the file ERRORS.
//   alloc ID BYTES                      a zeroed buffer
//   free ID
//   load ID OFFSET BYTES                followed by BYTES raw bytes: written into buffer ID at OFFSET
//   fill ID OFFSET COUNT WORD           COUNT 32-bit words from byte OFFSET set to WORD
//   launch NAME GX GY GZ BX BY BZ ARG…  ARG: bID+OFFSET (a buffer's address + byte offset) or a number
//   gemm TA TB M N K ALPHA A LDA SA B LDB SB BETA C LDC SC COUNT   (see gemm above; A, B, C as bID+OFFSET)
//   dump ID OFFSET BYTES                replies BYTES raw bytes of buffer ID from OFFSET
int main(int argc, char** argv) {
  if (argc != 4) {
    fprintf(stderr, "usage: emulator COMMANDS REPLIES ERRORS (paths: two FIFOs and a file)\n");
    return 2;
  }
  std::ifstream input(argv[1], std::ios::binary);
  std::ofstream output(argv[2], std::ios::binary);
  std::string line;
  try {
    while (std::getline(input, line)) {
      std::istringstream in(line);
      std::string cmd;
      in >> cmd;
      if (cmd == "alloc") {
        int id;
        size_t bytes;
        in >> id >> bytes;
        buffers[id].bytes.assign(bytes, 0);
      } else if (cmd == "free") {
        int id;
        in >> id;
        buffers.erase(id);
      } else if (cmd == "load") {
        int id;
        long long offset, bytes;
        in >> id >> offset >> bytes;
        input.read(reinterpret_cast<char*>(span(id, offset, bytes)), bytes);
        if (!input) throw std::runtime_error("load: short input");
      } else if (cmd == "fill") {
        int id;
        long long offset, count;
        unsigned word;
        in >> id >> offset >> count >> word;
        unsigned* w = reinterpret_cast<unsigned*>(span(id, offset, 4 * count));
        std::fill(w, w + count, word);
      } else if (cmd == "launch") {
        std::string name;
        in >> name >> gridDim.x >> gridDim.y >> gridDim.z >> blockDim.x >> blockDim.y >> blockDim.z;
        std::vector<Arg> args;
        for (std::string s; in >> s;) args.push_back(parse_arg(s));
        const auto k = KERNELS.find(name);
        if (k == KERNELS.end()) throw std::runtime_error("no kernel " + name);
        launch(k->second, args);
      } else if (cmd == "gemm") {
        gemm(in);
      } else if (cmd == "dump") {
        int id;
        long long offset, bytes;
        in >> id >> offset >> bytes;
        output.write(reinterpret_cast<const char*>(span(id, offset, bytes)), bytes);
        output.flush();
      } else if (!cmd.empty()) {
        throw std::runtime_error("unknown command " + cmd);
      }
    }
  } catch (const std::exception& e) {
    std::ofstream(argv[3]) << "emulator: " << e.what() << " (command: " << line.substr(0, 200) << ")\n";
    return 1;
  }
  return 0;
}
