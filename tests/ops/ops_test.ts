/**
 * The tensor ops: finite-difference gradients, OpenBLAS sgemm against the
 * TypeScript kernel, attention against a dense reference, and GELU in
 * WebAssembly SIMD against the TypeScript one.
 *
 * @module
 */
import assert from "node:assert/strict";
import { gradCheck } from "../_helpers/model.ts";
import {
  add,
  attention,
  concatLast,
  gatherRows,
  gelu,
  layerNorm,
  linear,
  openblasGemm,
  parameter,
  Random,
  type Tensor,
  typescriptGemm,
  useGemm,
  useTypescriptRows,
  valueAndGrad,
} from "../../ops/mod.ts";

function randn(rng: Random, n: number, s = 1): Float32Array {
  return Float32Array.from({ length: n }, () => rng.normal() * s);
}

/** Loss = Σ w·f(params) with fixed random weights w, so every output element matters. */
function weighted(f: () => Tensor, w: Float32Array): () => Tensor {
  return () => {
    const y = f();
    const p = parameter(w, [w.length]);
    // Σ y·w as a linear of [1, n]·[n, 1].
    return linear(y.reshape([1, y.size]), p.reshape([w.length, 1])).reshape([1]);
  };
}

Deno.test("ops: finite-difference gradients of linear, layer norm, GELU, concat, gather, attention (masked, cross)", () => {
  const rng = new Random(1);
  const x = parameter(randn(rng, 2 * 7 * 6), [2, 7, 6]);
  const w = parameter(randn(rng, 6 * 12, 0.4), [6, 12]);
  const b = parameter(randn(rng, 12), [12]);
  const gam = parameter(randn(rng, 12, 0.3).map((v) => v + 1), [12]);
  const bet = parameter(randn(rng, 12, 0.3), [12]);
  const kv = parameter(randn(rng, 2 * 5 * 8), [2, 5, 8]);
  const mask = Uint8Array.from([1, 1, 0, 1, 1, 1, 0, 1, 1, 1]);
  const idx = Int32Array.from([3, 0, 9, 13]);
  const f = () => {
    const y = layerNorm(linear(x, w, b), gam, bet); // [2,7,12]: q|k|v of 2 heads × 2
    const self = attention({ tensor: y, col: 0 }, { tensor: y, col: 4 }, { tensor: y, col: 8 }, {
      heads: 2,
      headDim: 2,
      blockRows: 3,
    });
    const cross = attention({ tensor: y, col: 0 }, { tensor: kv, col: 0 }, { tensor: kv, col: 4 }, {
      heads: 2,
      headDim: 2,
      keyMask: mask,
      blockRows: 4,
      saveBytes: 0,
    });
    const z = gelu(add(concatLast([self, cross]), concatLast([cross, self])));
    return gatherRows(z.reshape([14, 8]), idx);
  };
  gradCheck([x, w, b, gam, bet, kv], weighted(f, randn(rng, 4 * 8)), rng);
});

Deno.test("ops: OpenBLAS sgemm equals the TypeScript kernel for every transpose, offsets and strides", () => {
  const blas = openblasGemm();
  if (!blas) {
    console.warn("OpenBLAS not loadable (no --allow-ffi or no libopenblas.so.0): comparison skipped");
    return;
  }
  const rng = new Random(2);
  const [m, n, k] = [37, 29, 41];
  for (const ta of [false, true]) {
    for (const tb of [false, true]) {
      const lda = (ta ? m : k) + 3, ldb = (tb ? k : n) + 2, ldc = n + 5;
      const a = randn(rng, (ta ? k : m) * lda + 7), bm = randn(rng, (tb ? n : k) * ldb + 4);
      const c0 = randn(rng, m * ldc + 9);
      const c1 = c0.slice(), c2 = c0.slice();
      blas.sgemm(ta, tb, m, n, k, 0.7, a, 7, lda, bm, 4, ldb, 0.3, c1, 9, ldc);
      typescriptGemm.sgemm(ta, tb, m, n, k, 0.7, a, 7, lda, bm, 4, ldb, 0.3, c2, 9, ldc);
      let worst = 0;
      for (let i = 0; i < c1.length; i++) worst = Math.max(worst, Math.abs(c1[i] - c2[i]));
      assert.ok(worst < 1e-4, `ta=${ta} tb=${tb}: max difference ${worst}`);
      assert.deepEqual(c1.subarray(0, 9), c0.subarray(0, 9), "values before the offset untouched");
    }
  }
});

