/**
 * The op layer's operations on device buffers, each a launch (or a few) of
 * ops/cuda/kernels.ts plus cuBLAS GEMMs: the forward and backward halves of
 * every op in ops/*.ts and training/losses.ts / adamw.ts, on row-major fp32
 * buffers addressed as `bigint`s. This is what a device tensor's op calls;
 * the tape and buffer ownership live in the device-tensor layer. Backward
 * functions add into gradients (`acc` 1), as the CPU tape does, unless told to
 * overwrite. Mixed precision: the GEMMs of linear layers and of attention take
 * bf16 inputs (cast here from the fp32 tensors) with fp32 accumulation and
 * fp32 outputs — where PyTorch's bf16 autocast runs matmuls in bf16;
 * everything else (LayerNorm, softmax, GELU, losses, AdamW) stays fp32, so
 * results are closer to fp32 than autocast's bf16 activations.
 *
 * @module
 */
import type { CudaDevice, DeviceBuffer } from "./driver.ts";
import type { Cublas, GemmInput } from "./cublas.ts";
import { type CudaKernels, LOSS_IDS } from "./kernels.ts";
import { dropThreshold } from "./philox.ts";

/** A device, its kernels and a cuBLAS handle on its stream. */
export interface CudaContext {
  device: CudaDevice;
  kernels: CudaKernels;
  cublas: Cublas;
}

/** Address of element `i` of a float32 buffer. */
export function f32At(p: bigint, i: number): bigint {
  return p + BigInt(4 * i);
}

/** y = a + b. */
export function add(c: CudaContext, a: bigint, b: bigint, y: bigint, n: number): void {
  c.kernels.launch1d("add_f32", n, [a, b, y, n]);
}

/** out (+)= s·x (scale's forward with acc 0; add's and scale's backward with acc 1). */
export function scaleInto(c: CudaContext, x: bigint, s: number, out: bigint, n: number, acc: 0 | 1): void {
  c.kernels.launch1d("scale_f32", n, [x, s, out, n, acc]);
}

/** y = a + b broadcast over rows (b has `width` values; y may be a). */
export function addBroadcast(c: CudaContext, a: bigint, b: bigint, y: bigint, n: number, width: number): void {
  c.kernels.launch1d("add_broadcast_f32", n, [a, b, y, n, width]);
}

/** g[j] += Σ_rows dy[r, j]: the gradient of a broadcast addend or a bias. */
export function columnSumAdd(c: CudaContext, dy: bigint, g: bigint, rows: number, width: number): void {
  c.kernels.launchColumns("col_sum_add_f32", rows, width, [dy, g, rows, width]);
}

/** out (+)= x·w[row] over [rows, width] (scaleRows forward with acc 0, backward with acc 1). */
export function scaleRows(
  c: CudaContext,
  x: bigint,
  w: bigint,
  out: bigint,
  rows: number,
  width: number,
  acc: 0 | 1,
): void {
  c.kernels.launch1d("scale_rows_f32", rows * width, [x, w, out, rows * width, width, acc]);
}

/** GELU form: tanh (ops/elementwise.ts `gelu`) or erf (`geluErf`). */
export type GeluForm = "tanh" | "erf";

/** y = GELU(x). */
export function geluForward(c: CudaContext, form: GeluForm, x: bigint, y: bigint, n: number): void {
  c.kernels.launch1d(form === "tanh" ? "gelu_tanh_fwd_f32" : "gelu_erf_fwd_f32", n, [x, y, n]);
}

/** dx (+)= dy·GELU'(x). */
export function geluBackward(
  c: CudaContext,
  form: GeluForm,
  x: bigint,
  dy: bigint,
  dx: bigint,
  n: number,
  acc: 0 | 1,
): void {
  c.kernels.launch1d(form === "tanh" ? "gelu_tanh_bwd_f32" : "gelu_erf_bwd_f32", n, [x, dy, dx, n, acc]);
}

/** A dropout call's 64-bit seed as two words (draw them from the model's Random per call). */
export type DropoutSeed = [number, number];

/**
 * Inverted dropout with keep probability 1 − p: y (+)= x·keep/(1 − p), the mask a function of (seed, index).
 * The backward pass is the same call with dy as x, dx as y and the same seed.
 */
export function dropout(
  c: CudaContext,
  x: bigint,
  y: bigint,
  n: number,
  p: number,
  seed: DropoutSeed,
  acc: 0 | 1,
): void {
  const args = [x, y, n, dropThreshold(p), 1 / (1 - p), seed[0] >>> 0, seed[1] >>> 0, acc];
  c.kernels.launch1d("dropout_f32", n, args, 4);
}

