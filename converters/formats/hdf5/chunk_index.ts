/**
 * Chunk indexes: where each chunk of a chunked dataset is stored, through
 * every index HDF5 writes — the version 1 B-tree (netCDF-C's default), and
 * with the 1.10+ file format the single-chunk, implicit, fixed-array,
 * extensible-array and version 2 B-tree indexes. {@link readChunkIndex}
 * reads one whole and gives the chunks by a key computed from their
 * coordinates.
 *
 * @module
 */
import { type Cursor, Hdf5Unsupported, UNDEF } from "./cursor.ts";
import type { Layout } from "./object_header.ts";
import type { Hdf5File } from "./superblock.ts";
import { walkChunkBtree1, walkChunkBtree2 } from "./btree.ts";
import { downOf } from "./hyperslab.ts";

/** Where one chunk is stored. */
export interface ChunkEntry {
  /** File address. */
  addr: number;
  /** Stored (filtered) size in bytes. */
  size: number;
  /** Filters skipped for this chunk (bit i = filter i). */
  mask: number;
}

/** A chunked dataset's layout. */
export type ChunkedLayout = Extract<Layout, { kind: "chunked" }>;

/** A dataset's chunks by key, and the key of a chunk's scaled coordinates (chunk index per dimension). */
export interface ChunkIndex {
  /** Stored chunks by key (chunks never written are absent). */
  entries: Map<number, ChunkEntry>;
  /** The key of the chunk at these scaled coordinates. */
  keyOf: (scaled: number[]) => number;
}

/**
 * Read a dataset's chunk index whole. `chunkBytes` is the size of a decoded
 * chunk (the stored size of unfiltered chunks), `filtered` whether the
 * dataset has a filter pipeline (then the index records each chunk's size
 * and filter mask).
 */
export function readChunkIndex(
  f: Hdf5File,
  layout: ChunkedLayout,
  shape: number[],
  maxShape: number[],
  chunkBytes: number,
  filtered: boolean,
): ChunkIndex {
  const chunk = layout.chunk, rank = chunk.length;
  const grid = shape.map((s, d) => Math.ceil(s / chunk[d]));
  const maxGrid = maxShape.map((s, d) => (Number.isFinite(s) ? Math.ceil(s / chunk[d]) : grid[d]));
  const entries = new Map<number, ChunkEntry>();
  const idx = layout.index;
  if (idx.type === "btree1" || idx.type === "btree2") {
    // B-trees list the chunks written, by coordinates: keyed row-major in the current grid.
    const down = downOf(grid);
    const inGrid = (scaled: number[]) => scaled.every((s, d) => s >= 0 && s < grid[d]);
    const keyOf = (scaled: number[]) => scaled.reduce((a, s, d) => a + s * down[d], 0);
    if (idx.addr !== UNDEF && idx.type === "btree1") {
      walkChunkBtree1(f, idx.addr, rank, (offsets, e) => {
        const scaled = offsets.map((o, d) => o / chunk[d]);
        if (scaled.every(Number.isInteger) && inGrid(scaled)) entries.set(keyOf(scaled), e);
      });
    } else if (idx.addr !== UNDEF) {
      walkChunkBtree2(f, idx.addr, rank, filtered, chunkBytes, (scaled, e) => {
        if (inGrid(scaled)) entries.set(keyOf(scaled), e);
      });
    }
    return { entries, keyOf };
  }
  if (idx.type === "single") {
    if (idx.addr !== UNDEF) entries.set(0, { addr: idx.addr, size: idx.filteredSize ?? chunkBytes, mask: idx.mask });
    return { entries, keyOf: () => 0 };
  }
  if (idx.type === "implicit" || idx.type === "fixed") {
    // Arrays of every chunk of the maximum grid, row-major.
    const maxDown = downOf(maxGrid);
    const keyOf = (scaled: number[]) => scaled.reduce((a, s, d) => a + s * maxDown[d], 0);
    if (idx.addr !== UNDEF && idx.type === "implicit") {
      const n = maxGrid.reduce((a, b) => a * b, 1);
      for (let k = 0; k < n; k++) entries.set(k, { addr: idx.addr + k * chunkBytes, size: chunkBytes, mask: 0 });
    } else if (idx.addr !== UNDEF) readFixedArray({ f, filtered, chunkBytes, out: entries }, idx.addr);
    return { entries, keyOf };
  }
  const keyOf = swizzledKey(maxShape, maxGrid);
  if (idx.addr !== UNDEF) readExtensibleArray({ f, filtered, chunkBytes, out: entries }, idx.addr);
  return { entries, keyOf };
}

