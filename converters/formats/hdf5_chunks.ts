/**
 * An own reader for the raw data of netCDF4/HDF5 variables: it parses a
 * dataset's object header (dataspace, datatype, fill value, data layout and
 * filter pipeline messages), locates chunks through every chunk index HDF5
 * writes — the version 1 B-tree (netCDF-C's default), and with the 1.10+
 * file format the single-chunk, implicit, fixed-array, extensible-array and
 * version 2 B-tree indexes — reads chunk bytes with positioned reads sorted
 * by file offset and merged into large sequential runs, and undoes the
 * filters: fletcher32 (verified), deflate (libdeflate through FFI, else
 * node:zlib, see zarr/deflate.ts), shuffle (WebAssembly SIMD for 4-byte
 * elements). Contiguous and compact layouts are read too.
 *
 * Why not h5wasm for the bytes: it inflates and unshuffles at ≈240 MB/s on
 * one core, several times slower than libdeflate + SIMD. h5wasm still reads
 * the metadata (names, attributes, dimension scales) in hdf5.ts.
 *
 * What this reader does not handle raises {@link Hdf5Unsupported} (another
 * filter such as szip, nbit or scaleoffset, shared datatypes, virtual
 * layouts, …) so the caller can hand the variable back to h5wasm; damaged
 * structures and chunks raise {@link Hdf5Corrupt} naming what is damaged.
 *
 * @module
 */
import { type Inflater, inflater } from "../../native/deflate.ts";
import { simdUnshuffle } from "../../zarr/simd.ts";
import { tileWorkspaceOf } from "../../zarr/simd_tiles.ts";
import { adviseHugePages } from "../../native/malloc.ts";
import { lookup3Matches } from "./lookup3.ts";

/** A feature this reader does not implement (the variable can still be read by the HDF5 library). */
export class Hdf5Unsupported extends Error {}

/** A damaged HDF5 structure or chunk. */
export class Hdf5Corrupt extends Error {}

/** HDF5's undefined address (all bits set), as {@link Cursor.addr} returns it. */
export const UNDEF = -1;
const HDF5_SIGNATURE = [0x89, 0x48, 0x44, 0x46, 0x0d, 0x0a, 0x1a, 0x0a];

/** Little-endian reads of HDF5's variable-width fields. */
export class Cursor {
  readonly v: DataView;
  constructor(
    readonly b: Uint8Array,
    public p: number,
    readonly sizeOfOffsets: number,
    readonly sizeOfLengths: number,
  ) {
    this.v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  }
  need(n: number): void {
    if (this.p + n > this.b.length) throw new Hdf5Corrupt("a structure ends before its fields do");
  }
  u8(): number {
    this.need(1);
    return this.b[this.p++];
  }
  u16(): number {
    this.need(2);
    const x = this.v.getUint16(this.p, true);
    this.p += 2;
    return x;
  }
  u32(): number {
    this.need(4);
    const x = this.v.getUint32(this.p, true);
    this.p += 4;
    return x;
  }
  /** An unsigned integer of `n` bytes (n ≤ 8; exact up to 2^53). */
  uint(n: number): number {
    this.need(n);
    let x = 0;
    for (let i = n - 1; i >= 0; i--) x = x * 256 + this.b[this.p + i];
    this.p += n;
    return x;
  }
  /** An address; {@link UNDEF} for HDF5's undefined address (all bits set). */
  addr(): number {
    this.need(this.sizeOfOffsets);
    let all = true;
    for (let i = 0; i < this.sizeOfOffsets; i++) if (this.b[this.p + i] !== 0xff) all = false;
    if (all) {
      this.p += this.sizeOfOffsets;
      return UNDEF;
    }
    return this.uint(this.sizeOfOffsets);
  }
  len(): number {
    return this.uint(this.sizeOfLengths);
  }
  signature(s: string, what: string): void {
    this.need(4);
    for (let i = 0; i < 4; i++) {
      if (this.b[this.p + i] !== s.charCodeAt(i)) throw new Hdf5Corrupt(`${what}: signature ${s} missing`);
    }
    this.p += 4;
  }
  skip(n: number): void {
    this.need(n);
    this.p += n;
  }
  bytes(n: number): Uint8Array {
    this.need(n);
    const out = this.b.subarray(this.p, this.p + n);
    this.p += n;
    return out;
  }
}

/** An open HDF5 file: its superblock fields and positioned reads. */
export class Hdf5File {
  /** File path. */
  readonly path: string;
  /** Size of file addresses in bytes. */
  readonly sizeOfOffsets: number;
  /** Size of lengths in bytes. */
  readonly sizeOfLengths: number;
  /** Base address (addresses are relative to it). */
  readonly base: number;
  /** Absolute file offset of the superblock. */
  readonly superblockAt: number = 0;
  private readonly file: Deno.FsFile;

  constructor(path: string) {
    this.path = path;
    this.file = Deno.openSync(path, { read: true });
    try {
      const size = this.file.statSync().size;
      // The superblock is at 0, 512, 1024, 2048, … (after a user block).
      for (let at = 0; at < size; at = at === 0 ? 512 : at * 2) {
        const head = this.readAt(at, Math.min(64, size - at));
        if (!HDF5_SIGNATURE.every((b, i) => head[i] === b)) continue;
        this.superblockAt = at;
        const version = head[8];
        if (version === 0 || version === 1) {
          this.sizeOfOffsets = head[13];
          this.sizeOfLengths = head[14];
          const c = new Cursor(head, 24 + (version === 1 ? 4 : 0), this.sizeOfOffsets, this.sizeOfLengths);
          this.base = c.addr();
        } else if (version === 2 || version === 3) {
          this.sizeOfOffsets = head[9];
          this.sizeOfLengths = head[10];
          this.base = new Cursor(head, 12, this.sizeOfOffsets, this.sizeOfLengths).addr();
        } else throw new Hdf5Unsupported(`HDF5 superblock version ${version}`);
        if (this.base === UNDEF) this.base = at;
        if (![2, 4, 8].includes(this.sizeOfOffsets) || ![2, 4, 8].includes(this.sizeOfLengths)) {
          throw new Hdf5Corrupt(`superblock: sizes of offsets/lengths ${this.sizeOfOffsets}/${this.sizeOfLengths}`);
        }
        return;
      }
      throw new Hdf5Corrupt("no HDF5 superblock");
    } catch (e) {
      this.file.close();
      throw e;
    }
  }

  /** Read `n` bytes at file address `addr` (relative to the base) into `into` (or a new buffer). */
  readAt(addr: number, n: number, into?: Uint8Array): Uint8Array {
    const buf = into ? into.subarray(0, n) : new Uint8Array(n);
    this.file.seekSync(addr + (this.base ?? 0), Deno.SeekMode.Start);
    let got = 0;
    while (got < n) {
      const r = this.file.readSync(buf.subarray(got));
      if (r === null || r === 0) {
        throw new Hdf5Corrupt(`the file ends at byte ${addr + got}, a structure or chunk needs ${n - got} more`);
      }
      got += r;
    }
    return buf;
  }

