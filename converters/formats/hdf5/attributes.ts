/**
 * An own reader for the metadata of netCDF4/HDF5 files: the root group's
 * members, every dataset's object-header address, shape and element type,
 * and the attributes of the root group and of every dataset — without the
 * HDF5 library (loading h5wasm costs ≈0.45 s of CPU per thread).
 *
 * It reads what netCDF-C and HDF5 (h5py) write: superblocks 0–3; groups as
 * symbol tables (v1 B-tree + local heap), as Link messages, or as dense
 * link storage (fractal heap + v2 B-tree name index, which netCDF-C uses
 * past 8 members); attributes as Attribute messages (versions 1–3) or in
 * dense storage (fractal heap + v2 B-tree name index, e.g. the ~20 GRIB_*
 * attributes of CDS ERA5 variables); attribute values of integer, float,
 * fixed-length and variable-length string types. Checksums of the v2
 * structures read are verified: a mismatch is {@link Hdf5Corrupt}.
 * Anything else (soft or external links, shared datatypes and messages,
 * compound or enum attributes, filtered fractal heaps, …) throws
 * {@link Hdf5Unsupported}: the caller reads the file with h5wasm instead.
 *
 * Attribute values follow what h5wasm returns as hdf5.ts `attrsOf` keeps
 * them: a scalar or 1-element numeric array is a number (64-bit integers
 * too), other numeric arrays typed arrays (BigInt64Array for 64-bit
 * integers), strings a string (scalar) or a string array, a null dataspace
 * null; float16 attributes are skipped (h5wasm cannot read them); members and attributes come in creation order where
 * the file indexes it, else in name order (UTF-8 byte order), as h5wasm
 * lists them.
 *
 * @module
 */
import {
  btree2Records,
  Cursor,
  Hdf5Corrupt,
  Hdf5File,
  Hdf5Unsupported,
  limitEncSize,
  type Message,
  objectHeader,
  parseDataspace,
  UNDEF,
  verifyChecksum,
} from "./variable.ts";
import { lookup3Matches } from "./lookup3.ts";

/** One dataset of a group. */
export interface Hdf5DatasetMeta {
  /** Link name in the group. */
  name: string;
  /** Address of its object header (what the own chunk reader opens). */
  address: number;
  /** Current shape ([] for scalars). */
  shape: number[];
  /** Element type as hdf5.ts names it: float32, float64, int8…uint64, string or unknown. */
  dtype: string;
  /** Attributes (values as h5wasm gives them). */
  attrs: Record<string, unknown>;
  /** Its object header messages (for the value readers, so they need not read the header again). */
  messages: Message[];
}

/** The root group of a file, as the metadata reader sees it. */
export interface Hdf5GroupMeta {
  /** Names of all members, in the order the HDF5 library lists them. */
  members: string[];
  /** The members that are datasets, in member order. */
  datasets: Hdf5DatasetMeta[];
  /** The members that are groups. */
  groups: string[];
  /** Attributes of the group. */
  attrs: Record<string, unknown>;
}

const MSG_DATASPACE = 0x01,
  MSG_LINK_INFO = 0x02,
  MSG_DATATYPE = 0x03,
  MSG_LINK = 0x06,
  MSG_LAYOUT = 0x08,
  MSG_GROUP_INFO = 0x0a,
  MSG_ATTRIBUTE = 0x0c,
  MSG_SYMBOL_TABLE = 0x11,
  MSG_ATTRIBUTE_INFO = 0x15;

/** Attributes h5wasm-based code skips by name (netCDF-4 dimension-scale bookkeeping, references). */
const SKIPPED_ATTRIBUTES = new Set(["DIMENSION_LIST", "REFERENCE_LIST"]);

const utf8 = new TextDecoder("utf-8");
// h5wasm decodes fixed-length ASCII strings with TextDecoder("ascii") (windows-1252): the same here.
const ascii = new TextDecoder("ascii");

/** Bytes up to the first NUL. */
function untilNul(b: Uint8Array): Uint8Array {
  const z = b.indexOf(0);
  return z < 0 ? b : b.subarray(0, z);
}

/** A name stored NUL-terminated (UTF-8 or ASCII). */
function nameOf(b: Uint8Array): string {
  return utf8.decode(untilNul(b));
}

const encoder = new TextEncoder();

