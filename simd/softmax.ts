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
 * below −87 give ≈1e-38, not 0. The module is assembled here (see
 * ./asm.ts); rows live in its memory, whose views are handed to sgemm
 * directly. The same kernels in plain TypeScript ({@link typescriptRows})
 * are the reference the tests compare with, and the fallback.
 *
 * @module
 */
import { type Code, growMemory, instantiate, type Local, type Memory, WasmModule } from "./asm.ts";

/** Rows are float32, 16-byte aligned: loads and stores promise 4-byte alignment. */
const ROW = { align: 2 };

/** The kernels' shared pieces, over the module's memory `memory`. */
function pieces(f: Code, memory: Memory) {
  const splat = (v: number) => f.f32.const(v).f32x4.splat();
  const load = (at: Local) => f.local.get(at).v128.load(memory, ROW);
  const store = () => f.v128.store(memory, ROW);
  /** Horizontal reduction of v128 local `v` with f32 `add` or `max`. */
  const reduce = (v: Local, op: "add" | "max") => {
    f.local.get(v).f32x4.extract_lane(0);
    for (const lane of [1, 2, 3]) f.local.get(v).f32x4.extract_lane(lane).f32[op]();
  };
  /** for (; p < end; p += 16) { body; also } with `p` and `end` i32 locals. */
  const loop16 = (p: Local, end: Local, body: () => void, also?: () => void) =>
    f.until(() => f.local.get(p).local.get(end).i32.ge_u(), () => {
      body();
      f.local.get(p).i32.const(16).i32.add().local.set(p);
      also?.();
    });
  /** p += 16 (the second row's pointer, advanced beside the first). */
  const advance = (p: Local) => () => f.local.get(p).i32.const(16).i32.add().local.set(p);
  return { splat, load, store, reduce, loop16, advance };
}

/** The constants of {@link expOf} in 9 v128 locals: log2 e, −126, 127 (i32x4), six polynomial coefficients. */
interface ExpConstants {
  log2e: Local;
  low: Local;
  bias: Local;
  coefficients: Local[];
}

/** Declare and set the constants of {@link expOf}. */
function expPrelude(f: Code): ExpConstants {
  const [log2e, low, bias, ...coefficients] = f.newLocals("v128", 9);
  // 2^f = e^(f·ln2), Taylor to degree 6 on |f| ≤ ½.
  const coef = [1, 2, 3, 4, 5, 6].map((k) => Math.pow(Math.LN2, k) / [1, 1, 2, 6, 24, 120, 720][k]);
  f.f32.const(Math.LOG2E).f32x4.splat().local.set(log2e);
  f.f32.const(-126).f32x4.splat().local.set(low);
  f.i32.const(127).i32x4.splat().local.set(bias);
  coef.forEach((c, i) => f.f32.const(c).f32x4.splat().local.set(coefficients[i]));
  return { log2e, low, bias, coefficients };
}

/** exp of the v128 on the stack (inputs below −87 give ≈1e-38; above +87 clamp to 2^126); temps t, nv. */
function expOf(f: Code, t: Local, nv: Local, { log2e, low, bias, coefficients }: ExpConstants): void {
  // t = clamp(x · log2 e, −126, 126); n = round(t); t −= n.
  f.local.get(log2e).f32x4.mul().local.get(low).f32x4.pmax().f32.const(126).f32x4.splat().f32x4.pmin().local.set(t);
  f.local.get(t).f32x4.nearest().local.set(nv);
  f.local.get(t).local.get(nv).f32x4.sub().local.set(t);
  // 2^t by Horner's rule.
  f.local.get(coefficients[5]);
  for (const k of [4, 3, 2, 1, 0]) f.local.get(t).f32x4.mul().local.get(coefficients[k]).f32x4.add();
  f.local.get(t).f32x4.mul().f32.const(1).f32x4.splat().f32x4.add();
  // × 2^n built in the exponent bits.
  f.local.get(nv).i32x4.trunc_sat_f32x4_s().local.get(bias).i32x4.add().i32.const(23).i32x4.shl();
  f.f32x4.mul();
}

const GELU_C = Math.sqrt(2 / Math.PI);

/** σ(2z) of v128 local x, z = c(x + 0.044715x³), on the stack (GELU's 0.5(1 + tanh z)). */
function geluSigma(f: Code, x: Local, t: Local, nv: Local, constants: ExpConstants): void {
  const splat = (v: number) => f.f32.const(v).f32x4.splat();
  splat(1);
  splat(1);
  // exp(−2z)
  f.local.get(x).local.get(x).f32x4.mul().local.get(x).f32x4.mul();
  splat(0.044715);
  f.f32x4.mul().local.get(x).f32x4.add();
  splat(-2 * GELU_C);
  f.f32x4.mul();
  expOf(f, t, nv, constants);
  f.f32x4.add().f32x4.div();
}

/** rowmax(start, end) → f32: max over bytes [start, end). */
function rowmax(f: Code, memory: Memory): void {
  const { splat, load, reduce, loop16 } = pieces(f, memory);
  const [s, e] = f.params;
  const acc = f.newLocal("v128");
  splat(-Infinity);
  f.local.set(acc);
  loop16(s, e, () => {
    f.local.get(acc);
    load(s);
    f.f32x4.pmax().local.set(acc);
  });
  reduce(acc, "max");
}

