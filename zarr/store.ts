/**
 * A small zarr v2 / v3 directory-store writer and reader with native codecs.
 *
 * Completeness protocol: the root group's metadata (`.zgroup` + `.zmetadata`
 * in v2, the root `zarr.json` in v3) is written last, by {@link finalizeStore}.
 * Until then no zarr reader (zarr-python, xarray, zarrita, AtmoRep) can open
 * the directory as a group, and {@link assertComplete} explains why.
 *
 * @module
 */
import { dirname, join } from "node:path";
import { crc32c } from "./crc32c.ts";
import { IncompleteStoreError, StoreError } from "../errors.ts";
import { beforeWrite, faultPoint, writeBytesSync } from "./durable.ts";
import { adviseHugePages } from "../native/malloc.ts";
import { zstd } from "../native/zstd.ts";
import { simdUnshuffle } from "./simd.ts";
import {
  type CodecPipeline,
  decodeChunk,
  encodeChunk,
  parseCodecSpec,
  pipelineFromV2,
  pipelineFromV3,
} from "./codecs.ts";

/** Zarr format version. */
export type ZarrFormat = 2 | 3;

/** Element types this project stores. */
export type DType = "float32" | "float64" | "int32" | "int64" | "uint8" | "datetime64[s]";

/** Typed arrays matching {@link DType}. */
export type TypedArrayFor<D extends DType> = D extends "float32" ? Float32Array
  : D extends "float64" ? Float64Array
  : D extends "int32" ? Int32Array
  : D extends "uint8" ? Uint8Array
  : BigInt64Array;

/** Any typed array a chunk can hold. */
export type ChunkData = Float32Array | Float64Array | Int32Array | Uint8Array | BigInt64Array;

/** Description of an array to create. */
export interface ArraySpec {
  /** Array shape. */
  shape: number[];
  /** Chunk shape (same rank as shape). */
  chunks: number[];
  /** Element type. */
  dtype: DType;
  /** Dimension names (written as `_ARRAY_DIMENSIONS` / `dimension_names`). */
  dimensions: string[];
  /** Extra array attributes. */
  attributes?: Record<string, unknown>;
  /** Codec spec, see {@link parseCodecSpec}; default `none`. */
  codec?: string;
  /**
   * Every chunk of the array is written, all-NaN ones included, and the
   * metadata says so (attribute `chunks_complete`): a reader then treats a
   * missing chunk file as damage, not as the fill value.
   */
  complete?: boolean;
  /**
   * Zarr v3 only: shard shape (a multiple of `chunks`). Each shard is one
   * file holding its chunks and an index (`sharding_indexed`), so a store
   * has few files while readers still fetch single small chunks.
   */
  shards?: number[];
}

const V2_DTYPE: Record<DType, string> = {
  float32: "<f4",
  float64: "<f8",
  int32: "<i4",
  int64: "<i8",
  uint8: "|u1",
  "datetime64[s]": "<M8[s]",
};

const BYTES: Record<DType, number> = {
  float32: 4,
  float64: 8,
  int32: 4,
  int64: 8,
  uint8: 1,
  "datetime64[s]": 8,
};

/** Allocate a typed array of `n` elements of `dtype`. */
export function allocate(dtype: DType, n: number): ChunkData {
  switch (dtype) {
    case "float32":
      return new Float32Array(n);
    case "float64":
      return new Float64Array(n);
    case "int32":
      return new Int32Array(n);
    case "uint8":
      return new Uint8Array(n);
    default:
      return new BigInt64Array(n);
  }
}

function isFloat(dtype: DType): boolean {
  return dtype === "float32" || dtype === "float64";
}

function chunkKey(format: ZarrFormat, coords: number[]): string {
  if (coords.length === 0) return format === 2 ? "0" : "c";
  return format === 2 ? coords.join(".") : "c/" + coords.join("/");
}

/** Write via a temporary name and rename, so a reader never sees half a file. */
function writeFileAtomic(path: string, bytes: Uint8Array): void {
  beforeWrite(path);
  Deno.mkdirSync(dirname(path), { recursive: true });
  const tmp = `${path}.tmp-${crypto.randomUUID().slice(0, 8)}`;
  writeBytesSync(tmp, bytes);
  Deno.renameSync(tmp, path);
  faultPoint(path);
}

/**
 * JSON text that is pure ASCII: every non-ASCII character escaped as
 * `\uXXXX` (as Python's json writes by default), so readers that decode
 * metadata as ASCII (some zarr-python/xarray setups) open it.
 */
