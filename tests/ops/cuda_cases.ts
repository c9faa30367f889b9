/**
 * The cases shared by tests/ops/cuda_runtime_test.ts (on a GPU) and
 * tests/ops/cuda_emulated_test.ts (the kernels on the CPU emulation of
 * ops/cuda/emulator.cpp): every CUDA op of ops/cuda/ops.ts against the CPU
 * reference of ops/*.ts and training/*.ts, values and gradients, on small odd
 * sizes, strided column views and offsets. Tolerances: fp32 elementwise 1e-5
 * relative; fp32 reductions and GEMMs 1e-4 of the largest reference magnitude
 * (summation order differs, atomics); bf16 GEMM inputs 2e-2 (3e-2 for
 * attention) of the largest magnitude (8-bit mantissa, fp32 accumulation).
 * Dropout cannot reproduce the CPU's xoshiro stream: its Philox words are
 * compared with the TypeScript Philox, its mask between forward and backward,
 * its kept fraction with a 5σ binomial bound, and the CPU's own mask is
 * applied on the device for an exact comparison.
 *
 * @module
 */
import assert from "node:assert/strict";
import {
  add,
  addBroadcast,
  attention,
  concatLast,
  dropout,
  gatherRows,
  gelu,
  geluErf,
  layerNorm,
  linear,
  parameter,
  Random,
  record,
  result,
  scale,
  scaleRows,
  sliceLast,
  type Tensor,
  typescriptGemm,
  useTypescriptRows,
  valueAndGrad,
} from "../../ops/mod.ts";
import { cudaGemm } from "../../ops/cuda/gemm.ts";
import type { DeviceBuffer } from "../../ops/cuda/driver.ts";
import * as dev from "../../ops/cuda/ops.ts";
import { philoxWords } from "../../ops/cuda/philox.ts";
import { fieldLoss, LOSSES } from "../../training/losses.ts";
import { AdamW } from "../../training/adamw.ts";

/** One case: its name, whether it needs cuBLAS, and its body on a context. */
export interface CudaCase {
  name: string;
  cublas: boolean;
  fn: (c: dev.CudaContext) => void | Promise<void>;
}

/** Every case, in order. */
export const CUDA_CASES: CudaCase[] = [];

function cudaCase(
  a: string | { cublas: boolean },
  b: string | ((c: dev.CudaContext) => void | Promise<void>),
  c?: (c: dev.CudaContext) => void | Promise<void>,
): void {
  if (typeof a === "string") CUDA_CASES.push({ name: a, cublas: false, fn: b as CudaCase["fn"] });
  else CUDA_CASES.push({ name: b as string, cublas: a.cublas, fn: c! });
}

const live: DeviceBuffer[] = [];
/** Upload floats (or int32/uint8) to a new device buffer. */
function up(c: dev.CudaContext, a: Float32Array | Int32Array | Uint8Array): bigint {
  const b = c.device.alloc(a.byteLength);
  live.push(b);
  c.device.upload(b, a);
  return b.ptr;
}
/** A zeroed device buffer of n floats. */
function zeros(c: dev.CudaContext, n: number): bigint {
  return up(c, new Float32Array(n));
}
/** n floats from the device. */
function down(c: dev.CudaContext, p: bigint, n: number): Float32Array {
  const out = new Float32Array(n);
  c.device.download({ ptr: p, bytes: 4 * n }, out);
  return out;
}
/** Free every buffer of the test. */
function release(c: dev.CudaContext): void {
  while (live.length) c.device.free(live.pop()!);
}

/** Σ y·r: a scalar whose gradient into y is r (the upstream gradient of the op under test). */
function dot(y: Tensor, r: Float32Array): Tensor {
  let s = 0;
  for (let i = 0; i < r.length; i++) s += y.data[i] * r[i];
  const out = result(Float32Array.of(s), [1], [y]);
  record(out, [y], () => {
    y.grad = r.map((v) => v * out.grad![0]);
  });
  return out;
}

