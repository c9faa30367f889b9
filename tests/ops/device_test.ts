/**
 * Every device backend through the contract of ops/device.ts against the
 * CPU ops, the reference: every op's values and the gradients of all its
 * inputs, at odd sizes, with column offsets and strides where the op has
 * them (slices, concatenation, attention heads as column ranges of one qkv
 * tensor), masks and repeated indices. Each case runs the op on host
 * tensors and on device copies, then back-propagates Σ out·R (R fixed
 * random weights, as a [1, n]·[n, 1] linear) on both. Tolerance: 2e-5 of
 * the largest reference value (values and each gradient), float32 kernels
 * in another summation order. Each case runs per device of
 * tests/_helpers/devices.ts: `webgpu` (lavapipe in CI), `cuda-emulated`
 * (the .cu kernels on the CPU emulator), `cuda` (a real GPU, ignored —
 * loudly — where none is); how a device that cannot start is reported is
 * described there.
 *
 * @module
 */
import assert from "node:assert/strict";
import {
  add,
  addBroadcast,
  attention,
  backward,
  concatLast,
  constant,
  dropout,
  gatherRows,
  gelu,
  geluErf,
  layerNorm,
  linear,
  parameter,
  Random,
  scale,
  scaleRows,
  sliceLast,
  type Tensor,
  typescriptGemm,
  valueAndGrad,
} from "../../ops/mod.ts";
import { dropoutKeeps } from "../../ops/device.ts";
import type { Device } from "../../ops/device.ts";
import { deviceTests } from "../_helpers/devices.ts";
import { deviceEnsembleMeanMse, ensembleMeanMse, fieldLoss, LOSSES, weightedSum } from "../../training/losses.ts";
import { AdamW } from "../../training/adamw.ts";
import type { FieldTargets } from "../../models/inputs.ts";

function randn(rng: Random, n: number): Float32Array {
  return Float32Array.from({ length: n }, () => rng.normal());
}

/** An input of a case: its values and shape, and whether it is a parameter (gradients asked) or a constant. */
interface Input {
  data: Float32Array;
  shape: number[];
  grad: boolean;
}

const input = (rng: Random, shape: number[], grad = true): Input => ({
  data: randn(rng, shape.reduce((a, b) => a * b, 1)),
  shape,
  grad,
});

/** Run `op` on tensors made from `inputs` (on `d` when given); the output's values and each input's gradient. */
async function run(
  inputs: Input[],
  op: (t: Tensor[]) => Tensor,
  d?: Device,
): Promise<{ out: Float32Array; grads: Float32Array[] }> {
  const ts = inputs.map((i) => i.grad ? parameter(i.data.slice(), i.shape) : constant(i.data.slice(), i.shape));
  if (d) { for (const t of ts) t.toDevice(d); }
  let out: Tensor | undefined;
  const weights = randn(new Random(99), 1 << 16);
  backward(() => {
    out = op(ts);
    return linear(out.reshape([1, out.size]), constant(weights.subarray(0, out.size), [out.size, 1]));
  });
  return { out: await out!.read(), grads: await Promise.all(ts.map((t) => t.readGrad())) };
}

/** The op on host and device agree to `tol` of the largest reference value, values and gradients. */
async function agree(
  d: Device,
  what: string,
  inputs: Input[],
  op: (t: Tensor[]) => Tensor,
  tol = 2e-5,
): Promise<void> {
  const cpu = await run(inputs, op);
  const dev = await run(inputs, op, d);
  close(`${what}: values`, dev.out, cpu.out, tol);
  for (const [i, g] of cpu.grads.entries()) {
    if (inputs[i].grad) close(`${what}: gradient of input ${i}`, dev.grads[i], g, tol);
  }
}

function close(what: string, got: Float32Array, want: Float32Array, tol: number): void {
  assert.equal(got.length, want.length, `${what}: length`);
  let largest = 0, worst = 0, at = -1;
  for (const v of want) largest = Math.max(largest, Math.abs(v));
  for (let i = 0; i < want.length; i++) {
    const e = Math.abs(got[i] - want[i]);
    if (!(e <= worst)) (worst = Number.isNaN(e) ? Infinity : e, at = i);
  }
  assert.ok(largest > 0 || want.length === 0 || worst === 0, `${what}: reference all zero`);
  assert.ok(
    worst <= tol * Math.max(largest, 1e-30),
    `${what}: [${at}] device ${got[at]} cpu ${want[at]} (largest ${largest})`,
  );
}

