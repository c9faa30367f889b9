/**
 * The emulator stand-in itself (ops/cuda/emulated.ts; the device contract's
 * cases run on it from tests/ops/device_test.ts and
 * tests/training/device_step_test.ts): the host sgemm of `--backend cuda`
 * without a device (ops/cuda/gemm.ts: its spans, uploads and downloads)
 * through the emulated driver against the TypeScript sgemm, and an error in
 * the emulator — a GEMM reaching outside its buffer — surfacing as an Error
 * with the emulator's message rather than a hang or wrong numbers. Needs g++ and
 * CUDA's headers: without them the tests fail naming what is missing,
 * unless ATMOREP_ALLOW_NO_NVCC=1 says to skip (loudly).
 *
 * @module
 */
import assert from "node:assert/strict";
import { Random, typescriptGemm } from "../../ops/mod.ts";
import { buildEmulator, emulatedContext } from "../../ops/cuda/emulated.ts";
import { cudaGemm } from "../../ops/cuda/gemm.ts";

let bin: string | undefined, missing: string | undefined;
try {
  bin = await buildEmulator();
} catch (e) {
  missing = (e as Error).message;
}
const skip = missing !== undefined && Deno.env.get("ATMOREP_ALLOW_NO_NVCC") === "1";
if (skip) console.warn(`cuda emulated tests IGNORED (ATMOREP_ALLOW_NO_NVCC=1): ${missing}`);

function emulatorTest(name: string, fn: (bin: string) => void): void {
  Deno.test({
    name: `cuda emulated: ${name}`,
    ignore: skip,
    sanitizeResources: false, // the emulator process ends on its own when its input closes
    sanitizeOps: false,
    fn: () => {
      if (!bin) throw new Error(`${missing}: install g++ and CUDA 13's headers, or set ATMOREP_ALLOW_NO_NVCC=1`);
      fn(bin);
    },
  });
}

function randn(rng: Random, n: number): Float32Array {
  return Float32Array.from({ length: n }, () => rng.normal());
}

emulatorTest(
  "the host sgemm (ops/cuda/gemm.ts) equals the TypeScript sgemm: transposes, strides, offsets, beta 0 over NaN",
  (bin) => {
    const { context, driver } = emulatedContext(bin);
    const g = cudaGemm(context), rng = new Random(17);
    try {
      for (const [m, n, k] of [[37, 29, 41], [1, 70, 3], [65, 1, 17], [3, 5, 1]]) {
        for (const ta of [false, true]) {
          for (const tb of [false, true]) {
            for (const beta of [0, 0.5]) {
              const lda = (ta ? m : k) + 3, ldb = (tb ? k : n) + 1, ldc = n + 2, off = 5;
              const a = randn(rng, off + (ta ? k : m) * lda), b = randn(rng, off + (tb ? n : k) * ldb);
              const c0 = randn(rng, off + m * ldc);
              if (beta === 0) c0.fill(NaN, off, off + n); // must not leak into C
              const want = c0.slice(), got = c0.slice();
              typescriptGemm.sgemm(ta, tb, m, n, k, 1.3, a, off, lda, b, off, ldb, beta, want, off, ldc);
              g.sgemm(ta, tb, m, n, k, 1.3, a, off, lda, b, off, ldb, beta, got, off, ldc);
              let largest = 0, worst = 0;
              for (let i = 0; i < want.length; i++) {
                largest = Math.max(largest, Math.abs(want[i]) || 0);
                if (Number.isNaN(want[i]) !== Number.isNaN(got[i])) worst = Infinity;
                else if (!Number.isNaN(want[i])) worst = Math.max(worst, Math.abs(got[i] - want[i]));
              }
              assert.ok(worst <= 1e-5 * largest, `sgemm ${m}×${n}×${k} ta=${ta} tb=${tb} beta=${beta}: error ${worst}`);
            }
          }
        }
      }
    } finally {
      g.close();
      driver.close();
    }
  },
);

emulatorTest("a GEMM reaching outside its buffer is an Error carrying the emulator's message", (bin) => {
  const { context, driver } = emulatedContext(bin);
  try {
    const a = context.device.alloc(4 * 16), c = context.device.alloc(4 * 16);
    // 5×4 rows of A read from a 16-float buffer: the emulator checks every operand's extent
    const gemm = { transA: false, transB: false, M: 5, N: 4, K: 4, alpha: 1, beta: 0, lda: 4, ldb: 4, ldc: 4 };
    context.cublas.gemm({ ...gemm, a: a.ptr, b: a.ptr, c: c.ptr });
    assert.throws(() => context.device.download(c, new Float32Array(16)), /emulator: access outside buffer/);
  } finally {
    try {
      driver.close();
    } catch { /* the process has ended */ }
  }
});
