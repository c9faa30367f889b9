/**
 * A tiny WebAssembly module assembler for the project's hand-written SIMD
 * kernels (zarr/simd.ts and zarr/simd_tiles.ts: byte shuffles;
 * normalization/point_sums_simd.ts: per-point sums; ops/simd_softmax.ts:
 * attention rows and GELU): LEB128 immediates, local access, and a module
 * of functions over its own exported memory and imported ones.
 *
 * @module
 */

/** Unsigned LEB128. */
export function leb128(n: number): number[] {
  const out: number[] = [];
  do {
    let byte = n & 0x7f;
    n >>>= 7;
    if (n) byte |= 0x80;
    out.push(byte);
  } while (n);
  return out;
}

/** Signed LEB128 (i32.const immediates). */
export function sleb128(n: number): number[] {
  const out: number[] = [];
  for (;;) {
    const byte = n & 0x7f;
    n >>= 7;
    if ((n === 0 && !(byte & 0x40)) || (n === -1 && byte & 0x40)) return [...out, byte];
    out.push(byte | 0x80);
  }
}

/** i32.const `v`. */
export const i32Const = (v: number): number[] => [0x41, ...sleb128(v)];
/** i32 opcodes the kernels use. */
export const I32 = { add: 0x6a, sub: 0x6b, mul: 0x6c, ltU: 0x49, gtU: 0x4b, geU: 0x4f, eqz: 0x45 } as const;
/** Structured control: `block` and `loop` without results, `end`, branches to a depth. */
export const BLOCK: number[] = [0x02, 0x40], LOOP: number[] = [0x03, 0x40], END = 0x0b;
/** br to label `depth`. */
export const br = (depth: number): number[] => [0x0c, depth];
/** br_if to label `depth`. */
export const brIf = (depth: number): number[] => [0x0d, depth];
/** v128.load / v128.store in memory `memory` at `offset` (added to the address on the stack). */
export const v128Load = (memory = 0, offset = 0): number[] => [0xfd, 0x00, ...memarg(memory, offset)];
/** v128.store (address, then value on the stack). */
export const v128Store = (memory = 0, offset = 0): number[] => [0xfd, 0x0b, ...memarg(memory, offset)];
/** i8x16.shuffle with the 16 lane indices (0–15 first operand, 16–31 second). */
export const i8x16Shuffle = (lanes: number[]): number[] => [0xfd, 0x0d, ...lanes];

/**
 * Grow `memory` to at least `bytes`; true when it grew. Growing replaces
 * its buffer: views taken before are stale and must be taken again.
 */
export function growMemory(memory: WebAssembly.Memory, bytes: number): boolean {
  const need = Math.ceil(bytes / 65536) - memory.buffer.byteLength / 65536;
  if (need <= 0) return false;
  memory.grow(need);
  return true;
}

/** local.get / local.set of local `i`. */
export const localGet = (i: number): number[] => [0x20, i];
/** local.set of local `i`. */
export const localSet = (i: number): number[] => [0x21, i];

/** A function of a module: exported name, parameter and result value types, body (locals + code + end). */
export interface WasmFunction {
  /** Export name. */
  name: string;
  /** Parameter types (0x7f i32, 0x7d f32, 0x7b v128, …). */
  params: number[];
  /** Result types. */
  result: number[];
  /** Body: the locals vector, then the code, ending with `end` (0x0b). */
  body: number[];
}

const section = (id: number, body: number[]): number[] => [id, ...leb128(body.length), ...body];
const name = (s: string): number[] => [...leb128(s.length), ...new TextEncoder().encode(s)];

/** Memories of a module beyond its own: imported by name from `env` (see {@link wasmModule}). */
export interface WasmMemories {
  /** Memories imported from `env` under these names: indices 0, 1, … (multi-memory). */
  imported?: string[];
  /** Whether the module defines (and exports as `memory`) one of its own, after the imported ones; default true. */
  own?: boolean;
}

/**
 * The bytes of a module exporting `memory` (one page to start, growable)
 * and `functions`; with `memories.imported`, those memories come first in
 * the index space (the own memory, if any, follows them).
 */
export function wasmModule(functions: WasmFunction[], memories: WasmMemories = {}): Uint8Array<ArrayBuffer> {
  const imported = memories.imported ?? [], own = memories.own ?? true;
  const types = functions.flatMap((f) => [0x60, f.params.length, ...f.params, f.result.length, ...f.result]);
  const exports = functions.flatMap((f, i) => [...name(f.name), 0x00, i]);
  const code = functions.flatMap((f) => [...leb128(f.body.length), ...f.body]);
  const imports = imported.flatMap((m) => [...name("env"), ...name(m), 0x02, 0x00, 0x01]);
  return new Uint8Array([
    ...[0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00],
    ...section(1, [functions.length, ...types]),
    ...(imported.length ? section(2, [imported.length, ...imports]) : []),
    ...section(3, [functions.length, ...functions.map((_, i) => i)]),
    ...(own ? section(5, [0x01, 0x00, 0x01]) : []),
    ...section(7, [
      functions.length + (own ? 1 : 0),
      ...(own ? [...name("memory"), 0x02, imported.length] : []),
      ...exports,
    ]),
    ...section(10, [functions.length, ...code]),
  ]);
}

/** A load or store immediate for memory `memory` at `offset`, alignment hint 2^`alignLog2` (multi-memory encoding past memory 0). */
export function memarg(memory: number, offset = 0, alignLog2 = 0): number[] {
  return memory === 0 ? [alignLog2, ...leb128(offset)] : [0x40 | alignLog2, ...leb128(memory), ...leb128(offset)];
}

/** Instantiate module bytes, or undefined where the engine rejects them (no SIMD). */
export function instantiate(bytes: Uint8Array<ArrayBuffer>): WebAssembly.Instance | undefined {
  if (!WebAssembly.validate(bytes)) return undefined;
  return new WebAssembly.Instance(new WebAssembly.Module(bytes));
}
