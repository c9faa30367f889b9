/**
 * The row kernels of attention in WebAssembly SIMD (four float32 lanes):
 * max, exp(x − m) with its sum, scaling, and the softmax backward
 * dS = P ∘ (dP − Σ P∘dP)·s; and GELU (tanh form) with its derivative. Why: attention evaluates one exponential per
 * score (B·heads·L² per layer) and touches every score a few more times;
 * in JavaScript `Math.exp` alone costs ≈11 ns on the project's test
 * machine, which made the exponentials half of a d=128, 648-token training
 * step, while these loops run at ≈1 ns per score or less. exp uses a
 * degree-6 polynomial of 2^frac(t) and builds 2^int(t) in the exponent
 * bits (relative error ≤ 2e-6, float32 rounding of the argument); inputs
 * below −87 give ≈1e-38, not 0. The module is assembled here from its
 * instructions (as zarr/simd.ts does); rows live in its memory, whose
 * views are handed to sgemm directly.
 *
 * @module
 */
import { growMemory, instantiate, leb128, localGet, localSet, type WasmFunction, wasmModule } from "../wasm.ts";

const f32 = (v: number): number[] => [0x43, ...new Uint8Array(Float32Array.of(v).buffer)];
const simd = (op: number, ...imm: number[]): number[] => [0xfd, ...LEB(op), ...imm];
const get = localGet, set = localSet;
const LEB = leb128;
const I32 = 0x7f, F32 = 0x7d, V128 = 0x7b;

const OP = {
  load: 0x00,
  store: 0x0b,
  i32x4Splat: 0x11,
  f32x4Splat: 0x13,
  f32x4Extract: 0x1f,
  f32x4Nearest: 0x6a,
  i32x4Shl: 0xab,
  i32x4Add: 0xae,
  f32x4Add: 0xe4,
  f32x4Sub: 0xe5,
  f32x4Mul: 0xe6,
  f32x4Div: 0xe7,
  f32x4Min: 0xe8,
  f32x4Max: 0xe9,
  f32x4Pmin: 0xea,
  f32x4Pmax: 0xeb,
  i32x4TruncSatF32x4S: 0xf8,
};
const LOAD = (...addr: number[]) => [...addr, ...simd(OP.load, 0x02, 0x00)];
const splatF = (v: number) => [...f32(v), ...simd(OP.f32x4Splat)];
/** Horizontal reduction of v128 local `v` with the f32 binary op `op` (0x92 add, 0x97 max). */
const reduce = (v: number, op: number) => [
  ...get(v),
  ...simd(OP.f32x4Extract, 0),
  ...[1, 2, 3].flatMap((l) => [...get(v), ...simd(OP.f32x4Extract, l), op]),
];
/** for (p = start; p < end; p += 16) body, with `p` the i32 local, `end` an i32 local. */
const loop16 = (p: number, end: number, body: number[], also: number[] = []) => [
  0x02,
  0x40,
  0x03,
  0x40,
  ...get(p),
  ...get(end),
  0x4f, // i32.ge_u
  0x0d,
  0x01,
  ...body,
  ...get(p),
  0x41,
  16,
  0x6a,
  ...set(p),
  ...also,
  0x0c,
  0x00,
  0x0b,
  0x0b,
];
const locals = (groups: [number, number][]) => [groups.length, ...groups.flatMap(([n, t]) => [n, t])];

type Fn = WasmFunction;

/** rowmax(start, end) → f32: max over bytes [start, end). */
const rowmax: Fn = (() => {
  const [S, E, ACC] = [0, 1, 2];
  return {
    name: "rowmax",
    params: [I32, I32],
    result: [F32],
    body: [
      ...locals([[1, V128]]),
      ...splatF(-Infinity),
      ...set(ACC),
      ...loop16(S, E, [...get(ACC), ...LOAD(...get(S)), ...simd(OP.f32x4Pmax), ...set(ACC)]),
      ...reduce(ACC, 0x97),
      0x0b,
    ],
  };
})();