export function asciiJson(
  value: unknown,
  replacer?: (key: string, value: unknown) => unknown,
  indent?: number,
): string {
  return JSON.stringify(value, replacer as never, indent).replace(
    /[\u007f-\uffff]/g,
    (c) => "\\u" + c.charCodeAt(0).toString(16).padStart(4, "0"),
  );
}

function writeJson(path: string, value: unknown): void {
  writeFileAtomic(path, new TextEncoder().encode(asciiJson(value, jsonSafe, 2)));
}

// JSON has no NaN/Infinity; zarr writes them as strings in fill values and
// attributes (zarr-python does the same).
function jsonSafe(_key: string, value: unknown): unknown {
  if (typeof value === "number" && !Number.isFinite(value)) {
    return Number.isNaN(value) ? "NaN" : value > 0 ? "Infinity" : "-Infinity";
  }
  if (typeof value === "bigint") return Number(value);
  return value;
}

/** Metadata documents of one node, keyed by file name relative to the store root. */
type MetadataDocs = Record<string, unknown>;

/** Writer for one zarr array; chunks may be written from any process. */
export class ArrayWriter {
  /** Store root directory. */
  readonly root: string;
  /** Path of the array inside the store. */
  readonly path: string;
  /** Zarr format. */
  readonly format: ZarrFormat;
  /** The array spec. */
  readonly spec: ArraySpec;
  /** Codec pipeline. */
  readonly pipeline: CodecPipeline;
  /** Chunk directories this writer made (per writer, so nothing outlives a store). */
  private readonly madeDirs = new Set<string>();

  constructor(root: string, path: string, format: ZarrFormat, spec: ArraySpec) {
    this.root = root;
    this.path = path;
    this.format = format;
    this.spec = spec;
    this.pipeline = parseCodecSpec(spec.codec ?? "none", BYTES[spec.dtype]);
    if (spec.shards) {
      if (format !== 3) throw new StoreError(join(root, path), "sharding needs zarr format 3");
      if (spec.shards.some((v, i) => v % spec.chunks[i] !== 0)) {
        throw new StoreError(
          join(root, path),
          `shard shape ${spec.shards} is not a multiple of the chunk shape ${spec.chunks}`,
        );
      }
    }
  }

  private ensureDir(dir: string): void {
    if (this.madeDirs.has(dir)) return;
    Deno.mkdirSync(dir, { recursive: true });
    this.madeDirs.add(dir);
  }

  /** An all-NaN float chunk that may be left out (readers give the fill value). */
  private skippable(data: ChunkData): boolean {
    return !this.spec.complete && isFloat(this.spec.dtype) && allNaN(data as Float32Array);
  }

  /** Chunks per shard along each dimension (all 1 without sharding). */
  get chunksPerShard(): number[] {
    return this.spec.shards ? this.spec.shards.map((v, i) => v / this.spec.chunks[i]) : this.spec.chunks.map(() => 1);
  }

  /**
   * Write one shard: its chunks in C order of the shard's chunk grid
   * (undefined or all-NaN chunks stay empty), then the index of
   * (offset, length) pairs as little-endian uint64 and its CRC-32C.
   */
  writeShard(shardCoords: number[], chunks: (ChunkData | undefined)[]): number {
    const path = join(this.root, this.path, chunkKey(this.format, shardCoords));
    const index = new BigUint64Array(chunks.length * 2).fill(0xffffffffffffffffn);
    const indexBytes = new Uint8Array(index.buffer);
    // Room for the chunks as they are (encoded ones are rarely larger): one allocation for a fresh writer.
    this.shardRoom(chunks.reduce((a, c) => a + (c?.byteLength ?? 0), indexBytes.length + 4));
    let offset = 0, stored = 0;
    chunks.forEach((data, k) => {
      if (!data || (isFloat(this.spec.dtype) && allNaN(data as Float32Array))) return; // empty per the index
      // Encoded transiently (a view of the codecs' reused buffers) and appended at once.
      const enc = encodeChunk(this.pipeline, new Uint8Array(data.buffer, data.byteOffset, data.byteLength), true);
      this.shardRoom(offset + enc.length).set(enc, offset);
      index[2 * k] = BigInt(offset);
      index[2 * k + 1] = BigInt(enc.length);
      offset += enc.length;
      stored++;
    });
    beforeWrite(path);
    if (stored === 0 && !this.spec.complete) {
      try {
        Deno.removeSync(path);
      } catch { /* not there */ }
      faultPoint(path);
      return 0;
    }
    const size = offset + indexBytes.length + 4;
    const out = this.shardRoom(size).subarray(0, size);
    out.set(indexBytes, offset);
    new DataView(out.buffer, out.byteOffset).setUint32(offset + indexBytes.length, crc32c(indexBytes), true);
    this.ensureDir(dirname(path));
    writeBytesSync(path, out);
    faultPoint(path);
    return size;
  }

