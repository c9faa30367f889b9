/**
 * The root group of a netCDF4/HDF5 file without the HDF5 library (loading
 * h5wasm costs ≈0.45 s of CPU per thread): its members, every dataset's
 * object-header address, shape and element type, and the attributes of the
 * group and of every dataset. Groups are read as symbol tables (v1 B-tree +
 * local heap), as Link messages, or as dense link storage (fractal heap +
 * v2 B-tree name index, which netCDF-C uses past 8 members); members come
 * in creation order where the group indexes it, else in name order, as
 * h5wasm lists them. Soft or external links, shared datatypes and messages
 * and the like throw {@link Hdf5Unsupported}: the caller reads the file
 * with h5wasm instead.
 *
 * @module
 */
import { Cursor, Hdf5Corrupt, Hdf5Unsupported, UNDEF } from "./cursor.ts";
import { Hdf5File, rootHeaderAddress } from "./superblock.ts";
import {
  dtypeName,
  type Message,
  MSG_DATASPACE,
  MSG_DATATYPE,
  MSG_GROUP_INFO,
  MSG_LAYOUT,
  MSG_LINK,
  MSG_LINK_INFO,
  MSG_SYMBOL_TABLE,
  objectHeader,
  parseDataspace,
  parseType,
} from "./object_header.ts";
import { FractalHeap, GlobalHeap, readLocalHeap } from "./heap.ts";
import { btree2Records, walkGroupBtree1 } from "./btree.ts";
import { readAttributes } from "./attributes.ts";
import { nameOf, sortByName, utf8 } from "./text.ts";

/** One dataset of a group. */
export interface Hdf5DatasetMeta {
  /** Link name in the group. */
  name: string;
  /** Address of its object header (what the own chunk reader opens). */
  address: number;
  /** Current shape ([] for scalars). */
  shape: number[];
  /** Element type name (see object_header.ts `dtypeName`): float32, float64, int8…uint64, string or unknown. */
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
  const O = f.sizeOfOffsets;
  const names = readLocalHeap(f, localHeap);
  walkGroupBtree1(f, btree, (at) => {
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
  });
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
