/**
 * Single-precision matrix multiply (`sgemm`, row-major, with transposes,
 * leading dimensions and offsets) through the system's OpenBLAS
 * (`cblas_sgemm`, Deno FFI) when the process may load it, else a plain
 * TypeScript kernel. Why: OpenBLAS runs at ≈100 GFLOP/s on one core of the
 * project's test machine — PyTorch's own matmul speed, as PyTorch calls the
 * same library — against 30–60 GFLOP/s for the WebAssembly paths and ≈2 for
 * tfjs-wasm's transposed and batched matmuls, which carry the backward
 * pass (docs/design/backends.md, "Why not tfjs"). Same fallback pattern as
 * native/zstd.ts: no `--allow-ffi` or no library → the TypeScript kernel,
 * same results to float32 rounding.
 *
 * @module
 */

/** A row-major sgemm: C[m,n] = alpha·op(A)[m,k]·op(B)[k,n] + beta·C. Offsets are in elements. */
export interface Gemm {
  /** `openblas x` or `typescript`. */
  readonly name: string;
  /** C = alpha·op(A)·op(B) + beta·C, row-major; `ta`/`tb` transpose A/B; lda/ldb/ldc are row strides. */
  sgemm(
    ta: boolean,
    tb: boolean,
    m: number,
    n: number,
    k: number,
    alpha: number,
    a: Float32Array,
    aOff: number,
    lda: number,
    b: Float32Array,
    bOff: number,
    ldb: number,
    beta: number,
    c: Float32Array,
    cOff: number,
    ldc: number,
  ): void;
  /** Set the library's thread count (no-op for the TypeScript kernel). */
  setThreads(n: number): void;
}

/** Names the library goes by (Debian/Ubuntu, Fedora, macOS Homebrew, Accelerate). */
const LIBRARY_NAMES = [
  "libopenblas.so.0",
  "/usr/lib/x86_64-linux-gnu/openblas-pthread/libopenblas.so.0",
  "/usr/lib/aarch64-linux-gnu/openblas-pthread/libopenblas.so.0",
  "/usr/lib/x86_64-linux-gnu/libopenblas.so.0",
  "/usr/lib64/libopenblas.so.0",
  "libopenblas.so",
  "/opt/homebrew/opt/openblas/lib/libopenblas.dylib",
  "/usr/local/opt/openblas/lib/libopenblas.dylib",
  "libopenblas.dll",
];

const SYMBOLS = {
  cblas_sgemm: {
    parameters: [
      "i32",
      "i32",
      "i32",
      "i32",
      "i32",
      "i32",
      "f32",
      "buffer",
      "i32",
      "buffer",
      "i32",
      "f32",
      "buffer",
      "i32",
    ],
    result: "void",
  },
  openblas_set_num_threads: { parameters: ["i32"], result: "void" },
  openblas_get_config: { parameters: [], result: "pointer" },
} as const;

const ROW_MAJOR = 101, NO_TRANS = 111, TRANS = 112;

/** The TypeScript kernel (always available): i-k-j loops over contiguous rows. */
export const typescriptGemm: Gemm = {
  name: "typescript",
  setThreads() {},
  sgemm(ta, tb, m, n, k, alpha, a, aOff, lda, b, bOff, ldb, beta, c, cOff, ldc) {
    for (let i = 0; i < m; i++) {
      const ci = cOff + i * ldc;
      if (beta === 0) c.fill(0, ci, ci + n);
      else if (beta !== 1) { for (let j = 0; j < n; j++) c[ci + j] *= beta; }
    }
    if (!tb) {
      // Rows of B are contiguous: C[i,:] += A[i,p]·B[p,:].
      for (let i = 0; i < m; i++) {
        const ci = cOff + i * ldc;
        for (let p = 0; p < k; p++) {
          const av = alpha * (ta ? a[aOff + p * lda + i] : a[aOff + i * lda + p]);
          if (av === 0) continue;
          const bp = bOff + p * ldb;
          for (let j = 0; j < n; j++) c[ci + j] += av * b[bp + j];
        }
      }
    } else {
      // Bᵀ: C[i,j] = Σ_p A[i,p]·B[j,p], both contiguous in p when A is not transposed.
      for (let i = 0; i < m; i++) {
        const ci = cOff + i * ldc;
        for (let j = 0; j < n; j++) {
          const bj = bOff + j * ldb;
          let s = 0;
          if (!ta) {
            const ai = aOff + i * lda;
            for (let p = 0; p < k; p++) s += a[ai + p] * b[bj + p];
          } else {
            for (let p = 0; p < k; p++) s += a[aOff + p * lda + i] * b[bj + p];
          }
          c[ci + j] += alpha * s;
        }
      }
    }
  },
};

