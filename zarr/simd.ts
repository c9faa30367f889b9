/**
 * Byte unshuffle and shuffle of 4-byte elements in WebAssembly SIMD:
 * sixteen elements per step (four 16-byte loads, eight byte shuffles, four
 * stores), several times the speed of the best scalar JavaScript. The
 * module is assembled here from its instructions (no toolchain needed); its
 * memory holds the input chunk and the (un)shuffled result.
 *
 * @module
 */
import {
  BLOCK,
  br,
  brIf,
  END,
  growMemory,
  I32,
  i32Const as i32,
  i8x16Shuffle as shuffle,
  instantiate,
  localGet as get,
  localSet as set,
  LOOP,
  v128Load,
  v128Store,
  wasmModule,
} from "../wasm.ts";
import { adviseHugePages } from "../native/malloc.ts";

const { add: I32_ADD, mul: I32_MUL, geU: I32_GE_U } = I32;
const I32_SHL = 0x74;
/** Interleave bytes 0–7 (LO) or 8–15 (HI) of two vectors; then 16-bit pairs of two such vectors. */
const BYTES_LO = [0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23];
const BYTES_HI = BYTES_LO.map((x) => x + 8);
const PAIRS_LO = [0, 1, 16, 17, 2, 3, 18, 19, 4, 5, 20, 21, 6, 7, 22, 23];
const PAIRS_HI = PAIRS_LO.map((x) => x + 8);
/** Bytes 0 and 1 (01) or 2 and 3 (23) of the eight elements in two vectors: two 8-byte half planes. */
const PLANES_01 = [0, 4, 8, 12, 16, 20, 24, 28, 1, 5, 9, 13, 17, 21, 25, 29];
const PLANES_23 = PLANES_01.map((x) => x + 2);
/** Low (LO8) or high (HI8) 8 bytes of two vectors joined. */
const LO8 = [0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23];
const HI8 = LO8.map((x) => x + 8);

/**
 * Byte-shuffle sixteen 4-byte elements at the address in local `p` (memory
 * `from`), with four v128 locals as scratch, and store byte plane k's 16
 * bytes at the address `planeAt(k)` leaves on the stack (memory `to`).
 */
export function shuffleSixteen(
  p: number,
  [a, b, c, d]: number[],
  from: number,
  planeAt: (k: number) => number[],
  to: number,
): number[] {
  const halves = (offset: number, lanes: number[], into: number) => [
    ...get(p),
    ...v128Load(from, offset),
    ...get(p),
    ...v128Load(from, offset + 16),
    ...shuffle(lanes),
    ...set(into),
  ];
  const plane = (k: number, x: number, y: number, lanes: number[]) => [
    ...planeAt(k),
    ...get(x),
    ...get(y),
    ...shuffle(lanes),
    ...v128Store(to),
  ];
  return [
    ...halves(0, PLANES_01, a),
    ...halves(0, PLANES_23, b),
    ...halves(32, PLANES_01, c),
    ...halves(32, PLANES_23, d),
    ...plane(0, a, c, LO8),
    ...plane(1, a, c, HI8),
    ...plane(2, b, d, LO8),
    ...plane(3, b, d, HI8),
  ];
}

/** shuffle4(src, dst, n, m): elements 0 … m−1 (m a multiple of 16) at src to planes of n bytes at dst. */
function shuffleBody(): number[] {
  const [SRC, DST, N, M, I, , P, A, B, C, D] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10];
  const plane = (k: number) =>
    k === 0
      ? [...get(DST), ...get(I), I32_ADD]
      : [...get(DST), ...get(I), I32_ADD, ...get(N), ...i32(k), I32_MUL, I32_ADD];
  return [
    0x02,
    0x03,
    0x7f,
    0x04,
    0x7b,
    0x02,
    0x40,
    0x03,
    0x40,
    ...get(I),
    ...get(M),
    I32_GE_U,
    0x0d,
    0x01,
    ...get(SRC),
    ...get(I),
    ...i32(2),
    I32_SHL,
    I32_ADD,
    ...set(P),
    ...shuffleSixteen(P, [A, B, C, D], 0, plane, 0),
    ...get(I),
    ...i32(16),
    I32_ADD,
    ...set(I),
    0x0c,
    0x00,
    0x0b,
    0x0b,
    0x0b,
  ];
}

/**
 * The body of unshuffle4(src, dst, n, m): byte planes of n bytes at `src`
 * in memory `from`; elements 0 … m−1 (m a multiple of 16) to `dst` in
 * memory `to` (zarr/simd_tiles.ts assembles it across two memories).
 */