/** LayerNorm buffers: x, y [rows, D]; mean, rstd [rows]; gamma, beta [D] or 0n for no affine. */
export interface LayerNormBuffers {
  x: bigint;
  y: bigint;
  mean: bigint;
  rstd: bigint;
  gamma: bigint;
  beta: bigint;
  rows: number;
  D: number;
}

/** LayerNorm over the last axis (QK-LayerNorm: rows·heads rows of width headDim). eps as PyTorch. */
export function layerNormForward(c: CudaContext, b: LayerNormBuffers, eps = 1e-5): void {
  c.kernels.launchRows("layernorm_fwd_f32", b.rows, [b.x, b.gamma, b.beta, b.y, b.mean, b.rstd, b.rows, b.D, eps]);
}

/** LayerNorm backward from dy: dx (+)= …, dgamma += Σ dy·h, dbeta += Σ dy (0n to skip any of them). */
export function layerNormBackward(
  c: CudaContext,
  b: LayerNormBuffers,
  dy: bigint,
  grads: { dx: bigint; dgamma: bigint; dbeta: bigint },
  acc: 0 | 1 = 1,
): void {
  if (grads.dx) {
    c.kernels.launchRows("layernorm_bwd_dx_f32", b.rows, [
      b.x,
      b.gamma,
      dy,
      b.mean,
      b.rstd,
      grads.dx,
      b.rows,
      b.D,
      acc,
    ]);
  }
  if (grads.dgamma || grads.dbeta) {
    const args = [b.x, dy, b.mean, b.rstd, grads.dgamma, grads.dbeta, b.rows, b.D];
    c.kernels.launchColumns("layernorm_bwd_affine_f32", b.rows, b.D, args);
  }
}

/** dst[r, off + j] (+)= src[r, j] (concatLast forward per part with acc 0; sliceLast backward with acc 1). */
export function colsToWide(
  c: CudaContext,
  src: bigint,
  dst: bigint,
  rows: number,
  w: number,
  W: number,
  off: number,
  acc: 0 | 1,
): void {
  c.kernels.launch1d("cols_to_wide_f32", rows * w, [src, dst, rows, w, W, off, acc]);
}

/** dst[r, j] (+)= src[r, off + j] (sliceLast forward with acc 0; concatLast backward per part with acc 1). */
export function wideToCols(
  c: CudaContext,
  src: bigint,
  dst: bigint,
  rows: number,
  w: number,
  W: number,
  off: number,
  acc: 0 | 1,
): void {
  c.kernels.launch1d("wide_to_cols_f32", rows * w, [src, dst, rows, w, W, off, acc]);
}

/** y = x[index] rows of width w (index: int32 device buffer of `count`). */
export function gatherRows(c: CudaContext, x: bigint, index: bigint, y: bigint, count: number, w: number): void {
  c.kernels.launch1d("gather_rows_f32", count * w, [x, index, y, count, w]);
}

/** g[index[i]] += dy[i] (repeated indices add up). */
export function scatterAddRows(c: CudaContext, dy: bigint, index: bigint, g: bigint, count: number, w: number): void {
  c.kernels.launch1d("scatter_add_rows_f32", count * w, [dy, index, g, count, w]);
}

/** bf16 ← fp32 (round to nearest even), n values. */
export function toBf16(c: CudaContext, x: bigint, y: bigint, n: number): void {
  c.kernels.launch1d("cast_f32_bf16", n, [x, y, n]);
}

/** fp32 ← bf16, n values. */
export function fromBf16(c: CudaContext, x: bigint, y: bigint, n: number): void {
  c.kernels.launch1d("cast_bf16_f32", n, [x, y, n]);
}

/** Bytes per element of a GEMM input type. */
function bytesOf(t: GemmInput): number {
  return t === "bf16" ? 2 : 4;
}

/** A matrix operand: base address, element type, element offset of its first element, row stride. */
interface Operand {
  base: bigint;
  type: GemmInput;
  offset: number;
  ld: number;
}

function addr(o: Operand, extra = 0): bigint {
  return o.base + BigInt((o.offset + extra) * bytesOf(o.type));
}

/** Shapes of one attention call (ops/attention.ts): q [B, Lq, ldq], k/v [B, Lk, ld], heads from a column. */
export interface AttentionShape {
  B: number;
  Lq: number;
  Lk: number;
  heads: number;
  headDim: number;
}

/** One of q, k, v: the tensor (fp32, and its bf16 copy in mixed precision), its row stride and first column. */
export interface AttentionOperand {
  f32: bigint;
  bf16?: bigint;
  ld: number;
  col: number;
}

