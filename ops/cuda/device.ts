/**
 * The device-resident `cuda` backend: the device contract (ops/device.ts)
 * on one CUDA stream. Each contract kernel is one launch of a kernel of
 * ops/cuda/kernels/*.cu (its table and launch shapes in kernels.ts), a
 * cuBLAS GEMM (`gemm`), or an async memset (`fill`); all go to the device's
 * one stream, so they run in call order and nothing waits for the GPU but
 * {@link CudaResidentDevice.read}. The autograd over these kernels is
 * ops/device_ops.ts, shared with `webgpu`.
 *
 * Buffers come from a pool keyed by size, as on `webgpu`: a training step
 * allocates the same sizes every step, so after the first nothing reaches
 * cuMemAlloc. Handing a buffer back while enqueued work still uses it is
 * safe because every later use is on the same stream.
 *
 * The driver and cuBLAS are reached through {@link CudaContext}, so a test
 * can put ops/cuda/emulated.ts (the kernels on the CPU emulator) in their
 * place and run this class without a GPU.
 *
 * @module
 */
import { ConfigError } from "../../errors.ts";
import type {
  AdamwArgs,
  Device,
  DeviceBuffer,
  EnsembleLossArgs,
  GeluForm,
  GemmArgs,
  LayerNormArgs,
  LayerNormBackwardArgs,
  StridedArgs,
} from "../device.ts";
import { dropThreshold } from "../device.ts";
import { memoryOf, PooledDevice } from "../buffer_pool.ts";
import type { DeviceBuffer as Allocation } from "./driver.ts";
import { type CudaContext, grid1d, type KernelName, LOSS_IDS, THREADS } from "./kernels.ts";
import { type CudaProbe, probeCuda } from "./probe.ts";

/** Blocks of the single-block reductions (loss totals, the ensemble-mean MSE). */
const ONE_BLOCK: [number, number, number] = [1, 1, 1];

/** A contract buffer: `length` words in a pooled allocation. */

/** Options of {@link CudaResidentDevice}. */
export interface CudaDeviceOptions {
  /** Wait for the stream's work; default the driver's (blocking) synchronize. The emulator's is asynchronous. */
  wait?: () => Promise<void> | void;
  /** Called by {@link CudaResidentDevice.close} after the pool is freed (cuBLAS and the driver's context). */
  onClose?: () => void;
}

/**
 * Open the GPU of a successful probe (or probe device 0 now) as a {@link Device}: driver, cuBLAS, PTX; a
 * ConfigError naming `key` and the reason when it cannot start.
 */
export function cudaResidentDevice(key = "backend", probe: CudaProbe = probeCuda()): CudaResidentDevice {
  if (!probe.ok) throw new ConfigError(key, `cuda cannot start: ${probe.reason}`);
  const context = { device: probe.device, kernels: probe.kernels, cublas: probe.cublas };
  return new CudaResidentDevice(context, probe.description, {
    onClose: () => {
      probe.cublas.close();
      probe.device.close();
    },
  });
}

/** The contract on one CUDA device's stream. */
export class CudaResidentDevice extends PooledDevice<Allocation> implements Device {
  readonly name = "cuda";
  /** Bytes of the allocations made (pooled ones are reused, not counted again): the device memory in use. */
  bytesCreated = 0;
  private readonly all: Allocation[] = [];
  /** Host copies of enqueued uploads, alive until the stream has consumed them. */
  private staged: ArrayBufferView[] = [];
  private closed = false;

  constructor(
    private readonly c: CudaContext,
    readonly description: string,
    private readonly opt: CudaDeviceOptions = {},
  ) {
    super(256);
  }

  // ---- memory and transfers

  override alloc(n: number, persistent = false): DeviceBuffer {
    if (this.closed) throw new Error("cuda device: closed");
    return super.alloc(n, persistent);
  }

  protected createMemory(bytes: number): Allocation {
    const m = this.c.device.alloc(bytes);
    this.all.push(m);
    this.bytesCreated += bytes;
    return m;
  }

  write(buf: DeviceBuffer, data: Float32Array | Int32Array): void {
    // The copy is ordered on the stream; a private copy of the data keeps the caller free to reuse its array.
    const copy = data.slice();
    this.staged.push(copy);
    this.c.device.uploadAsync(mem(buf), copy);
  }

  async read(buf: DeviceBuffer, off = 0, n = buf.length - off): Promise<Float32Array> {
    const out = new Float32Array(n);
    if (n > 0) this.c.device.downloadAsync(mem(buf), out, off * 4);
    await this.wait();
    return out;
  }

  private async wait(): Promise<void> {
    if (this.opt.wait) await this.opt.wait();
    else this.c.device.synchronize();
    this.staged = [];
  }