  /** A cursor over `n` bytes at `addr`. */
  cursor(addr: number, n: number): Cursor {
    return new Cursor(this.readAt(addr, n), 0, this.sizeOfOffsets, this.sizeOfLengths);
  }

  /** Close the file. */
  close(): void {
    this.file.close();
  }
}

/** One header message. */
export interface Message {
  /** Message type. */
  type: number;
  /** Message flags (0x02: shared). */
  flags: number;
  /** Message body. */
  data: Uint8Array;
  /** Creation order of the message (version 2 headers that track attribute creation order). */
  order?: number;
}

/** Messages of an object header (versions 1 and 2), continuation blocks followed. */
function objectHeaderMessages(f: Hdf5File, addr: number): Message[] {
  return objectHeader(f, addr).messages;
}

/**
 * An object header (versions 1 and 2): its messages, continuation blocks
 * followed, and whether it indexes attribute creation order (then the
 * HDF5 library lists attributes in creation order, else in name order).
 * Version 2 headers and continuation blocks have their checksums verified.
 */
export function objectHeader(f: Hdf5File, addr: number): { messages: Message[]; attrOrderIndexed: boolean } {
  const out: Message[] = [];
  const head = f.readAt(addr, 16);
  const blocks: [number, number][] = [];
  let v2 = false, creationOrder = false, orderIndexed = false;
  let firstBlock: Uint8Array | undefined; // the messages of a version 2 header, read with its checksum
  if (head[0] === 1) {
    const size = new DataView(head.buffer, head.byteOffset).getUint32(8, true);
    blocks.push([addr + 16, size]);
  } else if (String.fromCharCode(...head.subarray(0, 4)) === "OHDR") {
    v2 = true;
    const c = f.cursor(addr, 4 + 1 + 1 + 16 + 4 + 8);
    c.skip(4);
    if (c.u8() !== 2) throw new Hdf5Corrupt("object header: unknown version");
    const flags = c.u8();
    creationOrder = (flags & 0x04) !== 0;
    orderIndexed = (flags & 0x08) !== 0;
    if (flags & 0x20) c.skip(16);
    if (flags & 0x10) c.skip(4);
    const size = c.uint(1 << (flags & 3));
    blocks.push([addr + c.p, size]);
    const whole = f.readAt(addr, c.p + size + 4);
    if (!lookup3Matches(whole.subarray(0, c.p + size), whole.subarray(c.p + size))) {
      throw new Hdf5Corrupt(`object header at address ${addr}: checksum mismatch`);
    }
    firstBlock = whole.subarray(c.p, c.p + size);
  } else throw new Hdf5Corrupt(`no object header at address ${addr}`);
  for (let k = 0; k < blocks.length; k++) {
    if (k > 1000) throw new Hdf5Corrupt("object header: too many continuation blocks");
    const [at, size] = blocks[k];
    const c = k === 0 && firstBlock ? new Cursor(firstBlock, 0, f.sizeOfOffsets, f.sizeOfLengths) : f.cursor(at, size);
    if (v2 && k > 0) {
      c.signature("OCHK", "object header continuation");
      if (!lookup3Matches(c.b.subarray(0, size - 4), c.b.subarray(size - 4))) {
        throw new Hdf5Corrupt(`object header continuation block at address ${at}: checksum mismatch`);
      }
    }
    const end = v2 && k > 0 ? size - 4 : size; // continuation blocks end in a checksum
    const headerSize = v2 ? 4 + (creationOrder ? 2 : 0) : 8;
    while (c.p + headerSize <= end) {
      let type: number, msize: number, mflags: number, order: number | undefined;
      if (v2) {
        type = c.u8();
        msize = c.u16();
        mflags = c.u8();
        if (creationOrder) order = c.u16();
      } else {
        type = c.u16();
        msize = c.u16();
        mflags = c.u8();
        c.skip(3);
      }
      const data = c.bytes(msize);
      if (type === 0x10) {
        const cc = new Cursor(data, 0, f.sizeOfOffsets, f.sizeOfLengths);
        blocks.push([cc.addr(), cc.len()]);
      } else out.push({ type, flags: mflags, data, order });
    }
  }
  return { messages: out, attrOrderIndexed: orderIndexed };
}

/** Element type of a variable's stored values. */
export interface StoredType {
  /** `int`, `uint` or `float`. */
  kind: "int" | "uint" | "float";
  /** Bytes per element. */
  size: number;
  /** Big-endian on disk. */
  bigEndian: boolean;
}

/** A filter of the pipeline. */
interface Filter {
  id: number;
  name: string;
  optional: boolean;
  values: number[];
}

/** Where one chunk is stored. */
interface ChunkEntry {
  /** File address. */
  addr: number;
  /** Stored (filtered) size in bytes. */
  size: number;
  /** Filters skipped for this chunk (bit i = filter i). */
  mask: number;
}

/** How a variable's data is stored. */
type Layout =
  | { kind: "compact"; data: Uint8Array }
  | { kind: "contiguous"; addr: number; size: number }
  | {
    kind: "chunked";
    chunk: number[];
    index: ChunkIndexSpec;
    /** v4 flag: edge chunks are stored unfiltered. */
    unfilteredEdges: boolean;
  };

type ChunkIndexSpec =
  | { type: "btree1"; addr: number }
  | { type: "single"; addr: number; filteredSize?: number; mask: number }
  | { type: "implicit"; addr: number }
  | { type: "fixed"; addr: number }
  | { type: "extensible"; addr: number }
  | { type: "btree2"; addr: number };

const FILTER_NAMES: Record<number, string> = {
  1: "deflate",
  2: "shuffle",
  3: "fletcher32",
  4: "szip",
  5: "nbit",
  6: "scaleoffset",
  32001: "blosc",
  32004: "lz4",
  32013: "zfp",
  32015: "zstd",
  307: "bzip2",
};

const FILTER_DEFLATE = 1, FILTER_SHUFFLE = 2, FILTER_FLETCHER32 = 3;

/** Shape and maximum shape (Infinity where unlimited) of a dataspace message. */
export function parseDataspace(m: Uint8Array, f: Hdf5File): { shape: number[]; maxShape: number[] } {
  const c = new Cursor(m, 0, f.sizeOfOffsets, f.sizeOfLengths);
  const version = c.u8();
  const rank = c.u8();
  const flags = c.u8();
  if (version === 1) c.skip(5);
  else if (version === 2) c.skip(1);
  else throw new Hdf5Unsupported(`dataspace message version ${version}`);
  const shape: number[] = [];
  for (let i = 0; i < rank; i++) shape.push(c.len());
  const maxShape = [...shape];
  if (flags & 1) {
    for (let i = 0; i < rank; i++) {
      const unlimited = c.b.subarray(c.p, c.p + f.sizeOfLengths).every((b) => b === 0xff);
      const len = c.len();
      maxShape[i] = unlimited ? Infinity : len;
    }
  }
  return { shape, maxShape };
}