/** What the forward pass keeps for the backward: probabilities [B, H, Lq, Lk], their bf16 copy, log-sum-exp. */
export interface AttentionSaved {
  P: DeviceBuffer;
  Pbf16?: DeviceBuffer;
  lse: DeviceBuffer;
}

/**
 * softmax(q·kᵀ/√d)·v per head into o [B, Lq, heads·headDim]; mask [B, Lk] uint8 device buffer or 0n.
 * Scores are materialized per (batch, head) — 4·B·H·Lq·Lk bytes kept for the backward pass (6 with bf16).
 * With `bf16`, q/k/v must carry their bf16 copies; the two GEMMs take bf16 inputs, softmax stays fp32.
 */
export function attentionForward(
  c: CudaContext,
  s: AttentionShape,
  q: AttentionOperand,
  k: AttentionOperand,
  v: AttentionOperand,
  o: bigint,
  mask: bigint,
  bf16 = false,
): AttentionSaved {
  const { B, Lq, Lk, heads: H, headDim: dh } = s;
  const W = H * dh, rows = B * H * Lq;
  const P = c.device.alloc(4 * rows * Lk), lse = c.device.alloc(4 * rows);
  const t: GemmInput = bf16 ? "bf16" : "f32";
  const op = (x: AttentionOperand, b: number, L: number): Operand => ({
    base: bf16 ? x.bf16! : x.f32,
    type: t,
    offset: b * L * x.ld + x.col,
    ld: x.ld,
  });
  for (let b = 0; b < B; b++) {
    const Q = op(q, b, Lq), K = op(k, b, Lk), S = f32At(P.ptr, b * H * Lq * Lk);
    c.cublas.gemm(
      {
        transA: false,
        transB: true,
        M: Lq,
        N: Lk,
        K: dh,
        alpha: 1 / Math.sqrt(dh),
        a: addr(Q),
        lda: Q.ld,
        b: addr(K),
        ldb: K.ld,
        beta: 0,
        c: S,
        ldc: Lk,
        input: t,
      },
      { count: H, strideA: dh, strideB: dh, strideC: Lq * Lk },
    );
  }
  c.kernels.launchRows("softmax_rows_fwd_f32", rows, [P.ptr, lse.ptr, mask, rows, Lk, H * Lq]);
  const Pbf16 = bf16 ? c.device.alloc(2 * rows * Lk) : undefined;
  if (Pbf16) toBf16(c, P.ptr, Pbf16.ptr, rows * Lk);
  for (let b = 0; b < B; b++) {
    const Pb: Operand = { base: Pbf16?.ptr ?? P.ptr, type: t, offset: b * H * Lq * Lk, ld: Lk }, V = op(v, b, Lk);
    c.cublas.gemm(
      {
        transA: false,
        transB: false,
        M: Lq,
        N: dh,
        K: Lk,
        alpha: 1,
        a: addr(Pb),
        lda: Lk,
        b: addr(V),
        ldb: V.ld,
        beta: 0,
        c: f32At(o, b * Lq * W),
        ldc: W,
        input: t,
      },
      { count: H, strideA: Lq * Lk, strideB: dh, strideC: dh },
    );
  }
  return { P, Pbf16, lse };
}

/** Gradients of attention: dq, dk, dv (fp32, 0n to skip) with the operands' strides and columns; += into them. */
export interface AttentionGrads {
  dq: bigint;
  dk: bigint;
  dv: bigint;
}

/**
 * The backward pass from dO [B, Lq, W] (and its bf16 copy `dObf16` in mixed precision): dv += Pᵀ·dO,
 * dP = dO·vᵀ, dS = P∘(dP − Σ P∘dP)/√d, dq += dS·k, dk += dSᵀ·q. Frees `saved`.
 */
