/**
 * The device contract: what a backend that keeps tensors on its own device
 * (WebGPU in ops/webgpu_device.ts, CUDA in ops/cuda/device.ts) implements. The op layer's
 * autograd for device tensors (ops/device_ops.ts) is written once against
 * this interface, so a backend supplies memory, transfers and the kernels
 * below, nothing else.
 *
 * Conventions every kernel follows:
 * - A {@link DeviceBuffer} holds `length` 32-bit words: float32 values,
 *   or int32/uint32 where a kernel says so (indices). Offsets, strides and
 *   sizes are in words, row-major (C order), as in `Gemm.sgemm`.
 * - Kernels run in the order they are called (a stream / queue order):
 *   a kernel sees every earlier kernel's writes. Calls only enqueue work;
 *   nothing waits for the device except {@link Device.read}.
 * - "writes y" overwrites; "adds into y" accumulates (y += …). Gradient
 *   kernels accumulate, as the CPU backward steps do.
 * - Input and output buffers of one call are distinct unless a kernel
 *   says "in place".
 * - Random numbers: {@link dropoutKeeps} defines the bit-exact hash both
 *   backends use, so a backend's dropout mask can be tested exactly.
 *
 * @module
 */

/** Device memory: `length` 32-bit words. Opaque to the op layer; created only by its {@link Device}. */
export interface DeviceBuffer {
  /** Words. */
  readonly length: number;
  /** Kept across scopes (parameters, moments, their gradients): not released when a scope ends. */
  readonly persistent: boolean;
}

/** Matrix product arguments: C = alpha·op(A)·op(B) + beta·C per batch item, as `Gemm.sgemm`. */
export interface GemmArgs {
  /** Transpose A / B (op(A) is m×k, op(B) is k×n). */
  ta: boolean;
  tb: boolean;
  m: number;
  n: number;
  k: number;
  alpha: number;
  /** 0: C is not read (a NaN in C does not leak), else C = alpha·AB + beta·C. */
  beta: number;
  a: DeviceBuffer;
  aOff: number;
  lda: number;
  b: DeviceBuffer;
  bOff: number;
  ldb: number;
  c: DeviceBuffer;
  cOff: number;
  ldc: number;
  /**
   * Batch items as a two-level index (i, j), i < batch[0], j < batch[1] (default [1, 1]): item (i, j)'s operands
   * start at `aOff + i·aStride[0] + j·aStride[1]` (same for b, c). The C spans of distinct items must not overlap.
   * Attention uses (batch, head): a head is a column range of q/k/v.
   */
  batch?: [number, number];
  aStride?: [number, number];
  bStride?: [number, number];
  cStride?: [number, number];
}

/** A strided 2-D copy or accumulation: `rows` rows of `width` words. */
export interface StridedArgs {
  src: DeviceBuffer;
  srcOff: number;
  /** Words between the starts of two source rows. */
  srcStride: number;
  dst: DeviceBuffer;
  dstOff: number;
  dstStride: number;
  rows: number;
  width: number;
  /** dst = alpha·src (false) or dst += alpha·src (true). */
  accumulate: boolean;
  alpha: number;
}

/** The GELU form: `tanh` (PyTorch's approximate="tanh"), `erf` (exact x·Φ(x)). */
export type GeluForm = "tanh" | "erf";

/** Loss kernels, by the name training/losses.ts gives them. */
export type EnsembleLossName =
  | "mse_ensemble"
  | "stats"
  | "mse"
  | "weighted_mse"
  | "crps"
  | "stats_area"
  | "kernel_crps";

/** LayerNorm over rows of D values (see {@link DeviceKernels.layerNorm}): x → y, the saved mean and rstd. */
export interface LayerNormArgs {
  x: DeviceBuffer;
  y: DeviceBuffer;
  mean: DeviceBuffer;
  rstd: DeviceBuffer;
  rows: number;
  D: number;
  eps: number;
  /** Affine weight and bias [D], both or neither. */
  gamma?: DeviceBuffer;
  beta?: DeviceBuffer;
}

/** LayerNorm's backward (see {@link DeviceKernels.layerNormBackward}): the gradients asked for are given. */
export interface LayerNormBackwardArgs {
  x: DeviceBuffer;
  dy: DeviceBuffer;
  mean: DeviceBuffer;
  rstd: DeviceBuffer;
  rows: number;
  D: number;
  gamma?: DeviceBuffer;
  dx?: DeviceBuffer;
  dgamma?: DeviceBuffer;
  dbeta?: DeviceBuffer;
}

/** One parameter's AdamW update (see {@link DeviceKernels.adamw}): buffers of `n` values, the step's settings. */
export interface AdamwArgs {
  /** Weights, gradient, first and second moments. */
  w: DeviceBuffer;
  g: DeviceBuffer;
  m: DeviceBuffer;
  v: DeviceBuffer;
  n: number;
  /** normSq[0]: the squared global gradient norm (for clipping). */
  normSq: DeviceBuffer;
  lr: number;
  b1: number;
  b2: number;
  eps: number;
  /** Decoupled weight decay. */
  wd: number;
  /** Bias corrections 1 − b1^t, 1 − b2^t. */
  bc1: number;
  bc2: number;
  /** Clip the global norm to this (0: no clipping). */
  clip: number;
}