/** The key of an extensible array index: row-major in the maximum grid with the unlimited dimension moved first ("swizzled"). */
function swizzledKey(maxShape: number[], maxGrid: number[]): (scaled: number[]) => number {
  const rank = maxShape.length;
  const unlimited = maxShape.findIndex((s) => !Number.isFinite(s));
  const order = unlimited > 0 ? [unlimited, ...[...Array(rank).keys()].filter((d) => d !== unlimited)] : [
    ...Array(rank).keys(),
  ];
  const swDown = downOf(order.map((d) => maxGrid[d]));
  return (scaled) => order.reduce((a, d, k) => a + scaled[d] * swDown[k], 0);
}

/** Where the elements of an array index go, and how to read one. */
interface ElementSink {
  f: Hdf5File;
  /** Elements record a chunk size and filter mask after the address. */
  filtered: boolean;
  /** Size of an unfiltered chunk. */
  chunkBytes: number;
  /** Chunks by element index. */
  out: Map<number, ChunkEntry>;
}

/** Parse `n` index elements (address [, chunk size, filter mask]) at a cursor; element `k` is chunk `first + k`. */
function readElements(sink: ElementSink, c: Cursor, n: number, elementSize: number, first: number): void {
  const O = sink.f.sizeOfOffsets;
  for (let k = 0; k < n; k++) {
    const at = c.p;
    const addr = c.addr();
    let size = sink.chunkBytes, mask = 0;
    if (sink.filtered) (size = c.uint(elementSize - O - 4), mask = c.u32());
    c.p = at + elementSize;
    if (addr !== UNDEF) sink.out.set(first + k, { addr, size, mask });
  }
}

/** A fixed array index: a header, then one data block, its elements in pages when there are many. */
function readFixedArray(sink: ElementSink, addr: number): void {
  const f = sink.f, O = f.sizeOfOffsets;
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
    readElements(sink, c, n, elementSize, 0);
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
    readElements(sink, pc, count, elementSize, p * pageElements);
  }
}

/** The fields of an extensible array header the reader needs. */
interface ExtensibleArrayHeader {
  elementSize: number;
  /** Bits of the largest element index. */
  maxBits: number;
  /** Elements stored in the index block itself. */
  ibElements: number;
  /** Elements of the smallest data block. */
  dbMinElements: number;
  /** Data block pointers of the smallest super block. */
  sbMinPointers: number;
  /** Bits of the number of elements of a data block page. */
  pageBits: number;
  /** One more than the largest element index set. */
  maxIndexSet: number;
  /** Address of the index block. */
  iblock: number;
}

function readExtensibleArrayHeader(f: Hdf5File, addr: number): ExtensibleArrayHeader {
  const O = f.sizeOfOffsets, L = f.sizeOfLengths;
  const h = f.cursor(addr, 4 + 2 + 6 + 6 * L + O + 4);
  h.signature("EAHD", "extensible array header");
  h.skip(2);
  const elementSize = h.u8(), maxBits = h.u8(), ibElements = h.u8(), dbMinElements = h.u8();
  const sbMinPointers = h.u8(), pageBits = h.u8();
  h.skip(4 * L);
  const maxIndexSet = h.len();
  h.skip(L);
  const iblock = h.addr();
  return { elementSize, maxBits, ibElements, dbMinElements, sbMinPointers, pageBits, maxIndexSet, iblock };
}

/**
 * An extensible array index: elements in the index block, then super blocks
 * of data blocks that double in size; the first super blocks' data blocks
 * are pointed at from the index block, the others through secondary blocks.
 */
function readExtensibleArray(sink: ElementSink, addr: number): void {
  const h = readExtensibleArrayHeader(sink.f, addr);
  if (h.iblock === UNDEF || h.maxIndexSet === 0) return;
  new ExtensibleArray(sink, h).read();
}

/** The reading of one extensible array whose header was read. */
class ExtensibleArray {
  /** Number of data blocks and elements per data block of each super block. */
  private readonly superBlocks: { ndblks: number; dblkElements: number }[] = [];
  /** Super blocks whose data blocks the index block points at directly. */
  private readonly ibSuper: number;
  /** Data block addresses in the index block. */
  private readonly ibDblocks: number;
  /** Secondary block addresses in the index block. */
  private readonly ibSblocks: number;
  /** Bytes of a block offset. */
  private readonly offsetSize: number;
  private readonly pageElements: number;

  constructor(private readonly sink: ElementSink, private readonly h: ExtensibleArrayHeader) {
    const log2 = (x: number) => Math.round(Math.log2(x));
    const nsblks = 1 + (h.maxBits - log2(h.dbMinElements));
    for (let u = 0; u < nsblks; u++) {
      this.superBlocks.push({
        ndblks: 2 ** Math.floor(u / 2),
        dblkElements: 2 ** Math.floor((u + 1) / 2) * h.dbMinElements,
      });
    }
    this.ibSuper = 2 * log2(h.sbMinPointers);
    this.ibDblocks = 2 * (h.sbMinPointers - 1);
    this.ibSblocks = Math.max(0, nsblks - this.ibSuper);
    this.offsetSize = Math.floor((h.maxBits + 7) / 8);
    this.pageElements = 2 ** h.pageBits;
  }