/** Sort by name as the HDF5 library does (`strcmp`: UTF-8 byte order, which UTF-16 order is not). */
function sortByName<T extends { name: string }>(items: T[]): void {
  const keyed = items.map((item) => ({ item, bytes: encoder.encode(item.name) }));
  keyed.sort((a, b) => {
    const n = Math.min(a.bytes.length, b.bytes.length);
    for (let i = 0; i < n; i++) if (a.bytes[i] !== b.bytes[i]) return a.bytes[i] - b.bytes[i];
    return a.bytes.length - b.bytes.length;
  });
  keyed.forEach((k, i) => (items[i] = k.item));
}

/** A fractal heap (dense link and attribute storage): managed, tiny and (unfiltered) huge objects by heap ID. */
class FractalHeap {
  private readonly f: Hdf5File;
  private readonly addr: number;
  private readonly width: number;
  private readonly startBlock: number;
  private readonly maxDirectBlock: number;
  private readonly rootAddr: number;
  private readonly rootRows: number;
  private readonly offSize: number;
  private readonly lenSize: number;
  private readonly checksummedBlocks: boolean;
  private readonly maxDirectRows: number;
  private readonly blocks = new Map<number, Uint8Array>();
  private readonly iblocks = new Map<number, Cursor>();
  private readonly idLength: number;
  /** v2 B-tree of huge objects (too large for the managed blocks). */
  private readonly hugeIndex: number;
  /** Address and length of each huge object by its ID, read from {@link hugeIndex} on first use. */
  private huge: Map<number, [number, number]> | undefined;

  constructor(f: Hdf5File, addr: number) {
    this.f = f;
    this.addr = addr;
    const O = f.sizeOfOffsets, L = f.sizeOfLengths;
    const fixed = 4 + 1 + 2 + 2 + 1 + 4 + L + O + L + O + 8 * L + 2 + L + L + 2 + 2 + O + 2;
    const head = f.readAt(addr, fixed);
    const c = new Cursor(head, 0, O, L);
    c.signature("FRHP", `fractal heap at address ${addr}`);
    if (c.u8() !== 0) throw new Hdf5Unsupported("fractal heap version other than 0");
    this.idLength = c.u16();
    const filterLength = c.u16();
    const flags = c.u8();
    const maxManaged = c.u32();
    c.skip(L); // next huge object ID
    this.hugeIndex = c.addr();
    c.skip(L + O + 8 * L);
    this.width = c.u16();
    this.startBlock = c.len();
    this.maxDirectBlock = c.len();
    const maxHeapBits = c.u16();
    c.u16(); // starting rows of the root indirect block
    this.rootAddr = c.addr();
    this.rootRows = c.u16();
    if (filterLength > 0) throw new Hdf5Unsupported("fractal heaps with I/O filters");
    verifyChecksum(f.readAt(addr, fixed + 4), fixed, `fractal heap at address ${addr}`);
    this.checksummedBlocks = (flags & 0x02) !== 0;
    this.offSize = Math.ceil(maxHeapBits / 8);
    this.lenSize = Math.min(Math.ceil(Math.log2(this.maxDirectBlock) / 8), limitEncSize(maxManaged));
    this.maxDirectRows = Math.log2(this.maxDirectBlock) - Math.log2(this.startBlock) + 2;
    if (
      !Number.isInteger(this.maxDirectRows) || this.width < 1 || this.startBlock < 1 || !Number.isInteger(
        Math.log2(this.startBlock),
      )
    ) throw new Hdf5Corrupt(`fractal heap at address ${addr}: bad doubling table`);
  }

  /** The object a heap ID names. */
  get(id: Uint8Array): Uint8Array {
    const type = (id[0] >> 4) & 3;
    if ((id[0] >> 6) !== 0) throw new Hdf5Corrupt(`fractal heap at address ${this.addr}: heap ID version`);
    if (type === 2) {
      const n = (id[0] & 0x0f) + 1;
      if (1 + n > id.length) throw new Hdf5Corrupt(`fractal heap at address ${this.addr}: tiny object too long`);
      return id.subarray(1, 1 + n);
    }
    if (type === 1) return this.hugeObject(id);
    if (type !== 0) throw new Hdf5Corrupt(`fractal heap at address ${this.addr}: heap ID type ${type}`);
    const c = new Cursor(id, 1, this.f.sizeOfOffsets, this.f.sizeOfLengths);
    const off = c.uint(this.offSize), len = c.uint(this.lenSize);
    if (this.rootAddr === UNDEF) throw new Hdf5Corrupt(`fractal heap at address ${this.addr}: empty heap has objects`);
    if (this.rootRows === 0) return this.fromDirect(this.rootAddr, this.startBlock, 0, off, len);
    return this.fromIndirect(this.rootAddr, this.rootRows, 0, off, len, 0);
  }