deviceTests(
  "device",
  "linear, layerNorm and the elementwise ops equal the CPU ops (values, gradients; odd sizes)",
  async (d) => {
    const rng = new Random(3);
    await agree(
      d,
      "linear+bias",
      [input(rng, [3, 5, 7]), input(rng, [7, 9]), input(rng, [9])],
      ([x, w, b]) => linear(x, w, b),
    );
    await agree(
      d,
      "linear, constant input",
      [input(rng, [70, 3], false), input(rng, [3, 67])],
      ([x, w]) => linear(x, w),
    );
    await agree(d, "layerNorm", [input(rng, [7, 13])], ([x]) => layerNorm(x));
    await agree(
      d,
      "layerNorm affine",
      [input(rng, [5, 3, 11]), input(rng, [11]), input(rng, [11])],
      ([x, g, b]) => layerNorm(x, g, b),
    );
    await agree(d, "add", [input(rng, [5, 7]), input(rng, [5, 7])], ([a, b]) => add(a, b));
    await agree(d, "add(a, a)", [input(rng, [37])], ([a]) => add(a, a));
    await agree(d, "addBroadcast", [input(rng, [3, 4, 5]), input(rng, [4, 5])], ([a, b]) => addBroadcast(a, b));
    await agree(
      d,
      "addBroadcast, constant",
      [input(rng, [3, 9]), input(rng, [9], false)],
      ([a, b]) => addBroadcast(a, b),
    );
    await agree(d, "scale", [input(rng, [300])], ([a]) => scale(a, -0.7));
    await agree(d, "gelu", [input(rng, [5, 61])], ([a]) => gelu(scale(a, 3)));
    await agree(d, "geluErf", [input(rng, [5, 61])], ([a]) => geluErf(scale(a, 3)));
    const w = randn(rng, 6);
    w[2] = 0;
    await agree(d, "scaleRows", [input(rng, [2, 3, 5])], ([x]) => scaleRows(x, w));
    await agree(
      d,
      "concatLast",
      [input(rng, [2, 3, 5]), input(rng, [2, 3, 1]), input(rng, [2, 3, 4])],
      (ps) => concatLast(ps),
    );
    await agree(d, "sliceLast", [input(rng, [4, 3, 11])], ([x]) => sliceLast(x, 3, 5));
    const index = Int32Array.of(4, 0, 4, 7, 2, 4);
    await agree(d, "gatherRows (repeats)", [input(rng, [8, 5])], ([x]) => gatherRows(x, index));
    await agree(d, "reshape", [input(rng, [6, 5])], ([x]) => layerNorm(x.reshape([3, 10])));
  },
);

deviceTests("device", "attention (heads as column ranges, masks, cross-attention) equals the CPU op", async (d) => {
  const rng = new Random(5);
  const [B, L, H, dh] = [2, 7, 2, 3], W = H * dh;
  // Self-attention on one qkv tensor with 2 spare columns: q, k, v are column ranges from 1, 1 + W, 1 + 2W.
  const mask = Uint8Array.from({ length: B * L }, (_, i) => i % 3 === 1 ? 0 : 1);
  await agree(
    d,
    "self-attention, masked",
    [input(rng, [B, L, 3 * W + 2])],
    ([qkv]) =>
      attention({ tensor: qkv, col: 1 }, { tensor: qkv, col: 1 + W }, { tensor: qkv, col: 1 + 2 * W }, {
        heads: H,
        headDim: dh,
        keyMask: mask,
      }),
  );
  // Cross-attention: 5 queries against 9 keys; batch 1 has no key left (its output and gradients are 0).
  const cross = Uint8Array.from({ length: B * 9 }, (_, i) => i < 9 && i !== 4 ? 1 : 0);
  await agree(
    d,
    "cross-attention",
    [input(rng, [B, 5, W]), input(rng, [B, 9, 2 * W + 1])],
    ([q, kv]) =>
      attention({ tensor: q, col: 0 }, { tensor: kv, col: 0 }, { tensor: kv, col: W + 1 }, {
        heads: H,
        headDim: dh,
        keyMask: cross,
      }),
  );
  // Wider scores than a workgroup tile (70 keys), odd head width.
  await agree(
    d,
    "attention 70 keys",
    [input(rng, [1, 70, 3 * 10])],
    ([qkv]) =>
      attention({ tensor: qkv, col: 0 }, { tensor: qkv, col: 10 }, { tensor: qkv, col: 20 }, {
        heads: 2,
        headDim: 5,
      }),
  );
});

