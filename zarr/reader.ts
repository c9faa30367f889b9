/**
 * Reading a finished store: one array's chunks (single inner chunks of a
 * sharded array, several back-to-back ones with one read; see
 * zarr/shard.ts), decoded, or a box of the array; and the root and group
 * attributes. A store's metadata is checked as it is opened: coordinate
 * arrays must match the array's shape, and an array whose metadata says
 * every chunk was written reports a missing chunk as damage
 * ({@link ArrayReader.missingChunkFiles} lists them all at once).
 *
 * @module
 */
import { join } from "node:path";
import { StoreError } from "../errors.ts";
import { zstd } from "../native/zstd.ts";
import { simdUnshuffle } from "../simd/shuffle.ts";
import { type CodecPipeline, decodeChunk } from "./codecs.ts";
import {
  allocate,
  type ChunkData,
  chunkKey,
  type DType,
  DTYPE_BYTES,
  readArrayMetadata,
  readJsonFile,
  viewAs,
  type ZarrFormat,
} from "./metadata.ts";
import { gridIndices, gridShape } from "./chunk_grid.ts";
import { backToBackRuns, chunksPerShard, innerChunkPlace, type InnerChunkSpan, ShardFiles } from "./shard.ts";
import { assertComplete, pathExists } from "./publish.ts";
import { fileRead, listedFiles, notDownloaded } from "./mirror.ts";

/** Read-only view of one array of a finished store. */
export class ArrayReader {
  /** Store root. */
  readonly root: string;
  /** Array path inside the store. */
  readonly path: string;
  /** Zarr format. */
  readonly format: ZarrFormat;
  /** Shape. */
  readonly shape: number[];
  /** Chunk shape. */
  readonly chunks: number[];
  /** Element type. */
  readonly dtype: DType;
  /** Dimension names. */
  readonly dimensions: string[];
  /** Attributes. */
  readonly attributes: Record<string, unknown>;
  /** Codec pipeline. */
  readonly pipeline: CodecPipeline;
  /** Shard shape of a sharded v3 array (then `chunks` are the inner chunks). */
  readonly shards?: number[];
  /** The shard files of a sharded array. */
  private readonly shardFiles?: ShardFiles;
  /** float32 with byte shuffle + zstd: decoded on the SIMD path. */
  private readonly shuffledZstd: boolean;
  /** Every chunk was written (attribute `chunks_complete`): a missing chunk is damage, not the fill value. */
  readonly complete: boolean;
  /** Where the stored bytes handed out came from, to name the file when they fail to decode. */
  private readonly origins = new WeakMap<Uint8Array, string>();

  constructor(root: string, path: string, format?: ZarrFormat) {
    this.root = root;
    this.path = path;
    this.format = format ?? assertComplete(root);
    const meta = readArrayMetadata(join(root, path), this.format);
    this.shape = meta.shape;
    this.chunks = meta.chunks;
    this.dtype = meta.dtype;
    this.dimensions = meta.dimensions;
    this.attributes = meta.attributes;
    this.pipeline = meta.pipeline;
    if (meta.shards) {
      this.shards = meta.shards;
      this.shardFiles = new ShardFiles(this.chunksPerShard.reduce((a, b) => a * b, 1));
    }
    this.shuffledZstd = this.dtype === "float32" && this.pipeline.stages.map((c) => c.name).join() === "shuffle,zstd";
    this.complete = this.attributes.chunks_complete === true;
    this.checkCoordinates();
  }

  /** The array's name for messages: store path and array path. */
  get name(): string {
    return join(this.root, this.path);
  }

  /** Inner chunks per shard along each dimension (all 1 without sharding). */
  private get chunksPerShard(): number[] {
    return this.shards ? chunksPerShard(this.shards, this.chunks) : this.chunks.map(() => 1);
  }