export function attentionBackward(
  c: CudaContext,
  s: AttentionShape,
  q: AttentionOperand,
  k: AttentionOperand,
  v: AttentionOperand,
  dO: bigint,
  g: AttentionGrads,
  saved: AttentionSaved,
  dObf16?: bigint,
): void {
  const { B, Lq, Lk, heads: H, headDim: dh } = s;
  const W = H * dh, rows = B * H * Lq, bf16 = dObf16 !== undefined;
  const t: GemmInput = bf16 ? "bf16" : "f32";
  const dP = c.device.alloc(4 * rows * Lk);
  const dSh = bf16 ? c.device.alloc(2 * rows * Lk) : undefined;
  const op = (x: AttentionOperand, b: number, L: number): Operand => ({
    base: bf16 ? x.bf16! : x.f32,
    type: t,
    offset: b * L * x.ld + x.col,
    ld: x.ld,
  });
  const dOp = (b: number): Operand => ({ base: bf16 ? dObf16! : dO, type: t, offset: b * Lq * W, ld: W });
  const batch = (strideA: number, strideB: number, strideC: number) => ({ count: H, strideA, strideB, strideC });
  for (let b = 0; b < B; b++) {
    const Pb: Operand = { base: saved.Pbf16?.ptr ?? saved.P.ptr, type: t, offset: b * H * Lq * Lk, ld: Lk };
    const V = op(v, b, Lk), dOb = dOp(b);
    if (g.dv) {
      c.cublas.gemm(
        {
          transA: true,
          transB: false,
          M: Lk,
          N: dh,
          K: Lq,
          alpha: 1,
          a: addr(Pb),
          lda: Lk,
          b: addr(dOb),
          ldb: W,
          beta: 1,
          c: f32At(g.dv, b * Lk * v.ld + v.col),
          ldc: v.ld,
          input: t,
        },
        batch(Lq * Lk, dh, dh),
      );
    }
    c.cublas.gemm(
      {
        transA: false,
        transB: true,
        M: Lq,
        N: Lk,
        K: dh,
        alpha: 1,
        a: addr(dOb),
        lda: W,
        b: addr(V),
        ldb: V.ld,
        beta: 0,
        c: f32At(dP.ptr, b * H * Lq * Lk),
        ldc: Lk,
        input: t,
      },
      batch(dh, dh, Lq * Lk),
    );
  }
  c.kernels.launchRows("softmax_rows_bwd_f32", rows, [saved.P.ptr, dP.ptr, rows, Lk, 1 / Math.sqrt(dh)]);
  if (dSh) toBf16(c, dP.ptr, dSh.ptr, rows * Lk);
  for (let b = 0; b < B; b++) {
    const dS: Operand = { base: dSh?.ptr ?? dP.ptr, type: t, offset: b * H * Lq * Lk, ld: Lk };
    const Q = op(q, b, Lq), K = op(k, b, Lk);
    if (g.dq) {
      c.cublas.gemm(
        {
          transA: false,
          transB: false,
          M: Lq,
          N: dh,
          K: Lk,
          alpha: 1,
          a: addr(dS),
          lda: Lk,
          b: addr(K),
          ldb: K.ld,
          beta: 1,
          c: f32At(g.dq, b * Lq * q.ld + q.col),
          ldc: q.ld,
          input: t,
        },
        batch(Lq * Lk, dh, dh),
      );
    }
    if (g.dk) {
      c.cublas.gemm(
        {
          transA: true,
          transB: false,
          M: Lk,
          N: dh,
          K: Lq,
          alpha: 1,
          a: addr(dS),
          lda: Lk,
          b: addr(Q),
          ldb: Q.ld,
          beta: 1,
          c: f32At(g.dk, b * Lk * k.ld + k.col),
          ldc: k.ld,
          input: t,
        },
        batch(Lq * Lk, dh, dh),
      );
    }
  }
  for (const buf of [dP, dSh, saved.P, saved.Pbf16, saved.lse]) if (buf) c.device.free(buf);
}

/** y [M, N] = x [M, K]·w [K, N] (+ b [N]); with bf16, x and w are given as bf16 copies (`xh`, `wh`). */
export function linearForward(
  c: CudaContext,
  x: bigint,
  w: bigint,
  b: bigint,
  y: bigint,
  M: number,
  K: number,
  N: number,
  input: GemmInput = "f32",
): void {
  c.cublas.gemm({
    transA: false,
    transB: false,
    M,
    N,
    K,
    alpha: 1,
    a: x,
    lda: K,
    b: w,
    ldb: N,
    beta: 0,
    c: y,
    ldc: N,
    input,
  });
  if (b) addBroadcast(c, y, b, y, M * N, N);
}

/** dx += dy·wᵀ, dw += xᵀ·dy, db += Σ dy (0n to skip); with bf16, dy/x/w are given as bf16 copies. */
export function linearBackward(
  c: CudaContext,
  x: bigint,
  w: bigint,
  dy: bigint,
  grads: { dx: bigint; dw: bigint; db: bigint; dyF32: bigint },
  M: number,
  K: number,
  N: number,
  input: GemmInput = "f32",
): void {
  if (grads.dx) {
    c.cublas.gemm({
      transA: false,
      transB: true,
      M,
      N: K,
      K: N,
      alpha: 1,
      a: dy,
      lda: N,
      b: w,
      ldb: N,
      beta: 1,
      c: grads.dx,
      ldc: K,
      input,
    });
  }
  if (grads.dw) {
    c.cublas.gemm({
      transA: true,
      transB: false,
      M: K,
      N,
      K: M,
      alpha: 1,
      a: x,
      lda: K,
      b: dy,
      ldb: N,
      beta: 1,
      c: grads.dw,
      ldc: N,
      input,
    });
  }
  if (grads.db) columnSumAdd(c, grads.dyF32, grads.db, M, N);
}

