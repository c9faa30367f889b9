/**
 * A thread's tile workspace: a WebAssembly memory holding a conversion
 * task's slab of decoded planes (and an edge tile), with SIMD kernels that
 * work across it and the shuffle module's memory ({@link ./simd.ts}), so
 * that no value is copied only to be moved: a decoded input chunk is
 * unshuffled from the decompressor's output straight into the slab, and a
 * chunk is byte-shuffled straight out of the slab's rows (a gather) into
 * the memory the compressor reads. The per-point statistics read the slab
 * in place too (normalization/point_sums_simd.ts imports the workspace).
 *
 * The workspace grows only when asked for more room ({@link TileWorkspace.reserve}),
 * so views of it stay valid in between; the shuffle module's memory may
 * grow at any call, and results in it are views valid until the next call.
 *
 * @module
 */
import { localGet, localSet, memarg, sleb128, wasmModule } from "../wasm.ts";
import { adviseHugePages } from "./malloc.ts";
import { simdUnshuffle } from "./simd.ts";

const get = localGet, set = localSet;
const i32 = (v: number) => [0x41, ...sleb128(v)];
const [I32_ADD, I32_MUL, I32_LT_U, I32_GE_U] = [0x6a, 0x6c, 0x49, 0x4f];
const BLOCK = [0x02, 0x40], LOOP = [0x03, 0x40], END = 0x0b;
const brIf = (depth: number) => [0x0d, depth], br = (depth: number) => [0x0c, depth];
/** Memory indices in the module: the workspace, then the shuffle module's memory. */
const WS = 0, SCRATCH = 1;
const load = (memory: number, offset = 0) => [0xfd, 0x00, ...memarg(memory, offset)];
const store = (memory: number, offset = 0) => [0xfd, 0x0b, ...memarg(memory, offset)];
const load8 = (memory: number, offset = 0) => [0x2d, ...memarg(memory, offset)];
const store8 = (memory: number, offset = 0) => [0x3a, ...memarg(memory, offset)];
const shuffle = (lanes: number[]) => [0xfd, 0x0d, ...lanes];
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

/** local = local + value. */
const bump = (local: number, by: number[]) => [...get(local), ...by, I32_ADD, ...set(local)];

/**
 * unshuffleInto(src, dst, n, m): byte planes of n bytes at `src` in the
 * shuffle module's memory; elements 0 … m−1 (m a multiple of 16) to `dst`
 * in the workspace (the scalar rest is the caller's).
 */
function unshuffleIntoBody(): number[] {
  const [SRC, DST, N, M, I, O, P, A, B, C, D] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10];
  const plane = (k: number) => k === 0 ? get(P) : [...get(P), ...get(N), ...i32(k), I32_MUL, I32_ADD];
  const pair = (x: number, y: number, lanes: number[], k: number) => [
    ...get(O),
    ...get(x),
    ...get(y),
    ...shuffle(lanes),
    ...store(WS, 16 * k),
  ];
  return [
    0x02,
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
    ...load(SCRATCH),
    ...plane(1),
    ...load(SCRATCH),
    ...shuffle(BYTES_LO),
    ...set(A),
    ...plane(0),
    ...load(SCRATCH),
    ...plane(1),
    ...load(SCRATCH),
    ...shuffle(BYTES_HI),
    ...set(B),
    ...plane(2),
    ...load(SCRATCH),
    ...plane(3),
    ...load(SCRATCH),
    ...shuffle(BYTES_LO),
    ...set(C),
    ...plane(2),
    ...load(SCRATCH),
    ...plane(3),
    ...load(SCRATCH),
    ...shuffle(BYTES_HI),
    ...set(D),
    ...pair(A, C, PAIRS_LO, 0),
    ...pair(A, C, PAIRS_HI, 1),
    ...pair(B, D, PAIRS_LO, 2),
    ...pair(B, D, PAIRS_HI, 3),
    ...bump(I, i32(16)),
    ...bump(O, i32(64)),
    ...br(0),
    END,
    END,
    END,
  ];
}

/**
 * gatherShuffle(src, stepBytes, rowBytes, steps, rows, cols, dst, n):
 * the numcodecs byte shuffle of the `steps` × `rows` × `cols` float32
 * block whose rows start at `src + t·stepBytes + r·rowBytes` in the
 * workspace, written as four planes of `n` bytes (n = steps·rows·cols) at
 * `dst` in the shuffle module's memory. Sixteen elements of a row per
 * step, the rest of each row one byte at a time.
 */