  /**
   * Every dimension that has a 1-D coordinate array of its own name at the
   * store root (`time`, `lats`, `level`, …) must have that array's length.
   */
  private checkCoordinates(): void {
    this.dimensions.forEach((dim, i) => {
      if (!dim || dim === this.path) return;
      const doc = join(this.root, dim, this.format === 2 ? ".zarray" : "zarr.json");
      if (!pathExists(doc)) return;
      const shape = (readJsonFile(doc) as { shape?: number[] }).shape;
      if (!Array.isArray(shape) || shape.length !== 1 || this.shape.length <= i) return;
      if (shape[0] !== this.shape[i]) {
        throw new StoreError(
          this.name,
          `shape [${this.shape.join(", ")}] has ${this.shape[i]} along ${dim}, but the coordinate array ${
            join(this.root, dim)
          } has ${shape[0]}: the store is inconsistent`,
        );
      }
    });
  }

  /**
   * Chunk (or shard) files that should be there but are not, for an array
   * whose metadata says every chunk was written; empty otherwise. Lists the
   * array's directory once, so it costs one pass over its files.
   */
  missingChunkFiles(): number[][] {
    if (!this.complete) return [];
    const present = filesBelow(join(this.root, this.path));
    const missing: number[][] = [];
    for (const coords of gridIndices(gridShape(this.shape, this.shards ?? this.chunks))) {
      if (!present.has(chunkKey(this.format, coords))) missing.push(coords);
    }
    return missing;
  }

  /** A chunk that is missing although the metadata says every chunk was written. */
  private missing(coords: number[], file: string): StoreError {
    return new StoreError(
      this.name,
      `chunk [${coords.join(", ")}] is missing (${file}); the array's metadata says every chunk was written, ` +
        "so the store is damaged: convert it again",
    );
  }

  /** Path of a chunk file. */
  chunkPath(coords: number[]): string {
    return join(this.root, this.path, chunkKey(this.format, coords));
  }

  /** The stored bytes of a chunk, or undefined when absent (a sharded array reads one inner chunk). */
  storedChunk(coords: number[]): Uint8Array | undefined {
    if (!this.shardFiles) return this.storedChunkFile(coords);
    const at = this.locate(coords);
    if (!at) return undefined;
    const bytes = this.shardFiles.read(at.path, at.offset, at.length);
    this.origins.set(bytes, `${at.path} (inner chunk [${coords.join(", ")}])`);
    return bytes;
  }

  /** The stored bytes of a chunk of an unsharded array: its whole file. */
  private storedChunkFile(coords: number[]): Uint8Array | undefined {
    const file = this.chunkPath(coords);
    try {
      const bytes = Deno.readFileSync(file);
      this.origins.set(bytes, file);
      fileRead(file);
      return bytes;
    } catch (e) {
      if (!(e instanceof Deno.errors.NotFound)) {
        throw new StoreError(file, `unreadable chunk (${(e as Error).message})`);
      }
      // A store opened by URL: not downloaded yet (read as absent in this pass, downloaded before the next).
      if (notDownloaded(file)) return undefined;
      if (this.complete) throw this.missing(coords, file);
      return undefined;
    }
  }

  /** Shard file, offset and length of an inner chunk of a sharded array; undefined when absent. */
  private locate(coords: number[]): InnerChunkSpan | undefined {
    const { shard, local } = innerChunkPlace(coords, this.chunksPerShard);
    const path = this.chunkPath(shard);
    if (!this.shardFiles!.has(path)) {
      if (notDownloaded(path)) return undefined;
      if (this.complete) throw this.missing(coords, path);
      return undefined;
    }
    return this.shardFiles!.span(path, local);
  }

  /**
   * The stored bytes of many chunks (undefined where absent). In a sharded
   * array, chunks lying back to back in a shard file are read with one
   * call, which matters for small inner chunks; they are views into a
   * buffer this reader reuses, valid until its next `storedChunks` call.
   */
  storedChunks(coords: number[][]): (Uint8Array | undefined)[] {
    if (!this.shardFiles) return coords.map((c) => this.storedChunk(c));
    const out: (Uint8Array | undefined)[] = coords.map(() => undefined);
    const runs = backToBackRuns(coords.map((c) => this.locate(c)));
    this.shardFiles.readRuns(runs, (k, view, run) => {
      this.origins.set(view, `${run.path} (inner chunk [${coords[k].join(", ")}])`);
      out[k] = view;
    });
    return out;
  }