  /**
   * A huge object: its address and length are in the ID when they fit,
   * else the ID is a number looked up in the huge objects' v2 B-tree
   * (records of type 1: address, length, ID).
   */
  private hugeObject(id: Uint8Array): Uint8Array {
    const O = this.f.sizeOfOffsets, L = this.f.sizeOfLengths;
    const c = new Cursor(id, 1, O, L);
    let at: number, len: number;
    if (this.idLength - 1 >= O + L) (at = c.addr(), len = c.len());
    else {
      const key = c.uint(Math.min(this.idLength - 1, 8));
      if (!this.huge) {
        const huge = new Map<number, [number, number]>();
        if (this.hugeIndex !== UNDEF) {
          btree2Records(this.f, this.hugeIndex, [1], (rec) => {
            const rc = new Cursor(rec, 0, O, L);
            const addr = rc.addr(), size = rc.len();
            huge.set(rc.len(), [addr, size]);
          });
        }
        this.huge = huge;
      }
      const found = this.huge.get(key);
      if (!found) throw new Hdf5Corrupt(`fractal heap at address ${this.addr}: no huge object ${key}`);
      [at, len] = found;
    }
    if (at === UNDEF || len > 1 << 30) throw new Hdf5Corrupt(`fractal heap at address ${this.addr}: huge object`);
    return this.f.readAt(at, len);
  }

  private rowBlockSize(r: number): number {
    return r === 0 ? this.startBlock : this.startBlock * 2 ** (r - 1);
  }

  private rowOffset(r: number): number {
    return r === 0 ? 0 : this.width * this.startBlock * 2 ** (r - 1);
  }

  private fromDirect(at: number, size: number, blockOff: number, off: number, len: number): Uint8Array {
    let b = this.blocks.get(at);
    const what = `fractal heap direct block at address ${at}`;
    if (!b) {
      b = this.f.readAt(at, size);
      const c = new Cursor(b, 0, this.f.sizeOfOffsets, this.f.sizeOfLengths);
      c.signature("FHDB", what);
      c.skip(1);
      if (c.addr() !== this.addr) throw new Hdf5Corrupt(`${what}: belongs to another heap`);
      if (c.uint(this.offSize) !== blockOff) throw new Hdf5Corrupt(`${what}: wrong block offset`);
      if (this.checksummedBlocks) {
        // The checksum covers the whole block with the checksum field zeroed.
        const copy = b.slice();
        const stored = copy.slice(c.p, c.p + 4);
        copy.fill(0, c.p, c.p + 4);
        if (!lookup3Matches(copy, stored)) throw new Hdf5Corrupt(`${what}: checksum mismatch`);
      }
      this.blocks.set(at, b);
    }
    const rel = off - blockOff;
    if (rel < 0 || rel + len > b.length) throw new Hdf5Corrupt(`${what}: object outside the block`);
    return b.subarray(rel, rel + len);
  }

  private fromIndirect(
    at: number,
    rows: number,
    blockOff: number,
    off: number,
    len: number,
    depth: number,
  ): Uint8Array {
    if (depth > 32) throw new Hdf5Corrupt(`fractal heap at address ${this.addr}: indirect blocks too deep`);
    const O = this.f.sizeOfOffsets;
    const what = `fractal heap indirect block at address ${at}`;
    const directRows = Math.min(rows, this.maxDirectRows);
    const entries = rows * this.width;
    let c = this.iblocks.get(at);
    if (!c) {
      const size = 4 + 1 + O + this.offSize + entries * O;
      c = this.f.cursor(at, size + 4);
      c.signature("FHIB", what);
      c.skip(1);
      if (c.addr() !== this.addr) throw new Hdf5Corrupt(`${what}: belongs to another heap`);
      if (c.uint(this.offSize) !== blockOff) throw new Hdf5Corrupt(`${what}: wrong block offset`);
      verifyChecksum(c.b, size, what);
      this.iblocks.set(at, c);
    }
    const rel = off - blockOff;
    let r = 0;
    while (r + 1 < rows && this.rowOffset(r + 1) <= rel) r++;
    const bs = this.rowBlockSize(r);
    const col = Math.floor((rel - this.rowOffset(r)) / bs);
    if (col >= this.width || rel < 0) throw new Hdf5Corrupt(`${what}: heap offset ${off} outside the block`);
    const childOff = blockOff + this.rowOffset(r) + col * bs;
    const entry = r * this.width + col;
    const base = 4 + 1 + O + this.offSize;
    const child = new Cursor(c.b, base + entry * O, O, this.f.sizeOfLengths).addr();
    if (child === UNDEF) throw new Hdf5Corrupt(`${what}: heap offset ${off} in an unallocated block`);
    if (r < directRows) return this.fromDirect(child, bs, childOff, off, len);
    const childRows = Math.log2(bs) - Math.log2(this.startBlock * this.width) + 1;
    return this.fromIndirect(child, childRows, childOff, off, len, depth + 1);
  }
}