  flush(): void {
    // Launches start as they are enqueued: nothing to submit.
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const m of this.all) this.c.device.free(m);
    this.all.length = 0;
    this.opt.onClose?.();
  }

  // ---- launches

  private launch(name: KernelName, n: number, args: (number | bigint)[]): void {
    this.c.kernels.launch1d(name, n, args);
  }

  // ---- kernels (semantics in ops/device.ts)

  fill(y: DeviceBuffer, value: number, n: number, off = 0): void {
    if (n <= 0) return;
    this.c.device.fill32(mem(y), new Uint32Array(Float32Array.of(value).buffer)[0], n, off * 4);
  }

  gemm(a: GemmArgs): void {
    const [b0, b1] = a.batch ?? [1, 1];
    if (a.m === 0 || a.n === 0 || b0 * b1 === 0) return;
    const [as, bs, cs] = [a.aStride ?? [0, 0], a.bStride ?? [0, 0], a.cStride ?? [0, 0]];
    for (let i = 0; i < b0; i++) {
      this.c.cublas.gemm(
        {
          transA: a.ta,
          transB: a.tb,
          M: a.m,
          N: a.n,
          K: a.k,
          alpha: a.alpha,
          a: at(a.a, a.aOff + i * as[0]),
          lda: a.lda,
          b: at(a.b, a.bOff + i * bs[0]),
          ldb: a.ldb,
          beta: a.beta,
          c: at(a.c, a.cOff + i * cs[0]),
          ldc: a.ldc,
        },
        b1 > 1 ? { count: b1, strideA: as[1], strideB: bs[1], strideC: cs[1] } : undefined,
      );
    }
  }

  strided(s: StridedArgs): void {
    if (s.rows * s.width === 0) return;
    const args = [at(s.src, s.srcOff), s.srcStride, at(s.dst, s.dstOff), s.dstStride, s.rows, s.width];
    this.launch("strided_f32", s.rows * s.width, [...args, s.accumulate ? 1 : 0, s.alpha]);
  }

  addRowVector(y: DeviceBuffer, v: DeviceBuffer, rows: number, n: number, x?: DeviceBuffer): void {
    if (rows * n === 0) return;
    this.launch("add_broadcast_f32", rows * n, [ptr(x ?? y), ptr(v), ptr(y), rows * n, n]);
  }

  sumRows(dy: DeviceBuffer, g: DeviceBuffer, rows: number, n: number): void {
    if (rows * n === 0) return;
    this.c.kernels.launchColumns("col_sum_add_f32", rows, n, [ptr(dy), ptr(g), rows, n]);
  }

  layerNorm(a: LayerNormArgs): void {
    if (a.rows === 0) return;
    const affine = a.gamma && a.beta ? [ptr(a.gamma), ptr(a.beta)] : [0n, 0n];
    this.c.kernels.launchRows("layernorm_fwd_f32", a.rows, [
      ptr(a.x),
      ...affine,
      ptr(a.y),
      ptr(a.mean),
      ptr(a.rstd),
      a.rows,
      a.D,
      a.eps,
    ]);
  }

  layerNormBackward(a: LayerNormBackwardArgs): void {
    if (a.rows === 0) return;
    const [x, dy, mean, rstd] = [ptr(a.x), ptr(a.dy), ptr(a.mean), ptr(a.rstd)];
    if (a.dx) {
      const gamma = a.gamma ? ptr(a.gamma) : 0n;
      this.c.kernels.launchRows("layernorm_bwd_dx_f32", a.rows, [x, gamma, dy, mean, rstd, ptr(a.dx), a.rows, a.D, 1]);
    }
    if (a.dgamma || a.dbeta) {
      const [dg, db] = [a.dgamma ? ptr(a.dgamma) : 0n, a.dbeta ? ptr(a.dbeta) : 0n];
      this.c.kernels.launchColumns("layernorm_bwd_affine_f32", a.rows, a.D, [x, dy, mean, rstd, dg, db, a.rows, a.D]);
    }
  }

  gelu(x: DeviceBuffer, y: DeviceBuffer, n: number, form: GeluForm): void {
    if (n === 0) return;
    this.launch(form === "tanh" ? "gelu_tanh_fwd_f32" : "gelu_erf_fwd_f32", n, [ptr(x), ptr(y), n]);
  }

  geluBackward(x: DeviceBuffer, dy: DeviceBuffer, dx: DeviceBuffer, n: number, form: GeluForm): void {
    if (n === 0) return;
    const name = form === "tanh" ? "gelu_tanh_bwd_f32" : "gelu_erf_bwd_f32";
    this.launch(name, n, [ptr(x), ptr(dy), ptr(dx), n, 1]);
  }

  dropout(x: DeviceBuffer, y: DeviceBuffer, keep: DeviceBuffer, n: number, p: number, seed: number): void {
    if (n === 0) return;
    this.launch("dropout_hash_f32", n, [ptr(x), ptr(y), ptr(keep), n, seed >>> 0, dropThreshold(p), 1 / (1 - p)]);
  }

  mulAdd(dy: DeviceBuffer, w: DeviceBuffer, dx: DeviceBuffer, n: number): void {
    if (n === 0) return;
    this.launch("mul_add_f32", n, [ptr(dy), ptr(w), ptr(dx), n]);
  }

  scaleRows(x: DeviceBuffer, w: DeviceBuffer, y: DeviceBuffer, rows: number, n: number, accumulate: boolean): void {
    if (rows * n === 0) return;
    this.launch("scale_rows_f32", rows * n, [ptr(x), ptr(w), ptr(y), rows * n, n, accumulate ? 1 : 0]);
  }

  gatherRows(x: DeviceBuffer, index: DeviceBuffer, y: DeviceBuffer, count: number, width: number): void {
    if (count * width === 0) return;
    this.launch("gather_rows_f32", count * width, [ptr(x), ptr(index), ptr(y), count, width]);
  }

  scatterAddRows(
    dy: DeviceBuffer,
    start: DeviceBuffer,
    sources: DeviceBuffer,
    dx: DeviceBuffer,
    rows: number,
    width: number,
  ): void {
    if (rows * width === 0) return;
    this.launch("scatter_add_csr_f32", rows * width, [ptr(dy), ptr(start), ptr(sources), ptr(dx), rows, width]);
  }

  softmaxRows(s: DeviceBuffer, rows: number, n: number, mask?: DeviceBuffer, rowsPerBatch = rows): void {
    if (rows * n === 0) return;
    const args = [ptr(s), 0n, mask ? ptr(mask) : 0n, rows, n, Math.max(1, rowsPerBatch)];
    this.c.kernels.launchRows("softmax_rows_fwd_f32", rows, args);
  }

  softmaxBackwardRows(p: DeviceBuffer, dp: DeviceBuffer, rows: number, n: number, scale: number): void {
    if (rows * n === 0) return;
    this.c.kernels.launchRows("softmax_rows_bwd_f32", rows, [ptr(p), ptr(dp), rows, n, scale]);
  }

  ensembleLoss(a: EnsembleLossArgs): void {
    const id = LOSS_IDS.indexOf(a.name);
    if (id < 0) throw new Error(`cuda ensembleLoss: unknown loss ${a.name}`);
    if (a.M * a.V === 0) return;
    const bufs = [a.members, a.values, a.valid, a.rowWeights, a.terms, a.grad].map(ptr);
    this.c.kernels.launch("ensemble_loss_f32", [Math.ceil((a.M * a.V) / THREADS), 1, 1], [THREADS, 1, 1], [
      ...bufs,
      a.M,
      a.E,
      a.V,
      id,
    ]);
  }

  lossTotal(terms: DeviceBuffer, n: number, spreadScale: number, out: DeviceBuffer): void {
    this.c.kernels.launch("loss_total_f32", ONE_BLOCK, [THREADS, 1, 1], [ptr(terms), n, spreadScale, ptr(out)]);
  }

  lossBackward(grad: DeviceBuffer, total: DeviceBuffer, dout: DeviceBuffer, dx: DeviceBuffer, n: number): void {
    if (n === 0) return;
    this.launch("loss_backward_f32", n, [ptr(grad), ptr(total), ptr(dout), ptr(dx), n]);
  }

  ensembleMeanMse(
    members: DeviceBuffer,
    values: DeviceBuffer,
    valid: DeviceBuffer,
    M: number,
    E: number,
    V: number,
    out: DeviceBuffer,
  ): void {
    this.c.kernels.launch("ensemble_mean_mse_f32", ONE_BLOCK, [THREADS, 1, 1], [
      ptr(members),
      ptr(values),
      ptr(valid),
      M,
      E,
      V,
      ptr(out),
    ]);
  }

  sumSquares(g: DeviceBuffer, n: number, acc: DeviceBuffer, accOff: number): void {
    if (n === 0) return;
    const grid = grid1d(n);
    grid[0] = Math.min(grid[0], 1024);
    this.c.kernels.launch("sum_squares_f32", grid, [THREADS, 1, 1], [ptr(g), n, at(acc, accOff)]);
  }

  adamw(a: AdamwArgs): void {
    if (a.n === 0) return;
    const bufs = [ptr(a.w), ptr(a.g), ptr(a.m), ptr(a.v), a.n, ptr(a.normSq)];
    this.launch("adamw_f32", a.n, [...bufs, a.lr, a.b1, a.b2, a.eps, a.wd, a.bc1, a.bc2, a.clip]);
  }
}

/** The allocation behind a contract buffer. */
function mem(b: DeviceBuffer): Allocation {
  return memoryOf<Allocation>(b);
}

/** The device address of a contract buffer. */
function ptr(b: DeviceBuffer): bigint {
  return memoryOf<Allocation>(b).ptr;
}

/** The device address of word `off` of a contract buffer. */
function at(b: DeviceBuffer, off: number): bigint {
  return ptr(b) + BigInt(4 * off);
}
