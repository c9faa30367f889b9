/**
 * cuBLAS through Deno FFI, loaded from wherever the user has it: an explicit
 * path, `CUDA_HOME`/`CUDA_PATH`, `/usr/local/cuda*`, `LD_LIBRARY_PATH`, the
 * `nvidia-cublas` Python wheel's `nvidia/cublas/lib`, then the dynamic
 * loader's own search. cuBLAS is column-major; the op layer's tensors are
 * row-major, so a row-major C = op(A)·op(B) is computed as the column-major
 * Cᵀ = op(B)ᵀ·op(A)ᵀ with the operands swapped ({@link Cublas.gemm}). fp32
 * GEMMs use `cublasGemmEx` with FP32 compute (no TF32, so results stay within
 * fp32 rounding of the CPU); mixed precision passes bf16 A and B with fp32 C
 * and FP32 accumulation. {@link CUBLAS_SYMBOLS} is checked against
 * `cublas_api.h` by tests/ops/cuda_ffi_test.ts when the header is installed.
 *
 * @module
 */
import { join } from "node:path";
import type { CudaDevice } from "./driver.ts";

/** FFI declarations of the cuBLAS entry points we call. Device pointers are `u64`; alpha/beta host floats. */
export const CUBLAS_SYMBOLS = {
  cublasCreate_v2: { parameters: ["buffer"], result: "i32" },
  cublasDestroy_v2: { parameters: ["pointer"], result: "i32" },
  cublasGetVersion_v2: { parameters: ["pointer", "buffer"], result: "i32" },
  cublasSetStream_v2: { parameters: ["pointer", "pointer"], result: "i32" },
  cublasSetMathMode: { parameters: ["pointer", "i32"], result: "i32" },
  cublasGetStatusString: { parameters: ["i32"], result: "pointer" },
  cublasSgemm_v2: {
    parameters: [
      "pointer",
      "i32",
      "i32",
      "i32",
      "i32",
      "i32",
      "buffer",
      "u64",
      "i32",
      "u64",
      "i32",
      "buffer",
      "u64",
      "i32",
    ],
    result: "i32",
  },
  cublasGemmEx: {
    parameters: [
      "pointer",
      "i32",
      "i32",
      "i32",
      "i32",
      "i32",
      "buffer",
      "u64",
      "i32",
      "i32",
      "u64",
      "i32",
      "i32",
      "buffer",
      "u64",
      "i32",
      "i32",
      "i32",
      "i32",
    ],
    result: "i32",
  },
  cublasGemmStridedBatchedEx: {
    parameters: [
      "pointer",
      "i32",
      "i32",
      "i32",
      "i32",
      "i32",
      "buffer",
      "u64",
      "i32",
      "i32",
      "i64",
      "u64",
      "i32",
      "i32",
      "i64",
      "buffer",
      "u64",
      "i32",
      "i32",
      "i64",
      "i32",
      "i32",
      "i32",
    ],
    result: "i32",
  },
} as const satisfies Deno.ForeignLibraryInterface;

/** Enum values we pass (from cublas_api.h and library_types.h; checked by the FFI test when the headers exist). */
export const CUBLAS = {
  OP_N: 0,
  OP_T: 1,
  R_32F: 0,
  R_16BF: 14,
  COMPUTE_32F: 68,
  GEMM_DEFAULT: -1,
  DEFAULT_MATH: 0,
} as const;

/** The loaded library. */
export type CublasLibrary = Deno.DynamicLibrary<typeof CUBLAS_SYMBOLS>;

/** File names of cuBLAS, newest first. */
export const CUBLAS_FILES = ["libcublas.so.13", "libcublas.so.12", "libcublas.so"];

/** Where to look: read an environment variable, or undefined without permission. */
function env(name: string): string | undefined {
  try {
    return Deno.env.get(name);
  } catch {
    return undefined;
  }
}

/** Subfolders of `dir` whose names match, or none when unreadable. */
function subdirs(dir: string, match: (name: string) => boolean): string[] {
  try {
    return [...Deno.readDirSync(dir)].filter((e) => e.isDirectory && match(e.name)).map((e) => join(dir, e.name)).sort()
      .reverse();
  } catch {
    return [];
  }
}