function parseDatatype(m: Uint8Array): StoredType {
  const cls = m[0] & 0x0f;
  const bits = m[1];
  const size = new DataView(m.buffer, m.byteOffset).getUint32(4, true);
  if (cls === 0) {
    if (![1, 2, 4, 8].includes(size)) throw new Hdf5Unsupported(`integers of ${size} bytes`);
    return { kind: bits & 0x08 ? "int" : "uint", size, bigEndian: (bits & 1) !== 0 };
  }
  if (cls === 1) {
    if (bits & 0x40) throw new Hdf5Unsupported("VAX-order floating point");
    if (size !== 4 && size !== 8) throw new Hdf5Unsupported(`floating point of ${size} bytes`);
    return { kind: "float", size, bigEndian: (bits & 1) !== 0 };
  }
  throw new Hdf5Unsupported(`datatype class ${cls}`);
}

function parseFillValue(msg: Message | undefined, old: Message | undefined): Uint8Array | undefined {
  if (msg) {
    const m = msg.data, version = m[0];
    const dv = new DataView(m.buffer, m.byteOffset, m.byteLength);
    if (version === 1 || version === 2) {
      const defined = m[3];
      if (version === 2 && defined === 0) return undefined;
      if (m.length < 8) return undefined;
      const size = dv.getUint32(4, true);
      return size > 0 ? m.slice(8, 8 + size) : undefined;
    }
    if (version === 3) {
      if (!(m[1] & 0x20)) return undefined;
      const size = dv.getUint32(2, true);
      return size > 0 ? m.slice(6, 6 + size) : undefined;
    }
    throw new Hdf5Unsupported(`fill value message version ${version}`);
  }
  if (old) {
    const size = new DataView(old.data.buffer, old.data.byteOffset).getUint32(0, true);
    return size > 0 ? old.data.slice(4, 4 + size) : undefined;
  }
  return undefined;
}

function parseFilters(m: Uint8Array): Filter[] {
  const c = new Cursor(m, 0, 8, 8);
  const version = c.u8();
  const n = c.u8();
  if (version === 1) c.skip(6);
  else if (version !== 2) throw new Hdf5Unsupported(`filter pipeline message version ${version}`);
  const out: Filter[] = [];
  for (let i = 0; i < n; i++) {
    const id = c.u16();
    const nameLength = version === 1 || id >= 256 ? c.u16() : 0;
    const flags = c.u16();
    const nvalues = c.u16();
    let name = FILTER_NAMES[id] ?? `filter ${id}`;
    if (nameLength > 0) {
      const raw = c.bytes(version === 1 ? nameLength + (-nameLength & 7) : nameLength);
      const text = new TextDecoder().decode(raw).replace(/\0.*$/s, "");
      if (text) name = `${FILTER_NAMES[id] ?? text} (id ${id})`;
    }
    const values: number[] = [];
    for (let k = 0; k < nvalues; k++) values.push(c.u32());
    if (version === 1 && nvalues % 2 === 1) c.skip(4);
    out.push({ id, name, optional: (flags & 1) !== 0, values });
  }
  return out;
}

function parseLayout(m: Uint8Array, f: Hdf5File): Layout {
  const c = new Cursor(m, 0, f.sizeOfOffsets, f.sizeOfLengths);
  const version = c.u8();
  if (version < 3 || version > 5) throw new Hdf5Unsupported(`data layout message version ${version}`);
  const cls = c.u8();
  if (cls === 0) {
    const size = c.u16();
    return { kind: "compact", data: c.bytes(size) };
  }
  if (cls === 1) return { kind: "contiguous", addr: c.addr(), size: c.len() };
  if (cls !== 2) throw new Hdf5Unsupported(cls === 3 ? "virtual datasets" : `data layout class ${cls}`);
  if (version === 3) {
    const ndims = c.u8();
    const addr = c.addr();
    const dims: number[] = [];
    for (let i = 0; i < ndims; i++) dims.push(c.u32());
    return { kind: "chunked", chunk: dims.slice(0, -1), index: { type: "btree1", addr }, unfilteredEdges: false };
  }
  const flags = c.u8();
  const ndims = c.u8();
  const enc = c.u8();
  const dims: number[] = [];
  for (let i = 0; i < ndims; i++) dims.push(c.uint(enc));
  const type = c.u8();
  let index: ChunkIndexSpec;
  if (type === 1) {
    let filteredSize: number | undefined, mask = 0;
    if (flags & 2) (filteredSize = c.len(), mask = c.u32());
    index = { type: "single", addr: c.addr(), filteredSize, mask };
  } else if (type === 2) index = { type: "implicit", addr: c.addr() };
  else if (type === 3) (c.skip(1), index = { type: "fixed", addr: c.addr() });
  else if (type === 4) (c.skip(5), index = { type: "extensible", addr: c.addr() });
  else if (type === 5) (c.skip(6), index = { type: "btree2", addr: c.addr() });
  else throw new Hdf5Corrupt(`data layout: unknown chunk index type ${type}`);
  return { kind: "chunked", chunk: dims.slice(0, -1), index, unfilteredEdges: (flags & 1) !== 0 };
}

/** Row-major strides of a grid. */
function downOf(grid: number[]): number[] {
  const down = new Array<number>(grid.length).fill(1);
  for (let i = grid.length - 2; i >= 0; i--) down[i] = down[i + 1] * grid[i + 1];
  return down;
}

/** Fletcher-32 as HDF5 computes it (16-bit big-endian words, folded every 360 words). */
export function fletcher32(data: Uint8Array): number {
  let sum1 = 0, sum2 = 0, p = 0, len = data.length >>> 1;
  while (len > 0) {
    let t = len > 360 ? 360 : len;
    len -= t;
    do {
      sum1 += (data[p] << 8) | data[p + 1];
      p += 2;
      sum2 += sum1;
    } while (--t);
    sum1 = sum1 >>> 0, sum2 = sum2 >>> 0;
    sum1 = (sum1 & 0xffff) + (sum1 >>> 16);
    sum2 = (sum2 & 0xffff) + (sum2 >>> 16);
  }
  if (data.length & 1) {
    sum1 += data[p] << 8;
    sum2 += sum1;
    sum1 = sum1 >>> 0, sum2 = sum2 >>> 0;
    sum1 = (sum1 & 0xffff) + (sum1 >>> 16);
    sum2 = (sum2 & 0xffff) + (sum2 >>> 16);
  }
  sum1 = (sum1 & 0xffff) + (sum1 >>> 16);
  sum2 = (sum2 & 0xffff) + (sum2 >>> 16);
  return ((sum2 << 16) | sum1) >>> 0;
}

/** Scalar byte unshuffle (any element size); a trailing partial element is copied as is. */
function unshuffleScalar(src: Uint8Array, es: number, out: Uint8Array): void {
  const n = Math.floor(src.length / es);
  for (let b = 0; b < es; b++) {
    const plane = b * n;
    for (let i = 0; i < n; i++) out[i * es + b] = src[plane + i];
  }
  for (let k = n * es; k < src.length; k++) out[k] = src[k];
}