/** Constant locals of {@link expOf}, from local index `base` (9 v128 locals). */
const expPrelude = (base: number) => {
  // 2^f = e^(f·ln2), Taylor to degree 6 on |f| ≤ ½.
  const coef = [1, 2, 3, 4, 5, 6].map((k) => Math.pow(Math.LN2, k) / [1, 1, 2, 6, 24, 120, 720][k]);
  return [
    ...splatF(Math.LOG2E),
    ...set(base),
    ...splatF(-126),
    ...set(base + 1),
    0x41,
    0xff,
    0x00, // i32.const 127
    ...simd(OP.i32x4Splat),
    ...set(base + 2),
    ...coef.flatMap((c, i) => [...splatF(c), ...set(base + 3 + i)]),
  ];
};
/** exp of the v128 on the stack (inputs below −87 give ≈1e-38; above +87 clamp to 2^126); temps T, NV. */
const expOf = (T: number, NV: number, base: number) => [
  ...get(base),
  ...simd(OP.f32x4Mul),
  ...get(base + 1),
  ...simd(OP.f32x4Pmax),
  ...splatF(126),
  ...simd(OP.f32x4Pmin),
  ...set(T),
  ...get(T),
  ...simd(OP.f32x4Nearest),
  ...set(NV),
  ...get(T),
  ...get(NV),
  ...simd(OP.f32x4Sub),
  ...set(T),
  ...get(base + 8),
  ...[4, 3, 2, 1, 0].flatMap((k) => [...get(T), ...simd(OP.f32x4Mul), ...get(base + 3 + k), ...simd(OP.f32x4Add)]),
  ...get(T),
  ...simd(OP.f32x4Mul),
  ...splatF(1),
  ...simd(OP.f32x4Add),
  ...get(NV),
  ...simd(OP.i32x4TruncSatF32x4S),
  ...get(base + 2),
  ...simd(OP.i32x4Add),
  0x41,
  23,
  ...simd(OP.i32x4Shl),
  ...simd(OP.f32x4Mul),
];

/** expsum(start, end, m) → f32: x → exp(x − m) in place; returns the sum. */
const expsum: Fn = (() => {
  const [S, E, M, ACC, MV, T, NV, P, BASE] = [0, 1, 2, 3, 4, 5, 6, 7, 8];
  return {
    name: "expsum",
    params: [I32, I32, F32],
    result: [F32],
    body: [
      ...locals([[14, V128]]),
      ...get(M),
      ...simd(OP.f32x4Splat),
      ...set(MV),
      ...expPrelude(BASE),
      ...loop16(S, E, [
        ...LOAD(...get(S)),
        ...get(MV),
        ...simd(OP.f32x4Sub),
        ...expOf(T, NV, BASE),
        ...set(P),
        ...get(S),
        ...get(P),
        ...simd(OP.store, 0x02, 0x00),
        ...get(ACC),
        ...get(P),
        ...simd(OP.f32x4Add),
        ...set(ACC),
      ]),
      ...reduce(ACC, 0x92),
      0x0b,
    ],
  };
})();

const GELU_C = Math.sqrt(2 / Math.PI);

/** σ(2z) of v128 local X, z = c(x + 0.044715x³), on the stack (GELU's 0.5(1 + tanh z)). */
const geluSigma = (X: number, T: number, NV: number, base: number) => [
  ...splatF(1),
  ...splatF(1),
  // exp(−2z)
  ...get(X),
  ...get(X),
  ...simd(OP.f32x4Mul),
  ...get(X),
  ...simd(OP.f32x4Mul),
  ...splatF(0.044715),
  ...simd(OP.f32x4Mul),
  ...get(X),
  ...simd(OP.f32x4Add),
  ...splatF(-2 * GELU_C),
  ...simd(OP.f32x4Mul),
  ...expOf(T, NV, base),
  ...simd(OP.f32x4Add),
  ...simd(OP.f32x4Div),
];

/** gelu(start, end): x → x·σ(2z) in place (tanh-form GELU). */
const gelu: Fn = (() => {
  const [S, E, X, T, NV, BASE] = [0, 1, 2, 3, 4, 5];
  return {
    name: "gelu",
    params: [I32, I32],
    result: [],
    body: [
      ...locals([[12, V128]]),
      ...expPrelude(BASE),
      ...loop16(S, E, [
        ...LOAD(...get(S)),
        ...set(X),
        ...get(S),
        ...get(X),
        ...geluSigma(X, T, NV, BASE),
        ...simd(OP.f32x4Mul),
        ...simd(OP.store, 0x02, 0x00),
      ]),
      0x0b,
    ],
  };
})();

