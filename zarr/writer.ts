/**
 * Writing one zarr array of a store being built: its chunks (or, for a
 * sharded v3 array, its shards; see zarr/shard.ts) encoded through the
 * array's codec pipeline, and its metadata documents. A writer may run in
 * any process; the store is made visible as a whole later (zarr/publish.ts).
 *
 * @module
 */
import { dirname, join } from "node:path";
import { StoreError } from "../errors.ts";
import { beforeWrite, faultPoint } from "./fault_hook.ts";
import { writeBytesSync } from "./durable.ts";
import { type CodecPipeline, encodeChunk, parseCodecSpec } from "./codecs.ts";
import {
  arrayDocs,
  type ArraySpec,
  type ChunkData,
  chunkKey,
  DTYPE_BYTES,
  isFloat,
  type MetadataDocs,
  writeJson,
  type ZarrFormat,
} from "./metadata.ts";
import { extractChunk, gridIndices, gridShape } from "./chunk_grid.ts";
import { chunksPerShard, ShardAssembler } from "./shard.ts";

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
  /** Lays out this writer's shards in one reused buffer. */
  private readonly shardAssembler = new ShardAssembler();

  constructor(root: string, path: string, format: ZarrFormat, spec: ArraySpec) {
    this.root = root;
    this.path = path;
    this.format = format;
    this.spec = spec;
    this.pipeline = parseCodecSpec(spec.codec ?? "none", DTYPE_BYTES[spec.dtype]);
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
    return this.spec.shards ? chunksPerShard(this.spec.shards, this.spec.chunks) : this.spec.chunks.map(() => 1);
  }

  /** Number of chunks along each dimension. */
  get chunkGrid(): number[] {
    return gridShape(this.spec.shape, this.spec.chunks);
  }

  /** Path of the file of chunk (or shard) `coords`. */
  private chunkFile(coords: number[]): string {
    return join(this.root, this.path, chunkKey(this.format, coords));
  }

  /** Write a chunk's (or shard's) file; its directory is made once per writer. */
  private writeFile(path: string, bytes: Uint8Array): void {
    this.ensureDir(dirname(path));
    writeBytesSync(path, bytes);
    faultPoint(path);
  }

  /** Leave a chunk's (or shard's) file out: remove one a previous write left. */
  private leaveOut(path: string): void {
    try {
      Deno.removeSync(path);
    } catch { /* not there */ }
    faultPoint(path);
  }

  /**
   * Write one shard: its chunks in C order of the shard's chunk grid
   * (undefined or all-NaN chunks stay empty), then the index of
   * (offset, length) pairs as little-endian uint64 and its CRC-32C.
   */
  writeShard(shardCoords: number[], chunks: (ChunkData | undefined)[]): number {
    const path = this.chunkFile(shardCoords);
    const shard = this.shardAssembler;
    shard.begin(chunks.length, chunks.reduce((a, c) => a + (c?.byteLength ?? 0), 0));
    chunks.forEach((data, k) => {
      if (!data || (isFloat(this.spec.dtype) && allNaN(data as Float32Array))) return; // empty per the index
      // Encoded transiently (a view of the codecs' reused buffers) and appended at once.
      shard.add(k, encodeChunk(this.pipeline, new Uint8Array(data.buffer, data.byteOffset, data.byteLength), true));
    });
    beforeWrite(path);
    if (shard.stored === 0 && !this.spec.complete) {
      this.leaveOut(path);
      return 0;
    }
    const out = shard.finish();
    this.writeFile(path, out);
    return out.length;
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
    const path = this.chunkFile(coords);
    beforeWrite(path);
    if (this.skippable(data)) {
      this.leaveOut(path);
      return 0;
    }
    const raw = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
    const encoded = encodeChunk(this.pipeline, raw, true); // written out at once: no copy
    // Chunks are written in a staging store published as a whole, so a plain
    // write suffices: a killed run leaves no store that looks complete.
    this.writeFile(path, encoded);
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
   * byte shuffle (see {@link takesShuffled}; simd/tiles.ts shuffles
   * a chunk straight out of a slab): the other stages run, then the write.
   */
  writeShuffledChunk(coords: number[], shuffled: Uint8Array): number {
    if (!this.takesShuffled) {
      throw new StoreError(join(this.root, this.path), "this array's chunks cannot be written pre-shuffled");
    }
    const path = this.chunkFile(coords);
    beforeWrite(path);
    const encoded = encodeChunk(this.afterShuffle, shuffled, true);
    this.writeFile(path, encoded);
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
    const chunk = (coords: number[]) => extractChunk(data, this.spec.shape, this.spec.chunks, coords);
    if (!this.spec.shards) {
      for (const coords of gridIndices(grid)) this.writeChunk(coords, chunk(coords));
      return;
    }
    const per = this.chunksPerShard;
    for (const shard of gridIndices(grid.map((g, i) => Math.ceil(g / per[i])))) {
      const chunks = [...gridIndices(per)].map((local) => {
        const coords = local.map((l, i) => shard[i] * per[i] + l);
        return coords.every((c, i) => c < grid[i]) ? chunk(coords) : undefined;
      });
      this.writeShard(shard, chunks);
    }
  }

  /** Metadata documents for this array, keyed relative to the store root. */
  metadata(): MetadataDocs {
    return arrayDocs(this.path, this.format, this.spec, this.pipeline);
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
