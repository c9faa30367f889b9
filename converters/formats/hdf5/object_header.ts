/**
 * Object headers and the messages of them the reader understands: the
 * header itself (versions 1 and 2, continuation blocks followed, checksums
 * of version 2 verified), and the parsers of the dataspace, datatype, fill
 * value and data layout messages. The filter pipeline message is parsed in
 * filters.ts, attribute and link messages where they are used
 * (attributes.ts, group.ts).
 *
 * @module
 */
import { Cursor, Hdf5Corrupt, Hdf5Unsupported } from "./cursor.ts";
import { lookup3Matches } from "./lookup3.ts";
import type { Hdf5File } from "./superblock.ts";

/** Header message types the reader reads. */
export const MSG_DATASPACE = 0x01,
  MSG_LINK_INFO = 0x02,
  MSG_DATATYPE = 0x03,
  MSG_FILL_VALUE_OLD = 0x04,
  MSG_FILL_VALUE = 0x05,
  MSG_LINK = 0x06,
  MSG_LAYOUT = 0x08,
  MSG_GROUP_INFO = 0x0a,
  MSG_FILTER_PIPELINE = 0x0b,
  MSG_ATTRIBUTE = 0x0c,
  MSG_CONTINUATION = 0x10,
  MSG_SYMBOL_TABLE = 0x11,
  MSG_ATTRIBUTE_INFO = 0x15;

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
export function objectHeaderMessages(f: Hdf5File, addr: number): Message[] {
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
      if (type === MSG_CONTINUATION) {
        const cc = new Cursor(data, 0, f.sizeOfOffsets, f.sizeOfLengths);
        blocks.push([cc.addr(), cc.len()]);
      } else out.push({ type, flags: mflags, data, order });
    }
  }
  return { messages: out, attrOrderIndexed: orderIndexed };
}

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

/** Element type of a variable's stored values. */
export interface StoredType {
  /** `int`, `uint` or `float`. */
  kind: "int" | "uint" | "float";
  /** Bytes per element. */
  size: number;
  /** Big-endian on disk. */
  bigEndian: boolean;
}

/** The element type of a datatype message (integers and IEEE floats; other classes are unsupported). */
export function parseDatatype(m: Uint8Array): StoredType {
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

/** The fill value bytes of a fill value message (or of the old one), undefined when none is defined. */
export function parseFillValue(msg: Message | undefined, old: Message | undefined): Uint8Array | undefined {
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

/** How a variable's data is stored. */
export type Layout =
  | { kind: "compact"; data: Uint8Array }
  | { kind: "contiguous"; addr: number; size: number }
  | {
    kind: "chunked";
    chunk: number[];
    index: ChunkIndexSpec;
    /** v4 flag: edge chunks are stored unfiltered. */
    unfilteredEdges: boolean;
  };

/** Which chunk index a chunked layout uses, and where it is. */
export type ChunkIndexSpec =
  | { type: "btree1"; addr: number }
  | { type: "single"; addr: number; filteredSize?: number; mask: number }
  | { type: "implicit"; addr: number }
  | { type: "fixed"; addr: number }
  | { type: "extensible"; addr: number }
  | { type: "btree2"; addr: number };

/** The data layout message: compact data, contiguous extent, or chunk shape and index. */
export function parseLayout(m: Uint8Array, f: Hdf5File): Layout {
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

/** A datatype message, as far as attribute values and dataset types need it. */
export interface Datatype {
  cls: number;
  size: number;
  bits: number;
  /** Base type (variable-length and array types). */
  base?: Datatype;
}

/** A datatype message as attribute values and dataset types need it (the base type of variable-length types too). */
export function parseType(b: Uint8Array): Datatype {
  if (b.length < 8) throw new Hdf5Corrupt("datatype message shorter than 8 bytes");
  const cls = b[0] & 0x0f;
  const bits = b[1] | (b[2] << 8) | (b[3] << 16);
  const size = new DataView(b.buffer, b.byteOffset, b.byteLength).getUint32(4, true);
  const t: Datatype = { cls, size, bits };
  if (cls === 9) t.base = parseType(b.subarray(8));
  return t;
}

/** The element type name a dataset gets (as h5wasm.ts `dtypeOf` reads h5wasm's metadata). */
export function dtypeName(t: Datatype): string {
  if (t.cls === 3 || (t.cls === 9 && (t.bits & 0x0f) === 1)) return "string";
  if (t.cls === 1) return t.size === 8 ? "float64" : "float32";
  if (t.cls === 0) return `${t.bits & 0x08 ? "int" : "uint"}${t.size * 8}`;
  return "unknown";
}

/** Number of elements and rank of an attribute's dataspace (null for a null dataspace). */
export function attrSpace(b: Uint8Array, f: Hdf5File): { n: number; rank: number } | null {
  const version = b[0];
  if (version === 2 && b[3] === 2) return null;
  if (version !== 1 && version !== 2) throw new Hdf5Unsupported(`dataspace message version ${version}`);
  const { shape } = parseDataspace(b, f);
  return { n: shape.reduce((a, s) => a * s, 1), rank: shape.length };
}