/** gelugrad(x, dy, bytes): dy → dy·gelu′(x) in place, gelu′ = σ + 2xσ(1 − σ)·c(1 + 3·0.044715x²). */
const gelugrad: Fn = (() => {
  const [A, B, N, END, X, SG, T, NV, BASE] = [0, 1, 2, 3, 4, 5, 6, 7, 8];
  return {
    name: "gelugrad",
    params: [I32, I32, I32],
    result: [],
    body: [
      ...locals([[1, I32], [13, V128]]),
      ...expPrelude(BASE),
      ...get(A),
      ...get(N),
      0x6a,
      ...set(END),
      ...loop16(A, END, [
        ...LOAD(...get(A)),
        ...set(X),
        ...geluSigma(X, T, NV, BASE),
        ...set(SG),
        ...get(B),
        // σ + 2xσ(1−σ)·c(1 + 0.134145x²)
        ...get(SG),
        ...splatF(2 * GELU_C),
        ...get(X),
        ...simd(OP.f32x4Mul),
        ...get(SG),
        ...simd(OP.f32x4Mul),
        ...splatF(1),
        ...get(SG),
        ...simd(OP.f32x4Sub),
        ...simd(OP.f32x4Mul),
        ...splatF(1),
        ...get(X),
        ...get(X),
        ...simd(OP.f32x4Mul),
        ...splatF(3 * 0.044715),
        ...simd(OP.f32x4Mul),
        ...simd(OP.f32x4Add),
        ...simd(OP.f32x4Mul),
        ...simd(OP.f32x4Add),
        ...LOAD(...get(B)),
        ...simd(OP.f32x4Mul),
        ...simd(OP.store, 0x02, 0x00),
      ], [...get(B), 0x41, 16, 0x6a, ...set(B)]),
      0x0b,
    ],
  };
})();

/** scale(start, end, s): x → s·x in place. */
const scale: Fn = (() => {
  const [S, E, F, SV] = [0, 1, 2, 3];
  return {
    name: "scale",
    params: [I32, I32, F32],
    result: [],
    body: [
      ...locals([[1, V128]]),
      ...get(F),
      ...simd(OP.f32x4Splat),
      ...set(SV),
      ...loop16(S, E, [
        ...get(S),
        ...LOAD(...get(S)),
        ...get(SV),
        ...simd(OP.f32x4Mul),
        ...simd(OP.store, 0x02, 0x00),
      ]),
      0x0b,
    ],
  };
})();

/** dot(a, b, bytes) → f32: Σ a·b over `bytes` bytes from a and b. */
const dot: Fn = (() => {
  const [A, B, N, END, ACC] = [0, 1, 2, 3, 4];
  return {
    name: "dot",
    params: [I32, I32, I32],
    result: [F32],
    body: [
      ...locals([[1, I32], [1, V128]]),
      ...get(A),
      ...get(N),
      0x6a,
      ...set(END),
      ...loop16(A, END, [
        ...get(ACC),
        ...LOAD(...get(A)),
        ...LOAD(...get(B)),
        ...simd(OP.f32x4Mul),
        ...simd(OP.f32x4Add),
        ...set(ACC),
      ], [...get(B), 0x41, 16, 0x6a, ...set(B)]),
      ...reduce(ACC, 0x92),
      0x0b,
    ],
  };
})();

/** dsoft(p, dp, bytes, s, k): dp → p·(dp − s)·k in place. */
const dsoft: Fn = (() => {
  const [P, DP, N, S, K, END, SV, KV] = [0, 1, 2, 3, 4, 5, 6, 7];
  return {
    name: "dsoft",
    params: [I32, I32, I32, F32, F32],
    result: [],
    body: [
      ...locals([[1, I32], [2, V128]]),
      ...get(S),
      ...simd(OP.f32x4Splat),
      ...set(SV),
      ...get(K),
      ...simd(OP.f32x4Splat),
      ...set(KV),
      ...get(P),
      ...get(N),
      0x6a,
      ...set(END),
      ...loop16(P, END, [
        ...get(DP),
        ...LOAD(...get(P)),
        ...LOAD(...get(DP)),
        ...get(SV),
        ...simd(OP.f32x4Sub),
        ...simd(OP.f32x4Mul),
        ...get(KV),
        ...simd(OP.f32x4Mul),
        ...simd(OP.store, 0x02, 0x00),
      ], [...get(DP), 0x41, 16, 0x6a, ...set(DP)]),
      0x0b,
    ],
  };
})();

const FUNCTIONS = [rowmax, expsum, scale, dot, dsoft, gelu, gelugrad];

