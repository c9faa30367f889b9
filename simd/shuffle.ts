/**
 * Byte unshuffle and shuffle of 4-byte elements in WebAssembly SIMD:
 * sixteen elements per step (four 16-byte loads, eight byte shuffles, four
 * stores), several times the speed of the best scalar JavaScript. The
 * module is assembled here (see ./asm.ts); its memory holds the input chunk
 * and the (un)shuffled result. The sixteen-element steps are exported for
 * the tile workspace (./tiles.ts), which assembles them across two
 * memories. The scalar reference, {@link byteShuffle} and
 * {@link byteUnshuffle} (any element size; the codecs of zarr/codecs.ts),
 * closes the file and hands 4-byte elements to these kernels.
 *
 * @module
 */
import { type Code, growMemory, instantiate, type Local, type Memory, WasmModule } from "./asm.ts";
import { adviseHugePages } from "../native/malloc.ts";

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

/** Four v128 locals of scratch for the sixteen-element steps. */
export type Scratch = [Local, Local, Local, Local];

/**
 * Byte-shuffle sixteen 4-byte elements at the address in local `p` (memory
 * `from`), with four v128 locals as scratch, and store byte plane k's 16
 * bytes at the address `planeAt(k)` leaves on the stack (memory `to`).
 */
export function shuffleSixteen(
  f: Code,
  p: Local,
  [a, b, c, d]: Scratch,
  from: Memory,
  planeAt: (k: number) => void,
  to: Memory,
): void {
  const halves = (offset: number, lanes: number[], into: Local) =>
    f.local.get(p).v128.load(from, { offset }).local.get(p).v128.load(from, { offset: offset + 16 })
      .i8x16.shuffle(lanes).local.set(into);
  const plane = (k: number, x: Local, y: Local, lanes: number[]) => {
    planeAt(k);
    f.local.get(x).local.get(y).i8x16.shuffle(lanes).v128.store(to);
  };
  halves(0, PLANES_01, a);
  halves(0, PLANES_23, b);
  halves(32, PLANES_01, c);
  halves(32, PLANES_23, d);
  plane(0, a, c, LO8);
  plane(1, a, c, HI8);
  plane(2, b, d, LO8);
  plane(3, b, d, HI8);
}

/** The parameters and locals shared by shuffle4 and unshuffle4: (src, dst, n, m); i, o, p; four v128. */
function shuffleLocals(f: Code) {
  const [src, dst, n, m] = f.params;
  const [i, o, p] = f.newLocals("i32", 3);
  const scratch = f.newLocals("v128", 4) as Scratch;
  return { src, dst, n, m, i, o, p, scratch };
}

/** shuffle4(src, dst, n, m): elements 0 … m−1 (m a multiple of 16) at src to planes of n bytes at dst. */
function shuffle4(f: Code, memory: Memory): void {
  const { src, dst, n, m, i, p, scratch } = shuffleLocals(f); // o is not used here
  const plane = (k: number) => {
    f.local.get(dst).local.get(i).i32.add();
    if (k) f.local.get(n).i32.const(k).i32.mul().i32.add();
  };
  f.until(() => f.local.get(i).local.get(m).i32.ge_u(), () => {
    f.local.get(src).local.get(i).i32.const(2).i32.shl().i32.add().local.set(p);
    shuffleSixteen(f, p, scratch, memory, plane, memory);
    f.local.get(i).i32.const(16).i32.add().local.set(i);
  });
}

/**
 * unshuffle4(src, dst, n, m): byte planes of n bytes at `src` in memory
 * `from`; elements 0 … m−1 (m a multiple of 16) to `dst` in memory `to`.
 */