/** Arguments of {@link DeviceKernels.ensembleLoss}: members [M, E, V] against targets [M, V]. */
export interface EnsembleLossArgs {
  name: EnsembleLossName;
  M: number;
  E: number;
  V: number;
  /** Member predictions [M, E, V]. */
  members: DeviceBuffer;
  /** Truth [M, V]. */
  values: DeviceBuffer;
  /** Weight per value [M, V]: 0 = does not count. */
  valid: DeviceBuffer;
  /** Per value weight [M, V] for weighted_mse (cos latitude, per value or the token's repeated). */
  rowWeights: DeviceBuffer;
  /**
   * Writes, per value slot s = m·V + v: terms[2s] its loss contribution, terms[2s+1] its count
   * contribution (the weight for weighted_mse, 1 otherwise, 0 when not valid); for kernel_crps
   * terms[2·M·V + s] the spread Σₑ Σ_f |xₑ − x_f| (0 when not valid).
   */
  terms: DeviceBuffer;
  /** Writes d(term)/d(member) per member value [M, E, V] (0 where not valid), before the division by the count. */
  grad: DeviceBuffer;
}

/**
 * The kernels of the contract. Every method enqueues; none returns data. The host-side
 * reference of each is the CPU op named in brackets (ops/*.ts, training/*.ts).
 */
export interface DeviceKernels {
  /** Writes y[off + i] = value, i < n. */
  fill(y: DeviceBuffer, value: number, n: number, off?: number): void;
  /** [sgemm] C = alpha·op(A)·op(B) + beta·C, batched (see {@link GemmArgs}). */
  gemm(g: GemmArgs): void;
  /** [concatLast, sliceLast, scale, add, gradient accumulation] dst (+)= alpha·src over strided rows. */
  strided(s: StridedArgs): void;
  /** [addBroadcast, linear bias] y[r·n + j] = x[r·n + j] + v[j]; without x, in place: y[r·n + j] += v[j]. */
  addRowVector(y: DeviceBuffer, v: DeviceBuffer, rows: number, n: number, x?: DeviceBuffer): void;
  /** [linear bias and addBroadcast gradients] adds into g[j] Σ_r dy[r·n + j]. */
  sumRows(dy: DeviceBuffer, g: DeviceBuffer, rows: number, n: number): void;
  /**
   * [layerNorm] per row r of x [rows, D]: writes mean[r], rstd[r] = 1/√(var + eps) (biased variance) and
   * y = (x − mean)·rstd (·gamma[j] + beta[j] when gamma and beta are given).
   */
  layerNorm(a: LayerNormArgs): void;
  /**
   * [layerNorm backward] from dy and the saved mean/rstd: adds into dx (when given) rstd·(dh − mean(dh) −
   * h·mean(dh·h)) with dh = dy·gamma (dy without gamma); adds into dgamma[j] Σ_r dy·h and into dbeta[j] Σ_r dy.
   */
  layerNormBackward(a: LayerNormBackwardArgs): void;
  /** [gelu, geluErf] writes y = gelu(x), n values. */
  gelu(x: DeviceBuffer, y: DeviceBuffer, n: number, form: GeluForm): void;
  /** [gelu/geluErf backward] adds into dx dy·gelu'(x). */
  geluBackward(x: DeviceBuffer, dy: DeviceBuffer, dx: DeviceBuffer, n: number, form: GeluForm): void;
  /**
   * [dropout] keep[i] = 1/(1 − p) when {@link dropoutKeeps}(seed, i, p) else 0; writes keep and y = x·keep.
   */
  dropout(x: DeviceBuffer, y: DeviceBuffer, keep: DeviceBuffer, n: number, p: number, seed: number): void;
  /** [dropout backward] adds into dx dy·w (elementwise, n values). */
  mulAdd(dy: DeviceBuffer, w: DeviceBuffer, dx: DeviceBuffer, n: number): void;
  /** [scaleRows] y[r·n + j] (+)= x[r·n + j]·w[r] (accumulate: adds into y). */
  scaleRows(x: DeviceBuffer, w: DeviceBuffer, y: DeviceBuffer, rows: number, n: number, accumulate: boolean): void;
  /** [gatherRows] writes y[i·width + j] = x[index[i]·width + j]; index is int32, `count` rows. */
  gatherRows(x: DeviceBuffer, index: DeviceBuffer, y: DeviceBuffer, count: number, width: number): void;
  /**
   * [gatherRows backward] adds into dx row r Σ dy rows sources[start[r] … start[r+1]) (int32 CSR of the
   * inverse index, rows + 1 starts): deterministic, no atomics.
   */
  scatterAddRows(
    dy: DeviceBuffer,
    start: DeviceBuffer,
    sources: DeviceBuffer,
    dx: DeviceBuffer,
    rows: number,
    width: number,
  ): void;
  /**
   * [attention] in place on s [rows, n] (row stride n): p = softmax over the columns whose mask is 1
   * (mask [batches, n] float, row r uses batch floor(r / rowsPerBatch); without mask all columns);
   * masked columns and rows without any key end at 0.
   */
  softmaxRows(s: DeviceBuffer, rows: number, n: number, mask?: DeviceBuffer, rowsPerBatch?: number): void;
  /** [attention backward] in place on dp: dp = p∘(dp − Σ_j p·dp)·scale per row of [rows, n]. */
  softmaxBackwardRows(p: DeviceBuffer, dp: DeviceBuffer, rows: number, n: number, scale: number): void;
  /** [fieldLoss] per-value loss terms, counts and member gradients (see {@link EnsembleLossArgs}). */
  ensembleLoss(a: EnsembleLossArgs): void;
  /**
   * [fieldLoss] writes out[0] = (Σ_s terms[2s] − spreadScale·Σ_s terms[2MV + s]) / max(Σ_s terms[2s+1], ε),
   * with the count (1 when it is 0) in out[1]; n = M·V slots.
   */
  lossTotal(terms: DeviceBuffer, n: number, spreadScale: number, out: DeviceBuffer): void;
  /** [fieldLoss backward] adds into dx grad[i]·dout[0]/count[1] (count from lossTotal's out), n values. */
  lossBackward(grad: DeviceBuffer, total: DeviceBuffer, dout: DeviceBuffer, dx: DeviceBuffer, n: number): void;
  /** [ensembleMeanMse] writes out[0] = MSE of the member mean over valid values, out[1] = their count. */
  ensembleMeanMse(
    members: DeviceBuffer,
    values: DeviceBuffer,
    valid: DeviceBuffer,
    M: number,
    E: number,
    V: number,
    out: DeviceBuffer,
  ): void;
  /** [AdamW.gradNorm] adds into acc[accOff] Σ g[i]², n values. */
  sumSquares(g: DeviceBuffer, n: number, acc: DeviceBuffer, accOff: number): void;
  /**
   * [AdamW.update] with gs = clip > 0 && √normSq[0] > clip ? clip/√normSq[0] : 1 and gᵢ = g[i]·gs:
   * m = b1·m + (1−b1)·gᵢ, v = b2·v + (1−b2)·gᵢ², w = w·(1 − lr·wd) − lr·(m/bc1)/(√(v/bc2) + eps).
   */
  adamw(a: AdamwArgs): void;
}

