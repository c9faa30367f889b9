/**
 * Attributes of an object header, without the HDF5 library: compact
 * Attribute messages (versions 1–3) and dense storage (fractal heap + v2
 * B-tree name index, e.g. the ~20 GRIB_* attributes of CDS ERA5
 * variables); values of integer, float, fixed-length and variable-length
 * string types. Compound, enum and other attributes throw
 * {@link Hdf5Unsupported} (the caller reads the file with h5wasm instead).
 *
 * Values follow what h5wasm returns as h5wasm.ts `attrsOf` keeps them: a
 * scalar or 1-element numeric array is a number (64-bit integers too),
 * other numeric arrays typed arrays (BigInt64Array for 64-bit integers),
 * strings a string (scalar) or a string array, a null dataspace null;
 * float16 attributes are skipped (h5wasm cannot read them). Attributes come
 * in creation order where the header indexes it, else in name order (UTF-8
 * byte order), as h5wasm lists them.
 *
 * @module
 */
import { Cursor, Hdf5Corrupt, Hdf5Unsupported, UNDEF } from "./cursor.ts";
import type { Hdf5File } from "./superblock.ts";
import {
  attrSpace,
  type Datatype,
  type Message,
  MSG_ATTRIBUTE,
  MSG_ATTRIBUTE_INFO,
  parseType,
} from "./object_header.ts";
import { FractalHeap, type GlobalHeap } from "./heap.ts";
import { btree2Records } from "./btree.ts";
import { ascii, nameOf, sortByName, untilNul, utf8 } from "./text.ts";

/** Attributes h5wasm-based code skips by name (netCDF-4 dimension-scale bookkeeping, references). */
const SKIPPED_ATTRIBUTES = new Set(["DIMENSION_LIST", "REFERENCE_LIST"]);

/** An attribute value as h5wasm gives it, then as h5wasm.ts `attrsOf` keeps it. */
export function attrValue(
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
export function readAttributes(
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