/** A datatype message, as far as attribute values and dataset types need it. */
interface Datatype {
  cls: number;
  size: number;
  bits: number;
  /** Base type (variable-length and array types). */
  base?: Datatype;
}

function parseType(b: Uint8Array): Datatype {
  if (b.length < 8) throw new Hdf5Corrupt("datatype message shorter than 8 bytes");
  const cls = b[0] & 0x0f;
  const bits = b[1] | (b[2] << 8) | (b[3] << 16);
  const size = new DataView(b.buffer, b.byteOffset, b.byteLength).getUint32(4, true);
  const t: Datatype = { cls, size, bits };
  if (cls === 9) t.base = parseType(b.subarray(8));
  return t;
}

/** The element type name hdf5.ts gives a dataset (as its `dtypeOf` reads h5wasm's metadata). */
function dtypeName(t: Datatype): string {
  if (t.cls === 3 || (t.cls === 9 && (t.bits & 0x0f) === 1)) return "string";
  if (t.cls === 1) return t.size === 8 ? "float64" : "float32";
  if (t.cls === 0) return `${t.bits & 0x08 ? "int" : "uint"}${t.size * 8}`;
  return "unknown";
}

/** Number of elements and rank of an attribute's dataspace (null for a null dataspace). */
function attrSpace(b: Uint8Array, f: Hdf5File): { n: number; rank: number } | null {
  const version = b[0];
  if (version === 2 && b[3] === 2) return null;
  if (version !== 1 && version !== 2) throw new Hdf5Unsupported(`dataspace message version ${version}`);
  const { shape } = parseDataspace(b, f);
  return { n: shape.reduce((a, s) => a * s, 1), rank: shape.length };
}

/** Global heap collections, read once each. */
class GlobalHeap {
  private readonly collections = new Map<number, Map<number, Uint8Array>>();
  constructor(private readonly f: Hdf5File) {}

  /** Object `index` of the collection at `addr`. */
  get(addr: number, index: number): Uint8Array {
    let objs = this.collections.get(addr);
    const what = `global heap collection at address ${addr}`;
    if (!objs) {
      const L = this.f.sizeOfLengths;
      const head = this.f.cursor(addr, 8 + L);
      head.signature("GCOL", what);
      head.skip(4);
      const size = head.len();
      if (size < 8 + L || size > 1 << 30) throw new Hdf5Corrupt(`${what}: size ${size}`);
      const c = this.f.cursor(addr, size);
      c.p = 8 + L;
      objs = new Map();
      while (c.p + 8 + L <= size) {
        const idx = c.u16();
        c.skip(6);
        const n = c.len();
        if (idx === 0) break;
        objs.set(idx, c.bytes(n));
        c.skip(Math.min(-n & 7, size - c.p));
      }
      this.collections.set(addr, objs);
    }
    const o = objs.get(index);
    if (!o) throw new Hdf5Corrupt(`${what}: no object ${index}`);
    return o;
  }
}