const rng = new Random(2024);
function randn(n: number, s = 1): Float32Array {
  return Float32Array.from({ length: n }, () => s * rng.normal());
}

/** Assert |a − b| ≤ tol·max|b| (+ relative when `relative`), naming the array. */
function close(a: Float32Array, b: Float32Array, tol: number, what: string, relative = false): void {
  assert.equal(a.length, b.length, `${what}: lengths`);
  let scale = 0, worst = 0, at = -1;
  for (const v of b) scale = Math.max(scale, Math.abs(v));
  for (let i = 0; i < a.length; i++) {
    const e = Math.abs(a[i] - b[i]) / (relative ? Math.abs(b[i]) + 1e-6 : scale || 1);
    if (!(e <= worst)) {
      worst = e;
      at = i;
      if (Number.isNaN(e)) break; // NaN never compares: report it
    }
  }
  assert.ok(worst <= tol, `${what}: error ${worst.toExponential(2)} > ${tol} at ${at} (${a[at]} vs ${b[at]})`);
}

cudaCase("add, scale, addBroadcast (column-sum backward), scaleRows: values and gradients equal the CPU's", (c) => {
  const R = 37, N = 29, n = R * N;
  const a = randn(n), b = randn(n), bb = randn(N), w = randn(R), dy = randn(n);
  const pa = parameter(a.slice(), [R, N]), pb = parameter(b.slice(), [R, N]), pbb = parameter(bb.slice(), [N]);
  let y1!: Tensor, y2!: Tensor, y3!: Tensor, y4!: Tensor;
  valueAndGrad(() => {
    [y1, y2, y3, y4] = [add(pa, pb), scale(pa, -1.7), addBroadcast(pa, pbb), scaleRows(pa, w)];
    return add(add(dot(y1, dy), dot(y2, dy)), add(dot(y3, dy), dot(y4, dy)));
  });
  const A = up(c, a), Bp = up(c, b), BB = up(c, bb), Wr = up(c, w), DY = up(c, dy), Y = zeros(c, n);
  const gA = zeros(c, n), gB = zeros(c, n), gBB = zeros(c, N);
  dev.add(c, A, Bp, Y, n);
  close(down(c, Y, n), y1.data, 1e-6, "add", true);
  dev.scaleInto(c, A, -1.7, Y, n, 0);
  close(down(c, Y, n), y2.data, 1e-6, "scale", true);
  dev.addBroadcast(c, A, BB, Y, n, N);
  close(down(c, Y, n), y3.data, 1e-6, "addBroadcast", true);
  dev.scaleRows(c, A, Wr, Y, R, N, 0);
  close(down(c, Y, n), y4.data, 1e-6, "scaleRows", true);
  // backward of all four into the same gradients, as the tape does
  dev.scaleInto(c, DY, 1, gA, n, 1);
  dev.scaleInto(c, DY, 1, gB, n, 1);
  dev.scaleInto(c, DY, -1.7, gA, n, 1);
  dev.scaleInto(c, DY, 1, gA, n, 1);
  dev.columnSumAdd(c, DY, gBB, R, N);
  dev.scaleRows(c, DY, Wr, gA, R, N, 1);
  close(down(c, gA, n), pa.grad!, 1e-5, "d a");
  close(down(c, gB, n), pb.grad!, 1e-6, "d b");
  close(down(c, gBB, N), pbb.grad!, 1e-5, "d broadcast b");
  release(c);
});