/** Swap the byte order of `es`-byte elements in place. */
function swapBytes(b: Uint8Array, es: number): void {
  for (let i = 0; i + es <= b.length; i += es) {
    for (let lo = i, hi = i + es - 1; lo < hi; lo++, hi--) {
      const t = b[lo];
      b[lo] = b[hi];
      b[hi] = t;
    }
  }
}

/** Per-thread scratch buffers (grown, never shrunk). */
const scratch = { raw: new Uint8Array(0), stage: new Uint8Array(0), stage2: new Uint8Array(0) };

function grown(name: keyof typeof scratch, n: number): Uint8Array {
  if (scratch[name].length < n) {
    adviseHugePages(scratch[name] = new Uint8Array(Math.max(n, Math.ceil(scratch[name].length * 1.25))));
  }
  return scratch[name];
}

/** Decoded chunks kept for reads that need them again (a source chunk spanning two reads). */
class ChunkCache {
  private readonly map = new Map<string, Uint8Array>();
  private bytes = 0;
  constructor(private readonly limit: number) {}
  get(key: string): Uint8Array | undefined {
    const v = this.map.get(key);
    if (v) (this.map.delete(key), this.map.set(key, v));
    return v;
  }
  /** A buffer for a new entry: an evicted one of the same size when possible. */
  put(key: string, n: number): Uint8Array {
    let reuse: Uint8Array | undefined;
    while (this.bytes + n > this.limit && this.map.size > 0) {
      const [k, v] = this.map.entries().next().value!;
      this.map.delete(k);
      this.bytes -= v.length;
      if (v.length === n) reuse = v;
    }
    const buf = reuse ?? new Uint8Array(n);
    if (!reuse) adviseHugePages(buf);
    this.map.set(key, buf);
    this.bytes += n;
    return buf;
  }
  delete(key: string): void {
    const v = this.map.get(key);
    if (v) (this.map.delete(key), this.bytes -= v.length);
  }
}

/** Chunks decoded (filters undone) by this thread so far: lets tests check that none is decoded twice. */
export const decodeCounter = { chunks: 0 };

/** Decoded chunks of this thread, all files: 64 MB at most. */
const chunkCache = new ChunkCache(64 << 20);
let cacheFileIds = 0;

/** Reads merged when the gap between two chunks is at most this many bytes. */
const MERGE_GAP = 1 << 16;
/**
 * Largest merged positioned read (a single larger chunk is still read
 * whole). Runs of a few MB already make reads sequential; a larger read
 * buffer only adds memory each thread touches.
 */
const MAX_RUN = 8 << 20;

/** A chunk needed by a read. */
interface Wanted {
  /** Chunk coordinates (scaled: chunk index per dimension). */
  scaled: number[];
  entry: ChunkEntry | undefined;
  /** Decode straight into the output at this byte offset (the chunk is whole and contiguous there). */
  direct?: number;
}

/**
 * The stored data of one variable, read without the HDF5 library.
 * Values come out in native (little-endian) byte order.
 */
export class Hdf5Variable {
  /** Variable (dataset) name, for messages. */
  readonly name: string;
  /** Current shape. */
  readonly shape: number[];
  /** Maximum shape (Infinity where unlimited). */
  readonly maxShape: number[];
  /** Element type on disk. */
  readonly type: StoredType;
  /** Storage kind: compact, contiguous or chunked, and the chunk index. */
  readonly storage: string;
  private readonly f: Hdf5File;
  private readonly layout: Layout;
  private readonly filters: Filter[];
  private readonly fill: Uint8Array | undefined;
  private entries: Map<number, ChunkEntry> | undefined;
  private keyOf: (scaled: number[]) => number = () => 0;
  private readonly cacheId = `${++cacheFileIds}`;
  private readonly inflate: Inflater;

  /** The dataset whose object header is at `headerAddr` (its messages, when already read, in `messages`). */
  constructor(f: Hdf5File, headerAddr: number, name: string, messages?: Message[]) {
    this.f = f;
    this.name = name;
    const msgs = messages ?? objectHeaderMessages(f, headerAddr);
    const one = (type: number) => {
      const m = msgs.find((x) => x.type === type);
      if (m && m.flags & 0x02) throw new Hdf5Unsupported(`shared header message of type ${type}`);
      return m;
    };
    const space = one(0x01), dtype = one(0x03), layout = one(0x08);
    if (!space || !dtype || !layout) throw new Hdf5Corrupt("dataset header lacks a dataspace, datatype or layout");
    ({ shape: this.shape, maxShape: this.maxShape } = parseDataspace(space.data, f));
    this.type = parseDatatype(dtype.data);
    this.layout = parseLayout(layout.data, f);
    const pipeline = one(0x0b);
    this.filters = pipeline ? parseFilters(pipeline.data) : [];
    for (const flt of this.filters) {
      if (![FILTER_DEFLATE, FILTER_SHUFFLE, FILTER_FLETCHER32].includes(flt.id)) {
        throw new Hdf5Unsupported(`the ${flt.name} filter`);
      }
    }
    this.fill = parseFillValue(one(0x05), one(0x04));
    if (this.fill && this.fill.length !== this.type.size) this.fill = undefined;
    if (this.type.bigEndian && this.fill) swapBytes(this.fill, this.type.size);
    if (this.layout.kind === "chunked") {
      if (this.layout.chunk.length !== this.shape.length) throw new Hdf5Corrupt("chunk rank differs from the shape's");
      this.storage = `chunked (${this.layout.index.type})`;
    } else this.storage = this.layout.kind;
    this.inflate = inflater();
  }

  /** Names of the filters, in the order they were applied when writing. */
  get filterNames(): string[] {
    return this.filters.map((x) => x.name);
  }

  private fillInto(out: Uint8Array): void {
    if (!this.fill || this.fill.every((b) => b === 0)) return void out.fill(0);
    const es = this.type.size;
    out.set(this.fill);
    let filled = es;
    while (filled < out.length) {
      const n = Math.min(filled, out.length - filled);
      out.copyWithin(filled, 0, n);
      filled += n;
    }
  }

  /**
   * Read the hyperslab `start`/`count` into `out` (row-major, native byte
   * order, `count` product × element size bytes).
   */
  read(start: number[], count: number[], out: Uint8Array): void {
    const rank = this.shape.length, es = this.type.size;
    for (let d = 0; d < rank; d++) {
      if (start[d] < 0 || count[d] < 0 || start[d] + count[d] > this.shape[d]) {
        throw new Hdf5Corrupt(`hyperslab ${start}+${count} outside the shape ${this.shape}`);
      }
    }
    const total = count.reduce((a, b) => a * b, 1);
    if (total === 0) return;
    if (this.layout.kind === "compact") {
      const data = this.layout.data;
      this.copyBlock(data, this.shape, new Array(rank).fill(0), start, count, out);
    } else if (this.layout.kind === "contiguous") this.readContiguous(start, count, out);
    else this.readChunked(start, count, out);
    if (this.type.bigEndian) swapBytes(out.subarray(0, total * es), es);
  }