/** An attribute value as h5wasm gives it, then as hdf5.ts `attrsOf` keeps it. */
function attrValue(
  f: Hdf5File,
  gheap: GlobalHeap,
  t: Datatype,
  space: { n: number; rank: number },
  data: Uint8Array,
): unknown {
  const { n, rank } = space;
  let out: unknown;
  if (t.cls === 0 || t.cls === 1) {
    const es = t.size;
    if (data.length < n * es) throw new Hdf5Corrupt("attribute data shorter than its dataspace");
    const bytes = data.slice(0, n * es);
    if (t.bits & 1) {
      for (let i = 0; i < n * es; i += es) bytes.subarray(i, i + es).reverse();
    }
    // deno-lint-ignore no-explicit-any
    let Type: any;
    if (t.cls === 1) {
      if (t.bits & 0x40) throw new Hdf5Unsupported("VAX-order floating point attributes");
      Type = es === 8 ? Float64Array : es === 4 ? Float32Array : undefined;
      if (!Type) return undefined; // h5wasm cannot read other float sizes: the attribute is skipped
    } else {
      const signed = (t.bits & 0x08) !== 0;
      Type = es === 8
        ? (signed ? BigInt64Array : BigUint64Array)
        : es === 4
        ? (signed ? Int32Array : Uint32Array)
        : es === 2
        ? (signed ? Int16Array : Uint16Array)
        : es === 1
        ? (signed ? Int8Array : Uint8Array)
        : undefined;
      if (!Type) throw new Hdf5Unsupported(`integer attributes of ${es} bytes`);
    }
    const arr = new Type(bytes.buffer, 0, n);
    out = rank === 0 || arr.length === 1 ? arr[0] : arr;
    if (typeof out === "bigint") out = Number(out);
    return out;
  }
  let strings: string[];
  if (t.cls === 3) {
    const size = t.size;
    if (data.length < n * size) throw new Hdf5Corrupt("attribute data shorter than its dataspace");
    const dec = ((t.bits >> 4) & 0x0f) === 1 ? utf8 : ascii;
    strings = [];
    for (let i = 0; i < n; i++) strings.push(dec.decode(untilNul(data.subarray(i * size, (i + 1) * size))));
  } else if (t.cls === 9 && (t.bits & 0x0f) === 1) {
    const O = f.sizeOfOffsets;
    const cset = (t.bits >> 8) & 0x0f;
    const c = new Cursor(data, 0, O, f.sizeOfLengths);
    strings = [];
    for (let i = 0; i < n; i++) {
      const len = c.u32(), addr = c.addr(), index = c.u32();
      if (len === 0 || addr === UNDEF || addr === 0) {
        strings.push("");
        continue;
      }
      const raw = gheap.get(addr, index);
      if (raw.length < len) {
        throw new Hdf5Corrupt(`variable-length string of ${len} bytes in a ${raw.length}-byte object`);
      }
      // h5wasm reads the C string up to its first NUL: UTF-8, or one character per byte.
      const s = untilNul(raw.subarray(0, len));
      strings.push(cset === 1 ? utf8.decode(s) : String.fromCharCode(...s));
    }
  } else throw new Hdf5Unsupported(`attributes of datatype class ${t.cls}`);
  return rank === 0 ? strings[0] : strings;
}

/**
 * Attributes of an object header: compact Attribute messages and dense
 * storage, in creation order where the header indexes it, else in name
 * order (as h5wasm lists them).
 */
function readAttributes(
  f: Hdf5File,
  gheap: GlobalHeap,
  messages: Message[],
  orderIndexed: boolean,
): Record<string, unknown> {
  const found: { name: string; order: number; value: unknown }[] = [];
  const add = (b: Uint8Array, order: number) => {
    const a = parseAttribute(f, gheap, b);
    if (a) found.push({ ...a, order });
  };
  for (const m of messages) {
    if (m.type === MSG_ATTRIBUTE) {
      if (m.flags & 0x02) throw new Hdf5Unsupported("shared attribute messages");
      add(m.data, m.order ?? 0);
    } else if (m.type === MSG_ATTRIBUTE_INFO) {
      const c = new Cursor(m.data, 0, f.sizeOfOffsets, f.sizeOfLengths);
      if (c.u8() !== 0) throw new Hdf5Unsupported("attribute info message version other than 0");
      const flags = c.u8();
      if (flags & 1) c.skip(2); // maximum creation index
      const heapAddr = c.addr(), nameIndex = c.addr();
      if (heapAddr === UNDEF) continue;
      const heap = new FractalHeap(f, heapAddr);
      btree2Records(f, nameIndex, [8], (rec) => {
        const rc = new Cursor(rec, 8, f.sizeOfOffsets, f.sizeOfLengths);
        const msgFlags = rc.u8(), order = rc.u32();
        if (msgFlags & 0x02) throw new Hdf5Unsupported("shared attribute messages in dense storage");
        add(heap.get(rec.subarray(0, 8)), order);
      });
    }
  }
  if (orderIndexed) found.sort((a, b) => a.order - b.order);
  else sortByName(found);
  const out: Record<string, unknown> = {};
  for (const a of found) if (a.value !== undefined) out[a.name] = a.value;
  return out;
}