  /** This writer's shard buffer, reused shard after shard, grown to at least `bytes` (keeping its content). */
  private shardRoom(bytes: number): Uint8Array {
    if (this.shardBuffer.length < bytes) {
      const grown = new Uint8Array(Math.max(bytes, Math.ceil(this.shardBuffer.length * 1.5)));
      adviseHugePages(grown);
      grown.set(this.shardBuffer);
      this.shardBuffer = grown;
    }
    return this.shardBuffer;
  }
  private shardBuffer = new Uint8Array(0);

  /** Number of chunks along each dimension. */
  get chunkGrid(): number[] {
    return this.spec.shape.map((s, i) => Math.ceil(s / this.spec.chunks[i]));
  }

  /**
   * Write one chunk. `data` holds the full chunk shape in C order (edge
   * chunks padded). A floating-point chunk that is all NaN is not written:
   * readers return the fill value for it, as zarr-python does.
   */
  writeChunk(coords: number[], data: ChunkData): number {
    if (this.spec.shards) {
      throw new StoreError(join(this.root, this.path), "sharded arrays are written a shard at a time (writeShard)");
    }
    const path = join(this.root, this.path, chunkKey(this.format, coords));
    beforeWrite(path);
    if (this.skippable(data)) {
      try {
        Deno.removeSync(path);
      } catch { /* not there */ }
      faultPoint(path);
      return 0;
    }
    const raw = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
    const encoded = encodeChunk(this.pipeline, raw, true); // written out at once: no copy
    // Chunks are written in a staging store published as a whole, so a plain
    // write suffices: a killed run leaves no store that looks complete.
    this.ensureDir(dirname(path));
    writeBytesSync(path, encoded);
    faultPoint(path);
    return encoded.length;
  }

  /**
   * True when chunks may be handed to {@link writeShuffledChunk}: float32
   * values whose pipeline starts with a 4-byte shuffle, in an array whose
   * chunks are all written (an all-NaN chunk cannot be told from its
   * shuffled bytes, so none may be left out).
   */
  get takesShuffled(): boolean {
    // Asked once per chunk written: worked out once.
    if (this.shuffledFirst === undefined) {
      const first = this.pipeline.stages[0];
      this.shuffledFirst = this.spec.dtype === "float32" && this.spec.complete === true && !this.spec.shards &&
        first?.name === "shuffle" && first.v2().config.elementsize === 4;
    }
    return this.shuffledFirst;
  }
  private shuffledFirst: boolean | undefined;

  /**
   * Write one chunk given as the output of its pipeline's first stage, the
   * byte shuffle (see {@link takesShuffled}; zarr/simd_tiles.ts shuffles
   * a chunk straight out of a slab): the other stages run, then the write.
   */
  writeShuffledChunk(coords: number[], shuffled: Uint8Array): number {
    if (!this.takesShuffled) {
      throw new StoreError(join(this.root, this.path), "this array's chunks cannot be written pre-shuffled");
    }
    const path = join(this.root, this.path, chunkKey(this.format, coords));
    beforeWrite(path);
    const encoded = encodeChunk(this.afterShuffle, shuffled, true);
    this.ensureDir(dirname(path));
    writeBytesSync(path, encoded);
    faultPoint(path);
    return encoded.length;
  }

  /** The pipeline past its first stage (see {@link writeShuffledChunk}). */
  private get afterShuffle(): CodecPipeline {
    return this.pipelineAfterShuffle ??= { spec: this.pipeline.spec, stages: this.pipeline.stages.slice(1) };
  }
  private pipelineAfterShuffle: CodecPipeline | undefined;

  /** Write a whole small array (all chunks) from a C-order buffer of its shape. */
  writeAll(data: ChunkData): void {
    const grid = this.chunkGrid;
    if (!this.spec.shards) {
      for (const coords of gridIndices(grid)) {
        this.writeChunk(coords, extractChunk(data, this.spec.shape, this.spec.chunks, coords));
      }
      return;
    }
    const per = this.chunksPerShard;
    for (const shard of gridIndices(grid.map((g, i) => Math.ceil(g / per[i])))) {
      const chunks = [...gridIndices(per)].map((local) => {
        const coords = local.map((l, i) => shard[i] * per[i] + l);
        return coords.every((c, i) => c < grid[i])
          ? extractChunk(data, this.spec.shape, this.spec.chunks, coords)
          : undefined;
      });
      this.writeShard(shard, chunks);
    }
  }