cudaCase("GELU tanh and erf forms: values and gradients equal the CPU's", (c) => {
  const n = 1001, x = randn(n, 3), dy = randn(n);
  useTypescriptRows(true);
  try {
    for (const form of ["tanh", "erf"] as const) {
      const px = parameter(x.slice(), [n]);
      let y!: Tensor;
      valueAndGrad(() => dot(y = (form === "tanh" ? gelu : geluErf)(px), dy));
      const X = up(c, x), DY = up(c, dy), Y = zeros(c, n), DX = zeros(c, n);
      dev.geluForward(c, form, X, Y, n);
      dev.geluBackward(c, form, X, DY, DX, n, 1);
      close(down(c, Y, n), y.data, 1e-5, `gelu ${form}`);
      close(down(c, DX, n), px.grad!, 1e-5, `gelu ${form} gradient`);
    }
  } finally {
    useTypescriptRows(false);
    release(c);
  }
});

cudaCase(
  "dropout: Philox words equal the TypeScript Philox; one mask for forward and backward; kept fraction; the CPU mask applied",
  (c) => {
    const n = 100003, p = 0.3, seed: dev.DropoutSeed = [0xdeadbeef, 77];
    const W = zeros(c, n);
    c.kernels.launch1d("philox_words", n, [W, n, seed[0], seed[1]], 4);
    assert.deepEqual(new Uint32Array(down(c, W, n).buffer), philoxWords(n, seed[0], seed[1]));
    const x = randn(n), dy = randn(n);
    const X = up(c, x), Y = zeros(c, n), DY = up(c, dy), DX = zeros(c, n);
    dev.dropout(c, X, Y, n, p, seed, 0);
    dev.dropout(c, DY, DX, n, p, seed, 1);
    const y = down(c, Y, n), dx = down(c, DX, n), words = philoxWords(n, seed[0], seed[1]);
    let kept = 0;
    for (let i = 0; i < n; i++) {
      const keep = words[i] >= Math.floor(p * 2 ** 32);
      kept += keep ? 1 : 0;
      assert.equal(y[i] !== 0, keep, `forward mask at ${i}`);
      assert.equal(dx[i] !== 0, keep, `backward mask at ${i}`);
      if (keep) assert.ok(Math.abs(y[i] - x[i] / (1 - p)) <= 1e-6 * Math.abs(y[i]) + 1e-30);
    }
    const sd = Math.sqrt(n * p * (1 - p));
    assert.ok(Math.abs(kept - n * (1 - p)) < 5 * sd, `kept ${kept} of ${n} at p = ${p}`);
    // the CPU's own mask, applied by dropout_mask_f32
    const cpu = dropout(parameter(x.slice(), [n]), p, new Random(1));
    const mask = Uint8Array.from(cpu.data, (v) => (v !== 0 ? 1 : 0));
    const M = up(c, mask);
    c.kernels.launch1d("dropout_mask_f32", n, [X, M, Y, n, 1 / (1 - p), 0]);
    close(down(c, Y, n), cpu.data, 1e-6, "CPU mask on the device", true);
    release(c);
  },
);

cudaCase("LayerNorm with and without affine, and QK-LayerNorm over the head dimension: values and gradients", (c) => {
  for (
    const [R, D, affine] of [[37, 53, true], [11, 1031, false], [5 * 7 * 4, 16, true], [5 * 7 * 4, 16, false]] as const
  ) {
    const x = randn(R * D, 2), g = randn(D), b = randn(D), dy = randn(R * D);
    const px = parameter(x.slice(), [R, D]), pg = parameter(g.slice(), [D]), pb = parameter(b.slice(), [D]);
    let y!: Tensor;
    valueAndGrad(() => dot(y = affine ? layerNorm(px, pg, pb) : layerNorm(px), dy));
    const buf: dev.LayerNormBuffers = {
      x: up(c, x),
      y: zeros(c, R * D),
      mean: zeros(c, R),
      rstd: zeros(c, R),
      gamma: affine ? up(c, g) : 0n,
      beta: affine ? up(c, b) : 0n,
      rows: R,
      D,
    };
    dev.layerNormForward(c, buf);
    const grads = { dx: zeros(c, R * D), dgamma: affine ? zeros(c, D) : 0n, dbeta: affine ? zeros(c, D) : 0n };
    dev.layerNormBackward(c, buf, up(c, dy), grads);
    const what = `LayerNorm [${R}, ${D}]${affine ? " affine" : ""}`;
    close(down(c, buf.y, R * D), y.data, 1e-4, what);
    close(down(c, grads.dx, R * D), px.grad!, 1e-4, `${what} dx`);
    if (affine) {
      close(down(c, grads.dgamma, D), pg.grad!, 1e-4, `${what} dgamma`);
      close(down(c, grads.dbeta, D), pb.grad!, 1e-4, `${what} dbeta`);
    }
    release(c);
  }
});

