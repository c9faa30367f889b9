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
import {
  BLOCK,
  br,
  brIf,
  END,
  growMemory,
  I32,
  i32Const as i32,
  localGet as get,
  localSet as set,
  LOOP,
  memarg,
  wasmModule,
} from "../wasm.ts";
import { adviseHugePages } from "../native/malloc.ts";
import { shuffleSixteen, simdUnshuffle, unshuffleBody } from "./simd.ts";

const { add: I32_ADD, mul: I32_MUL, ltU: I32_LT_U, gtU: I32_GT_U, geU: I32_GE_U } = I32;
/** Memory indices in the module: the workspace, then the shuffle module's memory. */
const WS = 0, SCRATCH = 1;
const load8 = (memory: number, offset = 0) => [0x2d, ...memarg(memory, offset)];
const store8 = (memory: number, offset = 0) => [0x3a, ...memarg(memory, offset)];

/** local = local + value. */
const bump = (local: number, by: number[]) => [...get(local), ...by, I32_ADD, ...set(local)];

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
  const sixteen = [
    // p = rb + 4c: elements c … c+15 of the row.
    ...get(RB),
    ...get(C),
    ...i32(4),
    I32_MUL,
    I32_ADD,
    ...set(P),
    ...shuffleSixteen(P, [A, B, CC, D], WS, out, SCRATCH),
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
    I32_GT_U, // c + 16 > cols ends the sixteens
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
    { name: "unshuffleInto", params: i32s(4), result: [], body: unshuffleBody(SCRATCH, WS) },
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
      if (growMemory(memory, bytes)) adviseHugePages(new Uint8Array(memory.buffer));
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