  /** Copy the part of a decoded block (origin `origin`, extent `extent`) inside the slab into `out`. */
  private copyBlock(
    block: Uint8Array,
    extent: number[],
    origin: number[],
    start: number[],
    count: number[],
    out: Uint8Array,
  ): void {
    const rank = extent.length, es = this.type.size;
    const lo: number[] = [], hi: number[] = [];
    for (let d = 0; d < rank; d++) {
      lo.push(Math.max(start[d], origin[d]));
      hi.push(Math.min(start[d] + count[d], origin[d] + extent[d]));
      if (lo[d] >= hi[d]) return;
    }
    if (block.length < extent.reduce((a, b) => a * b, es)) throw new Hdf5Corrupt("a block is shorter than its extent");
    const srcDown = downOf(extent), dstDown = downOf(count);
    // Merge trailing dimensions that are whole in both the block and the slab into one run.
    let inner = rank - 1;
    while (
      inner > 0 && lo[inner] === origin[inner] && hi[inner] - lo[inner] === extent[inner] &&
      lo[inner] === start[inner] && hi[inner] - lo[inner] === count[inner]
    ) inner--;
    const run = (hi[inner] - lo[inner]) * srcDown[inner] * es;
    const idx = lo.slice(0, inner);
    for (;;) {
      let s = 0, o = 0;
      for (let d = 0; d < inner; d++) {
        s += (idx[d] - origin[d]) * srcDown[d];
        o += (idx[d] - start[d]) * dstDown[d];
      }
      s += (lo[inner] - origin[inner]) * srcDown[inner];
      o += (lo[inner] - start[inner]) * dstDown[inner];
      out.set(block.subarray(s * es, s * es + run), o * es);
      let d = inner - 1;
      while (d >= 0) {
        if (++idx[d] < hi[d]) break;
        idx[d] = lo[d];
        d--;
      }
      if (d < 0) break;
    }
  }

  private readContiguous(start: number[], count: number[], out: Uint8Array): void {
    const layout = this.layout as { addr: number; size: number };
    const es = this.type.size, rank = this.shape.length;
    const down = downOf(this.shape);
    if (layout.addr === UNDEF) {
      this.fillInto(out.subarray(0, count.reduce((a, b) => a * b, es)));
      return;
    }
    if (layout.size < this.shape.reduce((a, b) => a * b, es)) {
      throw new Hdf5Corrupt(`contiguous storage of ${layout.size} bytes for shape ${this.shape}`);
    }
    if (rank === 0) {
      out.set(this.f.readAt(layout.addr, es));
      return;
    }
    // Whole outer rows in pieces of at most MAX_RUN bytes, each copied into the slab.
    const rowBytes = down[0] * es;
    const perPiece = Math.max(1, Math.floor(MAX_RUN / rowBytes));
    const origin = new Array(rank).fill(0);
    for (let r0 = 0; r0 < count[0]; r0 += perPiece) {
      const rows = Math.min(perPiece, count[0] - r0);
      const buf = this.f.readAt(
        layout.addr + (start[0] + r0) * rowBytes,
        rows * rowBytes,
        grown("raw", rows * rowBytes),
      );
      origin[0] = start[0] + r0;
      this.copyBlock(buf.subarray(0, rows * rowBytes), [rows, ...this.shape.slice(1)], origin, start, count, out);
    }
  }

  private chunkBytes(): number {
    return (this.layout as { chunk: number[] }).chunk.reduce((a, b) => a * b, this.type.size);
  }

  private readChunked(start: number[], count: number[], out: Uint8Array): void {
    const layout = this.layout as Extract<Layout, { kind: "chunked" }>;
    const rank = this.shape.length, chunk = layout.chunk;
    const entries = this.chunkEntries();
    const first = start.map((s, d) => Math.floor(s / chunk[d]));
    const last = start.map((s, d) => Math.floor((s + count[d] - 1) / chunk[d]));
    const wanted: Wanted[] = [];
    const dstDown = downOf(count);
    const scaled = [...first];
    let firstWide = 0;
    while (firstWide < rank - 1 && chunk[firstWide] === 1) firstWide++;
    for (;;) {
      const w: Wanted = { scaled: [...scaled], entry: entries.get(this.keyOf(scaled)) };
      // A whole chunk inside the slab whose values are contiguous there: decode straight into the output.
      if (
        scaled.every((s, d) => s * chunk[d] >= start[d] && (s + 1) * chunk[d] <= start[d] + count[d]) &&
        chunk.every((c, d) => d <= firstWide || c === count[d])
      ) w.direct = scaled.reduce((a, s, d) => a + (s * chunk[d] - start[d]) * dstDown[d], 0) * this.type.size;
      wanted.push(w);
      let d = rank - 1;
      while (d >= 0) {
        if (++scaled[d] <= last[d]) break;
        scaled[d] = first[d];
        d--;
      }
      if (d < 0 || rank === 0) break;
    }
    this.decodeChunks(wanted, start, count, out);
  }

  /** Read the wanted chunks in file order, in merged runs, and decode each once. */
  private decodeChunks(wanted: Wanted[], start: number[], count: number[], out: Uint8Array): void {
    const layout = this.layout as Extract<Layout, { kind: "chunked" }>;
    const chunkBytes = this.chunkBytes();
    const pending: Wanted[] = [];
    for (const w of wanted) {
      const key = `${this.cacheId}/${w.scaled}`;
      const cached = w.direct === undefined ? chunkCache.get(key) : undefined;
      if (cached) this.copyBlock(cached, layout.chunk, w.scaled.map((s, d) => s * layout.chunk[d]), start, count, out);
      else if (!w.entry || w.entry.addr === UNDEF) {
        if (w.direct !== undefined) this.fillInto(out.subarray(w.direct, w.direct + chunkBytes));
        else {
          const block = grown("stage", chunkBytes).subarray(0, chunkBytes);
          this.fillInto(block);
          this.copyBlock(block, layout.chunk, w.scaled.map((s, d) => s * layout.chunk[d]), start, count, out);
        }
      } else pending.push(w);
    }
    pending.sort((a, b) => a.entry!.addr - b.entry!.addr);
    for (let i = 0; i < pending.length;) {
      let j = i + 1, end = pending[i].entry!.addr + pending[i].entry!.size;
      while (j < pending.length) {
        const e = pending[j].entry!;
        if (e.addr - end > MERGE_GAP || e.addr + e.size - pending[i].entry!.addr > MAX_RUN) break;
        end = Math.max(end, e.addr + e.size);
        j++;
      }
      const runStart = pending[i].entry!.addr;
      const raw = this.f.readAt(runStart, end - runStart, grown("raw", end - runStart));
      for (let k = i; k < j; k++) {
        const w = pending[k], e = w.entry!;
        const stored = raw.subarray(e.addr - runStart, e.addr - runStart + e.size);
        const origin = w.scaled.map((s, d) => s * layout.chunk[d]);
        if (w.direct !== undefined) {
          this.decodeChunk(stored, e.mask, w.scaled, out.subarray(w.direct, w.direct + chunkBytes));
        } else {
          const key = `${this.cacheId}/${w.scaled}`;
          const block = chunkCache.put(key, chunkBytes);
          try {
            this.decodeChunk(stored, e.mask, w.scaled, block);
          } catch (err) {
            chunkCache.delete(key);
            throw err;
          }
          this.copyBlock(block, layout.chunk, origin, start, count, out);
        }
      }
      i = j;
    }
  }