cudaCase("concatLast, sliceLast, gatherRows (repeated rows): values and gradients", (c) => {
  const R = 13, widths = [5, 11, 3], W = 19;
  const parts = widths.map((w) => randn(R * w)), dy = randn(R * W);
  const pp = parts.map((p, i) => parameter(p.slice(), [R, widths[i]]));
  let y!: Tensor;
  valueAndGrad(() => dot(y = concatLast(pp), dy));
  const Y = zeros(c, R * W);
  const DY = up(c, dy);
  let off = 0;
  for (const [i, w] of widths.entries()) {
    const P = up(c, parts[i]), G = zeros(c, R * w);
    dev.colsToWide(c, P, Y, R, w, W, off, 0);
    dev.wideToCols(c, DY, G, R, w, W, off, 1);
    close(down(c, G, R * w), pp[i].grad!, 0, `concat part ${i} gradient`);
    off += w;
  }
  close(down(c, Y, R * W), y.data, 0, "concatLast");
  const x = randn(R * W), px = parameter(x.slice(), [R, W]), ds = randn(R * 7);
  let s!: Tensor;
  valueAndGrad(() => dot(s = sliceLast(px, 6, 7), ds));
  const X = up(c, x), S = zeros(c, R * 7), GX = zeros(c, R * W);
  dev.wideToCols(c, X, S, R, 7, W, 6, 0);
  dev.colsToWide(c, up(c, ds), GX, R, 7, W, 6, 1);
  close(down(c, S, R * 7), s.data, 0, "sliceLast");
  close(down(c, GX, R * W), px.grad!, 0, "sliceLast gradient");
  const index = Int32Array.of(3, 0, 12, 3, 3, 7), dg = randn(index.length * W);
  const pg = parameter(x.slice(), [R, W]);
  let gy!: Tensor;
  valueAndGrad(() => dot(gy = gatherRows(pg, index), dg));
  const GY = zeros(c, index.length * W), GG = zeros(c, R * W), I = up(c, index);
  dev.gatherRows(c, X, I, GY, index.length, W);
  dev.scatterAddRows(c, up(c, dg), I, GG, index.length, W);
  close(down(c, GY, index.length * W), gy.data, 0, "gatherRows");
  close(down(c, GG, R * W), pg.grad!, 1e-6, "gatherRows gradient (scatter-add)");
  release(c);
});

/** bf16 rounding of a float32, to nearest even (finite values). */
function bf16Round(x: Float32Array): Float32Array {
  const u = new Uint32Array(x.slice().buffer);
  for (let i = 0; i < u.length; i++) u[i] = ((u[i] + 0x7fff + ((u[i] >>> 16) & 1)) >>> 16) << 16;
  return new Float32Array(u.buffer);
}

