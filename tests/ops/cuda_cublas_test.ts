/**
 * Our side of the cuBLAS boundary without a GPU: ops/cuda/fake_cublas.c, a
 * stand-in library with cuBLAS's documented column-major semantics (and its
 * leading-dimension checks) computed on host memory, is built with cc and
 * loaded through the real search path (`openCublas` with an explicit folder)
 * and the real FFI table; `Cublas.gemm` must then give the row-major products
 * of the TypeScript sgemm for every transpose, odd sizes, offsets, leading
 * dimensions, strided batches and bf16 inputs. This checks the marshaling of
 * every argument and the row-major → column-major mapping; cuBLAS itself runs
 * only on a GPU (the `cuda` device of tests/ops/device_test.ts). Without a C compiler the test
 * fails naming it, unless ATMOREP_ALLOW_NO_NVCC=1 says to skip.
 *
 * @module
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { Cublas, type GemmInput, openCublas } from "../../ops/cuda/cublas.ts";
import type { CudaDevice } from "../../ops/cuda/driver.ts";
import { runTool } from "../../ops/cuda/build.ts";
import { Random, typescriptGemm } from "../../ops/mod.ts";

const SOURCE = fileURLToPath(new URL("../../ops/cuda/fake_cublas.c", import.meta.url));

async function buildFake(): Promise<{ dir?: string; missing?: string }> {
  const dir = await Deno.makeTempDir({ prefix: "fake-cublas-" });
  try {
    await runTool("cc", ["-shared", "-fPIC", "-O1", "-o", join(dir, "libcublas.so.13"), SOURCE]);
    return { dir };
  } catch (e) {
    return { missing: `cannot build ops/cuda/fake_cublas.c (${(e as Error).message.split("\n")[0]})` };
  }
}

const built = await buildFake();
const skip = built.missing !== undefined && Deno.env.get("ATMOREP_ALLOW_NO_NVCC") === "1";
if (skip) console.warn(`cuda cublas tests IGNORED (ATMOREP_ALLOW_NO_NVCC=1): ${built.missing}`);

/** Host address of an array, as a "device pointer" for the stand-in. */
function addr(a: ArrayBufferView): bigint {
  return BigInt(Deno.UnsafePointer.value(Deno.UnsafePointer.of(a as Uint8Array<ArrayBuffer>)));
}

/** bf16 bits of float32 values (round to nearest even) and the floats they stand for. */
function toBf16(x: Float32Array): { bits: Uint16Array; values: Float32Array } {
  const u = new Uint32Array(x.slice().buffer), bits = new Uint16Array(x.length);
  for (let i = 0; i < u.length; i++) bits[i] = (u[i] + 0x7fff + ((u[i] >>> 16) & 1)) >>> 16;
  return { bits, values: new Float32Array(Uint32Array.from(bits, (b) => b << 16).buffer) };
}

function maxError(a: Float32Array, b: Float32Array): number {
  let scale = 0, e = 0;
  for (const v of b) scale = Math.max(scale, Math.abs(v));
  for (let i = 0; i < a.length; i++) e = Math.max(e, Math.abs(a[i] - b[i]) / (scale || 1));
  return Number.isNaN(e) || a.some(Number.isNaN) ? Infinity : e;
}

Deno.test({
  name:
    "cuda cublas: Cublas.gemm through the FFI table gives the row-major product (transposes, ld, offsets, batches, bf16)",
  ignore: skip,
  fn() {
    if (!built.dir) throw new Error(`${built.missing}: install a C compiler, or set ATMOREP_ALLOW_NO_NVCC=1`);
    const opened = openCublas(built.dir);
    assert.equal(opened.path, join(built.dir, "libcublas.so.13"));
    const blas = new Cublas({ stream: null } as unknown as CudaDevice, opened);
    assert.equal(blas.version, 999);
    const rng = new Random(8);
    const randn = (n: number) => Float32Array.from({ length: n }, () => rng.normal());
    try {
      for (const [m, n, k] of [[7, 5, 3], [1, 9, 4], [6, 1, 1], [13, 11, 17]]) {
        for (const ta of [false, true]) {
          for (const tb of [false, true]) {
            for (const input of ["f32", "bf16"] as GemmInput[]) {
              for (const count of [1, 3]) {
                const lda = (ta ? m : k) + 2, ldb = (tb ? k : n) + 1, ldc = n + 3;
                const sa = (ta ? k : m) * lda + 1, sb = (tb ? n : k) * ldb + 2, sc = m * ldc + 3;
                const a = randn(count * sa), b = randn(count * sb), c0 = randn(count * sc);
                const ah = toBf16(a), bh = toBf16(b);
                const want = c0.slice(), got = c0.slice();
                for (let t = 0; t < count; t++) {
                  const [av, bv] = input === "bf16" ? [ah.values, bh.values] : [a, b];
                  typescriptGemm.sgemm(ta, tb, m, n, k, 0.7, av, t * sa, lda, bv, t * sb, ldb, 0.5, want, t * sc, ldc);
                }
                const [A, B] = input === "bf16" ? [addr(ah.bits), addr(bh.bits)] : [addr(a), addr(b)];
                const g = { transA: ta, transB: tb, M: m, N: n, K: k, alpha: 0.7, a: A, lda, b: B, ldb, beta: 0.5 };
                const c = { ...g, c: addr(got), ldc, input };
                if (count === 1) blas.gemm(c);
                else blas.gemm(c, { count, strideA: sa, strideB: sb, strideC: sc });
                const what = `${m}×${n}×${k} ta=${ta} tb=${tb} ${input} batch ${count}`;
                assert.ok(maxError(got, want) < 1e-5, `${what}: error ${maxError(got, want)}`);
              }
            }
          }
        }
      }
      // a leading dimension too small is refused by the library with its status name, through CublasError
      assert.throws(
        () =>
          blas.gemm({
            transA: false,
            transB: false,
            M: 4,
            N: 4,
            K: 4,
            alpha: 1,
            a: 0n,
            lda: 4,
            b: 0n,
            ldb: 2,
            beta: 0,
            c: 0n,
            ldc: 4,
          }),
        /cublasGemmEx: CUBLAS_STATUS_INVALID_VALUE \(status 7\)/,
      );
    } finally {
      blas.close();
    }
  },
});
