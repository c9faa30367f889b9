/**
 * exp(x − m) over a float32 row in WebAssembly SIMD, in place, returning
 * the row's sum: the inner loop of softmax. Why: the attention forward
 * pass evaluates one exponential per score (B·heads·L² per layer), and
 * JavaScript's `Math.exp` costs ≈11 ns each on the project's test machine,
 * which made the exponentials alone half of a d=128, 648-token training
 * step; four lanes of a degree-6 polynomial on 2^frac(t) with an exponent
 * built from the integer part cost well under 1 ns (relative error ≤ 2e-7,
 * float32 rounding). The module is assembled here from its instructions
 * (as zarr/simd.ts does); the row lives in the module's memory.
 *
 * @module
 */

const LEB = (n: number): number[] => {
  const out: number[] = [];
  do {
    let byte = n & 0x7f;
    n >>>= 7;
    if (n) byte |= 0x80;
    out.push(byte);
  } while (n);
  return out;
};
const section = (id: number, body: number[]): number[] => [id, ...LEB(body.length), ...body];
const name = (s: string): number[] => [...LEB(s.length), ...new TextEncoder().encode(s)];
const f32 = (v: number): number[] => [0x43, ...new Uint8Array(Float32Array.of(v).buffer)];
const simd = (op: number, ...imm: number[]): number[] => [0xfd, ...LEB(op), ...imm];
const get = (i: number) => [0x20, i], set = (i: number) => [0x21, i];

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
  f32x4Max: 0xe9,
  i32x4TruncSatF32x4S: 0xf8,
};

/** expsum(start, end, m): bytes [start, end) (16-byte multiple) as f32 x → exp(x − m); returns Σ. */
function moduleBytes(): Uint8Array<ArrayBuffer> {
  // Parameters 0 start (i32), 1 end (i32), 2 m (f32); locals 3 acc, 4 mv, 5 t, 6 nv, 7 p, consts 8…16.
  const [START, END, M, ACC, MV, T, NV, P] = [0, 1, 2, 3, 4, 5, 6, 7];
  const LOG2E = 8, MIN = 9, I127 = 10, C = [11, 12, 13, 14, 15, 16];
  // 2^f = e^(f·ln2), Taylor to degree 6 on |f| ≤ ½.
  const coef = [1, 2, 3, 4, 5, 6].map((k) => Math.pow(Math.LN2, k) / [1, 1, 2, 6, 24, 120, 720][k]);
  const splat = (v: number, local: number) => [...f32(v), ...simd(OP.f32x4Splat), ...set(local)];
  const body = [
    0x01,
    0x0e,
    0x7b, // 14 v128 locals (3 … 16)
    ...get(M),
    ...simd(OP.f32x4Splat),
    ...set(MV),
    ...splat(Math.LOG2E, LOG2E),
    ...splat(-126, MIN),
    0x41,
    ...[0xff, 0x00], // i32.const 127
    ...simd(OP.i32x4Splat),
    ...set(I127),
    ...coef.flatMap((c, i) => splat(c, C[i])),
    0x02,
    0x40, // block
    0x03,
    0x40, // loop
    ...get(START),
    ...get(END),
    0x4f, // i32.ge_u
    0x0d,
    0x01, // br_if out
    // t = max((x − m)·log2e, −126)
    ...get(START),
    ...simd(OP.load, 0x02, 0x00),
    ...get(MV),
    ...simd(OP.f32x4Sub),
    ...get(LOG2E),
    ...simd(OP.f32x4Mul),
    ...get(MIN),
    ...simd(OP.f32x4Max),
    ...set(T),
    ...get(T),
    ...simd(OP.f32x4Nearest),
    ...set(NV),
    ...get(T),
    ...get(NV),
    ...simd(OP.f32x4Sub),
    ...set(T), // t = f
    // p = 1 + f(c1 + f(c2 + … + f·c6))
    ...get(C[5]),
    ...[4, 3, 2, 1, 0].flatMap((k) => [
      ...get(T),
      ...simd(OP.f32x4Mul),
      ...get(C[k]),
      ...simd(OP.f32x4Add),
    ]),
    ...get(T),
    ...simd(OP.f32x4Mul),
    ...f32(1),
    ...simd(OP.f32x4Splat),
    ...simd(OP.f32x4Add),
    ...set(P),
    // scale = bits((n + 127) << 23)
    ...get(START),
    ...get(P),
    ...get(NV),
    ...simd(OP.i32x4TruncSatF32x4S),
    ...get(I127),
    ...simd(OP.i32x4Add),
    0x41,
    23,
    ...simd(OP.i32x4Shl),
    ...simd(OP.f32x4Mul),
    ...set(P),
    ...get(P),
    ...simd(OP.store, 0x02, 0x00),
    ...get(ACC),
    ...get(P),
    ...simd(OP.f32x4Add),
    ...set(ACC),
    ...get(START),
    0x41,
    16,
    0x6a, // i32.add
    ...set(START),
    0x0c,
    0x00, // br loop
    0x0b,
    0x0b,
    ...get(ACC),
    ...simd(OP.f32x4Extract, 0),
    ...get(ACC),
    ...simd(OP.f32x4Extract, 1),
    0x92, // f32.add
    ...get(ACC),
    ...simd(OP.f32x4Extract, 2),
    0x92,
    ...get(ACC),
    ...simd(OP.f32x4Extract, 3),
    0x92,
    0x0b,
  ];
  return new Uint8Array([
    0x00,
    0x61,
    0x73,
    0x6d,
    0x01,
    0x00,
    0x00,
    0x00,
    ...section(1, [0x01, 0x60, 0x03, 0x7f, 0x7f, 0x7d, 0x01, 0x7d]),
    ...section(3, [0x01, 0x00]),
    ...section(5, [0x01, 0x00, 0x01]),
    ...section(7, [0x02, ...name("memory"), 0x02, 0x00, ...name("expsum"), 0x00, 0x00]),
    ...section(10, [0x01, ...LEB(body.length), ...body]),
  ]);
}

/** The SIMD kernel over a scratch row in wasm memory. */
export interface SimdExp {
  /** A scratch row of `n` floats in the module's memory (valid until the next call with a larger n). */
  row(n: number): Float32Array;
  /** row[i] = exp(row[i] − m) for i < n; returns the sum. */
  expSum(n: number, m: number): number;
}

let instance: SimdExp | null | undefined;

/** The kernel, or undefined where WebAssembly SIMD is missing. */
export function simdExp(): SimdExp | undefined {
  if (instance !== undefined) return instance ?? undefined;
  instance = null;
  const bytes = moduleBytes();
  if (!WebAssembly.validate(bytes)) return undefined;
  const wasm = new WebAssembly.Instance(new WebAssembly.Module(bytes));
  const memory = wasm.exports.memory as WebAssembly.Memory;
  const run = wasm.exports.expsum as (start: number, end: number, m: number) => number;
  let view = new Float32Array(memory.buffer, 0, 0);
  instance = {
    row(n) {
      const need = Math.ceil((4 * n + 64) / 65536) - memory.buffer.byteLength / 65536;
      if (need > 0) memory.grow(need);
      if (view.buffer !== memory.buffer || view.length < n) view = new Float32Array(memory.buffer, 0, n);
      return view.length === n ? view : view.subarray(0, n);
    },
    expSum(n, m) {
      const v = n - (n % 4);
      let s = run(0, 4 * v, m);
      const r = view.buffer === memory.buffer ? view : new Float32Array(memory.buffer);
      for (let i = v; i < n; i++) s += r[i] = Math.exp(r[i] - m);
      return s;
    },
  };
  return instance;
}