let loaded: Gemm | null | undefined;

/** OpenBLAS through FFI, or undefined when FFI is not permitted (no prompt) or the library is missing. */
export function openblasGemm(): Gemm | undefined {
  if (loaded !== undefined) return loaded ?? undefined;
  loaded = null;
  if (Deno.permissions.querySync({ name: "ffi" }).state !== "granted") return undefined;
  for (const name of LIBRARY_NAMES) {
    let lib: Deno.DynamicLibrary<typeof SYMBOLS>;
    try {
      lib = Deno.dlopen(name, SYMBOLS);
    } catch {
      continue;
    }
    const s = lib.symbols;
    const config = s.openblas_get_config();
    const version = config ? Deno.UnsafePointerView.getCString(config).split(" ").slice(0, 2).join(" ") : name;
    loaded = {
      name: version.toLowerCase().startsWith("openblas") ? version : `openblas ${version}`,
      setThreads: (n) => s.openblas_set_num_threads(n),
      sgemm(ta, tb, m, n, k, alpha, a, aOff, lda, b, bOff, ldb, beta, c, cOff, ldc) {
        if (m === 0 || n === 0) return;
        if (k === 0) {
          typescriptGemm.sgemm(ta, tb, m, n, k, alpha, a, aOff, lda, b, bOff, ldb, beta, c, cOff, ldc);
          return;
        }
        s.cblas_sgemm(
          ROW_MAJOR,
          ta ? TRANS : NO_TRANS,
          tb ? TRANS : NO_TRANS,
          m,
          n,
          k,
          alpha,
          aOff ? a.subarray(aOff) : a,
          lda,
          bOff ? b.subarray(bOff) : b,
          ldb,
          beta,
          cOff ? c.subarray(cOff) : c,
          ldc,
        );
      },
    };
    return loaded;
  }
  return undefined;
}

/** How to get OpenBLAS, for the line that says the TypeScript sgemm is in use. */
export const OPENBLAS_INSTALL_HINT = "apt-get install libopenblas0-pthread (Debian/Ubuntu), dnf install openblas " +
  "(Fedora), brew install openblas (macOS)";

/**
 * Why the TypeScript sgemm is in use and how to get the fast one, when it is
 * (undefined with OpenBLAS): a run several times slower than it could be
 * should say so at its start, not leave the user to guess.
 */
export function slowMatmulNotice(g: Gemm = gemm()): string | undefined {
  if (g !== typescriptGemm) return undefined;
  if (Deno.permissions.querySync({ name: "ffi" }).state !== "granted") {
    return "the TypeScript matmul, several times slower than OpenBLAS: this command runs without --allow-ffi";
  }
  return `the TypeScript matmul, several times slower than OpenBLAS, which was not found: ${OPENBLAS_INSTALL_HINT}`;
}

/** `matmul NAME`, and the notice when it is the slow one: the start line of commands that use the default kernel. */
export function matmulLine(g: Gemm = gemm()): string {
  const slow = slowMatmulNotice(g);
  return `matmul ${g.name}${slow ? ` · ${slow}` : ""}`;
}

let chosen: Gemm | undefined;

/** The fastest sgemm this process may use (chosen once; {@link useGemm} overrides). */
export function gemm(): Gemm {
  return chosen ??= openblasGemm() ?? typescriptGemm;
}

/** Use `g` for every later matmul (tests compare kernels this way). */
export function useGemm(g: Gemm): void {
  chosen = g;
}
