/**
 * An own reader for the raw data of netCDF4/HDF5 variables
 * ({@link Hdf5Variable}): from a dataset's object header (dataspace,
 * datatype, fill value, data layout and filter pipeline messages) it reads
 * a hyperslab of compact, contiguous or chunked storage. Chunks are located
 * through the chunk index (chunk_index.ts), read with positioned reads
 * sorted by file offset and merged into large sequential runs, and decoded
 * once (filters.ts), whole chunks inside the slab straight into the output.
 *
 * Why not h5wasm for the bytes: it inflates and unshuffles at ≈240 MB/s on
 * one core, several times slower than libdeflate + SIMD. h5wasm still reads
 * what the own readers do not (see dataset.ts).
 *
 * What this reader does not handle raises {@link Hdf5Unsupported} (another
 * filter such as szip, nbit or scaleoffset, shared datatypes, virtual
 * layouts, …) so the caller can hand the variable back to h5wasm; damaged
 * structures and chunks raise {@link Hdf5Corrupt} naming what is damaged.
 *
 * @module
 */
import { type Inflater, inflater } from "../../../native/deflate.ts";
import { Hdf5Corrupt, Hdf5Unsupported, UNDEF } from "./cursor.ts";
import type { Hdf5File } from "./superblock.ts";
import {
  type Layout,
  type Message,
  MSG_DATASPACE,
  MSG_DATATYPE,
  MSG_FILL_VALUE,
  MSG_FILL_VALUE_OLD,
  MSG_FILTER_PIPELINE,
  MSG_LAYOUT,
  objectHeaderMessages,
  parseDataspace,
  parseDatatype,
  parseFillValue,
  parseLayout,
  type StoredType,
} from "./object_header.ts";
import {
  type Filter,
  FILTER_DEFLATE,
  FILTER_FLETCHER32,
  FILTER_SHUFFLE,
  parseFilters,
  undoFilters,
} from "./filters.ts";
import { type ChunkedLayout, type ChunkEntry, type ChunkIndex, readChunkIndex } from "./chunk_index.ts";
import { copyBlock, downOf, fillWith, swapBytes } from "./hyperslab.ts";
import { decodeCounter, decodedChunks } from "./decoded_chunks.ts";
import { grown } from "./scratch.ts";

