/**
 * The zarr v3 `sharding_indexed` layout, as this project writes and reads
 * it: a shard file holds its inner chunks back to back, then an index of
 * one (offset, length) pair per inner chunk in C order (little-endian
 * uint64; both all ones for an empty chunk), then the index's CRC-32C.
 *
 * Writing: {@link ShardAssembler} lays a shard out in one buffer reused
 * shard after shard. Reading: {@link ShardFiles} reads and checks each
 * shard's index once and keeps a few shard files open; inner chunks that
 * lie back to back ({@link backToBackRuns}) are read with one call.
 *
 * @module
 */
import { StoreError } from "../errors.ts";
import { adviseHugePages } from "../native/malloc.ts";
import { crc32c } from "./crc32c.ts";
import { fileRead, notDownloaded } from "./mirror.ts";

/** Index entry (offset and length) of an inner chunk that is not stored. */
export const EMPTY_ENTRY = 0xffffffffffffffffn;

/** Bytes of a shard's index and its CRC-32C, for `count` inner chunks. */
export function indexBytes(count: number): number {
  return 16 * count + 4;
}

/** Inner chunks per shard along each dimension. */
export function chunksPerShard(shards: number[], chunks: number[]): number[] {
  return shards.map((v, i) => v / chunks[i]);
}

/** The shard holding inner chunk `coords`, and the chunk's place (C order) in it. */
export function innerChunkPlace(coords: number[], perShard: number[]): { shard: number[]; local: number } {
  let local = 0;
  for (let i = 0; i < perShard.length; i++) local = local * perShard[i] + (coords[i] % perShard[i]);
  return { shard: coords.map((c, i) => Math.floor(c / perShard[i])), local };
}

/**
 * Lays out shards, one at a time, in a buffer reused shard after shard
 * (grown when needed, keeping its content; huge pages advised).
 * {@link begin}, then {@link add} for each stored inner chunk, then
 * {@link finish}.
 */
export class ShardAssembler {
  private buffer = new Uint8Array(0);
  private index = new BigUint64Array(0);
  private offset = 0;
  private count = 0;

  /** Inner chunks added to the shard being laid out. */
  get stored(): number {
    return this.count;
  }

  /**
   * Start a shard of `count` inner chunks whose raw data takes `rawBytes`:
   * room for that much (encoded chunks are rarely larger) is made at once,
   * so a fresh assembler allocates once.
   */
  begin(count: number, rawBytes: number): void {
    this.index = new BigUint64Array(count * 2).fill(EMPTY_ENTRY);
    this.room(rawBytes + indexBytes(count));
    this.offset = 0;
    this.count = 0;
  }

  /** Append inner chunk `k`'s encoded bytes (copied at once: they may be a view of a codec's reused buffer). */
  add(k: number, encoded: Uint8Array): void {
    this.room(this.offset + encoded.length).set(encoded, this.offset);
    this.index[2 * k] = BigInt(this.offset);
    this.index[2 * k + 1] = BigInt(encoded.length);
    this.offset += encoded.length;
    this.count++;
  }

  /** The whole shard file: chunks, index, CRC-32C. A view of the reused buffer, valid until the next shard. */
  finish(): Uint8Array {
    const index = new Uint8Array(this.index.buffer);
    const size = this.offset + index.length + 4;
    const out = this.room(size).subarray(0, size);
    out.set(index, this.offset);
    new DataView(out.buffer, out.byteOffset).setUint32(this.offset + index.length, crc32c(index), true);
    return out;
  }

  /** The buffer, grown to at least `bytes`. */
  private room(bytes: number): Uint8Array {
    if (this.buffer.length < bytes) {
      const grown = new Uint8Array(Math.max(bytes, Math.ceil(this.buffer.length * 1.5)));
      adviseHugePages(grown);
      grown.set(this.buffer);
      this.buffer = grown;
    }
    return this.buffer;
  }
}