  /** Close the shard files kept open. */
  close(): void {
    this.shardFiles?.close();
  }

  /** Read and decode one chunk (NaN/0 filled when absent). */
  readChunk(coords: number[]): ChunkData {
    return this.decodeStored(this.storedChunk(coords));
  }

  /**
   * Decode the stored bytes of one chunk ({@link storedChunk}); undefined
   * (absent) gives the fill value. Decodes into `into` (of this array's
   * type and chunk size) when given, sparing an allocation per chunk.
   */
  decodeStored(stored: Uint8Array | undefined, into?: ChunkData): ChunkData {
    if (!stored) return this.fillValue(into);
    try {
      return this.decodeChecked(stored, into);
    } catch (e) {
      if (e instanceof StoreError) throw e;
      throw new StoreError(
        this.origins.get(stored) ?? this.name,
        `chunk of ${this.name} cannot be decoded (${(e as Error).message}): the chunk file is damaged`,
        { cause: e },
      );
    }
  }

  /** Elements per chunk. */
  private get chunkLength(): number {
    return this.chunks.reduce((a, b) => a * b, 1);
  }

  /** A chunk of the fill value (NaN, or 0), in `into` when given. */
  private fillValue(into?: ChunkData): ChunkData {
    const out = into ?? allocate(this.dtype, this.chunkLength);
    if (out instanceof Float32Array || out instanceof Float64Array) out.fill(NaN);
    else if (out instanceof BigInt64Array) out.fill(0n);
    else out.fill(0);
    return out;
  }

  private decodeChecked(stored: Uint8Array, into?: ChunkData): ChunkData {
    const n = this.chunkLength;
    const simd = into && this.shuffledZstd ? simdUnshuffle() : undefined;
    if (simd) {
      // The common float32 case: zstd straight into the SIMD module's memory, unshuffled from there into `into`.
      const size = n * 4;
      zstd().decompress(stored, size, simd.input(size));
      simd.unshuffle4(size, new Uint8Array(into!.buffer, into!.byteOffset, size));
      return into!;
    }
    if (into) {
      decodeChunk(
        this.pipeline,
        stored,
        n * DTYPE_BYTES[this.dtype],
        new Uint8Array(into.buffer, into.byteOffset, into.byteLength),
      );
      return into;
    }
    const raw = decodeChunk(this.pipeline, stored, n * DTYPE_BYTES[this.dtype]);
    return viewAs(this.dtype, raw.byteOffset % 8 === 0 ? raw : raw.slice(), n);
  }

  /** Read a box `[start, stop)` per dimension into a C-order array. */
  read(box?: [number, number][]): ChunkData {
    const sel = box ?? this.shape.map((s) => [0, s] as [number, number]);
    const outShape = sel.map(([a, b]) => b - a);
    const out = allocate(this.dtype, outShape.reduce((a, b) => a * b, 1));
    const lo = sel.map(([a], i) => Math.floor(a / this.chunks[i]));
    const hi = sel.map(([, b], i) => Math.ceil(b / this.chunks[i]));
    for (const rel of gridIndices(hi.map((h, i) => h - lo[i]))) {
      const coords = rel.map((r, i) => r + lo[i]);
      this.copyOverlap(this.readChunk(coords), coords, sel, outShape, out);
    }
    return out;
  }

  /** Copy the part of chunk `coords` that lies in the box `sel` into `out` (of shape `outShape`), row by row. */
  private copyOverlap(
    chunk: ChunkData,
    coords: number[],
    sel: [number, number][],
    outShape: number[],
    out: ChunkData,
  ): void {
    const cStart = coords.map((c, i) => c * this.chunks[i]);
    const a = sel.map(([s], i) => Math.max(s, cStart[i]));
    const b = sel.map(([, e], i) => Math.min(e, cStart[i] + this.chunks[i]));
    const rows = a.slice(0, -1).map((x, i) => b[i] - x);
    const len = b.at(-1)! - a.at(-1)!;
    for (const r of gridIndices(rows)) {
      let src = 0, dst = 0;
      for (let d = 0; d < rows.length; d++) {
        src = src * this.chunks[d] + (a[d] + r[d] - cStart[d]);
        dst = dst * outShape[d] + (a[d] + r[d] - sel[d][0]);
      }
      const d = this.shape.length - 1;
      src = src * this.chunks[d] + (a[d] - cStart[d]);
      dst = dst * outShape[d] + (a[d] - sel[d][0]);
      out.set(chunk.subarray(src, src + len) as never, dst);
    }
  }
}