  /** Undo the filter pipeline of one stored chunk into `into` (exactly one decoded chunk). */
  private decodeChunk(stored: Uint8Array, mask: number, scaled: number[], into: Uint8Array): void {
    decodeCounter.chunks++;
    const layout = this.layout as Extract<Layout, { kind: "chunked" }>;
    const where = () =>
      `chunk (${scaled.map((s, d) => s * layout.chunk[d]).join(", ")}) of ${this.name}` +
      ` (chunk index (${scaled.join(", ")}), ${stored.length} bytes)`;
    let skipAll = false;
    if (layout.unfilteredEdges) {
      skipAll = scaled.some((s, d) => (s + 1) * layout.chunk[d] > this.shape[d]);
    }
    const active = skipAll ? [] : this.filters.filter((_, i) => !(mask & (1 << i)));
    // Input size of each filter in write order: the decoded chunk, plus 4 bytes after each fletcher32;
    // unknown (NaN) after deflate.
    const sizes = [into.length];
    for (const flt of active) {
      sizes.push(flt.id === FILTER_DEFLATE ? NaN : sizes.at(-1)! + (flt.id === FILTER_FLETCHER32 ? 4 : 0));
    }
    let data = stored, spare: "stage" | "stage2" = "stage";
    const buffer = (n: number) => {
      const b = grown(spare, n).subarray(0, n);
      spare = spare === "stage" ? "stage2" : "stage";
      return b;
    };
    try {
      for (let i = active.length - 1; i >= 0; i--) {
        const flt = active[i], n = sizes[i];
        if (flt.id === FILTER_FLETCHER32) {
          if (data.length < 4 || (!Number.isNaN(n) && data.length !== n + 4)) {
            throw new Error(`${data.length} bytes before fletcher32, expected ${n + 4}`);
          }
          const body = data.subarray(0, data.length - 4);
          const t = data.subarray(data.length - 4);
          const storedSum = (t[0] | (t[1] << 8) | (t[2] << 16) | (t[3] << 24)) >>> 0;
          const sum = fletcher32(body);
          // HDF5 also accepts the checksum with its bytes swapped in pairs (files of HDF5 1.6.0–1.6.2).
          const swapped = (((sum >>> 8) & 0xff) | ((sum & 0xff) << 8) | ((sum >>> 24) << 16) |
            (((sum >>> 16) & 0xff) << 24)) >>> 0;
          if (storedSum !== sum && storedSum !== swapped) {
            throw new Error(
              `fletcher32 checksum mismatch (stored ${storedSum.toString(16)}, computed ${sum.toString(16)})`,
            );
          }
          data = body;
        } else if (flt.id === FILTER_DEFLATE) {
          const next = i > 0 ? active[i - 1] : undefined;
          const es = next?.id === FILTER_SHUFFLE ? (next.values[0] ?? this.type.size) : 0;
          const simd = es === 4 ? simdUnshuffle() : undefined;
          if (Number.isNaN(n)) throw new Hdf5Unsupported("two deflate filters");
          const target = i === 0 ? into : simd ? simd.input(n) : buffer(n);
          this.inflate.inflate(data, target);
          data = target;
        } else if (flt.id === FILTER_SHUFFLE) {
          const es = flt.values[0] ?? this.type.size;
          if (data.length !== n) throw new Error(`shuffled data of ${data.length} bytes, expected ${n}`);
          const target = i === 0 ? into : buffer(n);
          if (es <= 1) target.set(data);
          else {
            const simd = es === 4 ? simdUnshuffle() : undefined;
            if (simd) {
              const input = simd.input(n);
              if (data.buffer !== input.buffer || data.byteOffset !== 0) input.set(data);
              // Into a conversion's slab: unshuffled straight there, without a copy out of the module.
              const slab = tileWorkspaceOf(target);
              if (slab) slab.unshuffleInto(n, target);
              else simd.unshuffle4(n, target);
            } else if (data === target) {
              const copy = buffer(n);
              copy.set(data);
              unshuffleScalar(copy, es, target);
            } else unshuffleScalar(data, es, target);
          }
          data = target;
        }
      }
      if (data !== into) {
        if (data.length !== into.length) throw new Error(`decodes to ${data.length} bytes, expected ${into.length}`);
        into.set(data);
      }
    } catch (e) {
      if (e instanceof Hdf5Unsupported) throw e;
      throw new Hdf5Corrupt(`${where()}: ${(e as Error).message}`);
    }
  }

  /** The chunk index, read once. */
  private chunkEntries(): Map<number, ChunkEntry> {
    if (this.entries) return this.entries;
    const layout = this.layout as Extract<Layout, { kind: "chunked" }>;
    const chunk = layout.chunk, rank = chunk.length;
    const grid = this.shape.map((s, d) => Math.ceil(s / chunk[d]));
    const maxGrid = this.maxShape.map((s, d) => (Number.isFinite(s) ? Math.ceil(s / chunk[d]) : grid[d]));
    const entries = new Map<number, ChunkEntry>();
    const idx = layout.index;
    const chunkBytes = this.chunkBytes();
    const filtered = this.filters.length > 0;
    const down = downOf(grid);
    const inGrid = (scaled: number[]) => scaled.every((s, d) => s >= 0 && s < grid[d]);
    const gridKey = (scaled: number[]) => scaled.reduce((a, s, d) => a + s * down[d], 0);
    if (idx.type === "btree1") {
      this.keyOf = gridKey;
      if (idx.addr !== UNDEF) {
        this.walkBtree1(idx.addr, rank, (offsets, e) => {
          const scaled = offsets.map((o, d) => o / chunk[d]);
          if (scaled.every(Number.isInteger) && inGrid(scaled)) entries.set(gridKey(scaled), e);
        });
      }
    } else if (idx.type === "btree2") {
      this.keyOf = gridKey;
      if (idx.addr !== UNDEF) {
        this.walkBtree2(idx.addr, rank, filtered, (scaled, e) => {
          if (inGrid(scaled)) entries.set(gridKey(scaled), e);
        });
      }
    } else if (idx.type === "single") {
      this.keyOf = () => 0;
      if (idx.addr !== UNDEF) entries.set(0, { addr: idx.addr, size: idx.filteredSize ?? chunkBytes, mask: idx.mask });
    } else if (idx.type === "implicit") {
      const maxDown = downOf(maxGrid);
      this.keyOf = (scaled) => scaled.reduce((a, s, d) => a + s * maxDown[d], 0);
      if (idx.addr !== UNDEF) {
        const n = maxGrid.reduce((a, b) => a * b, 1);
        for (let k = 0; k < n; k++) entries.set(k, { addr: idx.addr + k * chunkBytes, size: chunkBytes, mask: 0 });
      }
    } else if (idx.type === "fixed") {
      const maxDown = downOf(maxGrid);
      this.keyOf = (scaled) => scaled.reduce((a, s, d) => a + s * maxDown[d], 0);
      if (idx.addr !== UNDEF) this.readFixedArray(idx.addr, filtered, chunkBytes, entries);
    } else {
      const unlimited = this.maxShape.findIndex((s) => !Number.isFinite(s));
      // The extensible array is indexed with the unlimited dimension moved first ("swizzled").
      const order = unlimited > 0 ? [unlimited, ...[...Array(rank).keys()].filter((d) => d !== unlimited)] : [
        ...Array(rank).keys(),
      ];
      const swDown = downOf(order.map((d) => maxGrid[d]));
      this.keyOf = (scaled) => order.reduce((a, d, k) => a + scaled[d] * swDown[k], 0);
      if (idx.addr !== UNDEF) this.readExtensibleArray(idx.addr, filtered, chunkBytes, entries);
    }
    this.entries = entries;
    return entries;
  }

