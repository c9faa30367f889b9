/**
 * Chunk codecs: byte shuffle, zstd (the system's libzstd when FFI is
 * allowed, else `node:zlib`) and gzip (`node:zlib`), all native and several
 * times faster than the wasm builds in numcodecs.js,
 * described in metadata that zarr-python / numcodecs read.
 *
 * A codec pipeline is written as a spec string such as `shuffle,zstd:3`,
 * `zstd:1`, `gzip:1` or `none`.
 *
 * @module
 */
import { nodeZlib } from "../native/node_zlib.ts";
import { zstd } from "../native/zstd.ts";
import { byteShuffle, byteUnshuffle, simdUnshuffle } from "../simd/shuffle.ts";
import { ConfigError } from "../errors.ts";

/** One stage of a chunk codec pipeline, applied to raw little-endian bytes. */
export interface ByteCodec {
  /** Name as written in a spec string (`shuffle`, `zstd`, `gzip`). */
  readonly name: string;
  /**
   * Encode bytes. With `transient` the result may be a view of a buffer the
   * codec overwrites on its next call (the caller writes it out at once);
   * without it, the result is the caller's to keep.
   */
  encode(bytes: Uint8Array, transient?: boolean): Uint8Array;
  /**
   * Decode bytes; `size` is the decoded byte length. With `reuse` the codec
   * may return a buffer it overwrites on its next call (a later stage copies
   * out); with `into` it may decode into that buffer.
   */
  decode(bytes: Uint8Array, size: number, reuse?: boolean, into?: Uint8Array): Uint8Array;
  /** Zarr v2 metadata: a filter (`filter`) or the compressor (`compressor`). */
  v2(): { role: "filter" | "compressor"; config: Record<string, unknown> };
  /** Zarr v3 codec metadata entry. */
  v3(): { name: string; configuration: Record<string, unknown> };
}

/** The numcodecs byte shuffle and its inverse: in simd/shuffle.ts, beside the SIMD kernels they hand 4-byte elements to. */
export { byteShuffle, byteUnshuffle };

/**
 * The shuffled bytes of a transient encode: one buffer per thread, since a
 * transient result is consumed (by the compressor or a file write) before
 * the next encode.
 */
let shuffleScratch = new Uint8Array(0);

function shuffleCodec(elementSize: number): ByteCodec {
  return {
    name: "shuffle",
    encode: (b, transient) => {
      if (!transient) return byteShuffle(b, elementSize);
      // 4-byte elements: the SIMD result stays in the module's memory, and the compressor reads it there.
      const simd = elementSize === 4 && b.length >= 256 ? simdUnshuffle() : undefined;
      if (simd) return simd.shuffle4View(b);
      if (shuffleScratch.length < b.length) shuffleScratch = new Uint8Array(b.length);
      return byteShuffle(b, elementSize, shuffleScratch);
    },
    decode: (b, _size, _reuse, into) => byteUnshuffle(b, elementSize, into),
    v2: () => ({
      role: "filter",
      config: { id: "shuffle", elementsize: elementSize },
    }),
    v3: () => ({
      name: "numcodecs.shuffle",
      configuration: { elementsize: elementSize },
    }),
  };
}

/** A Node Buffer viewed as a plain Uint8Array (no copy). */
function plain(b: Uint8Array): Uint8Array {
  return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
}

function zstdCodec(level: number): ByteCodec {
  let scratch = new Uint8Array(0);
  return {
    name: "zstd",
    encode: (b, transient) => zstd().compress(b, level, transient),
    decode: (b, size, reuse, into) => {
      if (!reuse) return zstd().decompress(b, size, into);
      if (scratch.length < size) scratch = new Uint8Array(size);
      return zstd().decompress(b, size, scratch);
    },
    v2: () => ({ role: "compressor", config: { id: "zstd", level } }),
    v3: () => ({ name: "zstd", configuration: { level, checksum: false } }),
  };
}

function gzipCodec(level: number): ByteCodec {
  return {
    name: "gzip",
    encode: (b) => plain(nodeZlib().gzipSync(b, { level })),
    decode: (b) => plain(nodeZlib().gunzipSync(b)),
    v2: () => ({ role: "compressor", config: { id: "gzip", level } }),
    v3: () => ({ name: "gzip", configuration: { level } }),
  };
}

/** A parsed codec pipeline: filters first, at most one compressor last. */
export interface CodecPipeline {
  /** The spec string this pipeline was parsed from, normalised. */
  readonly spec: string;
  /** Stages in encode order. */
  readonly stages: readonly ByteCodec[];
}