/** The kernels over float32 arrays in the module's memory; offsets and lengths in elements (multiples of 4). */
export interface SimdRows {
  /** Two scratch blocks of `n` floats each (16-byte aligned; valid until the next `blocks` call that grows). */
  blocks(n: number): [Float32Array, Float32Array];
  /** Max of block a's [off, off + n). */
  rowMax(off: number, n: number): number;
  /** exp(x − m) in place over block a's [off, off + n); returns the sum. */
  expSum(off: number, n: number, m: number): number;
  /** Multiply block a's [off, off + n) by s. */
  scale(off: number, n: number, s: number): void;
  /** Σ a·b over [off, off + n) of blocks a and b. */
  dot(off: number, n: number): number;
  /** b ← a·(b − s)·k over [off, off + n). */
  softmaxBackward(off: number, n: number, s: number, k: number): void;
  /** a ← GELU(a) over [0, n) (tanh form). */
  gelu(n: number): void;
  /** b ← b·GELU′(a) over [0, n). */
  geluGrad(n: number): void;
}

let instance: SimdRows | null | undefined;

/** The kernels, or undefined where WebAssembly SIMD is missing. */
export function simdRows(): SimdRows | undefined {
  if (instance !== undefined) return instance ?? undefined;
  instance = null;
  const wasm = instantiate(wasmModule(FUNCTIONS));
  if (!wasm) return undefined;
  const memory = wasm.exports.memory as WebAssembly.Memory;
  const x = wasm.exports as Record<string, (...a: number[]) => number>;
  let size = 0;
  let views: [Float32Array, Float32Array] = [new Float32Array(0), new Float32Array(0)];
  let bOff = 0;
  instance = {
    blocks(n) {
      if (n > size || views[0].buffer !== memory.buffer) {
        growMemory(memory, 8 * n + 64);
        size = Math.max(n, size);
        bOff = Math.ceil((4 * size) / 16) * 16;
        views = [new Float32Array(memory.buffer, 0, size), new Float32Array(memory.buffer, bOff, size)];
      }
      return views;
    },
    rowMax: (off, n) => x.rowmax(4 * off, 4 * (off + n)),
    expSum: (off, n, m) => x.expsum(4 * off, 4 * (off + n), m),
    scale: (off, n, s) => void x.scale(4 * off, 4 * (off + n), s),
    dot: (off, n) => x.dot(4 * off, bOff + 4 * off, 4 * n),
    softmaxBackward: (off, n, s, k) => void x.dsoft(4 * off, bOff + 4 * off, 4 * n, s, k),
    gelu: (n) => void x.gelu(0, 4 * n),
    geluGrad: (n) => void x.gelugrad(0, bOff, 4 * n),
  };
  return instance;
}

/** The same kernels in plain TypeScript (where WebAssembly SIMD is missing; tests compare the two). */
export function typescriptRows(): SimdRows {
  let views: [Float32Array, Float32Array] = [new Float32Array(0), new Float32Array(0)];
  return {
    blocks(n) {
      if (n > views[0].length) views = [new Float32Array(n), new Float32Array(n)];
      return views;
    },
    rowMax(off, n) {
      const a = views[0];
      let m = -Infinity;
      for (let i = off; i < off + n; i++) if (a[i] > m) m = a[i];
      return m;
    },
    expSum(off, n, m) {
      const a = views[0];
      let s = 0;
      for (let i = off; i < off + n; i++) s += a[i] = Math.max(Math.exp(a[i] - m), 1.1754943508222875e-38);
      return s;
    },
    scale(off, n, s) {
      const a = views[0];
      for (let i = off; i < off + n; i++) a[i] *= s;
    },
    dot(off, n) {
      const [a, b] = views;
      let s = 0;
      for (let i = off; i < off + n; i++) s += a[i] * b[i];
      return s;
    },
    softmaxBackward(off, n, s, k) {
      const [a, b] = views;
      for (let i = off; i < off + n; i++) b[i] = a[i] * (b[i] - s) * k;
    },
    gelu(n) {
      const a = views[0];
      for (let i = 0; i < n; i++) {
        const v = a[i];
        a[i] = 0.5 * v * (1 + Math.tanh(GELU_C * (v + 0.044715 * v * v * v)));
      }
    },
    geluGrad(n) {
      const [a, b] = views;
      for (let i = 0; i < n; i++) {
        const v = a[i];
        const t = Math.tanh(GELU_C * (v + 0.044715 * v * v * v));
        b[i] *= 0.5 * (1 + t) + 0.5 * v * (1 - t * t) * GELU_C * (1 + 3 * 0.044715 * v * v);
      }
    },
  };
}

let chosen: SimdRows | undefined;

/** Use the TypeScript row kernels instead of WebAssembly SIMD (tests), or back (false). */
export function useTypescriptRows(on: boolean): void {
  chosen = on ? typescriptRows() : undefined;
}

/** The row kernels in use (WebAssembly SIMD, else TypeScript). */
export function rowKernels(): SimdRows {
  return chosen ??= simdRows() ?? typescriptRows();
}