export function unshuffleBody(from = 0, to = 0): number[] {
  const [SRC, DST, N, M, I, O, P, A, B, C, D] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10];
  const plane = (k: number) =>
    k === 0 ? [...get(P), ...v128Load(from)] : [...get(P), ...get(N), ...i32(k), I32_MUL, I32_ADD, ...v128Load(from)];
  const half = (x: number, y: number, lanes: number[], k: number) => [
    ...get(O),
    ...get(x),
    ...get(y),
    ...shuffle(lanes),
    ...v128Store(to, 16 * k),
  ];
  return [
    0x02, // locals: 3 × i32 (i, o, p), 4 × v128 (a, b, c, d)
    0x03,
    0x7f,
    0x04,
    0x7b,
    ...get(DST),
    ...set(O),
    ...BLOCK,
    ...LOOP,
    ...get(I),
    ...get(M),
    I32_GE_U,
    ...brIf(1),
    ...get(SRC),
    ...get(I),
    I32_ADD,
    ...set(P),
    ...plane(0),
    ...plane(1),
    ...shuffle(BYTES_LO),
    ...set(A),
    ...plane(0),
    ...plane(1),
    ...shuffle(BYTES_HI),
    ...set(B),
    ...plane(2),
    ...plane(3),
    ...shuffle(BYTES_LO),
    ...set(C),
    ...plane(2),
    ...plane(3),
    ...shuffle(BYTES_HI),
    ...set(D),
    ...half(A, C, PAIRS_LO, 0),
    ...half(A, C, PAIRS_HI, 1),
    ...half(B, D, PAIRS_LO, 2),
    ...half(B, D, PAIRS_HI, 3),
    ...get(I),
    ...i32(16),
    I32_ADD,
    ...set(I),
    ...get(O),
    ...i32(64),
    I32_ADD,
    ...set(O),
    ...br(0),
    END,
    END,
    END,
  ];
}

/** The module: unshuffle4 and shuffle4 over its own memory. */
function moduleBytes(): Uint8Array<ArrayBuffer> {
  const body = unshuffleBody();
  const sig = [0x7f, 0x7f, 0x7f, 0x7f];
  return wasmModule([
    { name: "unshuffle4", params: sig, result: [], body },
    { name: "shuffle4", params: sig, result: [], body: shuffleBody() },
  ]);
}

/** The SIMD unshuffler: a wasm memory to decompress into, and the unshuffle over it. */
export interface SimdUnshuffle {
  /** The module's memory (other modules import it to read or write its input and output in place). */
  readonly memory: WebAssembly.Memory;
  /** The first `bytes` bytes of the module's memory (grown as needed): where to put the shuffled chunk. */
  input(bytes: number): Uint8Array;
  /** Unshuffle `bytes` bytes of 4-byte elements from {@link input} into `out`. */
  unshuffle4(bytes: number, out: Uint8Array): void;
  /** Byte-shuffle `src` (4-byte elements) into `out` (numcodecs `shuffle`: a trailing partial element as is). */
  shuffle4(src: Uint8Array, out: Uint8Array): void;
  /**
   * {@link shuffle4} into the module's memory: the result is a view of it,
   * valid until the next call of this module (for a consumer that reads it
   * at once, such as the compressor: no copy out).
   */
  shuffle4View(src: Uint8Array): Uint8Array;
}

let instance: SimdUnshuffle | null | undefined;

/** The SIMD unshuffler, or undefined where WebAssembly SIMD is missing. */
export function simdUnshuffle(): SimdUnshuffle | undefined {
  if (instance !== undefined) return instance ?? undefined;
  instance = null;
  const wasm = instantiate(moduleBytes());
  if (!wasm) return undefined;
  const memory = wasm.exports.memory as WebAssembly.Memory;
  const run = wasm.exports.unshuffle4 as (src: number, dst: number, n: number, m: number) => void;
  const runShuffle = wasm.exports.shuffle4 as (src: number, dst: number, n: number, m: number) => void;
  const ensure = (bytes: number) => {
    // Megabytes of fresh memory (a decoded input chunk and its unshuffled copy): see adviseHugePages.
    if (growMemory(memory, bytes)) adviseHugePages(new Uint8Array(memory.buffer));
  };
  instance = {
    memory,
    input(bytes) {
      ensure(2 * bytes + 64);
      return new Uint8Array(memory.buffer, 0, bytes);
    },
    unshuffle4(bytes, out) {
      const n = bytes >>> 2, m = n - (n % 16), dst = bytes + (-bytes & 15);
      ensure(dst + bytes);
      run(0, dst, n, m);
      const mem = new Uint8Array(memory.buffer);
      out.set(mem.subarray(dst, dst + 4 * m));
      // The last n mod 16 elements, and a trailing partial element, as numcodecs leaves it.
      for (let e = m; e < n; e++) for (let b = 0; b < 4; b++) out[4 * e + b] = mem[b * n + e];
      for (let k = 4 * n; k < bytes; k++) out[k] = mem[k];
    },
    shuffle4(src, out) {
      out.set(this.shuffle4View(src));
    },
    shuffle4View(src) {
      const bytes = src.length, n = bytes >>> 2, m = n - (n % 16), dst = bytes + (-bytes & 15);
      ensure(dst + bytes);
      const mem = new Uint8Array(memory.buffer);
      mem.set(src);
      runShuffle(0, dst, n, m);
      const out = mem.subarray(dst, dst + bytes);
      for (let e = m; e < n; e++) for (let b = 0; b < 4; b++) out[b * n + e] = src[4 * e + b];
      for (let k = 4 * n; k < bytes; k++) out[k] = src[k];
      return out;
    },
  };
  return instance;
}