type CodecFactory = (arg: number | undefined, elementSize: number) => ByteCodec;

/** Registry of byte codecs by spec name. */
export const codecRegistry: Map<string, CodecFactory> = new Map([
  ["shuffle", (_arg, size) => shuffleCodec(size)],
  ["zstd", (arg) => zstdCodec(arg ?? 3)],
  ["gzip", (arg) => gzipCodec(arg ?? 1)],
]);

/** The default pipeline: byte shuffle + zstd level 1 (see README for the measurements). */
export const DEFAULT_CODEC = "shuffle,zstd:1";

/**
 * Parse a spec like `shuffle,zstd:3` into a pipeline for elements of
 * `elementSize` bytes. Throws a readable error for unknown names.
 */
export function parseCodecSpec(spec: string, elementSize = 4): CodecPipeline {
  const text = spec.trim().toLowerCase();
  if (text === "none" || text === "") return { spec: "none", stages: [] };
  const stages: ByteCodec[] = [];
  for (const part of text.split(",")) {
    const [name, argText] = part.trim().split(":");
    const factory = codecRegistry.get(name);
    if (!factory) {
      throw new ConfigError(
        "--codec",
        `unknown codec "${name}" in "${spec}" (known: ${[...codecRegistry.keys()].join(", ")}, or "none")`,
      );
    }
    const arg = argText === undefined ? undefined : Number(argText);
    if (arg !== undefined && !Number.isInteger(arg)) {
      throw new ConfigError("--codec", `codec level must be an integer in "${spec}"`);
    }
    stages.push(factory(arg, elementSize));
  }
  const compressors = stages.filter((s) => s.v2().role === "compressor");
  if (compressors.length > 1 || (compressors.length === 1 && stages.at(-1)?.v2().role !== "compressor")) {
    throw new ConfigError("--codec", `"${spec}": at most one compressor, and it must come last`);
  }
  return { spec: text, stages };
}

/**
 * Encode raw little-endian bytes through the pipeline. With `transient`
 * the result may be a view that the pipeline's next encode overwrites.
 */
export function encodeChunk(p: CodecPipeline, raw: Uint8Array, transient = false): Uint8Array {
  let b = raw;
  // A stage's output is consumed by the next stage at once: only the last one's may need to be owned.
  p.stages.forEach((s, i) => b = s.encode(b, transient || i < p.stages.length - 1));
  return b;
}

/** Decode stored bytes through the pipeline back to raw bytes of `size` (into `into` when given). */
export function decodeChunk(
  p: CodecPipeline,
  stored: Uint8Array,
  size: number,
  into?: Uint8Array,
): Uint8Array {
  let b = stored;
  for (let i = p.stages.length - 1; i >= 0; i--) b = p.stages[i].decode(b, size, i > 0, i === 0 ? into : undefined);
  if (into && b.buffer !== into.buffer) {
    into.set(b);
    return into.subarray(0, b.length);
  }
  return b;
}

/** Rebuild a pipeline from zarr v2 `filters` and `compressor` metadata. */
export function pipelineFromV2(
  filters: { id: string; [k: string]: unknown }[] | null,
  compressor: { id: string; [k: string]: unknown } | null,
  elementSize: number,
): CodecPipeline {
  const parts: string[] = [];
  for (const f of filters ?? []) parts.push(v2Part(f));
  if (compressor) parts.push(v2Part(compressor));
  return parseCodecSpec(parts.join(",") || "none", elementSize);
}

function v2Part(c: { id: string; [k: string]: unknown }): string {
  if (c.id === "shuffle") return "shuffle";
  if (c.id === "zstd" || c.id === "gzip") {
    return c.level === undefined ? c.id : `${c.id}:${c.level}`;
  }
  throw new Error(`codec "${c.id}" is not supported by this reader`);
}

/** Rebuild a pipeline from zarr v3 `codecs` metadata (after the `bytes` codec). */
export function pipelineFromV3(
  codecs: { name: string; configuration?: Record<string, unknown> }[],
  elementSize: number,
): CodecPipeline {
  const parts: string[] = [];
  for (const c of codecs) {
    if (c.name === "bytes") continue;
    if (c.name === "numcodecs.shuffle") parts.push("shuffle");
    else if (c.name === "zstd" || c.name === "gzip") {
      const level = c.configuration?.level;
      parts.push(level === undefined ? c.name : `${c.name}:${level}`);
    } else throw new Error(`codec "${c.name}" is not supported by this reader`);
  }
  return parseCodecSpec(parts.join(",") || "none", elementSize);
}