/** Numbers the files whose chunks {@link decodedChunks} holds. */
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
  /** The chunk index, read on the first chunked read. */
  private index: ChunkIndex | undefined;
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
    const space = one(MSG_DATASPACE), dtype = one(MSG_DATATYPE), layout = one(MSG_LAYOUT);
    if (!space || !dtype || !layout) throw new Hdf5Corrupt("dataset header lacks a dataspace, datatype or layout");
    ({ shape: this.shape, maxShape: this.maxShape } = parseDataspace(space.data, f));
    this.type = parseDatatype(dtype.data);
    this.layout = parseLayout(layout.data, f);
    this.filters = supportedFilters(one(MSG_FILTER_PIPELINE));
    this.fill = fillValue(one(MSG_FILL_VALUE), one(MSG_FILL_VALUE_OLD), this.type);
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

  /** Fill `out` with the fill value (zeros when there is none). */
  private fillInto(out: Uint8Array): void {
    fillWith(this.fill, this.type.size, out);
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
      copyBlock(this.type.size, data, this.shape, new Array(rank).fill(0), start, count, out);
    } else if (this.layout.kind === "contiguous") this.readContiguous(start, count, out);
    else this.readChunked(start, count, out);
    if (this.type.bigEndian) swapBytes(out.subarray(0, total * es), es);
  }

  /** A hyperslab of contiguous storage, read in whole outer rows of at most MAX_RUN bytes. */
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
      copyBlock(
        this.type.size,
        buf.subarray(0, rows * rowBytes),
        [rows, ...this.shape.slice(1)],
        origin,
        start,
        count,
        out,
      );
    }
  }

  /** Bytes of one decoded chunk. */
  private chunkBytes(): number {
    return (this.layout as { chunk: number[] }).chunk.reduce((a, b) => a * b, this.type.size);
  }

  /** The chunked layout (only called for chunked storage). */
  private get chunked(): ChunkedLayout {
    return this.layout as ChunkedLayout;
  }

  /** A hyperslab of chunked storage: the chunks it touches, decoded once each. */
  private readChunked(start: number[], count: number[], out: Uint8Array): void {
    this.decodeChunks(this.wantedChunks(start, count), start, count, out);
  }

  /**
   * The chunks a hyperslab touches, in row-major order, each marked `direct`
   * when it lies whole inside the slab with its values contiguous there.
   */
  private wantedChunks(start: number[], count: number[]): Wanted[] {
    const rank = this.shape.length, chunk = this.chunked.chunk;
    const { entries, keyOf } = this.chunkIndex();
    const first = start.map((s, d) => Math.floor(s / chunk[d]));
    const last = start.map((s, d) => Math.floor((s + count[d] - 1) / chunk[d]));
    const wanted: Wanted[] = [];
    const dstDown = downOf(count);
    const scaled = [...first];
    let firstWide = 0;
    while (firstWide < rank - 1 && chunk[firstWide] === 1) firstWide++;
    for (;;) {
      const w: Wanted = { scaled: [...scaled], entry: entries.get(keyOf(scaled)) };
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
    return wanted;
  }

  /** Read the wanted chunks in file order, in merged runs, and decode each once. */
  private decodeChunks(wanted: Wanted[], start: number[], count: number[], out: Uint8Array): void {
    const pending = this.placeCachedAndUnwritten(wanted, start, count, out);
    pending.sort((a, b) => a.entry!.addr - b.entry!.addr);
    for (let i = 0; i < pending.length;) {
      const j = this.runEnd(pending, i);
      this.decodeRun(pending.slice(i, j), start, count, out);
      i = j;
    }
  }

  /**
   * Place the wanted chunks that need no read — decoded ones still cached,
   * and those never written (fill values) — and return the others.
   */
  private placeCachedAndUnwritten(wanted: Wanted[], start: number[], count: number[], out: Uint8Array): Wanted[] {
    const chunk = this.chunked.chunk;
    const chunkBytes = this.chunkBytes();
    const pending: Wanted[] = [];
    for (const w of wanted) {
      const key = `${this.cacheId}/${w.scaled}`;
      const cached = w.direct === undefined ? decodedChunks.get(key) : undefined;
      if (cached) copyBlock(this.type.size, cached, chunk, w.scaled.map((s, d) => s * chunk[d]), start, count, out);
      else if (!w.entry || w.entry.addr === UNDEF) {
        if (w.direct !== undefined) this.fillInto(out.subarray(w.direct, w.direct + chunkBytes));
        else {
          const block = grown("stage", chunkBytes).subarray(0, chunkBytes);
          this.fillInto(block);
          copyBlock(this.type.size, block, chunk, w.scaled.map((s, d) => s * chunk[d]), start, count, out);
        }
      } else pending.push(w);
    }
    return pending;
  }

  /**
   * The end (exclusive) of the run of chunks (sorted by address) starting at
   * `i` that one positioned read covers: gaps of at most MERGE_GAP bytes,
   * MAX_RUN bytes in all.
   */
  private runEnd(pending: Wanted[], i: number): number {
    let j = i + 1, end = pending[i].entry!.addr + pending[i].entry!.size;
    while (j < pending.length) {
      const e = pending[j].entry!;
      if (e.addr - end > MERGE_GAP || e.addr + e.size - pending[i].entry!.addr > MAX_RUN) break;
      end = Math.max(end, e.addr + e.size);
      j++;
    }
    return j;
  }

  /**
   * Read one run of chunks with a single positioned read and decode each:
   * straight into the output, or into the cache and copied from there.
   */
  private decodeRun(run: Wanted[], start: number[], count: number[], out: Uint8Array): void {
    const chunk = this.chunked.chunk;
    const chunkBytes = this.chunkBytes();
    const runStart = run[0].entry!.addr;
    const end = run.reduce((a, w) => Math.max(a, w.entry!.addr + w.entry!.size), 0);
    const raw = this.f.readAt(runStart, end - runStart, grown("raw", end - runStart));
    for (const w of run) {
      const e = w.entry!;
      const stored = raw.subarray(e.addr - runStart, e.addr - runStart + e.size);
      const origin = w.scaled.map((s, d) => s * chunk[d]);
      if (w.direct !== undefined) {
        this.decodeChunk(stored, e.mask, w.scaled, out.subarray(w.direct, w.direct + chunkBytes));
      } else {
        const key = `${this.cacheId}/${w.scaled}`;
        const block = decodedChunks.put(key, chunkBytes);
        try {
          this.decodeChunk(stored, e.mask, w.scaled, block);
        } catch (err) {
          decodedChunks.delete(key);
          throw err;
        }
        copyBlock(this.type.size, block, chunk, origin, start, count, out);
      }
    }
  }

  /** Undo the filter pipeline of one stored chunk into `into` (exactly one decoded chunk). */
  private decodeChunk(stored: Uint8Array, mask: number, scaled: number[], into: Uint8Array): void {
    decodeCounter.chunks++;
    const layout = this.chunked;
    const where = () =>
      `chunk (${scaled.map((s, d) => s * layout.chunk[d]).join(", ")}) of ${this.name}` +
      ` (chunk index (${scaled.join(", ")}), ${stored.length} bytes)`;
    // With the v4 flag, edge chunks (reaching past the shape) are stored unfiltered.
    const skipAll = layout.unfilteredEdges && scaled.some((s, d) => (s + 1) * layout.chunk[d] > this.shape[d]);
    const active = skipAll ? [] : this.filters.filter((_, i) => !(mask & (1 << i)));
    try {
      undoFilters(active, stored, into, this.type.size, this.inflate);
    } catch (e) {
      if (e instanceof Hdf5Unsupported) throw e;
      throw new Hdf5Corrupt(`${where()}: ${(e as Error).message}`);
    }
  }

  /** The chunk index, read once. */
  private chunkIndex(): ChunkIndex {
    this.index ??= readChunkIndex(
      this.f,
      this.chunked,
      this.shape,
      this.maxShape,
      this.chunkBytes(),
      this.filters.length > 0,
    );
    return this.index;
  }
}

/** The filters of a pipeline message, refusing those this reader does not undo. */
function supportedFilters(pipeline: Message | undefined): Filter[] {
  const filters = pipeline ? parseFilters(pipeline.data) : [];
  for (const flt of filters) {
    if (![FILTER_DEFLATE, FILTER_SHUFFLE, FILTER_FLETCHER32].includes(flt.id)) {
      throw new Hdf5Unsupported(`the ${flt.name} filter`);
    }
  }
  return filters;
}

/** The fill value in native byte order; undefined when there is none or its size is not the element size. */
function fillValue(msg: Message | undefined, old: Message | undefined, type: StoredType): Uint8Array | undefined {
  let fill = parseFillValue(msg, old);
  if (fill && fill.length !== type.size) fill = undefined;
  if (type.bigEndian && fill) swapBytes(fill, type.size);
  return fill;
}