export function unshuffle4(f: Code, from: Memory, to: Memory): void {
  const { src, dst, n, m, i, o, p, scratch: [a, b, c, d] } = shuffleLocals(f);
  /** Plane k's 16 bytes of this step. */
  const plane = (k: number) => {
    f.local.get(p);
    if (k) f.local.get(n).i32.const(k).i32.mul().i32.add();
    f.v128.load(from);
  };
  /** Interleave planes k and k + 1 (their low or high halves) into `into`. */
  const interleave = (k: number, lanes: number[], into: Local) => {
    plane(k);
    plane(k + 1);
    f.i8x16.shuffle(lanes).local.set(into);
  };
  /** Store the 16 bytes of elements 4k … 4k + 3. */
  const quarter = (x: Local, y: Local, lanes: number[], k: number) =>
    f.local.get(o).local.get(x).local.get(y).i8x16.shuffle(lanes).v128.store(to, { offset: 16 * k });
  f.local.get(dst).local.set(o);
  f.until(() => f.local.get(i).local.get(m).i32.ge_u(), () => {
    f.local.get(src).local.get(i).i32.add().local.set(p);
    interleave(0, BYTES_LO, a);
    interleave(0, BYTES_HI, b);
    interleave(2, BYTES_LO, c);
    interleave(2, BYTES_HI, d);
    quarter(a, c, PAIRS_LO, 0);
    quarter(a, c, PAIRS_HI, 1);
    quarter(b, d, PAIRS_LO, 2);
    quarter(b, d, PAIRS_HI, 3);
    f.local.get(i).i32.const(16).i32.add().local.set(i);
    f.local.get(o).i32.const(64).i32.add().local.set(o);
  });
}

/** The (src, dst, n, m) signature of both. */
export const SHUFFLE_PARAMS = ["i32", "i32", "i32", "i32"] as const;