deviceTests(
  "device",
  "dropout keeps exactly the values the contract's hash keeps; its gradient is dy·mask",
  async (d) => {
    const rng = new Random(8), n = 1001, p = 0.3;
    const x = parameter(randn(rng, n), [n]).toDevice(d);
    const seedRng = new Random(4), seed = new Random(4).nextUint();
    let y: Tensor | undefined;
    backward(() => {
      y = dropout(x, p, seedRng);
      return linear(y.reshape([1, n]), constant(new Float32Array(n).fill(1), [n, 1]));
    });
    const xs = await x.read(), ys = await y!.read(), gx = await x.readGrad();
    let kept = 0;
    for (let i = 0; i < n; i++) {
      const keep = dropoutKeeps(seed, i, p);
      kept += keep ? 1 : 0;
      const want = keep ? xs[i] / (1 - p) : 0;
      assert.ok(Math.abs(ys[i] - want) <= 1e-6 * Math.abs(want), `y[${i}] ${ys[i]}, want ${want}`);
      assert.ok(Math.abs(gx[i] - (keep ? 1 / (1 - p) : 0)) < 1e-6, `dx[${i}] ${gx[i]}`);
    }
    assert.ok(Math.abs(kept / n - (1 - p)) < 0.05, `kept ${kept} of ${n}`);
  },
);

deviceTests(
  "device",
  "a device tensor's values and gradient are read explicitly; .data and .grad are errors",
  async (d) => {
    const t = parameter(Float32Array.of(1, 2, 3), [3]).toDevice(d);
    assert.throws(() => t.data, new RegExp(`lives on the ${d.name} device.*await t\\.read\\(\\)`));
    assert.throws(() => t.grad, new RegExp(`lives on the ${d.name} device`));
    assert.deepEqual([...await t.read()], [1, 2, 3]);
    assert.throws(
      () => valueAndGrad(() => linear(t.reshape([1, 3]), constant(Float32Array.of(1, 1, 1), [3, 1]))),
      new RegExp(`on the ${d.name} device: use backward\\(\\)`),
    );
    const host = parameter(Float32Array.of(1, 2, 3), [3, 1]);
    assert.throws(() => linear(t.reshape([1, 3]), host), /needs gradients but is on the host/);
    await t.toHost();
    assert.deepEqual([...t.data], [1, 2, 3]);
  },
);

deviceTests("device", "every field loss, the weighted sum and the ensemble-mean MSE equal the CPU ones", async (d) => {
  const rng = new Random(12), [M, E, V] = [5, 3, 7];
  const valid = Float32Array.from({ length: M * V }, (_, i) => i % 5 === 2 ? 0 : 1);
  const targets: FieldTargets = {
    rows: new Int32Array(M),
    values: randn(rng, M * V),
    valid,
    latWeight: Float32Array.from({ length: M }, () => 0.2 + rng.next()),
  };
  const withValueWeights = { ...targets, valueWeights: Float32Array.from({ length: M * V }, () => rng.next()) };
  for (const name of LOSSES) {
    for (const t of name === "weighted_mse" ? [targets, withValueWeights] : [targets]) {
      await agree(
        d,
        `loss ${name}`,
        [input(rng, [M, E, V])],
        ([x]) =>
          weightedSum([{ loss: fieldLoss(name, x, t), weight: 0.7 }, { loss: fieldLoss("mse", x, t), weight: 0.2 }]),
      );
    }
  }
  const members = randn(rng, M * E * V);
  const want = ensembleMeanMse(constant(members, [M, E, V]), targets);
  const got = await deviceEnsembleMeanMse(constant(members.slice(), [M, E, V]).toDevice(d), targets).read();
  assert.ok(Math.abs(got[0] - want.mse) <= 1e-5 * want.mse, `ensemble-mean MSE ${got[0]}, cpu ${want.mse}`);
  assert.equal(got[1], want.count);
});

deviceTests("device", "AdamW (clipping, decay, bias correction) equals the CPU update over 3 steps", async (d) => {
  const rng = new Random(21);
  const shapes = [[3, 5], [7], [1]];
  const init = shapes.map((s) => randn(rng, s.reduce((a, b) => a * b, 1)));
  const grads = [0, 1, 2].map(() => shapes.map((s) => randn(rng, s.reduce((a, b) => a * b, 1))));
  const run = async (onDevice: boolean) => {
    const params = new Map(init.map((v, i) => [`p${i}`, parameter(v.slice(), shapes[i])]));
    if (onDevice) { for (const p of params.values()) p.toDevice(d); }
    const opt = new AdamW(params, { lrMax: 1e-2, lrStart: 1e-3, warmupSteps: 2, clipNorm: 2, weightDecay: 0.1 });
    const norms: number[] = [];
    for (const g of grads) {
      opt.zeroGrad();
      for (const [i, p] of [...params.values()].entries()) {
        if (onDevice) p.gradBuffer = d.upload(g[i], true);
        else p.grad = g[i].slice();
      }
      opt.update();
      norms.push(await opt.readGradNorm());
    }
    return { norms, values: await Promise.all([...params.values()].map((p) => p.read())) };
  };
  const cpu = await run(false), dev = await run(true);
  for (let s = 0; s < 3; s++) assert.ok(Math.abs(cpu.norms[s] - dev.norms[s]) <= 1e-5 * cpu.norms[s], `norm ${s}`);
  for (const [i, v] of cpu.values.entries()) close(`parameter ${i}`, dev.values[i], v, 1e-5);
});

