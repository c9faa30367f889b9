/**
 * A small typed WebAssembly assembler for the project's SIMD kernels. A
 * {@link WasmModule} declares memories (its own, exported as `memory`, and
 * memories imported from `env`, several at once with multi-memory) and
 * functions; each function's body is written through a {@link Code}, with
 * one method per instruction grouped by type (`code.f64x2.add()`,
 * `code.i32.const(16)`, `code.local.get(x)`, `code.v128.load(memory)`) and
 * structured control with labels instead of depths (`block`, `loop`, `if`,
 * `br`, `br_if`, and the two loop shapes the kernels use, {@link Code.until}
 * and {@link Code.doWhile}).
 *
 * While it emits, the assembler keeps the operand stack's types as the
 * engine's validator will: an instruction given the wrong operands, a
 * `local.set` of the wrong type or a block that leaves values behind throws
 * at once, naming the function, the instruction, what it expected and what
 * the stack held. (Every vector is a `v128` to WebAssembly; how its lanes
 * are read, f32x4 or f64x2, is the instruction's choice, as in the engine.)
 *
 * The bytes are laid out as the kernels always were (one type per
 * function, every function exported under its name), so a kernel rewritten
 * on this assembler assembles to the same module byte for byte.
 *
 * @module
 */

/** A value type. */
export type ValType = "i32" | "i64" | "f32" | "f64" | "v128";

const TYPE_CODE: Record<ValType, number> = { i32: 0x7f, i64: 0x7e, f32: 0x7d, f64: 0x7c, v128: 0x7b };

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

const utf8 = (s: string): number[] => {
  const bytes = new TextEncoder().encode(s);
  return [...leb128(bytes.length), ...bytes];
};
const section = (id: number, body: number[]): number[] => [id, ...leb128(body.length), ...body];

/** A parameter or local of the function being written. */
export interface Local {
  /** Its index (parameters first). */
  readonly index: number;
  /** Its type. */
  readonly type: ValType;
}

/** A memory of the module: its index in the module's memory index space. */
export interface Memory {
  /** Index (imported memories first, then the module's own). */
  readonly index: number;
  /** The name it is imported from `env` under, or exported as. */
  readonly name: string;
}

/** Where a load or store reaches: `offset` added to the address, alignment hint 2^`align` (0: none promised). */
export interface MemArg {
  /** Constant byte offset added to the address operand; default 0. */
  offset?: number;
  /** log2 of the alignment hint; default 0. */
  align?: number;
}

/** A branch target: the block, loop or if it was opened by. */
export interface Label {
  /** The nesting level the construct opened (for depth arithmetic). */
  readonly level: number;
}

/** The immediate of a load or store (the multi-memory encoding past memory 0). */
function memarg(memory: Memory, { offset = 0, align = 0 }: MemArg): number[] {
  return memory.index === 0 ? [align, ...leb128(offset)] : [0x40 | align, ...leb128(memory.index), ...leb128(offset)];
}

const simd = (op: number, ...immediates: number[]): number[] => [0xfd, ...leb128(op), ...immediates];

interface Frame {
  kind: "function" | "block" | "loop" | "if";
  /** Stack height at entry. */
  height: number;
  /** After an unconditional branch: the rest of the frame is not reached. */
  unreachable: boolean;
}

/** The code of one function: emit instructions through the typed methods; each returns this, to chain. */
export class Code {
  readonly #name: string;
  readonly #locals: ValType[];
  readonly #declared: ValType[] = [];
  readonly #bytes: number[] = [];
  readonly #stack: ValType[] = [];
  readonly #frames: Frame[] = [{ kind: "function", height: 0, unreachable: false }];

  /** The function's parameters, in order. */
  readonly params: readonly Local[];

  constructor(name: string, params: readonly ValType[]) {
    this.#name = name;
    this.#locals = [...params];
    this.params = params.map((type, index) => ({ index, type }));
  }