function gatherShuffleBody(): number[] {
  const [SRC, STEP_BYTES, ROW_BYTES, STEPS, ROWS, COLS, DST, N] = [0, 1, 2, 3, 4, 5, 6, 7];
  const [T, R, C, E, RB, P, K] = [8, 9, 10, 11, 12, 13, 14];
  const [A, B, CC, D] = [15, 16, 17, 18];
  /** Address in the output of plane k, element e + c: dst + k·n + e + c. */
  const out = (k: number) => [
    ...get(DST),
    ...(k === 0 ? [] : [...get(N), ...i32(k), I32_MUL, I32_ADD]),
    ...get(E),
    I32_ADD,
    ...get(C),
    I32_ADD,
  ];
  const planes = (x: number, y: number, lanes: number[], k: number) => [
    ...out(k),
    ...get(x),
    ...get(y),
    ...shuffle(lanes),
    ...store(SCRATCH),
  ];
  const sixteen = [
    // p = rb + 4c: elements c … c+15 of the row.
    ...get(RB),
    ...get(C),
    ...i32(4),
    I32_MUL,
    I32_ADD,
    ...set(P),
    ...get(P),
    ...load(WS, 0),
    ...get(P),
    ...load(WS, 16),
    ...shuffle(PLANES_01),
    ...set(A),
    ...get(P),
    ...load(WS, 0),
    ...get(P),
    ...load(WS, 16),
    ...shuffle(PLANES_23),
    ...set(B),
    ...get(P),
    ...load(WS, 32),
    ...get(P),
    ...load(WS, 48),
    ...shuffle(PLANES_01),
    ...set(CC),
    ...get(P),
    ...load(WS, 32),
    ...get(P),
    ...load(WS, 48),
    ...shuffle(PLANES_23),
    ...set(D),
    ...planes(A, CC, LO8, 0),
    ...planes(A, CC, HI8, 1),
    ...planes(B, D, LO8, 2),
    ...planes(B, D, HI8, 3),
  ];
  const oneByOne = [
    // for k in 0..3: out(k) byte = ws byte at rb + 4c + k
    ...i32(0),
    ...set(K),
    ...LOOP,
    ...out(0),
    ...get(N),
    ...get(K),
    I32_MUL,
    I32_ADD,
    ...get(RB),
    ...get(C),
    ...i32(4),
    I32_MUL,
    I32_ADD,
    ...get(K),
    I32_ADD,
    ...load8(WS),
    ...store8(SCRATCH),
    ...bump(K, i32(1)),
    ...get(K),
    ...i32(4),
    I32_LT_U,
    ...brIf(0),
    END,
  ];
  const row = [
    // rb = src + t·stepBytes + r·rowBytes
    ...get(SRC),
    ...get(T),
    ...get(STEP_BYTES),
    I32_MUL,
    I32_ADD,
    ...get(R),
    ...get(ROW_BYTES),
    I32_MUL,
    I32_ADD,
    ...set(RB),
    ...i32(0),
    ...set(C),
    ...BLOCK,
    ...LOOP,
    ...get(C),
    ...i32(16),
    I32_ADD,
    ...get(COLS),
    0x4b, // i32.gt_u: c + 16 > cols ends the sixteens
    ...brIf(1),
    ...sixteen,
    ...bump(C, i32(16)),
    ...br(0),
    END,
    END,
    ...BLOCK,
    ...LOOP,
    ...get(C),
    ...get(COLS),
    I32_GE_U,
    ...brIf(1),
    ...oneByOne,
    ...bump(C, i32(1)),
    ...br(0),
    END,
    END,
    ...bump(E, get(COLS)),
  ];
  const loopTo = (counter: number, limit: number, body: number[]) => [
    ...i32(0),
    ...set(counter),
    ...BLOCK,
    ...LOOP,
    ...get(counter),
    ...get(limit),
    I32_GE_U,
    ...brIf(1),
    ...body,
    ...bump(counter, i32(1)),
    ...br(0),
    END,
    END,
  ];
  return [0x02, 0x07, 0x7f, 0x04, 0x7b, ...loopTo(T, STEPS, loopTo(R, ROWS, row)), END];
}