  /** Metadata documents for this array, keyed relative to the store root. */
  metadata(): MetadataDocs {
    const s = this.spec;
    const attrs = { ...(s.attributes ?? {}), ...(s.complete ? { chunks_complete: true } : {}) };
    const prefix = this.path ? `${this.path}/` : "";
    if (this.format === 2) {
      const filters = this.pipeline.stages.filter((c) => c.v2().role === "filter").map((c) => c.v2().config);
      const compressor = this.pipeline.stages.find((c) => c.v2().role === "compressor");
      return {
        [`${prefix}.zarray`]: {
          zarr_format: 2,
          shape: s.shape,
          chunks: s.chunks,
          dtype: V2_DTYPE[s.dtype],
          compressor: compressor ? compressor.v2().config : null,
          fill_value: isFloat(s.dtype) ? NaN : null,
          order: "C",
          filters: filters.length ? filters : null,
          dimension_separator: ".",
        },
        [`${prefix}.zattrs`]: { ...attrs, _ARRAY_DIMENSIONS: s.dimensions },
      };
    }
    return {
      [`${prefix}zarr.json`]: {
        zarr_format: 3,
        node_type: "array",
        shape: s.shape,
        data_type: s.dtype === "datetime64[s]" ? "int64" : s.dtype,
        chunk_grid: { name: "regular", configuration: { chunk_shape: s.shards ?? s.chunks } },
        chunk_key_encoding: { name: "default", configuration: { separator: "/" } },
        fill_value: isFloat(s.dtype) ? NaN : 0,
        codecs: s.shards
          ? [{
            name: "sharding_indexed",
            configuration: {
              chunk_shape: s.chunks,
              codecs: [
                { name: "bytes", configuration: { endian: "little" } },
                ...this.pipeline.stages.map((c) => c.v3()),
              ],
              index_codecs: [{ name: "bytes", configuration: { endian: "little" } }, { name: "crc32c" }],
              index_location: "end",
            },
          }]
          : [
            { name: "bytes", configuration: { endian: "little" } },
            ...this.pipeline.stages.map((c) => c.v3()),
          ],
        attributes: attrs,
        dimension_names: s.dimensions,
      },
    };
  }

  /** Write this array's metadata documents. */
  writeMetadata(): void {
    for (const [key, doc] of Object.entries(this.metadata())) writeJson(join(this.root, key), doc);
  }
}

function allNaN(data: Float32Array | Float64Array): boolean {
  for (let i = 0; i < data.length; i++) if (data[i] === data[i]) return false;
  return true;
}

/** All index tuples of a grid, in C order. */
export function* gridIndices(grid: number[]): Generator<number[]> {
  const n = grid.reduce((a, b) => a * b, 1);
  const idx = new Array(grid.length).fill(0);
  for (let k = 0; k < n; k++) {
    yield idx.slice();
    for (let d = grid.length - 1; d >= 0; d--) {
      if (++idx[d] < grid[d]) break;
      idx[d] = 0;
    }
  }
}

/** Copy chunk `coords` out of a C-order array of `shape`, padding edges with NaN/0. */
export function extractChunk(
  data: ChunkData,
  shape: number[],
  chunks: number[],
  coords: number[],
): ChunkData {
  const n = chunks.reduce((a, b) => a * b, 1);
  const out = new (data.constructor as { new (n: number): ChunkData })(n);
  if (out instanceof Float32Array || out instanceof Float64Array) out.fill(NaN);
  const start = coords.map((c, i) => c * chunks[i]);
  const extent = start.map((s, i) => Math.min(chunks[i], shape[i] - s));
  if (shape.length === 0) {
    out.set(data as never);
    return out;
  }
  const rows = extent.slice(0, -1);
  const last = extent.at(-1)!;
  for (const r of gridIndices(rows)) {
    let src = 0, dst = 0;
    for (let d = 0; d < shape.length - 1; d++) {
      src = src * shape[d] + start[d] + r[d];
      dst = dst * chunks[d] + r[d];
    }
    src = src * shape.at(-1)! + start.at(-1)!;
    dst = dst * chunks.at(-1)!;
    out.set(data.subarray(src, src + last) as never, dst);
  }
  return out;
}