  private walkBtree1(addr: number, rank: number, visit: (offsets: number[], e: ChunkEntry) => void, depth = 0): void {
    if (depth > 64) throw new Hdf5Corrupt("chunk B-tree deeper than 64 levels");
    const f = this.f, O = f.sizeOfOffsets;
    const head = f.cursor(addr, 8 + 2 * O);
    head.signature("TREE", "chunk B-tree node");
    const type = head.u8(), level = head.u8(), n = head.u16();
    if (type !== 1) throw new Hdf5Corrupt(`chunk B-tree node of type ${type}`);
    const keySize = 8 + 8 * (rank + 1);
    const c = f.cursor(addr + 8 + 2 * O, n * (keySize + O) + keySize);
    for (let i = 0; i < n; i++) {
      const size = c.u32(), mask = c.u32();
      const offsets: number[] = [];
      for (let d = 0; d < rank; d++) offsets.push(c.uint(8));
      c.skip(8);
      const child = c.addr();
      if (level > 0) this.walkBtree1(child, rank, visit, depth + 1);
      else visit(offsets, { addr: child, size, mask });
    }
  }

  private walkBtree2(addr: number, rank: number, filtered: boolean, visit: (s: number[], e: ChunkEntry) => void): void {
    const f = this.f, O = f.sizeOfOffsets;
    btree2Records(f, addr, [10, 11], (rec, type) => {
      if (!filtered && type === 11) throw new Hdf5Corrupt("filtered chunk records without a filter pipeline");
      const c = new Cursor(rec, 0, O, f.sizeOfLengths);
      const a = c.addr();
      let size = this.chunkBytes(), mask = 0;
      if (type === 11) (size = c.uint(rec.length - O - 4 - 8 * rank), mask = c.u32());
      const scaled: number[] = [];
      for (let d = 0; d < rank; d++) scaled.push(c.uint(8));
      visit(scaled, { addr: a, size, mask });
    });
  }

  /** Parse `n` index elements (address [, chunk size, filter mask]) at a cursor. */
  private elements(
    c: Cursor,
    n: number,
    elementSize: number,
    filtered: boolean,
    chunkBytes: number,
    first: number,
    out: Map<number, ChunkEntry>,
  ): void {
    const O = this.f.sizeOfOffsets;
    for (let k = 0; k < n; k++) {
      const at = c.p;
      const addr = c.addr();
      let size = chunkBytes, mask = 0;
      if (filtered) (size = c.uint(elementSize - O - 4), mask = c.u32());
      c.p = at + elementSize;
      if (addr !== UNDEF) out.set(first + k, { addr, size, mask });
    }
  }

  private readFixedArray(addr: number, filtered: boolean, chunkBytes: number, out: Map<number, ChunkEntry>): void {
    const f = this.f, O = f.sizeOfOffsets;
    const h = f.cursor(addr, 4 + 4 + f.sizeOfLengths + O + 4);
    h.signature("FAHD", "fixed array header");
    h.skip(2);
    const elementSize = h.u8(), pageBits = h.u8();
    const n = h.len(), dblock = h.addr();
    if (dblock === UNDEF) return;
    const pageElements = 2 ** pageBits;
    if (n <= pageElements) {
      const c = f.cursor(dblock, 4 + 2 + O + n * elementSize + 4);
      c.signature("FADB", "fixed array data block");
      c.skip(2 + O);
      this.elements(c, n, elementSize, filtered, chunkBytes, 0, out);
      return;
    }
    const pages = Math.ceil(n / pageElements), bitmapBytes = Math.ceil(pages / 8);
    const prefix = 4 + 2 + O + bitmapBytes + 4;
    const c = f.cursor(dblock, prefix);
    c.signature("FADB", "fixed array data block");
    c.skip(2 + O);
    const bitmap = c.bytes(bitmapBytes);
    for (let p = 0; p < pages; p++) {
      if (!(bitmap[p >> 3] & (0x80 >> (p & 7)))) continue;
      const count = Math.min(pageElements, n - p * pageElements);
      const pc = f.cursor(dblock + prefix + p * (pageElements * elementSize + 4), count * elementSize);
      this.elements(pc, count, elementSize, filtered, chunkBytes, p * pageElements, out);
    }
  }

