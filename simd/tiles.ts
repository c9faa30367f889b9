/**
 * A thread's tile workspace: a WebAssembly memory holding a conversion
 * task's slab of decoded planes (and an edge tile), with SIMD kernels that
 * work across it and the shuffle module's memory ({@link ./shuffle.ts}), so
 * that no value is copied only to be moved: a decoded input chunk is
 * unshuffled from the decompressor's output straight into the slab, and a
 * chunk is byte-shuffled straight out of the slab's rows (a gather) into
 * the memory the compressor reads. The per-point statistics read the slab
 * in place too (./point_sums.ts imports the workspace).
 *
 * The workspace grows only when asked for more room ({@link TileWorkspace.reserve}),
 * so views of it stay valid in between; the shuffle module's memory may
 * grow at any call, and results in it are views valid until the next call.
 *
 * @module
 */
import { type Code, growMemory, instantiate, type Local, type Memory, WasmModule } from "./asm.ts";
import { adviseHugePages } from "../native/malloc.ts";
import { type Scratch, SHUFFLE_PARAMS, shuffleSixteen, simdUnshuffle, unshuffle4 } from "./shuffle.ts";

/** local = local + (what `by` pushes). */
const bump = (f: Code, local: Local, by: () => void) => {
  f.local.get(local);
  by();
  f.i32.add().local.set(local);
};

/** for (counter = 0; counter < limit; counter++) body. */
const countTo = (f: Code, counter: Local, limit: Local, body: () => void) => {
  f.i32.const(0).local.set(counter);
  f.until(() => f.local.get(counter).local.get(limit).i32.ge_u(), () => {
    body();
    bump(f, counter, () => f.i32.const(1));
  });
};

/**
 * gatherShuffle(src, stepBytes, rowBytes, steps, rows, cols, dst, n):
 * the numcodecs byte shuffle of the `steps` × `rows` × `cols` float32
 * block whose rows start at `src + t·stepBytes + r·rowBytes` in the
 * workspace (memory `ws`), written as four planes of `n` bytes (n =
 * steps·rows·cols) at `dst` in the shuffle module's memory (`scratch`).
 * Sixteen elements of a row per step, the rest of each row one byte at a
 * time.
 */
function gatherShuffle(f: Code, ws: Memory, scratch: Memory): void {
  const [src, stepBytes, rowBytes, steps, rows, cols, dst, n] = f.params;
  const [t, r, c, e, rb, p, k] = f.newLocals("i32", 7);
  const vectors = f.newLocals("v128", 4) as Scratch;
  /** Address in the output of plane k, element e + c: dst + k·n + e + c. */
  const out = (k: number) => {
    f.local.get(dst);
    if (k) f.local.get(n).i32.const(k).i32.mul().i32.add();
    f.local.get(e).i32.add().local.get(c).i32.add();
  };
  /** Elements c … c+15 of the row (p = rb + 4c). */
  const sixteen = () => {
    f.local.get(rb).local.get(c).i32.const(4).i32.mul().i32.add().local.set(p);
    shuffleSixteen(f, p, vectors, ws, out, scratch);
  };
  /** Element c byte by byte: for k in 0..3, plane k's byte = the workspace's byte at rb + 4c + k. */
  const oneByOne = () => {
    f.i32.const(0).local.set(k);
    f.doWhile(() => {
      out(0);
      f.local.get(n).local.get(k).i32.mul().i32.add();
      f.local.get(rb).local.get(c).i32.const(4).i32.mul().i32.add().local.get(k).i32.add();
      f.i32.load8_u(ws).i32.store8(scratch);
      bump(f, k, () => f.i32.const(1));
    }, () => f.local.get(k).i32.const(4).i32.lt_u());
  };
  const row = () => {
    // rb = src + t·stepBytes + r·rowBytes
    f.local.get(src).local.get(t).local.get(stepBytes).i32.mul().i32.add();
    f.local.get(r).local.get(rowBytes).i32.mul().i32.add().local.set(rb);
    f.i32.const(0).local.set(c);
    // Sixteens while c + 16 ≤ cols, then the rest one by one.
    f.until(() => f.local.get(c).i32.const(16).i32.add().local.get(cols).i32.gt_u(), () => {
      sixteen();
      bump(f, c, () => f.i32.const(16));
    });
    f.until(() => f.local.get(c).local.get(cols).i32.ge_u(), () => {
      oneByOne();
      bump(f, c, () => f.i32.const(1));
    });
    bump(f, e, () => f.local.get(cols));
  };
  countTo(f, t, steps, () => countTo(f, r, rows, row));
}

/** The module: memory 0 the workspace, memory 1 the shuffle module's, both imported. */
export function tilesModule(): Uint8Array<ArrayBuffer> {
  const module = new WasmModule();
  const ws = module.importMemory("workspace"), scratch = module.importMemory("scratch");
  const i32s = (n: number) => new Array<"i32">(n).fill("i32");
  return module
    .func("unshuffleInto", SHUFFLE_PARAMS, [], (f) => unshuffle4(f, scratch, ws))
    .func("gatherShuffle", i32s(8), [], (f) => gatherShuffle(f, ws, scratch))
    .bytes();
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
  if (!scratch) return undefined;
  const memory = new WebAssembly.Memory({ initial: 1 });
  const wasm = instantiate(tilesModule(), { env: { workspace: memory, scratch: scratch.memory } });
  if (!wasm) return undefined;
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