/** The Python site-packages folders holding an `nvidia/cublas/lib` (the nvidia-cublas wheel). */
function wheelDirs(): string[] {
  const roots = [
    env("VIRTUAL_ENV"),
    env("CONDA_PREFIX"),
    "/usr/local",
    "/usr",
    "/opt/conda",
    env("HOME") && join(env("HOME")!, ".local"),
  ]
    .filter((r): r is string => !!r);
  const out: string[] = [];
  for (const root of roots) {
    for (const py of subdirs(join(root, "lib"), (n) => n.startsWith("python3"))) {
      for (const sp of ["site-packages", "dist-packages"]) out.push(join(py, sp, "nvidia", "cublas", "lib"));
    }
  }
  return out;
}

/** Every folder searched for cuBLAS, in order (the override first). */
export function cublasSearchDirs(override?: string): string[] {
  const dirs: string[] = [];
  const explicit = override ?? env("ATMOREP_CUBLAS");
  if (explicit) dirs.push(explicit);
  for (const v of ["CUDA_HOME", "CUDA_PATH"]) {
    const root = env(v);
    if (root) dirs.push(join(root, "lib64"), join(root, "targets", "x86_64-linux", "lib"));
  }
  dirs.push(
    "/usr/local/cuda/lib64",
    ...subdirs("/usr/local", (n) => n.startsWith("cuda-")).map((d) => join(d, "lib64")),
  );
  dirs.push(...(env("LD_LIBRARY_PATH") ?? "").split(":").filter(Boolean));
  dirs.push(...wheelDirs());
  return [...new Set(dirs)];
}

/** cuBLASLt handles kept open for the life of the process (cuBLAS needs them). */
const ltLoaded: Deno.DynamicLibrary<Record<string, never>>[] = [];

/**
 * Load the libcublasLt beside a libcublas file first: cuBLAS needs it, and a copy without an $ORIGIN run path (a
 * wheel's folder not on the loader's path) would not find it; once loaded, the loader reuses it by its soname.
 */
function preloadLt(cublasPath: string): void {
  if (!cublasPath.includes("/")) return;
  const lt = cublasPath.replace(/libcublas(\.so[.\d]*)$/, "libcublasLt$1");
  try {
    Deno.statSync(lt);
  } catch {
    return;
  }
  ltLoaded.push(Deno.dlopen(lt, {}));
}

/** Open cuBLAS from the search list; an Error naming every folder and file name tried. */
export function openCublas(override?: string): { lib: CublasLibrary; path: string } {
  const tried: string[] = [];
  const candidates: string[] = [];
  for (const dir of cublasSearchDirs(override)) {
    if (dir.endsWith(".so") || /\.so\.\d+$/.test(dir)) candidates.push(dir);
    else for (const f of CUBLAS_FILES) candidates.push(join(dir, f));
  }
  candidates.push(...CUBLAS_FILES); // the dynamic loader's own search (ld.so.cache, RUNPATH)
  for (const path of candidates) {
    try {
      if (path.includes("/")) Deno.statSync(path);
    } catch {
      continue; // not there: listed in the error with its folder
    }
    try {
      preloadLt(path);
      return { lib: Deno.dlopen(path, CUBLAS_SYMBOLS), path };
    } catch (e) {
      tried.push(`${path}: ${(e as Error).message}`);
    }
  }
  throw new Error(
    `cuBLAS not found (${CUBLAS_FILES.join(", ")}). Searched: ${cublasSearchDirs(override).join(", ")}, then the ` +
      `dynamic loader${tried.length ? `; failed to open: ${tried.join("; ")}` : ""}. Install a CUDA toolkit or ` +
      `\`pip install nvidia-cublas\`, or point ATMOREP_CUBLAS at the folder or file`,
  );
}

/** A failed cuBLAS call, with the library's status name. */
export class CublasError extends Error {
  /** The cublasStatus_t. */
  readonly status: number;
  constructor(call: string, status: number, text: string) {
    super(`${call}: ${text || "cuBLAS error"} (status ${status})`);
    this.name = "CublasError";
    this.status = status;
  }
}