/** Write a group node (not the root) with attributes. */
export function writeGroupMetadata(
  root: string,
  path: string,
  format: ZarrFormat,
  attributes: Record<string, unknown>,
): void {
  for (const [key, doc] of Object.entries(groupDocs(path, format, attributes))) {
    writeJson(join(root, key), doc);
  }
}

function groupDocs(path: string, format: ZarrFormat, attributes: Record<string, unknown>): MetadataDocs {
  const prefix = path ? `${path}/` : "";
  if (format === 2) {
    return { [`${prefix}.zgroup`]: { zarr_format: 2 }, [`${prefix}.zattrs`]: attributes };
  }
  return { [`${prefix}zarr.json`]: { zarr_format: 3, node_type: "group", attributes } };
}

/**
 * Publish a store: write the root group metadata and consolidated metadata
 * over all nodes found on disk. This is the last write of every conversion.
 */
export function finalizeStore(
  root: string,
  format: ZarrFormat,
  attributes: Record<string, unknown>,
): void {
  const nodes = collectMetadata(root, format);
  if (format === 2) {
    Object.assign(nodes, groupDocs("", 2, attributes));
    writeJson(join(root, ".zmetadata"), { zarr_consolidated_format: 1, metadata: nodes });
    writeJson(join(root, ".zattrs"), attributes);
    writeJson(join(root, ".zgroup"), { zarr_format: 2 });
  } else {
    const metadata: Record<string, unknown> = {};
    for (const [key, doc] of Object.entries(nodes)) metadata[key.replace(/\/?zarr\.json$/, "")] = doc;
    writeJson(join(root, "zarr.json"), {
      zarr_format: 3,
      node_type: "group",
      attributes,
      consolidated_metadata: { kind: "inline", must_understand: false, metadata },
    });
  }
}

function collectMetadata(root: string, format: ZarrFormat, rel = ""): MetadataDocs {
  const docs: MetadataDocs = {};
  const names = format === 2 ? [".zarray", ".zgroup", ".zattrs"] : ["zarr.json"];
  for (const entry of Deno.readDirSync(join(root, rel))) {
    const key = rel ? `${rel}/${entry.name}` : entry.name;
    if (entry.isFile && rel && names.includes(entry.name)) {
      docs[key] = JSON.parse(Deno.readTextFileSync(join(root, key)));
    } else if (entry.isDirectory && !entry.name.startsWith(".") && entry.name !== "c") {
      const sub = join(root, key);
      const isNode = names.some((n) => exists(join(sub, n)));
      if (isNode) Object.assign(docs, collectMetadata(root, format, key));
    }
  }
  return docs;
}

function exists(path: string): boolean {
  try {
    Deno.statSync(path);
    return true;
  } catch {
    return false;
  }
}

/** True when a file or directory exists. */
export const pathExists: (path: string) => boolean = exists;

/** Remove a store directory if it exists. */
export function removeStore(path: string): void {
  beforeWrite(path);
  try {
    Deno.removeSync(path, { recursive: true });
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
    return;
  }
  faultPoint(path);
}

/**
 * Publish a staged store at `dest` by renaming; an existing `dest` is moved
 * aside first and removed only once the new store is in place.
 */
export function publishStore(staged: string, dest: string): void {
  beforeWrite(dest);
  const old = `${dest}.old-${Deno.pid}`;
  const hadOld = exists(dest);
  if (hadOld) {
    Deno.renameSync(dest, old);
    faultPoint(old);
  }
  Deno.renameSync(staged, dest);
  faultPoint(dest);
  if (hadOld) removeStore(old);
}

/** Attributes of a group inside a finished store. */
export function readGroupAttributes(root: string, path: string): Record<string, unknown> {
  const format = assertComplete(root);
  const dir = join(root, path);
  if (format === 2) return exists(join(dir, ".zattrs")) ? JSON.parse(Deno.readTextFileSync(join(dir, ".zattrs"))) : {};
  return JSON.parse(Deno.readTextFileSync(join(dir, "zarr.json"))).attributes ?? {};
}

