/**
 * The WGSL sgemm of the `webgpu` backend and the layout of its request
 * block (shared by ops/webgpu.ts and ops/webgpu_worker.ts).
 *
 * The kernel: row-major C[m,n] = alpha·op(A)·op(B) + beta·C with
 * transposes, leading dimensions and element offsets, as `Gemm.sgemm`
 * takes them; a 64×64 output tile per 16×16 workgroup (4×4 outputs per
 * invocation) over 16-deep k tiles in workgroup memory — the shape that ran
 * ≈3× faster than one-output-per-thread on llvmpipe
 * (docs/design/backends.md, "WebGPU"). Out-of-range loads read zero, so odd
 * sizes need no padding; when beta is 0, C is not read (BLAS semantics: NaN
 * in C does not leak).
 *
 * @module
 */

/** Output tile edge (rows and columns of C per workgroup). */
export const TILE = 64;

/** Int32 slots of the control block: [0] state, then the request. */
export const CTRL = {
  /** 0 idle/pending, 1 done, 2 failed (message in the data area as UTF-8, length in LEN). */
  STATE: 0,
  /** Byte length of an error message. */
  LEN: 1,
} as const;

/** Request states written to `CTRL.STATE`. */
export const STATE = { PENDING: 0, DONE: 1, FAILED: 2 } as const;

/** One sgemm request (posted to the worker; A, B, C spans are in the shared data buffer). */
export interface GemmRequest {
  /** Operation: "gemm". */
  op: "gemm";
  /** Transpose A / B. */
  ta: boolean;
  tb: boolean;
  /** Sizes. */
  m: number;
  n: number;
  k: number;
  /** Scalars. */
  alpha: number;
  beta: number;
  /** Leading dimensions. */
  lda: number;
  ldb: number;
  ldc: number;
  /** Element offsets of the A, B, C spans inside the shared data buffer, and their lengths. */
  aAt: number;
  aLen: number;
  bAt: number;
  bLen: number;
  cAt: number;
  cLen: number;
}

/** The WGSL source. */
export const SGEMM_WGSL = /* wgsl */ `
struct Params {
  m: u32, n: u32, k: u32, ta: u32,
  tb: u32, lda: u32, ldb: u32, ldc: u32,
  alpha: f32, beta: f32, pad0: u32, pad1: u32,
};
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<f32>;
@group(0) @binding(3) var<storage, read_write> c: array<f32>;

const T: u32 = 64u;
const BK: u32 = 16u;
var<workgroup> As: array<array<f32, 64>, 16>; // As[kk][row]
var<workgroup> Bs: array<array<f32, 64>, 16>; // Bs[kk][col]

fn loadA(i: u32, q: u32) -> f32 {
  if (i >= p.m || q >= p.k) { return 0.0; }
  if (p.ta == 1u) { return a[q * p.lda + i]; }
  return a[i * p.lda + q];
}
fn loadB(q: u32, j: u32) -> f32 {
  if (q >= p.k || j >= p.n) { return 0.0; }
  if (p.tb == 1u) { return b[j * p.ldb + q]; }
  return b[q * p.ldb + j];
}

@compute @workgroup_size(16, 16)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let row0 = wg.y * T;
  let col0 = wg.x * T;
  let tid = lid.y * 16u + lid.x;
  var acc: array<array<f32, 4>, 4>;
  for (var i = 0u; i < 4u; i++) { for (var j = 0u; j < 4u; j++) { acc[i][j] = 0.0; } }
  for (var k0 = 0u; k0 < p.k; k0 += BK) {
    // 1024 elements per tile, 4 per invocation.
    for (var e = 0u; e < 4u; e++) {
      let idx = tid + e * 256u;
      let kk = idx / 64u;
      let rc = idx % 64u;
      As[kk][rc] = loadA(row0 + rc, k0 + kk);
      Bs[kk][rc] = loadB(k0 + kk, col0 + rc);
    }
    workgroupBarrier();
    for (var kk = 0u; kk < BK; kk++) {
      var av: array<f32, 4>;
      var bv: array<f32, 4>;
      for (var i = 0u; i < 4u; i++) { av[i] = As[kk][lid.y + i * 16u]; }
      for (var j = 0u; j < 4u; j++) { bv[j] = Bs[kk][lid.x + j * 16u]; }
      for (var i = 0u; i < 4u; i++) { for (var j = 0u; j < 4u; j++) { acc[i][j] += av[i] * bv[j]; } }
    }
    workgroupBarrier();
  }
  for (var i = 0u; i < 4u; i++) {
    let r = row0 + lid.y + i * 16u;
    if (r >= p.m) { continue; }
    for (var j = 0u; j < 4u; j++) {
      let col = col0 + lid.x + j * 16u;
      if (col >= p.n) { continue; }
      let at = r * p.ldc + col;
      var v = p.alpha * acc[i][j];
      if (p.beta != 0.0) { v += p.beta * c[at]; }
      c[at] = v;
    }
  }
}
`;

/** What the adapter says about itself. */
export interface AdapterInfo {
  /** Vendor id or name. */
  vendor: string;
  /** Architecture (often empty). */
  architecture: string;
  /** Device id or name. */
  device: string;
  /** Human-readable description, e.g. "llvmpipe (LLVM 15.0.6, 256 bits)". */
  description: string;
  /** True for a software/fallback adapter. */
  isFallbackAdapter: boolean;
  /** The binding limit the device was created with (bytes). */
  maxStorageBufferBindingSize?: number;
}

/** What `adapter` says about itself (the fallback flag sits on the info or on the adapter, by version). */
export function describeAdapter(adapter: GPUAdapter): AdapterInfo {
  const i = adapter.info;
  return {
    vendor: i.vendor,
    architecture: i.architecture,
    device: i.device,
    description: i.description,
    isFallbackAdapter: (i as GPUAdapterInfo & { isFallbackAdapter?: boolean }).isFallbackAdapter ??
      (adapter as GPUAdapter & { isFallbackAdapter?: boolean }).isFallbackAdapter ?? false,
  };
}