  /** Every element set: the index block's, then each super block's data blocks in turn. */
  read(): void {
    const { h } = this;
    const { dblockAddrs, sblockAddrs } = this.readIndexBlock();
    let next = h.ibElements, dblockIndex = 0;
    for (let s = 0; s < this.superBlocks.length && next < h.maxIndexSet; s++) {
      const { ndblks, dblkElements } = this.superBlocks[s];
      if (s < this.ibSuper) {
        for (let d = 0; d < ndblks; d++) {
          this.readDataBlock(dblockAddrs[dblockIndex++], dblkElements, next);
          next += dblkElements;
        }
        continue;
      }
      const sbAddr = sblockAddrs[s - this.ibSuper];
      if (sbAddr !== UNDEF) this.readSecondaryBlock(sbAddr, ndblks, dblkElements, next);
      next += ndblks * dblkElements;
    }
  }

  /** The index block's own elements, and its data block and secondary block addresses. */
  private readIndexBlock(): { dblockAddrs: number[]; sblockAddrs: number[] } {
    const { sink, h } = this, O = sink.f.sizeOfOffsets;
    const ic = sink.f.cursor(
      h.iblock,
      4 + 2 + O + h.ibElements * h.elementSize + (this.ibDblocks + this.ibSblocks) * O + 4,
    );
    ic.signature("EAIB", "extensible array index block");
    ic.skip(2 + O);
    readElements(sink, ic, Math.min(h.ibElements, h.maxIndexSet), h.elementSize, 0);
    ic.p = 4 + 2 + O + h.ibElements * h.elementSize;
    const dblockAddrs: number[] = [];
    for (let i = 0; i < this.ibDblocks; i++) dblockAddrs.push(ic.addr());
    const sblockAddrs: number[] = [];
    for (let i = 0; i < this.ibSblocks; i++) sblockAddrs.push(ic.addr());
    return { dblockAddrs, sblockAddrs };
  }

  /**
   * The data blocks of a secondary block; a data block larger than a page is
   * read page by page, the pages set in the block's bitmap only.
   */
  private readSecondaryBlock(at: number, ndblks: number, dblkElements: number, first: number): void {
    const { sink, offsetSize, pageElements } = this, O = sink.f.sizeOfOffsets;
    const npages = dblkElements > pageElements ? dblkElements / pageElements : 0;
    // Room for one page-init bitmap per data block, but the bits are numbered across them.
    const perBlock = Math.ceil(npages / 8), bitmapBytes = ndblks * perBlock;
    const sc = sink.f.cursor(at, 4 + 2 + O + offsetSize + bitmapBytes + ndblks * O + 4);
    sc.signature("EASB", "extensible array secondary block");
    sc.skip(2 + O + offsetSize);
    const bitmap = sc.bytes(bitmapBytes);
    for (let d = 0; d < ndblks; d++) {
      const dblock = sc.addr();
      const init = (p: number) => {
        const bit = d * npages + p;
        return (bitmap[bit >> 3] & (0x80 >> (bit & 7))) !== 0;
      };
      this.readDataBlock(dblock, dblkElements, first + d * dblkElements, npages > 0 ? init : undefined);
    }
  }

  /** The elements of one data block of `count` elements, the first being `first` (`pageInit`: which pages are set). */
  private readDataBlock(at: number, count: number, first: number, pageInit?: (p: number) => boolean): void {
    const { sink, h, pageElements } = this, f = sink.f;
    if (at === UNDEF) return;
    const want = Math.min(count, h.maxIndexSet - first);
    if (want <= 0) return;
    const head = 4 + 2 + f.sizeOfOffsets + this.offsetSize;
    if (count <= pageElements) {
      const c = f.cursor(at + head, want * h.elementSize);
      readElements(sink, c, want, h.elementSize, first);
      return;
    }
    if (!pageInit) throw new Hdf5Unsupported("paged extensible-array data blocks in the index block");
    const pages = count / pageElements;
    for (let p = 0; p < pages; p++) {
      const pfirst = first + p * pageElements;
      const pwant = Math.min(pageElements, h.maxIndexSet - pfirst);
      if (pwant <= 0) break;
      if (!pageInit(p)) continue;
      const c = f.cursor(at + head + 4 + p * (pageElements * h.elementSize + 4), pwant * h.elementSize);
      readElements(sink, c, pwant, h.elementSize, pfirst);
    }
  }
}
