/**
 * `--backend cuda` on a real GPU, outside the device contract (whose cases
 * run on every device in tests/ops/device_test.ts): the host sgemm on
 * cuBLAS for callers that keep host arrays (ops/cuda/gemm.ts) against the
 * TypeScript sgemm, and `selectBackend("cuda", …, { device: true })`
 * giving the CUDA device. Where the backend cannot start (no driver, GPU
 * or cuBLAS), selecting it either way must be a ConfigError naming the key
 * and the reason, and the GPU cases are reported ignored with the reason printed.
 *
 * @module
 */
import assert from "node:assert/strict";
import { probeCuda } from "../../ops/cuda/probe.ts";
import { cudaBackend } from "../../ops/cuda/select.ts";
import { cudaResidentDevice } from "../../ops/cuda/device.ts";
import { ConfigError } from "../../errors.ts";
import { Random, typescriptGemm } from "../../ops/mod.ts";
import { selectBackend } from "../../ops/backend.ts";

const probe = probeCuda({ keep: false });
if (!probe.ok) {
  console.warn(`\n*** cuda runtime (GPU) tests IGNORED — the cuda backend cannot start here: ${probe.reason} ***\n`);
} else console.log(probe.description);

Deno.test({
  name:
    "cuda runtime: where the backend cannot start, selecting it (host sgemm or device) is a ConfigError naming the key and the reason",
  ignore: probe.ok,
  fn: async () => {
    if (probe.ok) return;
    for (const start of [() => cudaBackend("backend"), () => cudaResidentDevice("backend")]) {
      assert.throws(start, (e) => {
        assert.ok(e instanceof ConfigError);
        assert.match(e.message, /^backend: cuda cannot start: /);
        assert.ok(e.message.includes(probe.reason), e.message);
        return true;
      });
    }
    for (const device of [false, true]) {
      await assert.rejects(selectBackend("cuda", "--backend", { device }), (e) => {
        assert.ok(e instanceof ConfigError);
        assert.match(e.message, /^--backend: cuda cannot start: /);
        return true;
      });
    }
  },
});

Deno.test({
  name:
    "cuda runtime: the host sgemm on cuBLAS equals the TypeScript sgemm (transposes, strides, offsets, beta 0 over NaN)",
  ignore: !probe.ok,
  sanitizeResources: false, // the backend dlopens the driver and cuBLAS inside the test; they stay loaded
  fn: () => {
    const b = cudaBackend("backend"), rng = new Random(23);
    const randn = (n: number) => Float32Array.from({ length: n }, () => rng.normal());
    try {
      for (const [m, n, k] of [[37, 29, 41], [1, 70, 3], [65, 1, 17], [3, 5, 1], [128, 96, 200]]) {
        for (const ta of [false, true]) {
          for (const tb of [false, true]) {
            for (const beta of [0, 0.5]) {
              const lda = (ta ? m : k) + 3, ldb = (tb ? k : n) + 1, ldc = n + 2, off = 5;
              const a = randn(off + (ta ? k : m) * lda), bb = randn(off + (tb ? n : k) * ldb);
              const c0 = randn(off + m * ldc);
              if (beta === 0) c0.fill(NaN, off, off + n);
              const want = c0.slice(), got = c0.slice();
              typescriptGemm.sgemm(ta, tb, m, n, k, 1.3, a, off, lda, bb, off, ldb, beta, want, off, ldc);
              b.gemm.sgemm(ta, tb, m, n, k, 1.3, a, off, lda, bb, off, ldb, beta, got, off, ldc);
              let largest = 0, worst = 0;
              for (let i = 0; i < want.length; i++) {
                if (Number.isNaN(want[i])) continue;
                largest = Math.max(largest, Math.abs(want[i]));
                worst = Math.max(worst, Math.abs(got[i] - want[i]) || Infinity * Number(Number.isNaN(got[i])));
              }
              assert.ok(worst <= 1e-5 * largest, `sgemm ${m}×${n}×${k} ta=${ta} tb=${tb} beta=${beta}: ${worst}`);
            }
          }
        }
      }
    } finally {
      b.close();
    }
  },
});

Deno.test({
  name:
    "cuda runtime: --backend cuda for a caller that asks for a device gives the CUDA device (device-resident training)",
  ignore: !probe.ok,
  sanitizeResources: false, // the backend dlopens the driver and cuBLAS inside the test; they stay loaded
  fn: async () => {
    const b = await selectBackend("cuda", "--backend", { device: true });
    try {
      assert.equal(b.name, "cuda");
      assert.equal(b.device?.name, "cuda");
      const x = b.device!.upload(Float32Array.of(1, 2, 3));
      assert.deepEqual([...await b.device!.read(x)], [1, 2, 3]);
    } finally {
      b.close();
    }
  },
});