cudaCase("attention's row kernels: masked softmax with log-sum-exp, recomputation from it, softmax backward", (c) => {
  const B = 2, H = 3, Lq = 5, Lk = 37, rows = B * H * Lq, scale = 0.25;
  const S = randn(rows * Lk, 3), dP = randn(rows * Lk);
  const mask = Uint8Array.from({ length: B * Lk }, (_, i) => (i >= Lk ? 0 : i % 3 !== 0 ? 1 : 0)); // batch 1: no key
  const P = new Float32Array(rows * Lk), lse = new Float32Array(rows), dS = new Float32Array(rows * Lk);
  for (let r = 0; r < rows; r++) { // the reference, as ops/attention.ts softmaxRows and softmaxBackwardRows
    const b = Math.floor(r / (H * Lq)), keep = (j: number) => mask[b * Lk + j] === 1;
    let m = -Infinity, sum = 0, dot = 0;
    for (let j = 0; j < Lk; j++) if (keep(j)) m = Math.max(m, S[r * Lk + j]);
    for (let j = 0; j < Lk; j++) sum += keep(j) ? Math.exp(S[r * Lk + j] - m) : 0;
    lse[r] = m === -Infinity ? Infinity : m + Math.log(sum);
    for (let j = 0; j < Lk; j++) P[r * Lk + j] = keep(j) && m > -Infinity ? Math.exp(S[r * Lk + j] - m) / sum : 0;
    for (let j = 0; j < Lk; j++) dot += P[r * Lk + j] * dP[r * Lk + j];
    for (let j = 0; j < Lk; j++) dS[r * Lk + j] = P[r * Lk + j] * (dP[r * Lk + j] - dot) * scale;
  }
  const Sd = up(c, S), L = zeros(c, rows), M = up(c, mask), R = up(c, S), D = up(c, dP);
  c.kernels.launchRows("softmax_rows_fwd_f32", rows, [Sd, L, M, rows, Lk, H * Lq]);
  c.kernels.launchRows("softmax_rows_recompute_f32", rows, [R, L, M, rows, Lk, H * Lq]);
  c.kernels.launchRows("softmax_rows_bwd_f32", rows, [Sd, D, rows, Lk, scale]);
  close(down(c, Sd, rows * Lk), P, 1e-6, "probabilities");
  close(down(c, L, rows).subarray(0, H * Lq), lse.subarray(0, H * Lq), 1e-6, "log-sum-exp", true);
  assert.ok(down(c, L, rows).subarray(H * Lq).every((v) => v === Infinity), "a row without keys has lse = +∞");
  close(down(c, R, rows * Lk), P, 1e-6, "probabilities recomputed from the log-sum-exp");
  close(down(c, D, rows * Lk), dS, 1e-5, "softmax backward");
  release(c);
});

cudaCase("fp32 → bf16 → fp32 rounds to nearest even", (c) => {
  const n = 4099, x = randn(n, 100);
  const X = up(c, x), H = c.device.alloc(2 * n), Y = zeros(c, n);
  dev.toBf16(c, X, H.ptr, n);
  dev.fromBf16(c, H.ptr, Y, n);
  assert.deepEqual(down(c, Y, n), bf16Round(x));
  c.device.free(H);
  release(c);
});

cudaCase({ cublas: true }, "linear (cuBLAS GEMMs, fp32 and bf16 inputs): values and gradients equal the CPU's", (c) => {
  const M = 67, K = 45, N = 33;
  const x = randn(M * K), w = randn(K * N, 0.2), b = randn(N), dy = randn(M * N);
  const px = parameter(x.slice(), [M, K]), pw = parameter(w.slice(), [K, N]), pb = parameter(b.slice(), [N]);
  let y!: Tensor;
  valueAndGrad(() => dot(y = linear(px, pw, pb), dy));
  for (const input of ["f32", "bf16"] as const) {
    const tol = input === "f32" ? 1e-4 : 2e-2;
    const X = up(c, x), Wt = up(c, w), DY = up(c, dy);
    const cast = (p: bigint, n: number) => {
      if (input === "f32") return p;
      const h = c.device.alloc(2 * n);
      live.push(h);
      dev.toBf16(c, p, h.ptr, n);
      return h.ptr;
    };
    const Xh = cast(X, M * K), Wh = cast(Wt, K * N), DYh = cast(DY, M * N);
    const Y = zeros(c, M * N), DX = zeros(c, M * K), DW = zeros(c, K * N), DB = zeros(c, N);
    dev.linearForward(c, Xh, Wh, up(c, b), Y, M, K, N, input);
    dev.linearBackward(c, Xh, Wh, DYh, { dx: DX, dw: DW, db: DB, dyF32: DY }, M, K, N, input);
    close(down(c, Y, M * N), y.data, tol, `linear ${input}`);
    close(down(c, DX, M * K), px.grad!, tol, `linear ${input} dx`);
    close(down(c, DW, K * N), pw.grad!, tol, `linear ${input} dw`);
    close(down(c, DB, N), pb.grad!, 1e-5, `linear ${input} db`);
    release(c);
  }
});

