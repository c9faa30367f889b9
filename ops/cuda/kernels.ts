/**
 * The project's CUDA kernels as the host sees them: {@link KERNELS} gives
 * each kernel's file and argument kinds (checked against the parameter lists
 * of the committed PTX by tests/ops/cuda_build_test.ts, so a launch can never
 * pass arguments the kernel does not declare), and {@link CudaKernels} loads
 * the PTX for the device's architecture and launches each op with its
 * documented configuration. Buffers are device addresses (`bigint`);
 * `acc` = 1 adds into the output (gradients accumulate as on the CPU tape),
 * 0 overwrites it.
 *
 * @module
 */
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { type CudaDevice, type Dim3, packParams, type ParamKind } from "./driver.ts";
import type { Cublas } from "./cublas.ts";

/** A device, its kernels and a cuBLAS handle on its stream (or stand-ins: ops/cuda/emulated.ts). */
export interface CudaContext {
  device: CudaDevice;
  kernels: CudaKernels;
  cublas: Cublas;
}

const P = "ptr", I = "i32", U = "u32", L = "i64", F = "f32";

/** Every kernel: the .cu file it is in and its arguments' kinds in order. */
export const KERNELS = {
  strided_f32: { file: "elementwise", params: [P, L, P, L, I, I, I, F] },
  add_broadcast_f32: { file: "elementwise", params: [P, P, P, L, I] },
  scale_rows_f32: { file: "elementwise", params: [P, P, P, L, I, I] },
  col_sum_add_f32: { file: "elementwise", params: [P, P, I, I] },
  gelu_tanh_fwd_f32: { file: "elementwise", params: [P, P, L] },
  gelu_tanh_bwd_f32: { file: "elementwise", params: [P, P, P, L, I] },
  gelu_erf_fwd_f32: { file: "elementwise", params: [P, P, L] },
  gelu_erf_bwd_f32: { file: "elementwise", params: [P, P, P, L, I] },
  mul_add_f32: { file: "elementwise", params: [P, P, P, L] },
  gather_rows_f32: { file: "elementwise", params: [P, P, P, I, I] },
  scatter_add_csr_f32: { file: "elementwise", params: [P, P, P, P, I, I] },
  dropout_hash_f32: { file: "dropout", params: [P, P, P, L, U, U, F] },
  layernorm_fwd_f32: { file: "layernorm", params: [P, P, P, P, P, P, I, I, F] },
  layernorm_bwd_dx_f32: { file: "layernorm", params: [P, P, P, P, P, P, I, I, I] },
  layernorm_bwd_affine_f32: { file: "layernorm", params: [P, P, P, P, P, P, I, I] },
  softmax_rows_fwd_f32: { file: "attention", params: [P, P, P, L, I, I] },
  softmax_rows_bwd_f32: { file: "attention", params: [P, P, L, I, F] },
  ensemble_loss_f32: { file: "losses", params: [P, P, P, P, P, P, I, I, I, I] },
  loss_total_f32: { file: "losses", params: [P, I, F, P] },
  loss_backward_f32: { file: "losses", params: [P, P, P, P, L] },
  ensemble_mean_mse_f32: { file: "losses", params: [P, P, P, I, I, I, P] },
  sum_squares_f32: { file: "adamw", params: [P, L, P] },
  adamw_f32: { file: "adamw", params: [P, P, P, P, L, P, F, F, F, F, F, F, F, F] },
} as const satisfies Record<string, { file: string; params: readonly ParamKind[] }>;

/** A kernel name. */
export type KernelName = keyof typeof KERNELS;

/** Loss ids of ensemble_loss_f32: the order of LOSSES in training/losses.ts (a test checks they agree). */
export const LOSS_IDS = ["mse_ensemble", "stats", "mse", "weighted_mse", "crps", "stats_area", "kernel_crps"] as const;

/** Threads per block of the 1-D kernels. */
export const THREADS = 256;
const MAX_GRID = 65535;

/** 1-D launch over n items (grid-stride beyond 65535 blocks). */
export function grid1d(n: number, perThread = 1): Dim3 {
  return [Math.max(1, Math.min(Math.ceil(Math.ceil(n / perThread) / THREADS), MAX_GRID)), 1, 1];
}

/** One warp per row, 8 rows per 256-thread block. */
export function warpRowsGrid(rows: number): Dim3 {
  return [Math.max(1, Math.ceil(rows / 8)), 1, 1];
}

/** Column reductions: 32 columns × 8 row lanes per block, row chunks of 256 over grid.y (≤ 1024). */
export function columnGrid(rows: number, width: number): Dim3 {
  return [Math.max(1, Math.ceil(width / 32)), Math.max(1, Math.min(Math.ceil(rows / 256), 1024)), 1];
}

/** The folder of the committed PTX. */
export const PTX_DIR: string = fileURLToPath(new URL("./ptx/", import.meta.url));

/** The PTX target for a compute capability: sm_90 PTX on Hopper and newer, sm_80 on Ampere/Ada. */
export function ptxArch(capability: [number, number]): "sm_80" | "sm_90" {
  if (capability[0] >= 9) return "sm_90";
  if (capability[0] >= 8) return "sm_80";
  throw new Error(
    `compute capability ${
      capability.join(".")
    }: the cuda backend needs 8.0 or newer (Ampere: bf16 and the PTX targets)`,
  );
}

/** The kernels loaded on one device. */
export class CudaKernels {
  /** The device. */
  readonly device: CudaDevice;
  /** The PTX target loaded. */
  readonly arch: "sm_80" | "sm_90";
  private readonly modules = new Map<string, Deno.PointerValue>();
  private readonly functions = new Map<string, Deno.PointerValue>();

  constructor(device: CudaDevice) {
    this.device = device;
    this.arch = ptxArch(device.info.capability);
  }

  /** Launch kernel `name` with arguments in its declared order. */
  launch(name: KernelName, grid: Dim3, block: Dim3, args: readonly (number | bigint)[]): void {
    this.device.launch(this.fn(name), grid, block, packParams(KERNELS[name].params, args), 0, name);
  }

  /** A 1-D elementwise launch over n items (256 threads). */
  launch1d(name: KernelName, n: number, args: readonly (number | bigint)[], perThread = 1): void {
    this.launch(name, grid1d(n, perThread), [THREADS, 1, 1], args);
  }

  /** A warp-per-row launch over `rows` rows. */
  launchRows(name: KernelName, rows: number, args: readonly (number | bigint)[]): void {
    this.launch(name, warpRowsGrid(rows), [THREADS, 1, 1], args);
  }

  /** A column-reduction launch (block 32 × 8). */
  launchColumns(name: KernelName, rows: number, width: number, args: readonly (number | bigint)[]): void {
    this.launch(name, columnGrid(rows, width), [32, 8, 1], args);
  }

  private fn(name: KernelName): Deno.PointerValue {
    let f = this.functions.get(name);
    if (f) return f;
    const file = KERNELS[name].file;
    let m = this.modules.get(file);
    if (!m) {
      const ptx = Deno.readTextFileSync(join(PTX_DIR, `${file}.${this.arch}.ptx`));
      m = this.device.loadModule(ptx);
      this.modules.set(file, m);
    }
    f = this.device.getFunction(m, name);
    this.functions.set(name, f);
    return f;
  }
}