/** One Attribute message: its name and value (value undefined when skipped as attrsOf skips it). */
function parseAttribute(f: Hdf5File, gheap: GlobalHeap, b: Uint8Array): { name: string; value: unknown } | undefined {
  const c = new Cursor(b, 0, f.sizeOfOffsets, f.sizeOfLengths);
  const version = c.u8();
  const flags = c.u8();
  const nameSize = c.u16(), typeSize = c.u16(), spaceSize = c.u16();
  if (version === 3) c.skip(1);
  else if (version !== 1 && version !== 2) throw new Hdf5Unsupported(`attribute message version ${version}`);
  const pad = (n: number) => (version === 1 ? n + (-n & 7) : n);
  const name = nameOf(c.bytes(pad(nameSize)).subarray(0, nameSize));
  const typeBytes = c.bytes(pad(typeSize)).subarray(0, typeSize);
  const spaceBytes = c.bytes(pad(spaceSize)).subarray(0, spaceSize);
  if (SKIPPED_ATTRIBUTES.has(name)) return { name, value: undefined };
  if (version > 1 && flags & 0x03) throw new Hdf5Unsupported(`attribute ${name}: shared datatype or dataspace`);
  const t = parseType(typeBytes);
  const space = attrSpace(spaceBytes, f);
  if (space === null) return { name, value: null };
  return { name, value: attrValue(f, gheap, t, space, b.subarray(c.p)) };
}

/** A member link: name, creation order and target object header. */
interface Link {
  name: string;
  order: number;
  /** Object header address ({@link UNDEF} for other links than hard links). */
  addr: number;
  /** What kind of link other than a hard link it is (soft, external, user), for messages. */
  other?: string;
}

/** One Link message. */
function parseLink(f: Hdf5File, b: Uint8Array): Link {
  const c = new Cursor(b, 0, f.sizeOfOffsets, f.sizeOfLengths);
  if (c.u8() !== 1) throw new Hdf5Unsupported("link message version other than 1");
  const flags = c.u8();
  const type = flags & 0x08 ? c.u8() : 0;
  const order = flags & 0x04 ? c.uint(8) : 0;
  if (flags & 0x10) c.skip(1);
  const nameLength = c.uint(1 << (flags & 3));
  const name = utf8.decode(c.bytes(nameLength));
  if (type !== 0) return { name, order, addr: UNDEF, other: type === 1 ? "soft" : type === 64 ? "external" : "user" };
  return { name, order, addr: c.addr() };
}

/**
 * Members of a group object header: symbol table, Link messages or dense
 * link storage, in creation order where the group indexes it, else in name
 * order (as h5wasm's `keys()` lists them).
 */
function groupLinks(f: Hdf5File, messages: Message[]): Link[] {
  const links: Link[] = [];
  let orderIndexed = false;
  for (const m of messages) {
    if (m.type === MSG_LINK) links.push(parseLink(f, m.data));
    else if (m.type === MSG_LINK_INFO) {
      const c = new Cursor(m.data, 0, f.sizeOfOffsets, f.sizeOfLengths);
      if (c.u8() !== 0) throw new Hdf5Unsupported("link info message version other than 0");
      const flags = c.u8();
      if (flags & 1) c.skip(8); // maximum creation index
      orderIndexed = (flags & 2) !== 0;
      const heapAddr = c.addr(), nameIndex = c.addr();
      if (heapAddr === UNDEF) continue;
      const heap = new FractalHeap(f, heapAddr);
      btree2Records(f, nameIndex, [5], (rec) => links.push(parseLink(f, heap.get(rec.subarray(4)))));
    } else if (m.type === MSG_SYMBOL_TABLE) {
      const c = new Cursor(m.data, 0, f.sizeOfOffsets, f.sizeOfLengths);
      symbolTableLinks(f, c.addr(), c.addr(), links);
    }
  }
  if (orderIndexed) links.sort((a, b) => a.order - b.order);
  else sortByName(links);
  return links;
}