/** The module: unshuffle4 and shuffle4 over its own memory. */
export function shuffleModule(): Uint8Array<ArrayBuffer> {
  const module = new WasmModule();
  const memory = module.memory();
  return module
    .func("unshuffle4", SHUFFLE_PARAMS, [], (f) => unshuffle4(f, memory, memory))
    .func("shuffle4", SHUFFLE_PARAMS, [], (f) => shuffle4(f, memory))
    .bytes();
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
  const wasm = instantiate(shuffleModule());
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

// The scalar reference: the numcodecs byte shuffle for any element size, which hands 4-byte elements to the kernels above.

/**
 * Byte shuffle (numcodecs `shuffle`): byte k of every element stored
 * together. Writes into `into` when it is large enough (reused buffers
 * avoid page-faulting fresh memory for every chunk).
 */
export function byteShuffle(src: Uint8Array, elementSize: number, into?: Uint8Array): Uint8Array {
  const n = Math.floor(src.length / elementSize);
  const out = into && into.length >= src.length ? into.subarray(0, src.length) : new Uint8Array(src.length);
  const simd = elementSize === 4 && src.length >= 256 ? simdUnshuffle() : undefined;
  if (simd) {
    simd.shuffle4(src, out);
    return out;
  }
  if (elementSize === 4 && src.byteOffset % 4 === 0) {
    const words = new Uint32Array(src.buffer, src.byteOffset, n);
    const b0 = out.subarray(0, n), b1 = out.subarray(n, 2 * n);
    const b2 = out.subarray(2 * n, 3 * n), b3 = out.subarray(3 * n, 4 * n);
    for (let i = 0; i < n; i++) {
      const w = words[i];
      b0[i] = w;
      b1[i] = w >>> 8;
      b2[i] = w >>> 16;
      b3[i] = w >>> 24;
    }
  } else if (elementSize === 8 && src.byteOffset % 4 === 0) {
    const words = new Uint32Array(src.buffer, src.byteOffset, 2 * n);
    const planes = Array.from({ length: 8 }, (_, b) => out.subarray(b * n, (b + 1) * n));
    const [p0, p1, p2, p3, p4, p5, p6, p7] = planes;
    for (let i = 0; i < n; i++) {
      const lo = words[2 * i], hi = words[2 * i + 1];
      p0[i] = lo;
      p1[i] = lo >>> 8;
      p2[i] = lo >>> 16;
      p3[i] = lo >>> 24;
      p4[i] = hi;
      p5[i] = hi >>> 8;
      p6[i] = hi >>> 16;
      p7[i] = hi >>> 24;
    }
  } else {
    for (let i = 0; i < n; i++) {
      for (let b = 0; b < elementSize; b++) {
        out[b * n + i] = src[i * elementSize + b];
      }
    }
  }
  // numcodecs leaves a trailing partial element unshuffled.
  out.set(src.subarray(n * elementSize), n * elementSize);
  return out;
}

/** Inverse of {@link byteShuffle}, into `into` when given (at least `src.length` bytes). */
export function byteUnshuffle(
  src: Uint8Array,
  elementSize: number,
  into?: Uint8Array,
): Uint8Array {
  const n = Math.floor(src.length / elementSize);
  const out = into ? into.subarray(0, src.length) : new Uint8Array(src.length);
  const simd = elementSize === 4 && src.length >= 256 ? simdUnshuffle() : undefined;
  if (simd) {
    simd.input(src.length).set(src);
    simd.unshuffle4(src.length, out);
    return out;
  }
  if (elementSize === 4 && n % 4 === 0 && src.byteOffset % 4 === 0 && out.byteOffset % 4 === 0) {
    // Four elements at a time: one 32-bit load per byte plane, then a 4×4 byte transpose.
    const q = n / 4, at = src.byteOffset, buf = src.buffer;
    const p0 = new Uint32Array(buf, at, q), p1 = new Uint32Array(buf, at + n, q);
    const p2 = new Uint32Array(buf, at + 2 * n, q), p3 = new Uint32Array(buf, at + 3 * n, q);
    const o = new Uint32Array(out.buffer, out.byteOffset, n);
    for (let i = 0, k = 0; i < q; i++, k += 4) {
      const a = p0[i], b = p1[i], c = p2[i], d = p3[i];
      o[k] = (a & 0xff) | ((b & 0xff) << 8) | ((c & 0xff) << 16) | (d << 24);
      o[k + 1] = ((a >>> 8) & 0xff) | (b & 0xff00) | ((c & 0xff00) << 8) | ((d >>> 8) << 24);
      o[k + 2] = ((a >>> 16) & 0xff) | ((b >>> 8) & 0xff00) | (c & 0xff0000) | ((d >>> 16) << 24);
      o[k + 3] = (a >>> 24) | ((b >>> 16) & 0xff00) | ((c >>> 8) & 0xff0000) | ((d >>> 24) << 24);
    }
  } else if (elementSize === 4 && out.byteOffset % 4 === 0) {
    const words = new Uint32Array(out.buffer, out.byteOffset, n);
    const b0 = src.subarray(0, n), b1 = src.subarray(n, 2 * n);
    const b2 = src.subarray(2 * n, 3 * n), b3 = src.subarray(3 * n, 4 * n);
    for (let i = 0; i < n; i++) {
      words[i] = b0[i] | (b1[i] << 8) | (b2[i] << 16) | (b3[i] << 24);
    }
  } else if (elementSize === 8 && out.byteOffset % 4 === 0) {
    const words = new Uint32Array(out.buffer, out.byteOffset, 2 * n);
    const [p0, p1, p2, p3, p4, p5, p6, p7] = Array.from({ length: 8 }, (_, b) => src.subarray(b * n, (b + 1) * n));
    for (let i = 0; i < n; i++) {
      words[2 * i] = p0[i] | (p1[i] << 8) | (p2[i] << 16) | (p3[i] << 24);
      words[2 * i + 1] = p4[i] | (p5[i] << 8) | (p6[i] << 16) | (p7[i] << 24);
    }
  } else {
    for (let i = 0; i < n; i++) {
      for (let b = 0; b < elementSize; b++) {
        out[i * elementSize + b] = src[b * n + i];
      }
    }
  }
  out.set(src.subarray(n * elementSize), n * elementSize);
  return out;
}