deviceTests(
  "device",
  "the contract's gemm equals the TypeScript sgemm (transposes, ld, offsets, beta with NaN, 2-level batches)",
  async (d) => {
    const rng = new Random(31);
    for (const [m, n, k] of [[37, 29, 41], [1, 70, 3], [65, 1, 17], [130, 67, 33]]) {
      for (const ta of [false, true]) {
        for (const tb of [false, true]) {
          for (const beta of [0, 0.3]) {
            const lda = (ta ? m : k) + 3, ldb = (tb ? k : n) + 2, ldc = n + 5;
            const a = randn(rng, (ta ? k : m) * lda + 7), b = randn(rng, (tb ? n : k) * ldb + 4);
            const c = randn(rng, m * ldc + 9);
            if (beta === 0) c[9] = NaN; // not read when beta is 0
            const want = c.slice();
            typescriptGemm.sgemm(ta, tb, m, n, k, 0.7, a, 7, lda, b, 4, ldb, beta, want, 9, ldc);
            const C = d.upload(c);
            d.gemm({
              ta,
              tb,
              m,
              n,
              k,
              alpha: 0.7,
              beta,
              a: d.upload(a),
              aOff: 7,
              lda,
              b: d.upload(b),
              bOff: 4,
              ldb,
              c: C,
              cOff: 9,
              ldc,
            });
            close(`${m}×${n}×${k} ta=${ta} tb=${tb} beta=${beta}`, await d.read(C), want, 2e-6);
          }
        }
      }
    }
    // Batches (i, j) < (2, 3) with their own strides: C[i, j] = A[i, j]·B[i, j]ᵀ, every item in its own place.
    const [m, n, k] = [5, 4, 3];
    const a = randn(rng, 2 * 3 * 20 + 1), b = randn(rng, 2 * 3 * 16 + 2);
    const want = new Float32Array(2 * 3 * m * n);
    for (let i = 0; i < 2; i++) {
      for (let j = 0; j < 3; j++) {
        typescriptGemm.sgemm(
          false,
          true,
          m,
          n,
          k,
          1,
          a,
          1 + i * 60 + j * 20,
          k,
          b,
          2 + i * 48 + j * 16,
          k,
          0,
          want,
          (i * 3 + j) * m * n,
          n,
        );
      }
    }
    const C = d.alloc(want.length);
    d.gemm({
      ta: false,
      tb: true,
      m,
      n,
      k,
      alpha: 1,
      beta: 0,
      a: d.upload(a),
      aOff: 1,
      lda: k,
      aStride: [60, 20],
      b: d.upload(b),
      bOff: 2,
      ldb: k,
      bStride: [48, 16],
      c: C,
      cOff: 0,
      ldc: n,
      cStride: [3 * m * n, m * n],
      batch: [2, 3],
    });
    close("batched gemm", await d.read(C), want, 2e-6);
  },
);

deviceTests(
  "device",
  "steps in a scope reuse the pool: no device memory is created after the first step",
  async (d) => {
    const rng = new Random(41);
    const w = parameter(randn(rng, 6 * 4), [6, 4]).toDevice(d);
    const x = randn(rng, 5 * 6);
    const created: number[] = [];
    for (let s = 0; s < 3; s++) {
      d.beginScope();
      // A view of the parameter (its gradient must be the step's, not a persistent buffer per step), a host batch.
      backward(() => {
        const y = linear(constant(x.slice(), [5, 6]), w.reshape([6, 4]).reshape([6, 4]));
        return linear(gelu(y).reshape([1, 20]), constant(new Float32Array(20).fill(1), [20, 1]));
      });
      d.endScope();
      created.push(d.bytesCreated);
    }
    assert.equal(created[2], created[1], `device memory grew from ${created[1]} to ${created[2]} bytes`);
    assert.ok((await w.readGrad()).some((v) => v !== 0), "the parameter got its gradient");
  },
);