/** A device: memory, transfers, scopes and the kernels. */
export interface Device extends DeviceKernels {
  /** Backend name (`webgpu`, `cuda`). */
  readonly name: string;
  /** The adapter / GPU, for the start line. */
  readonly description: string;
  /** A buffer of n words (contents undefined); in an open scope unless persistent. */
  alloc(n: number, persistent?: boolean): DeviceBuffer;
  /** A buffer holding `data` (enqueued: the host array may be reused after the call). */
  upload(data: Float32Array | Int32Array, persistent?: boolean): DeviceBuffer;
  /**
   * The device copy of a host array that stays unchanged once handed over (a batch's features, masks,
   * indices, weights): uploaded on first use, then the same buffer — until the scope open at the first use
   * ends (a step's batch), or while the array lives when no scope was open (a model's constants).
   */
  uploadOnce(data: Float32Array | Int32Array): DeviceBuffer;
  /** Overwrite a buffer's first words with `data` (enqueued). */
  write(buf: DeviceBuffer, data: Float32Array | Int32Array): void;
  /** The values of words [off, off + n): waits for every enqueued kernel. The one way data comes back. */
  read(buf: DeviceBuffer, off?: number, n?: number): Promise<Float32Array>;
  /** Start a scope: buffers allocated from now on (not persistent) are released when it ends. */
  beginScope(): void;
  /** End the innermost scope: its buffers go back to the pool (the device reuses them after enqueued work). */
  endScope(): void;
  /** Hand a buffer back to the pool now. */
  release(buf: DeviceBuffer): void;
  /** Submit the enqueued work (no wait), so the device starts on it. */
  flush(): void;
  /** Release the device. */
  close(): void;
}

/** A 32-bit hash step (PCG's output permutation; `Math.imul` is u32 multiplication, as WGSL's and CUDA's). */
export function pcgHash(x: number): number {
  const state = (Math.imul(x >>> 0, 747796405) + 2891336453) >>> 0;
  const word = Math.imul(((state >>> ((state >>> 28) + 4)) ^ state) >>> 0, 277803737) >>> 0;
  return ((word >>> 22) ^ word) >>> 0;
}

/** The u32 threshold below which a draw drops a value (as the CPU dropout: floor(p·2³²)). */
export function dropThreshold(p: number): number {
  return Math.min(4294967295, Math.floor(p * 4294967296));
}

/** Whether device dropout keeps value i of a call drawn with `seed`: pcgHash(seed ^ pcgHash(i)) ≥ threshold. */
export function dropoutKeeps(seed: number, i: number, p: number): boolean {
  return pcgHash((seed ^ pcgHash(i)) >>> 0) >= dropThreshold(p);
}