Deno.test("ops: attention and its gradients equal a plain dense reference; saved or recomputed probabilities, both gemm kernels and both row kernels agree", () => {
  const rng = new Random(3);
  const [B, L, H, dh] = [2, 33, 3, 4];
  const qkv = parameter(randn(rng, B * L * 3 * H * dh), [B, L, 3 * H * dh]);
  const W = H * dh;
  const run = (saveBytes?: number) => {
    qkv.grad = undefined;
    let out!: Tensor;
    const wts = randn(new Random(9), B * L * W);
    valueAndGrad(() => {
      out = attention({ tensor: qkv, col: 0 }, { tensor: qkv, col: W }, { tensor: qkv, col: 2 * W }, {
        heads: H,
        headDim: dh,
        blockRows: 8,
        saveBytes,
      });
      return weighted(() => out, wts)();
    });
    return { out: out.data.slice(), grad: qkv.grad!.slice(), wts };
  };
  const a = run();
  // Recomputing the probabilities in the backward pass (flash style) gives the same gradients as keeping them.
  const re = run(0);
  for (let i = 0; i < re.grad.length; i++) {
    assert.ok(Math.abs(re.grad[i] - a.grad[i]) < 1e-5, `recomputed gradient ${i}`);
  }
  // Plain reference in float64: softmax(qkᵀ/√d)v per head, and its output for the weights.
  const d = qkv.data, ld = 3 * W;
  let worst = 0;
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < H; h++) {
      for (let i = 0; i < L; i++) {
        const s = new Float64Array(L);
        for (let j = 0; j < L; j++) {
          let dot = 0;
          for (let e = 0; e < dh; e++) dot += d[(b * L + i) * ld + h * dh + e] * d[(b * L + j) * ld + W + h * dh + e];
          s[j] = dot / Math.sqrt(dh);
        }
        const m = Math.max(...s);
        let z = 0;
        for (let j = 0; j < L; j++) z += s[j] = Math.exp(s[j] - m);
        for (let e = 0; e < dh; e++) {
          let o = 0;
          for (let j = 0; j < L; j++) o += (s[j] / z) * d[(b * L + j) * ld + 2 * W + h * dh + e];
          worst = Math.max(worst, Math.abs(o - a.out[(b * L + i) * W + h * dh + e]));
        }
      }
    }
  }
  assert.ok(worst < 1e-5, `attention output differs from the reference by ${worst}`);
  // The TypeScript row kernels give the same output and gradients as the WebAssembly SIMD ones.
  useTypescriptRows(true);
  try {
    const t = run();
    let wo = 0, wg = 0;
    for (let i = 0; i < t.out.length; i++) wo = Math.max(wo, Math.abs(t.out[i] - a.out[i]));
    for (let i = 0; i < t.grad.length; i++) wg = Math.max(wg, Math.abs(t.grad[i] - a.grad[i]));
    assert.ok(wo < 1e-5 && wg < 1e-4, `TypeScript rows differ from SIMD rows: output ${wo}, gradient ${wg}`);
  } finally {
    useTypescriptRows(false);
  }
  const blas = openblasGemm();
  if (blas) {
    useGemm(typescriptGemm);
    try {
      const t = run();
      let wg = 0;
      for (let i = 0; i < t.grad.length; i++) wg = Math.max(wg, Math.abs(t.grad[i] - a.grad[i]));
      assert.ok(wg < 1e-4, `gradients with the TypeScript kernel differ by ${wg}`);
    } finally {
      useGemm(blas);
    }
  }
});

Deno.test("ops: GELU in WebAssembly SIMD equals the TypeScript GELU (values and gradients)", () => {
  const rng = new Random(12);
  const x = parameter(Float32Array.from({ length: 1003 }, () => rng.normal() * 4), [1003]);
  const w = randn(rng, 1003);
  const run = () => {
    x.grad = undefined;
    let y!: Tensor;
    valueAndGrad(weighted(() => (y = gelu(x)), w));
    return { y: y.data.slice(), g: x.grad!.slice() };
  };
  const simd = run();
  useTypescriptRows(true);
  let plain;
  try {
    plain = run();
  } finally {
    useTypescriptRows(false);
  }
  for (let i = 0; i < 1003; i++) {
    assert.ok(Math.abs(simd.y[i] - plain.y[i]) < 2e-6 * Math.max(1, Math.abs(plain.y[i])), `value ${i}`);
    assert.ok(Math.abs(simd.g[i] - plain.g[i]) < 1e-5 * Math.max(1, Math.abs(plain.g[i])), `gradient ${i}`);
  }
  // And the TypeScript form is GELU: 0.5x(1 + tanh(√(2/π)(x + 0.044715x³))) at a known point.
  const v = 1.3, want = 0.5 * v * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (v + 0.044715 * v ** 3)));
  const one = gelu(parameter(Float32Array.of(v), [1])).data[0];
  assert.ok(Math.abs(one - want) < 1e-6);
});