/** Members of an old-style group: a v1 B-tree of symbol table nodes, names in a local heap. */
function symbolTableLinks(f: Hdf5File, btree: number, localHeap: number, out: Link[]): void {
  const O = f.sizeOfOffsets, L = f.sizeOfLengths;
  const h = f.cursor(localHeap, 4 + 4 + 2 * L + O);
  h.signature("HEAP", `local heap at address ${localHeap}`);
  h.skip(4);
  const dataSize = h.len();
  h.len();
  const dataAddr = h.addr();
  if (dataSize > 1 << 30) throw new Hdf5Corrupt(`local heap at address ${localHeap}: size ${dataSize}`);
  const names = f.readAt(dataAddr, dataSize);
  const walk = (node: number, depth: number) => {
    if (depth > 64) throw new Hdf5Corrupt("group B-tree deeper than 64 levels");
    const head = f.cursor(node, 8 + 2 * O);
    head.signature("TREE", `group B-tree node at address ${node}`);
    const type = head.u8(), level = head.u8(), n = head.u16();
    if (type !== 0) throw new Hdf5Corrupt(`group B-tree node at address ${node}: type ${type}`);
    const c = f.cursor(node + 8 + 2 * O, n * (L + O) + L);
    for (let i = 0; i < n; i++) {
      c.len();
      const child = c.addr();
      if (level > 0) walk(child, depth + 1);
      else symbolNode(child);
    }
  };
  const symbolNode = (at: number) => {
    const head = f.cursor(at, 8);
    head.signature("SNOD", `symbol table node at address ${at}`);
    head.skip(2);
    const n = head.u16();
    const entry = 2 * O + 24;
    const c = f.cursor(at + 8, n * entry);
    for (let i = 0; i < n; i++) {
      const nameOff = c.uint(O), addr = c.addr(), cache = c.u32();
      c.skip(20);
      if (nameOff >= names.length) throw new Hdf5Corrupt(`symbol table node at address ${at}: name outside the heap`);
      const name = nameOf(names.subarray(nameOff));
      out.push(cache === 2 ? { name, order: 0, addr: UNDEF, other: "soft" } : { name, order: 0, addr });
    }
  };
  walk(btree, 0);
}

/** Address of the root group's object header, from the superblock (checksum verified for v2/v3). */
function rootHeaderAddress(f: Hdf5File): number {
  const O = f.sizeOfOffsets;
  const at = f.superblockAt - f.base;
  const head = f.readAt(at, 9);
  const version = head[8];
  if (version === 0 || version === 1) {
    const pos = 24 + (version === 1 ? 4 : 0) + 4 * O;
    const c = f.cursor(at + pos, 2 * O);
    c.addr(); // link name offset
    return c.addr();
  }
  if (version === 2 || version === 3) {
    const size = 12 + 4 * O;
    const b = f.readAt(at, size + 4);
    verifyChecksum(b, size, "superblock");
    return new Cursor(b, 12 + 3 * O, O, f.sizeOfLengths).addr();
  }
  throw new Hdf5Unsupported(`HDF5 superblock version ${version}`);
}

/** Damage in a member of the root group (its object header or its attributes): names the member. */
export class Hdf5CorruptMember extends Hdf5Corrupt {
  /** The member's name. */
  readonly member: string;
  /** What is damaged, for messages: `object header` or `attributes`. */
  readonly part: "object header" | "attributes";
  constructor(member: string, part: "object header" | "attributes", message: string) {
    super(message);
    this.member = member;
    this.part = part;
  }
}

/** `read()`, with damage reported as damage to `part` of member `name`. */
function inMember<T>(name: string, part: "object header" | "attributes", read: () => T): T {
  try {
    return read();
  } catch (e) {
    if (e instanceof Hdf5Corrupt && !(e instanceof Hdf5CorruptMember)) {
      throw new Hdf5CorruptMember(name, part, e.message);
    }
    throw e;
  }
}

/**
 * The root group of an open HDF5 file: members, datasets (address, shape,
 * type, attributes) and attributes. Named datatypes (netCDF-4 user-defined
 * types) are members but neither datasets nor groups. Throws
 * {@link Hdf5Unsupported} for what it does not read and {@link Hdf5Corrupt}
 * for damaged structures ({@link Hdf5CorruptMember} when a member's header
 * or attributes are damaged).
 */
export function readRootGroup(f: Hdf5File): Hdf5GroupMeta {
  const gheap = new GlobalHeap(f);
  const root = objectHeader(f, rootHeaderAddress(f));
  const attrs = readAttributes(f, gheap, root.messages, root.attrOrderIndexed);
  const links = groupLinks(f, root.messages);
  const out: Hdf5GroupMeta = { members: [], datasets: [], groups: [], attrs };
  for (const link of links) {
    // h5wasm lists a soft link as its target (or a broken link): the HDF5 library resolves those.
    if (link.other) throw new Hdf5Unsupported(`link ${link.name}: ${link.other} link`);
    out.members.push(link.name);
    const { messages, attrOrderIndexed } = inMember(link.name, "object header", () => objectHeader(f, link.addr));
    const has = (type: number) => messages.some((m) => m.type === type);
    if (has(MSG_LAYOUT)) {
      const { shape, dtype } = inMember(link.name, "object header", () => datasetShapeAndType(f, link.name, messages));
      out.datasets.push({
        name: link.name,
        address: link.addr,
        shape,
        dtype,
        attrs: inMember(link.name, "attributes", () => readAttributes(f, gheap, messages, attrOrderIndexed)),
        messages,
      });
    } else if ([MSG_SYMBOL_TABLE, MSG_LINK_INFO, MSG_LINK, MSG_GROUP_INFO].some(has)) {
      inMember(link.name, "object header", () => groupLinks(f, messages)); // listable, as h5wasm's keys() checks
      out.groups.push(link.name);
    } else if (!has(MSG_DATATYPE)) throw new Hdf5Unsupported(`member ${link.name} is neither a dataset nor a group`);
  }
  return out;
}