  private readExtensibleArray(addr: number, filtered: boolean, chunkBytes: number, out: Map<number, ChunkEntry>): void {
    const f = this.f, O = f.sizeOfOffsets, L = f.sizeOfLengths;
    const h = f.cursor(addr, 4 + 2 + 6 + 6 * L + O + 4);
    h.signature("EAHD", "extensible array header");
    h.skip(2);
    const elementSize = h.u8(), maxBits = h.u8(), ibElements = h.u8(), dbMinElements = h.u8();
    const sbMinPointers = h.u8(), pageBits = h.u8();
    h.skip(4 * L);
    const maxIndexSet = h.len();
    h.skip(L);
    const iblock = h.addr();
    if (iblock === UNDEF || maxIndexSet === 0) return;
    const log2 = (x: number) => Math.round(Math.log2(x));
    const nsblks = 1 + (maxBits - log2(dbMinElements));
    const sblk: { ndblks: number; dblkElements: number }[] = [];
    for (let u = 0; u < nsblks; u++) {
      sblk.push({ ndblks: 2 ** Math.floor(u / 2), dblkElements: 2 ** Math.floor((u + 1) / 2) * dbMinElements });
    }
    const ibSuper = 2 * log2(sbMinPointers);
    const ibDblocks = 2 * (sbMinPointers - 1);
    const ibSblocks = Math.max(0, nsblks - ibSuper);
    const offsetSize = Math.floor((maxBits + 7) / 8);
    const pageElements = 2 ** pageBits;
    const ic = f.cursor(iblock, 4 + 2 + O + ibElements * elementSize + (ibDblocks + ibSblocks) * O + 4);
    ic.signature("EAIB", "extensible array index block");
    ic.skip(2 + O);
    this.elements(ic, Math.min(ibElements, maxIndexSet), elementSize, filtered, chunkBytes, 0, out);
    ic.p = 4 + 2 + O + ibElements * elementSize;
    const dblockAddrs: number[] = [];
    for (let i = 0; i < ibDblocks; i++) dblockAddrs.push(ic.addr());
    const sblockAddrs: number[] = [];
    for (let i = 0; i < ibSblocks; i++) sblockAddrs.push(ic.addr());
    let next = ibElements, dblockIndex = 0;
    const readDblock = (at: number, count: number, first: number, pageInit?: (p: number) => boolean) => {
      if (at === UNDEF) return;
      const want = Math.min(count, maxIndexSet - first);
      if (want <= 0) return;
      const head = 4 + 2 + O + offsetSize;
      if (count <= pageElements) {
        const c = f.cursor(at + head, want * elementSize);
        this.elements(c, want, elementSize, filtered, chunkBytes, first, out);
        return;
      }
      if (!pageInit) throw new Hdf5Unsupported("paged extensible-array data blocks in the index block");
      const pages = count / pageElements;
      for (let p = 0; p < pages; p++) {
        const pfirst = first + p * pageElements;
        const pwant = Math.min(pageElements, maxIndexSet - pfirst);
        if (pwant <= 0) break;
        if (!pageInit(p)) continue;
        const c = f.cursor(at + head + 4 + p * (pageElements * elementSize + 4), pwant * elementSize);
        this.elements(c, pwant, elementSize, filtered, chunkBytes, pfirst, out);
      }
    };
    for (let s = 0; s < nsblks && next < maxIndexSet; s++) {
      const { ndblks, dblkElements } = sblk[s];
      if (s < ibSuper) {
        for (let d = 0; d < ndblks; d++) {
          readDblock(dblockAddrs[dblockIndex++], dblkElements, next);
          next += dblkElements;
        }
        continue;
      }
      const sbAddr = sblockAddrs[s - ibSuper];
      if (sbAddr === UNDEF) {
        next += ndblks * dblkElements;
        continue;
      }
      const npages = dblkElements > pageElements ? dblkElements / pageElements : 0;
      // Room for one page-init bitmap per data block, but the bits are numbered across them.
      const perBlock = Math.ceil(npages / 8), bitmapBytes = ndblks * perBlock;
      const sc = f.cursor(sbAddr, 4 + 2 + O + offsetSize + bitmapBytes + ndblks * O + 4);
      sc.signature("EASB", "extensible array secondary block");
      sc.skip(2 + O + offsetSize);
      const bitmap = sc.bytes(bitmapBytes);
      for (let d = 0; d < ndblks; d++) {
        const at = sc.addr();
        const init = (p: number) => {
          const bit = d * npages + p;
          return (bitmap[bit >> 3] & (0x80 >> (bit & 7))) !== 0;
        };
        readDblock(at, dblkElements, next, npages > 0 ? init : undefined);
        next += dblkElements;
      }
    }
  }
}

/** `H5VM_limit_enc_size`: bytes to encode numbers up to `m`. */
export function limitEncSize(m: number): number {
  return Math.floor(Math.log2(m) / 8) + 1;
}

/** Verify the lookup3 checksum stored after `block`'s first `end` bytes (a mismatch: Hdf5Corrupt naming `what`). */
export function verifyChecksum(block: Uint8Array, end: number, what: string): void {
  if (end + 4 > block.length) throw new Hdf5Corrupt(`${what}: ends before its checksum`);
  if (!lookup3Matches(block.subarray(0, end), block.subarray(end, end + 4))) {
    throw new Hdf5Corrupt(`${what}: checksum mismatch`);
  }
}

/**
 * Every record of a version 2 B-tree whose record type is one of `types`,
 * in key order, with checksums verified (a mismatch or a malformed node is
 * {@link Hdf5Corrupt}); `visit` gets each record's bytes and the type.
 */
export function btree2Records(
  f: Hdf5File,
  addr: number,
  types: readonly number[],
  visit: (rec: Uint8Array, type: number) => void,
): void {
  const O = f.sizeOfOffsets, L = f.sizeOfLengths;
  const size = 4 + 1 + 1 + 4 + 2 + 2 + 1 + 1 + O + 2 + L;
  const what = `v2 B-tree at address ${addr}`;
  const h = f.cursor(addr, size + 4);
  h.signature("BTHD", what);
  if (h.u8() !== 0) throw new Hdf5Unsupported("v2 B-tree version other than 0");
  const type = h.u8(), nodeSize = h.u32(), recSize = h.u16(), depth = h.u16();
  h.skip(2);
  const root = h.addr(), rootRecords = h.u16();
  verifyChecksum(h.b, size, what);
  if (!types.includes(type)) throw new Hdf5Corrupt(`${what}: record type ${type}, expected ${types.join(" or ")}`);
  if (recSize < 1 || nodeSize < 16 || depth > 32) throw new Hdf5Corrupt(`${what}: bad node or record size`);
  const maxLeaf = Math.floor((nodeSize - 10) / recSize);
  const maxNrecSize = limitEncSize(maxLeaf);
  const cum = [maxLeaf], cumSize = [0];
  for (let u = 1; u <= depth; u++) {
    const ptr = O + maxNrecSize + (u > 1 ? cumSize[u - 1] : 0);
    const max = Math.floor((nodeSize - (10 + ptr)) / (recSize + ptr));
    cum.push((max + 1) * cum[u - 1] + max);
    cumSize.push(limitEncSize(cum[u]));
  }
  const walk = (node: number, nrec: number, level: number) => {
    const nodeWhat = `v2 B-tree ${level === 0 ? "leaf" : "internal"} node at address ${node}`;
    const c = f.cursor(node, nodeSize);
    c.signature(level === 0 ? "BTLF" : "BTIN", nodeWhat);
    c.skip(1);
    if (c.u8() !== type) throw new Hdf5Corrupt(`${nodeWhat}: record type differs from the header's`);
    const recordsAt = c.p;
    c.skip(nrec * recSize);
    const children: [number, number][] = [];
    if (level > 0) {
      for (let i = 0; i <= nrec; i++) {
        const child = c.addr(), childRecords = c.uint(maxNrecSize);
        if (level > 1) c.uint(cumSize[level - 1]);
        children.push([child, childRecords]);
      }
    }
    verifyChecksum(c.b, c.p, nodeWhat);
    for (let i = 0; i < nrec; i++) {
      if (level > 0) walk(children[i][0], children[i][1], level - 1);
      visit(c.b.subarray(recordsAt + i * recSize, recordsAt + (i + 1) * recSize), type);
    }
    if (level > 0) walk(children[nrec][0], children[nrec][1], level - 1);
  };
  if (root !== UNDEF && rootRecords > 0) walk(root, rootRecords, depth);
}