cudaCase(
  { cublas: true },
  "attention on column views of one qkv tensor, key mask with a fully masked batch entry, fp32 and bf16",
  (c) => {
    const B = 3, L = 37, H = 3, dh = 8, W = H * dh, ld = 3 * W + 5; // q, k, v columns of a wider tensor
    const qkv = randn(B * L * ld), dO = randn(B * L * W);
    const mask = Uint8Array.from({ length: B * L }, (_, i) => (Math.floor(i / L) === 2 ? 0 : i % 4 !== 1 ? 1 : 0));
    const pq = parameter(qkv.slice(), [B, L, ld]);
    let o!: Tensor;
    valueAndGrad(() =>
      dot(
        o = attention({ tensor: pq, col: 0 }, { tensor: pq, col: W }, { tensor: pq, col: 2 * W }, {
          heads: H,
          headDim: dh,
          keyMask: mask,
        }),
        dO,
      )
    );
    for (const bf16 of [false, true]) {
      const tol = bf16 ? 3e-2 : 1e-4;
      const T = up(c, qkv), DO = up(c, dO), O = zeros(c, B * L * W), G = zeros(c, B * L * ld);
      let Th: bigint | undefined, DOh: bigint | undefined;
      if (bf16) {
        const a = c.device.alloc(2 * qkv.length), d = c.device.alloc(2 * dO.length);
        live.push(a, d);
        dev.toBf16(c, T, a.ptr, qkv.length);
        dev.toBf16(c, DO, d.ptr, dO.length);
        Th = a.ptr;
        DOh = d.ptr;
      }
      const opd = (col: number): dev.AttentionOperand => ({ f32: T, bf16: Th, ld, col });
      const shape = { B, Lq: L, Lk: L, heads: H, headDim: dh };
      const saved = dev.attentionForward(c, shape, opd(0), opd(W), opd(2 * W), O, up(c, mask), bf16);
      dev.attentionBackward(c, shape, opd(0), opd(W), opd(2 * W), DO, { dq: G, dk: G, dv: G }, saved, DOh);
      close(down(c, O, B * L * W), o.data, tol, `attention${bf16 ? " bf16" : ""}`);
      close(down(c, G, B * L * ld), pq.grad!, tol, `attention${bf16 ? " bf16" : ""} gradients`);
      release(c);
    }
  },
);

cudaCase(
  "every loss (value and gradient) equals training/losses.ts, weighted_mse with token and value weights",
  (c) => {
    const M = 19, E = 5, V = 27;
    const members = randn(M * E * V), values = randn(M * V);
    const valid = Float32Array.from({ length: M * V }, (_, i) => (i % 7 === 2 ? 0 : 1));
    const lat = Float32Array.from({ length: M }, () => rng.next()),
      vw = Float32Array.from({ length: M * V }, () => rng.next());
    for (const name of LOSSES) {
      for (const valueWeights of name === "weighted_mse" ? [undefined, vw] : [undefined]) {
        const pm = parameter(members.slice(), [M, E, V]);
        const loss = valueAndGrad(() =>
          scale(fieldLoss(name, pm, { rows: new Int32Array(M), values, valid, latWeight: lat, valueWeights }), 0.75)
        );
        const bufs: dev.LossBuffers = {
          members: up(c, members),
          values: up(c, values),
          valid: up(c, valid),
          latWeight: up(c, lat),
          valueWeights: valueWeights ? up(c, valueWeights) : 0n,
          M,
          E,
          V,
        };
        const out = zeros(c, 1), g = zeros(c, M * E * V);
        const saved = dev.fieldLossForward(c, name, bufs, out);
        dev.fieldLossBackward(c, saved, up(c, Float32Array.of(0.75)), g);
        const what = `${name}${valueWeights ? " (value weights)" : ""}`;
        close(Float32Array.of(0.75 * down(c, out, 1)[0]), Float32Array.of(loss), 1e-6, what, true);
        close(down(c, g, M * E * V), pm.grad!, 1e-5, `${what} gradient`);
        release(c);
      }
    }
  },
);