/** Detect the zarr format of a finished store, or throw {@link IncompleteStoreError}. */
export function assertComplete(root: string): ZarrFormat {
  if (!exists(root)) throw new IncompleteStoreError(root, "no such store");
  // A staged store may already hold its root metadata (finalize writes it before publishing): never complete.
  if (exists(join(root, ".build")) || /\.partial\/*$/.test(root)) {
    throw new IncompleteStoreError(
      root,
      "incomplete store: a conversion in progress (staged store); finish it with --part/--finalize, or convert again",
    );
  }
  if (exists(join(root, ".zgroup"))) return 2;
  if (exists(join(root, "zarr.json"))) return 3;
  if (exists(join(root, ".zattrs")) || exists(join(root, "data")) || exists(join(root, ".build"))) {
    throw new IncompleteStoreError(
      root,
      `incomplete store: the root group metadata is missing, so the conversion that wrote it did not finish; convert again`,
    );
  }
  throw new IncompleteStoreError(root, "not a zarr store (no .zgroup or zarr.json)");
}

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
  private readonly shardIndex = new Map<string, BigUint64Array | null>();
  /** Reused by {@link storedChunks}. */
  private readBuffer = new Uint8Array(0);
  /** float32 with byte shuffle + zstd: decoded on the SIMD path. */
  private readonly shuffledZstd: boolean;
  private readonly openShards = new Map<string, Deno.FsFile>();
  /** Every chunk was written (attribute `chunks_complete`): a missing chunk is damage, not the fill value. */
  readonly complete: boolean;
  /** Where the stored bytes handed out came from, to name the file when they fail to decode. */
  private readonly origins = new WeakMap<Uint8Array, string>();

  constructor(root: string, path: string, format?: ZarrFormat) {
    this.root = root;
    this.path = path;
    this.format = format ?? assertComplete(root);
    const dir = join(root, path);
    if (this.format === 2) {
      const meta = readJsonFile(join(dir, ".zarray"));
      const attrs = exists(join(dir, ".zattrs")) ? readJsonFile(join(dir, ".zattrs")) : {};
      this.shape = meta.shape;
      this.chunks = meta.chunks;
      this.dtype = (Object.entries(V2_DTYPE).find(([, v]) =>
        v === meta.dtype
      )?.[0] ?? fail(`dtype ${meta.dtype}`)) as DType;
      this.dimensions = attrs._ARRAY_DIMENSIONS ?? [];
      delete attrs._ARRAY_DIMENSIONS;
      this.attributes = attrs;
      this.pipeline = pipelineFromV2(meta.filters, meta.compressor, BYTES[this.dtype]);
    } else {
      const meta = readJsonFile(join(dir, "zarr.json"));
      this.shape = meta.shape;
      this.dtype = meta.data_type;
      this.dimensions = meta.dimension_names ?? [];
      this.attributes = meta.attributes ?? {};
      const sharding = meta.codecs[0]?.name === "sharding_indexed" ? meta.codecs[0].configuration : undefined;
      if (sharding) {
        if ((sharding.index_location ?? "end") !== "end") {
          throw new StoreError(dir, "shard index at the start is not supported");
        }
        this.shards = meta.chunk_grid.configuration.chunk_shape;
        this.chunks = sharding.chunk_shape;
        this.pipeline = pipelineFromV3(sharding.codecs, BYTES[this.dtype]);
      } else {
        this.chunks = meta.chunk_grid.configuration.chunk_shape;
        this.pipeline = pipelineFromV3(meta.codecs, BYTES[this.dtype]);
      }
    }
    this.shuffledZstd = this.dtype === "float32" && this.pipeline.stages.map((c) => c.name).join() === "shuffle,zstd";
    this.complete = this.attributes.chunks_complete === true;
    this.checkCoordinates();
  }

  /** The array's name for messages: store path and array path. */
  get name(): string {
    return join(this.root, this.path);
  }

  /**
   * Every dimension that has a 1-D coordinate array of its own name at the
   * store root (`time`, `lats`, `level`, …) must have that array's length.
   */
  private checkCoordinates(): void {
    this.dimensions.forEach((dim, i) => {
      if (!dim || dim === this.path) return;
      const doc = join(this.root, dim, this.format === 2 ? ".zarray" : "zarr.json");
      if (!exists(doc)) return;
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
    const grid = this.shape.map((s, i) => Math.ceil(s / (this.shards ?? this.chunks)[i]));
    const present = new Set<string>();
    const walk = (dir: string, rel: string) => {
      let entries: Deno.DirEntry[];
      try {
        entries = [...Deno.readDirSync(dir)];
      } catch {
        return;
      }
      for (const e of entries) {
        const key = rel ? `${rel}/${e.name}` : e.name;
        if (e.isDirectory) walk(join(dir, e.name), key);
        else present.add(key);
      }
    };
    walk(join(this.root, this.path), "");
    const missing: number[][] = [];
    for (const coords of gridIndices(grid)) {
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
    if (!this.shards) {
      const file = this.chunkPath(coords);
      try {
        const bytes = Deno.readFileSync(file);
        this.origins.set(bytes, file);
        return bytes;
      } catch (e) {
        if (!(e instanceof Deno.errors.NotFound)) {
          throw new StoreError(file, `unreadable chunk (${(e as Error).message})`);
        }
        if (this.complete) throw this.missing(coords, file);
        return undefined;
      }
    }
    const at = this.locate(coords);
    if (!at) return undefined;
    const bytes = preadSync(this.openShard(at.path), at.offset, at.length);
    this.origins.set(bytes, `${at.path} (inner chunk [${coords.join(", ")}])`);
    return bytes;
  }

  /** Shard file, offset and length of an inner chunk of a sharded array; undefined when absent. */
  private locate(coords: number[]): { path: string; offset: number; length: number } | undefined {
    const per = this.shards!.map((v, i) => v / this.chunks[i]);
    const path = this.chunkPath(coords.map((c, i) => Math.floor(c / per[i])));
    let local = 0;
    for (let i = 0; i < per.length; i++) local = local * per[i] + (coords[i] % per[i]);
    const index = this.shardIndexOf(path, per);
    if (!index && this.complete) throw this.missing(coords, path);
    if (!index || index[2 * local] === 0xffffffffffffffffn) return undefined;
    return { path, offset: Number(index[2 * local]), length: Number(index[2 * local + 1]) };
  }

  /** An open shard whose index was read: it must still be there. */
  private openShard(path: string): Deno.FsFile {
    const file = this.shardFile(path);
    if (!file) throw new StoreError(path, "shard file gone while reading (the store changed under the reader)");
    return file;
  }

  /**
   * The stored bytes of many chunks (undefined where absent). In a sharded
   * array, chunks lying back to back in a shard file are read with one
   * call, which matters for small inner chunks; they are views into a
   * buffer this reader reuses, valid until its next `storedChunks` call.
   */
  storedChunks(coords: number[][]): (Uint8Array | undefined)[] {
    if (!this.shards) return coords.map((c) => this.storedChunk(c));
    const spans = new Map<string, { k: number; offset: number; length: number }[]>();
    const out: (Uint8Array | undefined)[] = coords.map(() => undefined);
    for (const [k, c] of coords.entries()) {
      const at = this.locate(c);
      if (!at) continue;
      const list = spans.get(at.path) ?? [];
      list.push({ k, offset: at.offset, length: at.length });
      spans.set(at.path, list);
    }
    // Runs of back-to-back chunks, read into one buffer reused across calls (no fresh pages per call).
    const runs: {
      path: string;
      start: number;
      length: number;
      chunks: { k: number; offset: number; length: number }[];
    }[] = [];
    let total = 0;
    for (const [path, list] of spans) {
      list.sort((a, b) => a.offset - b.offset);
      for (let a = 0; a < list.length;) {
        let b = a + 1;
        while (b < list.length && list[b].offset === list[b - 1].offset + list[b - 1].length) b++;
        const start = list[a].offset, length = list[b - 1].offset + list[b - 1].length - start;
        runs.push({ path, start, length, chunks: list.slice(a, b) });
        total += length;
        a = b;
      }
    }
    if (this.readBuffer.length < total) this.readBuffer = new Uint8Array(Math.ceil(total * 1.25));
    let at = 0;
    for (const run of runs) {
      const bytes = preadSync(
        this.openShard(run.path),
        run.start,
        run.length,
        this.readBuffer.subarray(at, at + run.length),
      );
      for (const c of run.chunks) {
        const view = bytes.subarray(c.offset - run.start, c.offset - run.start + c.length);
        this.origins.set(view, `${run.path} (inner chunk [${coords[c.k].join(", ")}])`);
        out[c.k] = view;
      }
      at += run.length;
    }
    return out;
  }

  /** The index of a shard (offset, length per inner chunk), or undefined when the shard is absent. */
  private shardIndexOf(path: string, per: number[]): BigUint64Array | undefined {
    let index = this.shardIndex.get(path);
    if (index === null) return undefined;
    if (index === undefined) {
      const file = this.shardFile(path);
      if (!file) {
        this.shardIndex.set(path, null);
        return undefined;
      }
      const n = per.reduce((a, b) => a * b, 1);
      const size = file.statSync().size;
      if (size < 16 * n + 4) throw new StoreError(path, `shard file of ${size} bytes is shorter than its index`);
      const bytes = preadSync(file, size - 16 * n - 4, 16 * n + 4);
      const crc = new DataView(bytes.buffer, bytes.byteOffset + 16 * n, 4).getUint32(0, true);
      if (crc32c(bytes.subarray(0, 16 * n)) !== crc) {
        throw new StoreError(path, "shard index fails its CRC-32C check: the shard file is damaged");
      }
      index = new BigUint64Array(bytes.buffer, bytes.byteOffset, 2 * n);
      for (let k = 0; k < n; k++) {
        if (index[2 * k] !== 0xffffffffffffffffn && index[2 * k] + index[2 * k + 1] > BigInt(size - 16 * n - 4)) {
          throw new StoreError(path, `shard index entry ${k} points past the shard's data: the shard file is damaged`);
        }
      }
      this.shardIndex.set(path, index);
    }
    return index;
  }

  /** An open shard file (a few kept open: consecutive reads mostly hit the same shards), or undefined if absent. */
  private shardFile(path: string): Deno.FsFile | undefined {
    let f = this.openShards.get(path);
    if (f) {
      this.openShards.delete(path);
      this.openShards.set(path, f);
      return f;
    }
    try {
      f = Deno.openSync(path, { read: true });
    } catch (e) {
      if (e instanceof Deno.errors.NotFound) return undefined;
      throw e;
    }
    this.openShards.set(path, f);
    if (this.openShards.size > 16) {
      const [k, old] = this.openShards.entries().next().value!;
      old.close();
      this.openShards.delete(k);
    }
    return f;
  }

  /** Close the shard files kept open. */
  close(): void {
    for (const f of this.openShards.values()) f.close();
    this.openShards.clear();
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
    if (!stored) return this.decodeChecked(stored, into);
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

  private decodeChecked(stored: Uint8Array | undefined, into?: ChunkData): ChunkData {
    const n = this.chunks.reduce((a, b) => a * b, 1);
    if (!stored) {
      const out = into ?? allocate(this.dtype, n);
      if (out instanceof Float32Array || out instanceof Float64Array) out.fill(NaN);
      else if (out instanceof BigInt64Array) out.fill(0n);
      else out.fill(0);
      return out;
    }
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
        n * BYTES[this.dtype],
        new Uint8Array(into.buffer, into.byteOffset, into.byteLength),
      );
      return into;
    }
    const raw = decodeChunk(this.pipeline, stored, n * BYTES[this.dtype]);
    const copy = raw.byteOffset % 8 === 0 ? raw : raw.slice();
    switch (this.dtype) {
      case "float32":
        return new Float32Array(copy.buffer, copy.byteOffset, n);
      case "float64":
        return new Float64Array(copy.buffer, copy.byteOffset, n);
      case "int32":
        return new Int32Array(copy.buffer, copy.byteOffset, n);
      case "uint8":
        return new Uint8Array(copy.buffer, copy.byteOffset, n);
      default:
        return new BigInt64Array(copy.buffer, copy.byteOffset, n);
    }
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
      const chunk = this.readChunk(coords);
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
    return out;
  }
}

/** Parse a metadata document, naming it when it is not there or not JSON. */
// deno-lint-ignore no-explicit-any
function readJsonFile(path: string): any {
  let text: string;
  try {
    text = Deno.readTextFileSync(path);
  } catch (e) {
    throw new StoreError(path, e instanceof Deno.errors.NotFound ? "metadata file missing" : String(e));
  }
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new StoreError(path, `metadata is not valid JSON (${(e as Error).message})`);
  }
}

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

function fail(what: string): never {
  throw new StoreError("", `unsupported ${what}`);
}

/** Read the root group attributes of a finished store. */
export function readRootAttributes(root: string): Record<string, unknown> {
  const format = assertComplete(root);
  if (format === 2) return JSON.parse(Deno.readTextFileSync(join(root, ".zattrs")));
  return JSON.parse(Deno.readTextFileSync(join(root, "zarr.json"))).attributes ?? {};
}

/** Size on disk of every file under a directory, in bytes. */
export function diskUsage(dir: string): number {
  let total = 0;
  for (const e of Deno.readDirSync(dir)) {
    const p = join(dir, e.name);
    if (e.isDirectory) total += diskUsage(p);
    else if (e.isFile) total += Deno.statSync(p).size;
  }
  return total;
}