/** expsum(start, end, m) → f32: x → exp(x − m) in place; returns the sum. */
function expsum(f: Code, memory: Memory): void {
  const { load, store, reduce, loop16 } = pieces(f, memory);
  const [s, e, m] = f.params;
  const [acc, mv, t, nv, p] = f.newLocals("v128", 5);
  f.local.get(m).f32x4.splat().local.set(mv);
  const constants = expPrelude(f);
  loop16(s, e, () => {
    load(s);
    f.local.get(mv).f32x4.sub();
    expOf(f, t, nv, constants);
    f.local.set(p).local.get(s).local.get(p);
    store();
    f.local.get(acc).local.get(p).f32x4.add().local.set(acc);
  });
  reduce(acc, "add");
}

/** gelu(start, end): x → x·σ(2z) in place (tanh-form GELU). */
function gelu(f: Code, memory: Memory): void {
  const { load, store, loop16 } = pieces(f, memory);
  const [s, e] = f.params;
  const [x, t, nv] = f.newLocals("v128", 3);
  const constants = expPrelude(f);
  loop16(s, e, () => {
    load(s);
    f.local.set(x).local.get(s).local.get(x);
    geluSigma(f, x, t, nv, constants);
    f.f32x4.mul();
    store();
  });
}

/** gelugrad(x, dy, bytes): dy → dy·gelu′(x) in place, gelu′ = σ + 2xσ(1 − σ)·c(1 + 3·0.044715x²). */
function gelugrad(f: Code, memory: Memory): void {
  const { splat, load, store, loop16, advance } = pieces(f, memory);
  const [a, b, n] = f.params;
  const end = f.newLocal("i32");
  const [x, sg, t, nv] = f.newLocals("v128", 4);
  const constants = expPrelude(f);
  f.local.get(a).local.get(n).i32.add().local.set(end);
  loop16(a, end, () => {
    load(a);
    f.local.set(x);
    geluSigma(f, x, t, nv, constants);
    f.local.set(sg).local.get(b);
    // σ + 2xσ(1−σ)·c(1 + 0.134145x²)
    f.local.get(sg);
    splat(2 * GELU_C);
    f.local.get(x).f32x4.mul().local.get(sg).f32x4.mul();
    splat(1);
    f.local.get(sg).f32x4.sub().f32x4.mul();
    splat(1);
    f.local.get(x).local.get(x).f32x4.mul();
    splat(3 * 0.044715);
    f.f32x4.mul().f32x4.add().f32x4.mul().f32x4.add();
    load(b);
    f.f32x4.mul();
    store();
  }, advance(b));
}

/** scale(start, end, s): x → s·x in place. */
function scale(f: Code, memory: Memory): void {
  const { load, store, loop16 } = pieces(f, memory);
  const [s, e, factor] = f.params;
  const sv = f.newLocal("v128");
  f.local.get(factor).f32x4.splat().local.set(sv);
  loop16(s, e, () => {
    f.local.get(s);
    load(s);
    f.local.get(sv).f32x4.mul();
    store();
  });
}

/** dot(a, b, bytes) → f32: Σ a·b over `bytes` bytes from a and b. */
function dot(f: Code, memory: Memory): void {
  const { load, reduce, loop16, advance } = pieces(f, memory);
  const [a, b, n] = f.params;
  const end = f.newLocal("i32"), acc = f.newLocal("v128");
  f.local.get(a).local.get(n).i32.add().local.set(end);
  loop16(a, end, () => {
    f.local.get(acc);
    load(a);
    load(b);
    f.f32x4.mul().f32x4.add().local.set(acc);
  }, advance(b));
  reduce(acc, "add");
}

/** dsoft(p, dp, bytes, s, k): dp → p·(dp − s)·k in place. */
function dsoft(f: Code, memory: Memory): void {
  const { load, store, loop16, advance } = pieces(f, memory);
  const [p, dp, n, s, k] = f.params;
  const end = f.newLocal("i32");
  const [sv, kv] = f.newLocals("v128", 2);
  f.local.get(s).f32x4.splat().local.set(sv);
  f.local.get(k).f32x4.splat().local.set(kv);
  f.local.get(p).local.get(n).i32.add().local.set(end);
  loop16(p, end, () => {
    f.local.get(dp);
    load(p);
    load(dp);
    f.local.get(sv).f32x4.sub().f32x4.mul().local.get(kv).f32x4.mul();
    store();
  }, advance(dp));
}

/** The module: the seven kernels over its own memory. */
export function softmaxModule(): Uint8Array<ArrayBuffer> {
  const module = new WasmModule();
  const memory = module.memory();
  return module
    .func("rowmax", ["i32", "i32"], ["f32"], (f) => rowmax(f, memory))
    .func("expsum", ["i32", "i32", "f32"], ["f32"], (f) => expsum(f, memory))
    .func("scale", ["i32", "i32", "f32"], [], (f) => scale(f, memory))
    .func("dot", ["i32", "i32", "i32"], ["f32"], (f) => dot(f, memory))
    .func("dsoft", ["i32", "i32", "i32", "f32", "f32"], [], (f) => dsoft(f, memory))
    .func("gelu", ["i32", "i32"], [], (f) => gelu(f, memory))
    .func("gelugrad", ["i32", "i32", "i32"], [], (f) => gelugrad(f, memory))
    .bytes();
}

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
  const wasm = instantiate(softmaxModule());
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