/** Where an inner chunk's stored bytes lie. */
export interface InnerChunkSpan {
  /** Shard file. */
  path: string;
  /** Byte offset in the shard file. */
  offset: number;
  /** Byte length. */
  length: number;
}

/** Inner chunks lying back to back in one shard file: one read. */
export interface ShardRun {
  /** Shard file. */
  path: string;
  /** Byte offset of the first chunk. */
  start: number;
  /** Bytes of all the run's chunks. */
  length: number;
  /** The chunks: `k` is the chunk's position in the list given to {@link backToBackRuns}. */
  chunks: { k: number; offset: number; length: number }[];
}

/**
 * Group stored inner chunks (undefined: not stored) into runs of chunks
 * that lie back to back in a shard file, by shard in order of first
 * appearance and by offset within a shard.
 */
export function backToBackRuns(spans: (InnerChunkSpan | undefined)[]): ShardRun[] {
  const byShard = new Map<string, { k: number; offset: number; length: number }[]>();
  for (const [k, at] of spans.entries()) {
    if (!at) continue;
    const list = byShard.get(at.path) ?? [];
    list.push({ k, offset: at.offset, length: at.length });
    byShard.set(at.path, list);
  }
  const runs: ShardRun[] = [];
  for (const [path, list] of byShard) {
    list.sort((a, b) => a.offset - b.offset);
    for (let a = 0; a < list.length;) {
      let b = a + 1;
      while (b < list.length && list[b].offset === list[b - 1].offset + list[b - 1].length) b++;
      const start = list[a].offset, length = list[b - 1].offset + list[b - 1].length - start;
      runs.push({ path, start, length, chunks: list.slice(a, b) });
      a = b;
    }
  }
  return runs;
}

/** Open shard files kept at most. */
const OPEN_SHARDS = 16;

/**
 * The shard files of one array, as a reader uses them: each shard's index
 * read and checked once, the few most recently used files kept open
 * (consecutive reads mostly hit the same shards), and one read buffer
 * reused across {@link readRuns} calls.
 */
export class ShardFiles {
  /** Index per shard file; null: the shard is absent. */
  private readonly indexes = new Map<string, BigUint64Array | null>();
  private readonly open = new Map<string, Deno.FsFile>();
  private readBuffer = new Uint8Array(0);

  /** `count`: inner chunks per shard. */
  constructor(private readonly count: number) {}

  /** Where inner chunk `local` of a shard lies; undefined when the shard stores none. Throws on a damaged index. */
  span(path: string, local: number): InnerChunkSpan | undefined {
    const index = this.index(path);
    if (!index || index[2 * local] === EMPTY_ENTRY) return undefined;
    return { path, offset: Number(index[2 * local]), length: Number(index[2 * local + 1]) };
  }

  /** True when the shard file is there. */
  has(path: string): boolean {
    return this.index(path) !== undefined;
  }

  /** Read `length` bytes at `offset` of a shard whose index was read (into `into` when given). */
  read(path: string, offset: number, length: number, into?: Uint8Array): Uint8Array {
    const file = this.file(path);
    // A shard of a store read by URL evicted from its cache since its index was read: a miss of this pass.
    if (!file && notDownloaded(path)) return into?.fill(0) ?? new Uint8Array(length);
    return preadSync(file ?? this.openShard(path), offset, length, into);
  }

  /**
   * Read runs of inner chunks ({@link backToBackRuns}) into one buffer
   * reused across calls (no fresh pages per call); `each` gets every chunk
   * as a view into it, valid until the next call.
   */
  readRuns(runs: ShardRun[], each: (k: number, bytes: Uint8Array, run: ShardRun) => void): void {
    const total = runs.reduce((a, r) => a + r.length, 0);
    if (this.readBuffer.length < total) this.readBuffer = new Uint8Array(Math.ceil(total * 1.25));
    let at = 0;
    for (const run of runs) {
      const bytes = this.read(run.path, run.start, run.length, this.readBuffer.subarray(at, at + run.length));
      for (const c of run.chunks) each(c.k, bytes.subarray(c.offset - run.start, c.offset - run.start + c.length), run);
      at += run.length;
    }
  }