  /** A new local of `type` (indices follow the parameters in declaration order). */
  newLocal(type: ValType): Local {
    this.#declared.push(type);
    this.#locals.push(type);
    return { index: this.#locals.length - 1, type };
  }

  /** `n` new locals of `type`. */
  newLocals(type: ValType, n: number): Local[] {
    return Array.from({ length: n }, () => this.newLocal(type));
  }

  /** Emit `bytes` for instruction `op`, popping `ins` (checked) and pushing `outs`. */
  op(op: string, bytes: readonly number[], ins: readonly ValType[], outs: readonly ValType[]): this {
    this.#pop(op, ins);
    this.#stack.push(...outs);
    this.#bytes.push(...bytes);
    return this;
  }

  #fail(message: string): never {
    throw new Error(`wasm assembly of ${this.#name}: ${message}`);
  }

  #pop(op: string, ins: readonly ValType[]): void {
    const frame = this.#frames[this.#frames.length - 1];
    const available = this.#stack.length - frame.height;
    const found = this.#stack.slice(Math.max(frame.height, this.#stack.length - ins.length));
    const missing = ins.length - found.length;
    const matches = (missing === 0 || frame.unreachable) &&
      found.every((t, i) => t === ins[missing + i]);
    if (!matches) {
      this.#fail(
        `${op} expects [${ins.join(" ")}] on the stack, found [${found.join(" ")}]` +
          (available < ins.length ? ` (${available} operand${available === 1 ? "" : "s"} in this block)` : ""),
      );
    }
    this.#stack.length -= found.length;
  }

  #open(kind: Frame["kind"], bytes: number[]): Label {
    this.#bytes.push(...bytes);
    this.#frames.push({ kind, height: this.#stack.length, unreachable: false });
    return { level: this.#frames.length - 1 };
  }

  #close(op: string, results: readonly ValType[] = []): void {
    const frame = this.#frames[this.#frames.length - 1];
    const left = this.#stack.slice(frame.height);
    const ok = frame.unreachable
      ? left.length <= results.length
      : left.length === results.length && left.every((t, i) => t === results[i]);
    if (!ok) this.#fail(`${op} of a ${frame.kind} leaves [${left.join(" ")}], expected [${results.join(" ")}]`);
    this.#stack.length = frame.height;
  }

  #depth(label: Label, op: string): number {
    const depth = this.#frames.length - 1 - label.level;
    if (label.level < 1 || depth < 0) this.#fail(`${op} to a label that is not open`);
    return depth;
  }

  /** block … end around `body`, which gets the block's label (a branch to it leaves the block). */
  block(body: (exit: Label) => void): this {
    const label = this.#open("block", [0x02, 0x40]);
    body(label);
    return this.end("block");
  }

  /** loop … end around `body`, which gets the loop's label (a branch to it starts the loop again). */
  loop(body: (top: Label) => void): this {
    const label = this.#open("loop", [0x03, 0x40]);
    body(label);
    return this.end("loop");
  }

  /** if (i32 on the stack) `then` [else `otherwise`] end. */
  if(then: (exit: Label) => void, otherwise?: (exit: Label) => void): this {
    this.#pop("if", ["i32"]);
    const label = this.#open("if", [0x04, 0x40]);
    then(label);
    if (otherwise) {
      this.#close("else");
      this.#frames[this.#frames.length - 1].unreachable = false;
      this.#bytes.push(0x05);
      otherwise(label);
    }
    return this.end("if");
  }

  /** `end` of the innermost block, loop or if (the helpers above emit it themselves). */
  end(op = "end"): this {
    if (this.#frames.length === 1) this.#fail(`${op}: no block is open`);
    this.#close(op);
    this.#frames.pop();
    this.#bytes.push(0x0b);
    return this;
  }

  /** br to `label`. */
  br(label: Label): this {
    const depth = this.#depth(label, "br");
    this.#bytes.push(0x0c, ...leb128(depth));
    const frame = this.#frames[this.#frames.length - 1];
    this.#stack.length = frame.height;
    frame.unreachable = true;
    return this;
  }

  /** br_if to `label` (pops the i32 condition). */
  br_if(label: Label): this {
    return this.op("br_if", [0x0d, ...leb128(this.#depth(label, "br_if"))], ["i32"], []);
  }

  /**
   * block { loop { `stop`; br_if block; `body`; br loop } }: run `body` until
   * `stop` (which leaves an i32) is true, testing before each round.
   */
  until(stop: () => void, body: () => void): this {
    return this.block((exit) =>
      this.loop((top) => {
        stop();
        this.br_if(exit);
        body();
        this.br(top);
      })
    );
  }

  /** loop { `body`; `again`; br_if loop }: run `body`, then again while `again` (an i32) is true. */
  doWhile(body: () => void, again: () => void): this {
    return this.loop((top) => {
      body();
      again();
      this.br_if(top);
    });
  }

  /** local.get, local.set, local.tee. */
  readonly local = {
    get: (x: Local): this => this.op("local.get", [0x20, ...leb128(x.index)], [], [x.type]),
    set: (x: Local): this => this.op("local.set", [0x21, ...leb128(x.index)], [x.type], []),
    tee: (x: Local): this => this.op("local.tee", [0x22, ...leb128(x.index)], [x.type], [x.type]),
  };

  /** i32 instructions. */
  readonly i32 = {
    const: (v: number): this => this.op("i32.const", [0x41, ...sleb128(v)], [], ["i32"]),
    add: (): this => this.#binary("i32.add", 0x6a, "i32"),
    sub: (): this => this.#binary("i32.sub", 0x6b, "i32"),
    mul: (): this => this.#binary("i32.mul", 0x6c, "i32"),
    shl: (): this => this.#binary("i32.shl", 0x74, "i32"),
    eqz: (): this => this.op("i32.eqz", [0x45], ["i32"], ["i32"]),
    lt_u: (): this => this.#compare("i32.lt_u", 0x49, "i32"),
    gt_u: (): this => this.#compare("i32.gt_u", 0x4b, "i32"),
    ge_u: (): this => this.#compare("i32.ge_u", 0x4f, "i32"),
    load8_u: (m: Memory, arg: MemArg = {}): this => this.op("i32.load8_u", [0x2d, ...memarg(m, arg)], ["i32"], ["i32"]),
    store8: (m: Memory, arg: MemArg = {}): this => this.op("i32.store8", [0x3a, ...memarg(m, arg)], ["i32", "i32"], []),
  };

  /** f32 instructions. */
  readonly f32 = {
    const: (v: number): this => this.op("f32.const", [0x43, ...new Uint8Array(Float32Array.of(v).buffer)], [], ["f32"]),
    add: (): this => this.#binary("f32.add", 0x92, "f32"),
    max: (): this => this.#binary("f32.max", 0x97, "f32"),
    store: (m: Memory, arg: MemArg = {}): this => this.op("f32.store", [0x38, ...memarg(m, arg)], ["i32", "f32"], []),
    demote_f64: (): this => this.op("f32.demote_f64", [0xb6], ["f64"], ["f32"]),
  };

  /** f64 instructions. */
  readonly f64 = {
    const: (v: number): this => this.op("f64.const", [0x44, ...new Uint8Array(Float64Array.of(v).buffer)], [], ["f64"]),
    eq: (): this => this.#compare("f64.eq", 0x61, "f64"),
    add: (): this => this.#binary("f64.add", 0xa0, "f64"),
    sub: (): this => this.#binary("f64.sub", 0xa1, "f64"),
    mul: (): this => this.#binary("f64.mul", 0xa2, "f64"),
    div: (): this => this.#binary("f64.div", 0xa3, "f64"),
    max: (): this => this.#binary("f64.max", 0xa5, "f64"),
    sqrt: (): this => this.op("f64.sqrt", [0x9f], ["f64"], ["f64"]),
    convert_i32_u: (): this => this.op("f64.convert_i32_u", [0xb8], ["i32"], ["f64"]),
    load: (m: Memory, arg: MemArg = {}): this => this.op("f64.load", [0x2b, ...memarg(m, arg)], ["i32"], ["f64"]),
    store: (m: Memory, arg: MemArg = {}): this => this.op("f64.store", [0x39, ...memarg(m, arg)], ["i32", "f64"], []),
  };

  /** v128 instructions (lane-agnostic). */
  readonly v128 = {
    load: (m: Memory, arg: MemArg = {}): this => this.op("v128.load", simd(0x00, ...memarg(m, arg)), ["i32"], ["v128"]),
    store: (m: Memory, arg: MemArg = {}): this =>
      this.op("v128.store", simd(0x0b, ...memarg(m, arg)), ["i32", "v128"], []),
    /** A constant of 16 bytes. */
    const: (bytes: readonly number[]): this => {
      if (bytes.length !== 16) this.#fail(`v128.const takes 16 bytes, got ${bytes.length}`);
      return this.op("v128.const", simd(0x0c, ...bytes), [], ["v128"]);
    },
    or: (): this => this.#binary("v128.or", simd(0x50), "v128"),
    /** bitselect(a, b, mask): a's bits where mask is 1, else b's. */
    bitselect: (): this => this.op("v128.bitselect", simd(0x52), ["v128", "v128", "v128"], ["v128"]),
    any_true: (): this => this.op("v128.any_true", simd(0x53), ["v128"], ["i32"]),
  };

  /** i8x16 instructions. */
  readonly i8x16 = {
    /** Bytes of two vectors picked by 16 lane indices (0–15 the first, 16–31 the second). */
    shuffle: (lanes: readonly number[]): this => {
      if (lanes.length !== 16 || lanes.some((l) => !(l >= 0 && l < 32))) {
        this.#fail(`i8x16.shuffle takes 16 lane indices in 0…31, got [${lanes.join(" ")}]`);
      }
      return this.op("i8x16.shuffle", simd(0x0d, ...lanes), ["v128", "v128"], ["v128"]);
    },
  };

  /** i32x4 instructions. */
  readonly i32x4 = {
    splat: (): this => this.op("i32x4.splat", simd(0x11), ["i32"], ["v128"]),
    shl: (): this => this.op("i32x4.shl", simd(0xab), ["v128", "i32"], ["v128"]),
    add: (): this => this.#binary("i32x4.add", simd(0xae), "v128"),
    trunc_sat_f32x4_s: (): this => this.op("i32x4.trunc_sat_f32x4_s", simd(0xf8), ["v128"], ["v128"]),
  };

  /** f32x4 instructions. */
  readonly f32x4 = {
    splat: (): this => this.op("f32x4.splat", simd(0x13), ["f32"], ["v128"]),
    extract_lane: (lane: number): this => this.op("f32x4.extract_lane", simd(0x1f, lane), ["v128"], ["f32"]),
    eq: (): this => this.#binary("f32x4.eq", simd(0x41), "v128"),
    demote_f64x2_zero: (): this => this.op("f32x4.demote_f64x2_zero", simd(0x5e), ["v128"], ["v128"]),
    nearest: (): this => this.op("f32x4.nearest", simd(0x6a), ["v128"], ["v128"]),
    add: (): this => this.#binary("f32x4.add", simd(0xe4), "v128"),
    sub: (): this => this.#binary("f32x4.sub", simd(0xe5), "v128"),
    mul: (): this => this.#binary("f32x4.mul", simd(0xe6), "v128"),
    div: (): this => this.#binary("f32x4.div", simd(0xe7), "v128"),
    min: (): this => this.#binary("f32x4.min", simd(0xe8), "v128"),
    max: (): this => this.#binary("f32x4.max", simd(0xe9), "v128"),
    pmin: (): this => this.#binary("f32x4.pmin", simd(0xea), "v128"),
    pmax: (): this => this.#binary("f32x4.pmax", simd(0xeb), "v128"),
  };

  /** f64x2 instructions. */
  readonly f64x2 = {
    splat: (): this => this.op("f64x2.splat", simd(0x14), ["f64"], ["v128"]),
    eq: (): this => this.#binary("f64x2.eq", simd(0x47), "v128"),
    ne: (): this => this.#binary("f64x2.ne", simd(0x48), "v128"),
    promote_low_f32x4: (): this => this.op("f64x2.promote_low_f32x4", simd(0x5f), ["v128"], ["v128"]),
    add: (): this => this.#binary("f64x2.add", simd(0xf0), "v128"),
    sub: (): this => this.#binary("f64x2.sub", simd(0xf1), "v128"),
    mul: (): this => this.#binary("f64x2.mul", simd(0xf2), "v128"),
  };

  #binary(op: string, code: number | number[], type: ValType): this {
    return this.op(op, typeof code === "number" ? [code] : code, [type, type], [type]);
  }

  #compare(op: string, code: number, type: ValType): this {
    return this.op(op, [code], [type, type], ["i32"]);
  }

  /** The body's bytes (locals vector, code, end), once the results are on the stack. */
  finish(results: readonly ValType[]): number[] {
    if (this.#frames.length !== 1) this.#fail(`a ${this.#frames[this.#frames.length - 1].kind} is not closed`);
    this.#close("end of the function", results);
    const runs: [number, ValType][] = [];
    for (const t of this.#declared) {
      const last = runs[runs.length - 1];
      if (last && last[1] === t) last[0]++;
      else runs.push([1, t]);
    }
    const locals = [...leb128(runs.length), ...runs.flatMap(([n, t]) => [...leb128(n), TYPE_CODE[t]])];
    return [...locals, ...this.#bytes, 0x0b];
  }
}

interface FunctionDef {
  name: string;
  params: readonly ValType[];
  results: readonly ValType[];
  body: number[];
}

/** A module being assembled: memories, then exported functions; {@link WasmModule.bytes} gives the binary. */
export class WasmModule {
  readonly #imported: string[] = [];
  #own = false;
  readonly #functions: FunctionDef[] = [];

  /** A memory imported from `env` under `name` (imported memories take indices 0, 1, … in order). */
  importMemory(name: string): Memory {
    if (this.#own) throw new Error(`wasm module: import memory ${name} before declaring the module's own memory`);
    this.#imported.push(name);
    return { index: this.#imported.length - 1, name };
  }

  /** The module's own memory (one page to start, growable), exported as `memory`; after the imported ones. */
  memory(): Memory {
    if (this.#own) throw new Error("wasm module: only one memory of its own");
    this.#own = true;
    return { index: this.#imported.length, name: "memory" };
  }

  /**
   * An exported function `name` of `params` → `results`, its code written by
   * `body` (given the code and the parameters as locals).
   */
  func(
    name: string,
    params: readonly ValType[],
    results: readonly ValType[],
    body: (code: Code, params: readonly Local[]) => void,
  ): this {
    const code = new Code(name, params);
    body(code, code.params);
    this.#functions.push({ name, params, results, body: code.finish(results) });
    return this;
  }

  /** The module's binary. */
  bytes(): Uint8Array<ArrayBuffer> {
    const fns = this.#functions, imported = this.#imported, own = this.#own;
    const types = fns.flatMap((f) => [
      0x60,
      ...leb128(f.params.length),
      ...f.params.map((t) => TYPE_CODE[t]),
      ...leb128(f.results.length),
      ...f.results.map((t) => TYPE_CODE[t]),
    ]);
    const imports = imported.flatMap((m) => [...utf8("env"), ...utf8(m), 0x02, 0x00, 0x01]);
    const exports = [
      ...(own ? [...utf8("memory"), 0x02, ...leb128(imported.length)] : []),
      ...fns.flatMap((f, i) => [...utf8(f.name), 0x00, ...leb128(i)]),
    ];
    const code = fns.flatMap((f) => [...leb128(f.body.length), ...f.body]);
    return new Uint8Array([
      ...[0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00],
      ...section(1, [...leb128(fns.length), ...types]),
      ...(imported.length ? section(2, [...leb128(imported.length), ...imports]) : []),
      ...section(3, [...leb128(fns.length), ...fns.flatMap((_, i) => leb128(i))]),
      ...(own ? section(5, [0x01, 0x00, 0x01]) : []),
      ...section(7, [...leb128(fns.length + (own ? 1 : 0)), ...exports]),
      ...section(10, [...leb128(fns.length), ...code]),
    ]);
  }
}

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

/** Instantiate module bytes, or undefined where the engine rejects them (no SIMD). */
export function instantiate(
  bytes: Uint8Array<ArrayBuffer>,
  imports?: WebAssembly.Imports,
): WebAssembly.Instance | undefined {
  if (!WebAssembly.validate(bytes)) return undefined;
  return new WebAssembly.Instance(new WebAssembly.Module(bytes), imports);
}