/** Shape and element type name of a dataset header. */
function datasetShapeAndType(f: Hdf5File, name: string, messages: Message[]): { shape: number[]; dtype: string } {
  const space = messages.find((m) => m.type === MSG_DATASPACE);
  const type = messages.find((m) => m.type === MSG_DATATYPE);
  if (!space || !type) throw new Hdf5Corrupt("dataset header lacks a dataspace or datatype");
  if (type.flags & 0x02 || space.flags & 0x02) {
    throw new Hdf5Unsupported(`dataset ${name}: shared datatype or dataspace`);
  }
  const shape = space.data[0] === 2 && space.data[3] === 2 ? [] : parseDataspace(space.data, f).shape;
  return { shape, dtype: dtypeName(parseType(type.data)) };
}

/** {@link readRootGroup} of the file at `path`. */
export function readHdf5Metadata(path: string): Hdf5GroupMeta {
  const f = new Hdf5File(path);
  try {
    return readRootGroup(f);
  } finally {
    f.close();
  }
}

const MSG_FILTER_PIPELINE = 0x0b;

/**
 * A string dataset (fixed-length or variable-length strings, compact or
 * contiguous layout, unfiltered: how netCDF-C writes NC_STRING and NC_CHAR
 * coordinates such as ERA5's `expver`), its values decoded as h5wasm
 * decodes them. The constructor checks the header and throws
 * {@link Hdf5Unsupported} for other layouts and types, so a caller knows
 * before reading whether it needs the HDF5 library.
 */
export class Hdf5StringDataset {
  private readonly type: Datatype;
  private readonly space: { n: number; rank: number };
  /** Compact data, or the address of contiguous data. */
  private readonly stored: Uint8Array | number;

  constructor(
    private readonly f: Hdf5File,
    address: number,
    messages: Message[] = objectHeader(f, address).messages,
  ) {
    const one = (type: number) => {
      const m = messages.find((x) => x.type === type);
      if (!m) throw new Hdf5Corrupt(`dataset header at address ${address} lacks message type ${type}`);
      if (m.flags & 0x02) throw new Hdf5Unsupported("shared datatype or dataspace");
      return m.data;
    };
    this.type = parseType(one(MSG_DATATYPE));
    if (dtypeName(this.type) !== "string") throw new Hdf5Unsupported("not a string dataset");
    const space = attrSpace(one(MSG_DATASPACE), f);
    if (space === null) throw new Hdf5Unsupported("string datasets with a null dataspace");
    this.space = space;
    if (messages.some((m) => m.type === MSG_FILTER_PIPELINE)) throw new Hdf5Unsupported("filtered string datasets");
    const c = new Cursor(one(MSG_LAYOUT), 0, f.sizeOfOffsets, f.sizeOfLengths);
    const version = c.u8(), cls = c.u8();
    if (version < 3 || version > 5) throw new Hdf5Unsupported(`data layout message version ${version}`);
    const bytes = space.n * (this.type.cls === 3 ? this.type.size : 4 + f.sizeOfOffsets + 4);
    if (cls === 0) {
      this.stored = c.bytes(c.u16());
      if (this.stored.length < bytes) {
        throw new Hdf5Corrupt(`string dataset at address ${address}: compact data too short`);
      }
    } else if (cls === 1) {
      const addr = c.addr(), size = c.len();
      if (addr === UNDEF) throw new Hdf5Unsupported("string dataset never written (fill values)");
      if (size < bytes) throw new Hdf5Corrupt(`string dataset at address ${address}: contiguous data too short`);
      this.stored = addr;
    } else throw new Hdf5Unsupported("chunked string datasets");
  }

  /** All values, row-major. */
  read(): string[] {
    const { f, type, space, stored } = this;
    const bytes = space.n * (type.cls === 3 ? type.size : 4 + f.sizeOfOffsets + 4);
    const data = typeof stored === "number" ? f.readAt(stored, bytes) : stored;
    const v = attrValue(f, new GlobalHeap(f), type, space, data);
    return typeof v === "string" ? [v] : (v as string[]);
  }
}