/** A loss's device buffers: members [M, E, V]; values, valid [M, V]; latWeight [M]; valueWeights [M, V] or 0n. */
export interface LossBuffers {
  members: bigint;
  values: bigint;
  valid: bigint;
  latWeight: bigint;
  valueWeights: bigint;
  M: number;
  E: number;
  V: number;
}

/** What a loss's forward pass keeps: the unnormalized gradient [M, E, V] and the sums (3 doubles). */
export interface LossSaved {
  grad: DeviceBuffer;
  sums: DeviceBuffer;
}

/** One field's loss (training/losses.ts `fieldLoss`) into `out` (1 float on the device). */
export function fieldLossForward(
  c: CudaContext,
  name: typeof LOSS_IDS[number],
  b: LossBuffers,
  out: bigint,
): LossSaved {
  const id = LOSS_IDS.indexOf(name);
  if (id < 0) throw new Error(`unknown loss ${name}`);
  if ((name === "stats" || name === "crps" || name === "stats_area") && b.E < 2) {
    throw new Error(`loss ${name} needs an ensemble of at least 2 members (got ${b.E})`);
  }
  const grad = c.device.alloc(4 * b.M * b.E * b.V), sums = c.device.alloc(24);
  c.device.fill32(sums, 0);
  const args = [b.members, b.values, b.valid, b.latWeight, b.valueWeights, grad.ptr, sums.ptr, b.M, b.E, b.V, id];
  c.kernels.launch1d("field_loss_f32", b.M * b.V, args);
  c.kernels.launch("loss_finish", [1, 1, 1], [1, 1, 1], [sums.ptr, out, b.E, id]);
  return { grad, sums };
}

/** g (+)= saved gradient · dout/n, dout the loss's gradient (1 float on the device). Frees `saved`. */
export function fieldLossBackward(c: CudaContext, saved: LossSaved, dout: bigint, g: bigint, acc: 0 | 1 = 1): void {
  const n = saved.grad.bytes / 4;
  c.kernels.launch1d("loss_grad_apply_f32", n, [saved.grad.ptr, saved.sums.ptr, dout, g, n, acc]);
  c.device.free(saved.grad);
  c.device.free(saved.sums);
}

/** One parameter for {@link adamwStep}: weights, gradient, moments (fp32 device buffers of n values). */
export interface AdamwParam {
  w: bigint;
  g: bigint;
  m: bigint;
  v: bigint;
  n: number;
}

/** AdamW settings of one step (the host computes lr and the bias corrections from its step count). */
export interface AdamwStep {
  lr: number;
  b1: number;
  b2: number;
  eps: number;
  weightDecay: number;
  /** 1 − β₁ᵗ and 1 − β₂ᵗ for this step t (1-based). */
  bc1: number;
  bc2: number;
  /** Clip the global norm to this (0: off). */
  clipNorm: number;
}

/**
 * Global-norm clipping and one AdamW update of every parameter, on the device: Σg² over all gradients,
 * [norm, factor] into `normFactor` (2 floats, read by the host when it reports the norm), then the updates.
 */
export function adamwStep(c: CudaContext, params: AdamwParam[], s: AdamwStep, normFactor: bigint): void {
  const acc = c.device.alloc(8);
  c.device.fill32(acc, 0);
  for (const p of params) {
    c.kernels.launch("sumsq_add_f32", [Math.max(1, Math.min(Math.ceil(p.n / 256), 4096)), 1, 1], [256, 1, 1], [
      p.g,
      p.n,
      acc.ptr,
    ]);
  }
  c.kernels.launch("clip_factor", [1, 1, 1], [1, 1, 1], [acc.ptr, normFactor, s.clipNorm]);
  for (const p of params) {
    const args = [p.w, p.g, p.m, p.v, p.n, normFactor, s.lr, s.b1, s.b2, s.eps, s.weightDecay, s.bc1, s.bc2];
    c.kernels.launch1d("adamw_update_f32", p.n, args);
  }
  c.device.free(acc);
}