/** Element type of a GEMM's A and B: fp32, or bf16 (mixed precision; C and accumulation stay fp32). */
export type GemmInput = "f32" | "bf16";

/** One row-major GEMM: C[M, N] = alpha·op(A)·op(B) + beta·C, leading dimensions in elements. */
export interface RowMajorGemm {
  transA: boolean;
  transB: boolean;
  M: number;
  N: number;
  K: number;
  alpha: number;
  a: bigint;
  lda: number;
  b: bigint;
  ldb: number;
  beta: number;
  c: bigint;
  ldc: number;
  /** Input type of A and B. Default f32. */
  input?: GemmInput;
}

/** Strides (elements) between the matrices of a strided batch, and the batch count. */
export interface Batch {
  count: number;
  strideA: number;
  strideB: number;
  strideC: number;
}

/** A cuBLAS handle bound to a device's stream. */
export class Cublas {
  /** The library. */
  readonly lib: CublasLibrary;
  /** Where it was loaded from. */
  readonly path: string;
  /** cuBLAS version (e.g. 130001). */
  readonly version: number;
  private readonly handle: Deno.PointerValue;

  constructor(device: CudaDevice, opened = openCublas()) {
    this.lib = opened.lib;
    this.path = opened.path;
    const out = new BigUint64Array(1), v = new Int32Array(1);
    this.check("cublasCreate_v2", this.lib.symbols.cublasCreate_v2(out));
    this.handle = Deno.UnsafePointer.create(out[0]);
    this.check("cublasSetStream_v2", this.lib.symbols.cublasSetStream_v2(this.handle, device.stream));
    this.check("cublasSetMathMode", this.lib.symbols.cublasSetMathMode(this.handle, CUBLAS.DEFAULT_MATH));
    this.check("cublasGetVersion_v2", this.lib.symbols.cublasGetVersion_v2(this.handle, v));
    this.version = v[0];
  }

  private check(call: string, status: number): void {
    if (status === 0) return;
    const p = this.lib.symbols.cublasGetStatusString(status);
    throw new CublasError(call, status, p ? new Deno.UnsafePointerView(p).getCString() : "");
  }

  /** Row-major C = alpha·op(A)·op(B) + beta·C (one GEMM, or a strided batch). */
  gemm(g: RowMajorGemm, batch?: Batch): void {
    const t = (x: boolean) => x ? CUBLAS.OP_T : CUBLAS.OP_N;
    const type = g.input === "bf16" ? CUBLAS.R_16BF : CUBLAS.R_32F;
    const alpha = Float32Array.of(g.alpha), beta = Float32Array.of(g.beta);
    const s = this.lib.symbols;
    // Column-major Cᵀ[N, M] = op(B)ᵀ·op(A)ᵀ: B's buffer first, A's second.
    if (!batch) {
      this.check(
        "cublasGemmEx",
        s.cublasGemmEx(
          this.handle,
          t(g.transB),
          t(g.transA),
          g.N,
          g.M,
          g.K,
          alpha,
          g.b,
          type,
          g.ldb,
          g.a,
          type,
          g.lda,
          beta,
          g.c,
          CUBLAS.R_32F,
          g.ldc,
          CUBLAS.COMPUTE_32F,
          CUBLAS.GEMM_DEFAULT,
        ),
      );
      return;
    }
    this.check(
      "cublasGemmStridedBatchedEx",
      s.cublasGemmStridedBatchedEx(
        this.handle,
        t(g.transB),
        t(g.transA),
        g.N,
        g.M,
        g.K,
        alpha,
        g.b,
        type,
        g.ldb,
        BigInt(batch.strideB),
        g.a,
        type,
        g.lda,
        BigInt(batch.strideA),
        beta,
        g.c,
        CUBLAS.R_32F,
        g.ldc,
        BigInt(batch.strideC),
        batch.count,
        CUBLAS.COMPUTE_32F,
        CUBLAS.GEMM_DEFAULT,
      ),
    );
  }

  /** Release the handle. */
  close(): void {
    this.check("cublasDestroy_v2", this.lib.symbols.cublasDestroy_v2(this.handle));
    this.lib.close();
  }
}