/**
 * Paths of the files below `dir`, relative to it (`c/0/1`); empty when
 * `dir` cannot be listed. An array of a store opened by URL has the listing
 * its HEAD requests gave (zarr/mirror.ts).
 */
function filesBelow(dir: string): Set<string> {
  const listed = listedFiles(dir);
  if (listed) return new Set(listed.keys());
  const present = new Set<string>();
  const walk = (at: string, rel: string) => {
    let entries: Deno.DirEntry[];
    try {
      entries = [...Deno.readDirSync(at)];
    } catch {
      return;
    }
    for (const e of entries) {
      const key = rel ? `${rel}/${e.name}` : e.name;
      if (e.isDirectory) walk(join(at, e.name), key);
      else present.add(key);
    }
  };
  walk(dir, "");
  return present;
}

/** Read the root group attributes of a finished store. */
export function readRootAttributes(root: string): Record<string, unknown> {
  const format = assertComplete(root);
  if (format === 2) return attributesObject(readJsonFile(join(root, ".zattrs")), join(root, ".zattrs"));
  const meta = readJsonFile(join(root, "zarr.json")) as { attributes?: unknown } | null;
  return attributesObject(meta?.attributes ?? {}, join(root, "zarr.json"));
}

/** Attributes must be a JSON object. */
function attributesObject(v: unknown, path: string): Record<string, unknown> {
  if (typeof v !== "object" || v === null || Array.isArray(v)) {
    throw new StoreError(path, "the attributes are not a JSON object; the store's metadata is damaged");
  }
  return v as Record<string, unknown>;
}

/** The int64 value zarr and numpy use for "not a time" (NaT). */
const NOT_A_TIME = -(2n ** 63n);

/**
 * The `time` coordinate of a store (seconds since 1970), refused with a
 * {@link StoreError} naming `ROOT/time` and the step when a value is
 * missing (NaT) or not after the one before it (a damaged or hand-edited
 * coordinate would silently misplace every sample).
 */
export function readTimeCoordinate(root: string): Float64Array {
  const raw = new ArrayReader(root, "time").read() as BigInt64Array;
  const iso = (v: number) => new Date(v * 1000).toISOString().slice(0, 19);
  for (let i = 0; i < raw.length; i++) {
    if (raw[i] === NOT_A_TIME) throw new StoreError(join(root, "time"), `step ${i} has no time (NaT)`);
    if (i > 0 && raw[i] <= raw[i - 1]) {
      throw new StoreError(
        join(root, "time"),
        `times must increase: step ${i} (${iso(Number(raw[i]))}) is not after step ${i - 1} (${
          iso(Number(raw[i - 1]))
        })`,
      );
    }
  }
  return Float64Array.from(raw, Number);
}

/** Attributes of a group inside a finished store. */
export function readGroupAttributes(root: string, path: string): Record<string, unknown> {
  const format = assertComplete(root);
  const dir = join(root, path);
  if (format === 2) {
    return pathExists(join(dir, ".zattrs"))
      ? attributesObject(readJsonFile(join(dir, ".zattrs")), join(dir, ".zattrs"))
      : {};
  }
  const meta = readJsonFile(join(dir, "zarr.json")) as { attributes?: unknown } | null;
  return attributesObject(meta?.attributes ?? {}, join(dir, "zarr.json"));
}

/** Size on disk of every file under a directory, in bytes (of an array opened by URL: in the remote store). */
export function diskUsage(dir: string): number {
  const listed = listedFiles(dir);
  if (listed) return [...listed.values()].reduce((a, b) => a + b, 0);
  let total = 0;
  for (const e of Deno.readDirSync(dir)) {
    const p = join(dir, e.name);
    if (e.isDirectory) total += diskUsage(p);
    else if (e.isFile) total += Deno.statSync(p).size;
  }
  return total;
}
