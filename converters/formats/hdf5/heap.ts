/**
 * The heaps objects of a file are stored in: fractal heaps (dense link and
 * attribute storage: managed, tiny and unfiltered huge objects by heap ID),
 * global heaps (variable-length strings) and local heaps (the names of an
 * old-style group's members).
 *
 * @module
 */
import { Cursor, Hdf5Corrupt, Hdf5Unsupported, limitEncSize, UNDEF, verifyChecksum } from "./cursor.ts";
import { lookup3Matches } from "./lookup3.ts";
import type { Hdf5File } from "./superblock.ts";
import { btree2Records } from "./btree.ts";

/** A fractal heap (dense link and attribute storage): managed, tiny and (unfiltered) huge objects by heap ID. */
export class FractalHeap {
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

/** Global heap collections, read once each. */
export class GlobalHeap {
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

/** The data of the local heap at `addr` (NUL-terminated names at offsets into it). */
export function readLocalHeap(f: Hdf5File, addr: number): Uint8Array {
  const O = f.sizeOfOffsets, L = f.sizeOfLengths;
  const h = f.cursor(addr, 4 + 4 + 2 * L + O);
  h.signature("HEAP", `local heap at address ${addr}`);
  h.skip(4);
  const dataSize = h.len();
  h.len();
  const dataAddr = h.addr();
  if (dataSize > 1 << 30) throw new Hdf5Corrupt(`local heap at address ${addr}: size ${dataSize}`);
  return f.readAt(dataAddr, dataSize);
}