/** The module: memory 0 the workspace, memory 1 the shuffle module's, both imported. */
function moduleBytes(): Uint8Array<ArrayBuffer> {
  const i32s = (n: number) => new Array(n).fill(0x7f);
  return wasmModule([
    { name: "unshuffleInto", params: i32s(4), result: [], body: unshuffleIntoBody() },
    { name: "gatherShuffle", params: i32s(8), result: [], body: gatherShuffleBody() },
  ], { imported: ["workspace", "scratch"], own: false });
}

/** A thread's tile workspace and its kernels (see the module comment). */
export interface TileWorkspace {
  /** The workspace memory (import it as `env.workspace` to read it from another module). */
  readonly memory: WebAssembly.Memory;
  /**
   * Make the workspace at least `bytes` long and return a float32 view of
   * it from byte 0. Views taken before a call that grew it are stale:
   * take them again after each call.
   */
  reserve(bytes: number): Float32Array;
  /**
   * Unshuffle the `bytes` bytes of byte-shuffled 4-byte elements that the
   * shuffle module holds at its input (see {@link SimdUnshuffle.input})
   * into `into`, a view of this workspace: no copy in between.
   */
  unshuffleInto(bytes: number, into: Uint8Array): void;
  /**
   * The byte-shuffled bytes of the float32 block of `steps` × `rows` ×
   * `cols` values whose value (t, r, c) is at element `offset + t·stepStride
   * + r·rowStride + c` of the workspace: a view of the shuffle module's
   * memory, valid until its next call.
   */
  gatherShuffle(
    offset: number,
    stepStride: number,
    rowStride: number,
    steps: number,
    rows: number,
    cols: number,
  ): Uint8Array;
}

let workspace: TileWorkspace | null | undefined;

/** This thread's tile workspace when `view` is a view of it (it is not created here). */
export function tileWorkspaceOf(view: ArrayBufferView): TileWorkspace | undefined {
  return workspace && view.buffer === workspace.memory.buffer ? workspace : undefined;
}

/** This thread's tile workspace, or undefined where WebAssembly SIMD or multi-memory is missing. */
export function tileWorkspace(): TileWorkspace | undefined {
  if (workspace !== undefined) return workspace ?? undefined;
  workspace = null;
  const scratch = simdUnshuffle();
  const bytes = moduleBytes();
  if (!scratch || !WebAssembly.validate(bytes)) return undefined;
  const memory = new WebAssembly.Memory({ initial: 1 });
  const wasm = new WebAssembly.Instance(new WebAssembly.Module(bytes), {
    env: { workspace: memory, scratch: scratch.memory },
  });
  const unshuffleInto = wasm.exports.unshuffleInto as (src: number, dst: number, n: number, m: number) => void;
  const gather = wasm.exports.gatherShuffle as (...args: number[]) => void;
  workspace = {
    memory,
    reserve(bytes) {
      const need = Math.ceil(bytes / 65536) - memory.buffer.byteLength / 65536;
      if (need > 0) {
        memory.grow(need);
        adviseHugePages(new Uint8Array(memory.buffer));
      }
      return new Float32Array(memory.buffer, 0, memory.buffer.byteLength >>> 2);
    },
    unshuffleInto(bytes, into) {
      if (into.buffer !== memory.buffer) throw new Error("unshuffleInto: the output is not in the tile workspace");
      const n = bytes >>> 2, m = n - (n % 16), dst = into.byteOffset;
      unshuffleInto(0, dst, n, m);
      // The last n mod 16 elements, and a trailing partial element, as numcodecs leaves it.
      const src = scratch.input(bytes);
      for (let e = m; e < n; e++) for (let b = 0; b < 4; b++) into[4 * e + b] = src[b * n + e];
      for (let k = 4 * n; k < bytes; k++) into[k] = src[k];
    },
    gatherShuffle(offset, stepStride, rowStride, steps, rows, cols) {
      const n = steps * rows * cols;
      const out = scratch.input(4 * n); // room at the shuffle module's start; its input is not needed here
      gather(4 * offset, 4 * stepStride, 4 * rowStride, steps, rows, cols, 0, n);
      return out;
    },
  };
  return workspace;
}
