/**
 * Reader of the files `torch.save(state_dict)` writes (AtmoRep's `*.mod`):
 * a zip archive holding `<name>/data.pkl` (a pickle, protocol 2) and one raw
 * little-endian storage per tensor under `<name>/data/<key>`, stored
 * uncompressed. Only what torch emits for a state_dict of tensors is read:
 * the pickle opcodes of protocol 2 that build dicts, tuples, strings,
 * integers and booleans, the classes `collections.OrderedDict`,
 * `torch._utils._rebuild_tensor_v2` / `_rebuild_parameter` and the float
 * storages (float32, float64, float16 and bfloat16, read as float32). Anything else — another opcode, another class, a compressed or
 * missing entry — is a {@link CheckpointError} naming the file and the
 * opcode, class or entry, never a half-read result.
 *
 * @module
 */
import { readFileSync } from "node:fs";
import { CheckpointError } from "../errors.ts";

/** A tensor of a state_dict, as float32 in C order. */
export interface StateTensor {
  /** Shape. */
  shape: number[];
  /** Values. */
  data: Float32Array;
}

interface ZipEntry {
  name: string;
  method: number;
  size: number;
  dataOffset: number;
}

/** The entries of a zip archive (central directory), by name. */
function zipEntries(file: string, buf: Uint8Array): Map<string, ZipEntry> {
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const bad = (what: string): never => {
    throw new CheckpointError(file, `not a PyTorch archive: ${what}`);
  };
  if (buf.length < 22 || dv.getUint32(0, true) !== 0x04034b50) bad("no zip signature");
  let eocd = -1;
  for (let i = buf.length - 22; i >= Math.max(0, buf.length - 22 - 65535); i--) {
    if (dv.getUint32(i, true) === 0x06054b50) {
      eocd = i;
      break;
    }
  }
  if (eocd < 0) bad("no zip end of central directory");
  let count = dv.getUint16(eocd + 10, true);
  let cd = dv.getUint32(eocd + 16, true);
  if (count === 0xffff || cd === 0xffffffff) {
    // zip64: the locator sits just before the end record
    const loc = eocd - 20;
    if (loc < 0 || dv.getUint32(loc, true) !== 0x07064b50) bad("zip64 without locator");
    const rec = Number(dv.getBigUint64(loc + 8, true));
    if (dv.getUint32(rec, true) !== 0x06064b50) bad("zip64 end record missing");
    count = Number(dv.getBigUint64(rec + 32, true));
    cd = Number(dv.getBigUint64(rec + 48, true));
  }
  const out = new Map<string, ZipEntry>();
  const dec = new TextDecoder();
  for (let k = 0, p = cd; k < count; k++) {
    if (p + 46 > buf.length || dv.getUint32(p, true) !== 0x02014b50) bad("truncated central directory");
    const method = dv.getUint16(p + 10, true);
    let csize = dv.getUint32(p + 20, true);
    let local = dv.getUint32(p + 42, true);
    const nlen = dv.getUint16(p + 28, true), xlen = dv.getUint16(p + 30, true), clen = dv.getUint16(p + 32, true);
    const name = dec.decode(buf.subarray(p + 46, p + 46 + nlen));
    if (csize === 0xffffffff || local === 0xffffffff) {
      // zip64 extra field: the 64-bit values present, in order (uncompressed, compressed, offset)
      let usize = dv.getUint32(p + 24, true);
      for (let x = p + 46 + nlen; x < p + 46 + nlen + xlen;) {
        const id = dv.getUint16(x, true), len = dv.getUint16(x + 2, true);
        if (id === 1) {
          let q = x + 4;
          if (usize === 0xffffffff) usize = Number(dv.getBigUint64(q, true)), q += 8;
          if (csize === 0xffffffff) csize = Number(dv.getBigUint64(q, true)), q += 8;
          if (local === 0xffffffff) local = Number(dv.getBigUint64(q, true));
        }
        x += 4 + len;
      }
    }
    if (local + 30 > buf.length || dv.getUint32(local, true) !== 0x04034b50) bad(`bad local header of ${name}`);
    const dataOffset = local + 30 + dv.getUint16(local + 26, true) + dv.getUint16(local + 28, true);
    if (dataOffset + csize > buf.length) bad(`entry ${name} runs past the end of the file`);
    out.set(name, { name, method, size: csize, dataOffset });
    p += 46 + nlen + xlen + clen;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Pickle

class Global {
  constructor(readonly module: string, readonly name: string) {}
  get full(): string {
    return `${this.module}.${this.name}`;
  }
}
class StorageRef {
  constructor(readonly type: string, readonly key: string, readonly numel: number) {}
}
class TensorRef {
  constructor(
    readonly storage: StorageRef,
    readonly offset: number,
    readonly shape: number[],
    readonly stride: number[],
  ) {}
}
const MARK = Symbol("mark");
type Value = unknown;

/** Storage classes read, with their element sizes. */
const STORAGES: Record<string, number> = { FloatStorage: 4, DoubleStorage: 8, HalfStorage: 2, BFloat16Storage: 2 };
const CLASSES = new Set([
  "collections.OrderedDict",
  "torch._utils._rebuild_tensor_v2",
  "torch._utils._rebuild_parameter",
  ...Object.keys(STORAGES).map((s) => `torch.${s}`),
]);

/** The pickle machine for what torch.save writes: a stack, a memo, and the opcodes in four groups. */
class Unpickler {
  private readonly dv: DataView;
  private readonly dec = new TextDecoder();
  private readonly stack: Value[] = [];
  private readonly memo = new Map<number, Value>();
  private p = 0;

  constructor(private readonly file: string, private readonly data: Uint8Array) {
    this.dv = new DataView(data.buffer, data.byteOffset, data.byteLength);
  }

  /** Run to STOP; the one value left. */
  run(): Value {
    for (;;) {
      this.need(1);
      const op = this.data[this.p++];
      if (op === 0x2e) { // STOP
        if (this.stack.length !== 1) this.fail("stack not empty at STOP");
        return this.stack[0];
      }
      if (!(this.scalar(op) || this.structure(op) || this.memoOp(op) || this.object(op))) {
        this.fail(`opcode 0x${op.toString(16).padStart(2, "0")} at byte ${this.p - 1} is not read`);
      }
    }
  }

  private fail(what: string): never {
    throw new CheckpointError(this.file, `pickle: ${what}`);
  }

  private need(n: number): void {
    if (this.p + n > this.data.length) this.fail("truncated");
  }

  private bytes(n: number): Uint8Array {
    this.need(n);
    const b = this.data.subarray(this.p, this.p + n);
    this.p += n;
    return b;
  }

  private u32(): number {
    this.need(4);
    const v = this.dv.getUint32(this.p, true);
    this.p += 4;
    return v;
  }

  private line(): string {
    const e = this.data.indexOf(10, this.p);
    if (e < 0) this.fail("truncated line");
    const s = this.dec.decode(this.data.subarray(this.p, e));
    this.p = e + 1;
    return s;
  }

  private top(): Value {
    return this.stack[this.stack.length - 1];
  }

  private popMark(): Value[] {
    const items: Value[] = [];
    for (;;) {
      if (this.stack.length === 0) this.fail("MARK missing");
      const v = this.stack.pop();
      if (v === MARK) return items.reverse();
      items.push(v);
    }
  }

  /** Protocol, frames, integers, strings, booleans, None. */
  private scalar(op: number): boolean {
    const st = this.stack;
    switch (op) {
      case 0x80: // PROTO
        if (this.bytes(1)[0] > 5) this.fail(`protocol ${this.data[this.p - 1]}`);
        return true;
      case 0x95: // FRAME
        this.bytes(8);
        return true;
      case 0x4b: // BININT1
        st.push(this.bytes(1)[0]);
        return true;
      case 0x4d: { // BININT2
        const b = this.bytes(2);
        st.push(b[0] | (b[1] << 8));
        return true;
      }
      case 0x4a: // BININT
        st.push(this.u32() | 0);
        return true;
      case 0x8a: { // LONG1
        const b = this.bytes(this.bytes(1)[0]);
        let v = 0n;
        for (let i = b.length - 1; i >= 0; i--) v = (v << 8n) | BigInt(b[i]);
        if (b.length > 0 && b[b.length - 1] & 0x80) v -= 1n << BigInt(8 * b.length);
        if (v > BigInt(Number.MAX_SAFE_INTEGER) || v < -BigInt(Number.MAX_SAFE_INTEGER)) this.fail("integer too large");
        st.push(Number(v));
        return true;
      }
      case 0x58: // BINUNICODE
        st.push(this.dec.decode(this.bytes(this.u32())));
        return true;
      case 0x8c: // SHORT_BINUNICODE
        st.push(this.dec.decode(this.bytes(this.bytes(1)[0])));
        return true;
      case 0x4e: // NONE
        st.push(null);
        return true;
      case 0x88: // NEWTRUE
      case 0x89: // NEWFALSE
        st.push(op === 0x88);
        return true;
    }
    return false;
  }

  /** Marks, tuples, lists, dicts and their items. */
  private structure(op: number): boolean {
    const st = this.stack;
    switch (op) {
      case 0x28: // MARK
        st.push(MARK);
        return true;
      case 0x29: // EMPTY_TUPLE
      case 0x5d: // EMPTY_LIST
        st.push([]);
        return true;
      case 0x7d: // EMPTY_DICT
        st.push(new Map());
        return true;
      case 0x74: // TUPLE
        st.push(this.popMark());
        return true;
      case 0x85: // TUPLE1
      case 0x86: // TUPLE2
      case 0x87: // TUPLE3
        st.push(st.splice(st.length - (op - 0x84), op - 0x84));
        return true;
      case 0x61: // APPEND
        (st[st.length - 2] as Value[]).push(st.pop());
        return true;
      case 0x65: { // APPENDS
        const items = this.popMark();
        (this.top() as Value[]).push(...items);
        return true;
      }
      case 0x73: // SETITEM
        this.setItems(st.splice(st.length - 2, 2));
        return true;
      case 0x75: // SETITEMS
        this.setItems(this.popMark());
        return true;
    }
    return false;
  }

  private setItems(kv: Value[]): void {
    const d = this.top();
    if (!(d instanceof Map)) this.fail("SETITEM on a non-dict");
    for (let i = 0; i + 1 < kv.length; i += 2) (d as Map<Value, Value>).set(kv[i], kv[i + 1]);
  }

  /** The memo. */
  private memoOp(op: number): boolean {
    const get = (k: number) => {
      if (!this.memo.has(k)) this.fail(`memo ${k} unset`);
      this.stack.push(this.memo.get(k));
    };
    switch (op) {
      case 0x71: // BINPUT
        this.memo.set(this.bytes(1)[0], this.top());
        return true;
      case 0x72: // LONG_BINPUT
        this.memo.set(this.u32(), this.top());
        return true;
      case 0x94: // MEMOIZE
        this.memo.set(this.memo.size, this.top());
        return true;
      case 0x68: // BINGET
        get(this.bytes(1)[0]);
        return true;
      case 0x6a: // LONG_BINGET
        get(this.u32());
        return true;
    }
    return false;
  }

  /** Classes (only those torch uses for a state_dict), their calls, storages, BUILD. */
  private object(op: number): boolean {
    const st = this.stack;
    switch (op) {
      case 0x63: { // GLOBAL
        const g = new Global(this.line(), this.line());
        if (!CLASSES.has(g.full)) this.fail(`class ${g.full} is not read`);
        st.push(g);
        return true;
      }
      case 0x51: { // BINPERSID
        const pid = st.pop();
        if (!Array.isArray(pid) || pid[0] !== "storage" || !(pid[1] instanceof Global)) {
          this.fail("unknown persistent id");
        }
        const [, type, key, , numel] = pid as [string, Global, string, string, number];
        st.push(new StorageRef(type.name, String(key), Number(numel)));
        return true;
      }
      case 0x52: { // REDUCE
        const args = st.pop() as Value[], fn = st.pop();
        if (!(fn instanceof Global)) this.fail("REDUCE of a non-class");
        st.push(this.call(fn as Global, args));
        return true;
      }
      case 0x62: // BUILD: the state of an OrderedDict (torch's `_metadata`) is not needed
        st.pop();
        return true;
    }
    return false;
  }

  private call(g: Global, args: Value[]): Value {
    if (g.full === "collections.OrderedDict") return new Map();
    if (g.full === "torch._utils._rebuild_tensor_v2") {
      const [storage, offset, shape, stride] = args as [StorageRef, number, number[], number[]];
      if (!(storage instanceof StorageRef)) this.fail("tensor without storage");
      return new TensorRef(storage, offset, [...shape], [...stride]);
    }
    if (g.full === "torch._utils._rebuild_parameter") return args[0];
    return this.fail(`cannot call ${g.full}`);
  }
}

/** Run the pickle `data` of `file` (what torch.save writes for a state_dict). */
function unpickle(file: string, data: Uint8Array): Value {
  return new Unpickler(file, data).run();
}

/**
 * Read the state_dict of a `torch.save` archive: tensor name → float32
 * values in C order (double and half storages converted). Throws a
 * {@link CheckpointError} naming `file` for anything not a state_dict of
 * tensors.
 */
export function readTorchStateDict(file: string, bytes?: Uint8Array): Map<string, StateTensor> {
  let buf: Uint8Array;
  try {
    buf = bytes ?? readFileSync(file);
  } catch (e) {
    throw new CheckpointError(file, `cannot read: ${(e as Error).message}`, { cause: e });
  }
  const entries = zipEntries(file, buf);
  const pkl = [...entries.keys()].find((n) => n.endsWith("/data.pkl") || n === "data.pkl");
  if (!pkl) throw new CheckpointError(file, "not a PyTorch archive: no data.pkl");
  const prefix = pkl.slice(0, pkl.length - "data.pkl".length);
  const bo = entries.get(`${prefix}byteorder`);
  const raw = (e: ZipEntry): Uint8Array => {
    if (e.method !== 0) throw new CheckpointError(file, `entry ${e.name} is compressed (method ${e.method})`);
    return buf.subarray(e.dataOffset, e.dataOffset + e.size);
  };
  if (bo && new TextDecoder().decode(raw(bo)) !== "little") {
    throw new CheckpointError(file, "big-endian storages are not read");
  }
  const root = unpickle(file, raw(entries.get(pkl)!));
  if (!(root instanceof Map)) throw new CheckpointError(file, "the pickle is not a state_dict (dict of tensors)");
  const out = new Map<string, StateTensor>();
  for (const [k, v] of root) {
    if (typeof k !== "string") throw new CheckpointError(file, "a state_dict key is not a string");
    if (!(v instanceof TensorRef)) throw new CheckpointError(`${file}: ${k}`, "not a tensor");
    const e = entries.get(`${prefix}data/${v.storage.key}`);
    if (!e) throw new CheckpointError(`${file}: ${k}`, `storage ${v.storage.key} missing from the archive`);
    const size = STORAGES[v.storage.type];
    const bytesOf = raw(e);
    if (bytesOf.length < v.storage.numel * size) {
      throw new CheckpointError(
        `${file}: ${k}`,
        `storage ${v.storage.key} is shorter than its ${v.storage.numel} values`,
      );
    }
    const n = v.shape.reduce((a, b) => a * b, 1);
    const data = new Float32Array(n);
    const dv = new DataView(bytesOf.buffer, bytesOf.byteOffset, bytesOf.byteLength);
    const get = size === 4
      ? (i: number) => dv.getFloat32(4 * i, true)
      : size === 8
      ? (i: number) => dv.getFloat64(8 * i, true)
      : v.storage.type === "BFloat16Storage"
      ? (i: number) => bf16(dv.getUint16(2 * i, true))
      : (i: number) => half(dv.getUint16(2 * i, true));
    // Walk the index in C order through the strides (a state_dict tensor may be a view).
    const idx = new Array(v.shape.length).fill(0);
    for (let j = 0; j < n; j++) {
      let at = v.offset;
      for (let d = 0; d < idx.length; d++) at += idx[d] * v.stride[d];
      if (at >= v.storage.numel) throw new CheckpointError(`${file}: ${k}`, "view runs past its storage");
      data[j] = get(at);
      for (let d = idx.length - 1; d >= 0; d--) {
        if (++idx[d] < v.shape[d]) break;
        idx[d] = 0;
      }
    }
    out.set(k, { shape: v.shape, data });
  }
  return out;
}

const bf16Buf = new DataView(new ArrayBuffer(4));
function bf16(h: number): number {
  bf16Buf.setUint32(0, h << 16);
  return bf16Buf.getFloat32(0);
}

function half(h: number): number {
  const s = h & 0x8000 ? -1 : 1, e = (h >> 10) & 31, m = h & 1023;
  if (e === 0) return s * m * 2 ** -24;
  if (e === 31) return m ? NaN : s * Infinity;
  return s * (1 + m / 1024) * 2 ** (e - 15);
}

// ---------------------------------------------------------------------------------------------
// Writing

let crcTable: Uint32Array | undefined;
/** CRC-32 (IEEE, as zip stores it). */
function crc32(b: Uint8Array): number {
  if (!crcTable) {
    crcTable = new Uint32Array(256);
    for (let n = 0; n < 256; n++) {
      let c = n;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
      crcTable[n] = c >>> 0;
    }
  }
  let c = 0xffffffff;
  for (let i = 0; i < b.length; i++) c = crcTable[(c ^ b[i]) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

/** The pickle torch.save writes for an OrderedDict of float32 tensors (protocol 2), storage keys 0, 1, …. */
function pickleStateDict(names: string[], shapes: number[][]): Uint8Array {
  const out: number[] = [];
  const enc = new TextEncoder();
  const str = (s: string) => {
    const b = enc.encode(s);
    out.push(0x58, b.length & 255, (b.length >> 8) & 255, (b.length >> 16) & 255, b.length >>> 24, ...b);
  };
  const global = (m: string, n: string) => out.push(0x63, ...enc.encode(`${m}\n${n}\n`));
  const int = (v: number) => {
    if (v < 0 || v > 0x7fffffff) throw new Error(`pickle: integer ${v} out of range`);
    out.push(0x4a, v & 255, (v >> 8) & 255, (v >> 16) & 255, v >>> 24);
  };
  const tuple = (vs: number[]) => {
    if (vs.length === 0) return out.push(0x29);
    out.push(0x28);
    vs.forEach(int);
    out.push(0x74);
  };
  out.push(0x80, 2);
  global("collections", "OrderedDict");
  out.push(0x29, 0x52, 0x28); // EMPTY_TUPLE REDUCE MARK
  for (const [i, name] of names.entries()) {
    const shape = shapes[i], n = shape.reduce((a, b) => a * b, 1);
    const stride = shape.map((_, d) => shape.slice(d + 1).reduce((a, b) => a * b, 1));
    str(name);
    global("torch._utils", "_rebuild_tensor_v2");
    out.push(0x28, 0x28); // MARK (args) MARK (persistent id)
    str("storage");
    global("torch", "FloatStorage");
    str(String(i));
    str("cpu");
    int(n);
    out.push(0x74, 0x51); // TUPLE BINPERSID
    int(0);
    tuple(shape);
    tuple(stride);
    out.push(0x89); // NEWFALSE
    global("collections", "OrderedDict");
    out.push(0x29, 0x52, 0x74, 0x52); // EMPTY_TUPLE REDUCE (hooks), TUPLE REDUCE (the tensor)
  }
  out.push(0x75, 0x2e); // SETITEMS STOP
  return Uint8Array.from(out);
}

/**
 * The bytes of a `torch.save` archive of `tensors` (float32, C order) under
 * the archive folder `name`, as `torch.load` reads them: a zip of
 * uncompressed entries `name/data.pkl`, `name/byteorder`, `name/data/<i>`
 * and `name/version`.
 */
export function torchStateDictBytes(name: string, tensors: Map<string, StateTensor>): Uint8Array {
  const names = [...tensors.keys()];
  const files: [string, Uint8Array][] = [
    [`${name}/data.pkl`, pickleStateDict(names, names.map((k) => tensors.get(k)!.shape))],
    [`${name}/byteorder`, new TextEncoder().encode("little")],
    ...names.map((k, i): [string, Uint8Array] => {
      const d = tensors.get(k)!.data;
      const b = new Uint8Array(d.length * 4);
      const dv = new DataView(b.buffer);
      for (let j = 0; j < d.length; j++) dv.setFloat32(4 * j, d[j], true);
      return [`${name}/data/${i}`, b];
    }),
    [`${name}/version`, new TextEncoder().encode("3\n")],
  ];
  return zipStoredBytes(files);
}

/**
 * A zip of uncompressed entries (each one's data on a 64-byte boundary, as torch writes, with CRC-32), as
 * `torch.load` and Python's `zipfile` (zarr's `ZipStore`) read them. No zip64: at most 4 GiB.
 */
export function zipStoredBytes(files: [string, Uint8Array][]): Uint8Array {
  const enc = new TextEncoder();
  const parts: Uint8Array[] = [];
  const central: Uint8Array[] = [];
  let offset = 0;
  for (const [fname, data] of files) {
    const nb = enc.encode(fname), crc = crc32(data);
    // pad with an extra field so that the data starts on a 64-byte boundary, as torch writes
    const pad = (64 - ((offset + 30 + nb.length + 4) % 64)) % 64;
    const local = new Uint8Array(30 + nb.length + 4 + pad);
    const lv = new DataView(local.buffer);
    lv.setUint32(0, 0x04034b50, true);
    lv.setUint16(4, 20, true);
    lv.setUint32(14, crc, true);
    lv.setUint32(18, data.length, true);
    lv.setUint32(22, data.length, true);
    lv.setUint16(26, nb.length, true);
    lv.setUint16(28, 4 + pad, true);
    local.set(nb, 30);
    lv.setUint16(30 + nb.length, 0x4246, true); // "FB" padding field
    lv.setUint16(32 + nb.length, pad, true);
    const cd = new Uint8Array(46 + nb.length);
    const cv = new DataView(cd.buffer);
    cv.setUint32(0, 0x02014b50, true);
    cv.setUint16(4, 20, true);
    cv.setUint16(6, 20, true);
    cv.setUint32(16, crc, true);
    cv.setUint32(20, data.length, true);
    cv.setUint32(24, data.length, true);
    cv.setUint16(28, nb.length, true);
    cv.setUint32(42, offset, true);
    cd.set(nb, 46);
    parts.push(local, data);
    central.push(cd);
    offset += local.length + data.length;
  }
  const cdSize = central.reduce((a, c) => a + c.length, 0);
  const end = new Uint8Array(22);
  const ev = new DataView(end.buffer);
  ev.setUint32(0, 0x06054b50, true);
  ev.setUint16(8, files.length, true);
  ev.setUint16(10, files.length, true);
  ev.setUint32(12, cdSize, true);
  ev.setUint32(16, offset, true);
  const all = new Uint8Array(offset + cdSize + 22);
  let o = 0;
  for (const p of [...parts, ...central, end]) {
    all.set(p, o);
    o += p.length;
  }
  if (offset + cdSize > 0xffffffff) throw new Error("archive over 4 GiB: zip64 is not written");
  return all;
}