  /** Close the shard files kept open. */
  close(): void {
    for (const f of this.open.values()) f.close();
    this.open.clear();
  }

  /** The index of a shard (offset, length per inner chunk), or undefined when the shard is absent. */
  private index(path: string): BigUint64Array | undefined {
    let index = this.indexes.get(path);
    if (index === null) return undefined;
    if (index === undefined) {
      const file = this.file(path);
      if (!file) {
        // A shard of a store opened by URL that is not downloaded yet may be there on the next pass.
        if (!notDownloaded(path)) this.indexes.set(path, null);
        return undefined;
      }
      index = readShardIndex(file, path, this.count);
      this.indexes.set(path, index);
    }
    return index;
  }

  /** An open shard whose index was read: it must still be there. */
  private openShard(path: string): Deno.FsFile {
    const file = this.file(path);
    if (!file) throw new StoreError(path, "shard file gone while reading (the store changed under the reader)");
    return file;
  }

  /** An open shard file (the least recently used one closed beyond {@link OPEN_SHARDS}), or undefined if absent. */
  private file(path: string): Deno.FsFile | undefined {
    fileRead(path);
    let f = this.open.get(path);
    if (f) {
      this.open.delete(path);
      this.open.set(path, f);
      return f;
    }
    try {
      f = Deno.openSync(path, { read: true });
    } catch (e) {
      if (e instanceof Deno.errors.NotFound) return undefined;
      throw e;
    }
    this.open.set(path, f);
    if (this.open.size > OPEN_SHARDS) {
      const [k, old] = this.open.entries().next().value!;
      old.close();
      this.open.delete(k);
    }
    return f;
  }
}

/**
 * Read the index at the end of an open shard file of `count` inner chunks,
 * checking its CRC-32C and that every entry lies within the chunk data.
 */
export function readShardIndex(file: Deno.FsFile, path: string, count: number): BigUint64Array {
  const size = file.statSync().size;
  const tail = indexBytes(count);
  if (size < tail) throw new StoreError(path, `shard file of ${size} bytes is shorter than its index`);
  return checkShardIndex(preadSync(file, size - tail, tail), size, path, count);
}

/**
 * The index of a shard of `size` bytes from its last {@link indexBytes}
 * bytes, checked: its CRC-32C, and every entry within the chunk data.
 */
export function checkShardIndex(bytes: Uint8Array, size: number, path: string, count: number): BigUint64Array {
  const tail = indexBytes(count);
  if (size < tail) throw new StoreError(path, `shard file of ${size} bytes is shorter than its index`);
  const crc = new DataView(bytes.buffer, bytes.byteOffset + 16 * count, 4).getUint32(0, true);
  if (crc32c(bytes.subarray(0, 16 * count)) !== crc) {
    throw new StoreError(path, "shard index fails its CRC-32C check: the shard file is damaged");
  }
  const index = new BigUint64Array(bytes.buffer, bytes.byteOffset, 2 * count);
  const data = BigInt(size - tail);
  for (let k = 0; k < count; k++) {
    if (index[2 * k] !== EMPTY_ENTRY && index[2 * k] + index[2 * k + 1] > data) {
      throw new StoreError(path, `shard index entry ${k} points past the shard's data: the shard file is damaged`);
    }
  }
  return index;
}

/** Read exactly `n` bytes at `pos` (into `into` when given). */
function preadSync(file: Deno.FsFile, pos: number, n: number, into?: Uint8Array): Uint8Array {
  const buf = into ?? new Uint8Array(n);
  file.seekSync(pos, Deno.SeekMode.Start);
  let got = 0;
  while (got < n) {
    const r = file.readSync(buf.subarray(got, n));
    if (!r) throw new StoreError(`byte ${pos + got}`, "unexpected end of a shard file");
    got += r;
  }
  return buf;
}