cudaCase("AdamW with global-norm clipping over three parameters equals training/adamw.ts over two steps", (c) => {
  const sizes = [7, 1000, 33];
  const config = { lrMax: 1e-2, weightDecay: 0.025, clipNorm: 1 };
  const params = new Map(sizes.map((n, i) => [`p${i}`, parameter(randn(n), [n])] as const));
  const dev0 = sizes.map((n, i) => {
    const t = params.get(`p${i}`)!;
    return { w: up(c, t.data), g: zeros(c, n), m: zeros(c, n), v: zeros(c, n), n };
  });
  const opt = new AdamW(params, config);
  const nf = zeros(c, 2);
  for (let step = 1; step <= 2; step++) {
    for (const [i, t] of [...params.values()].entries()) {
      t.grad = randn(t.size, 2);
      c.device.upload({ ptr: dev0[i].g, bytes: 4 * t.size }, t.grad);
    }
    const lr = 1e-2; // learningRate with lrMax only, no warm-up, no decay
    const { gradNorm } = opt.update();
    dev.adamwStep(c, dev0, {
      lr,
      b1: 0.9,
      b2: 0.999,
      eps: 1e-8,
      weightDecay: 0.025,
      bc1: 1 - 0.9 ** step,
      bc2: 1 - 0.999 ** step,
      clipNorm: 1,
    }, nf);
    close(down(c, nf, 1), Float32Array.of(gradNorm), 1e-6, `step ${step} gradient norm`, true);
    for (const [i, t] of [...params.values()].entries()) {
      close(down(c, dev0[i].w, t.size), t.data, 1e-5, `step ${step} p${i}`);
      close(down(c, dev0[i].m, t.size), opt.moments.get(`p${i}`)!.m, 1e-5, `step ${step} p${i} m`);
    }
  }
  release(c);
});

cudaCase(
  { cublas: true },
  "the host sgemm on cuBLAS (ops/cuda/gemm.ts) equals the TypeScript sgemm: transposes, strides, offsets, beta 0 over NaN",
  (c) => {
    const g = cudaGemm(c);
    try {
      for (const [m, n, k] of [[37, 29, 41], [1, 70, 3], [65, 1, 17], [3, 5, 1], [128, 96, 200]]) {
        for (const ta of [false, true]) {
          for (const tb of [false, true]) {
            for (const beta of [0, 0.5]) {
              const lda = (ta ? m : k) + 3, ldb = (tb ? k : n) + 1, ldc = n + 2, off = 5;
              const a = randn(off + (ta ? k : m) * lda), b = randn(off + (tb ? n : k) * ldb);
              const c0 = randn(off + m * ldc);
              if (beta === 0) c0.fill(NaN, off, off + n); // must not leak into C
              const want = c0.slice(), got = c0.slice();
              typescriptGemm.sgemm(ta, tb, m, n, k, 1.3, a, off, lda, b, off, ldb, beta, want, off, ldc);
              g.sgemm(ta, tb, m, n, k, 1.3, a, off, lda, b, off, ldb, beta, got, off, ldc);
              close(got, want, 1e-5, `sgemm ${m}×${n}×${k} ta=${ta} tb=${tb} beta=${beta}`);
            }
          }
        }
      }
    } finally {
      g.close();
    }
  },
);
