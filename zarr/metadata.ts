/**
 * What a zarr v2 / v3 array is, as its metadata says: the element types
 * this project stores, the array description a writer is given, and the
 * metadata documents themselves — `.zarray` / `.zattrs` / `.zgroup` (v2)
 * and `zarr.json` (v3) — built for writing and parsed back for reading.
 *
 * The documents are written as pure-ASCII JSON, through a temporary file
 * and a rename (see zarr/durable.ts), so no reader sees half a document.
 *
 * @module
 */
import { join } from "node:path";
import { StoreError } from "../errors.ts";
import { writeFileDurable } from "./durable.ts";
import { type CodecPipeline, pipelineFromV2, pipelineFromV3 } from "./codecs.ts";

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
  /** Codec spec, see `parseCodecSpec` in zarr/codecs.ts; default `none`. */
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

/** The v2 `dtype` string of each element type. */
const V2_DTYPE: Record<DType, string> = {
  float32: "<f4",
  float64: "<f8",
  int32: "<i4",
  int64: "<i8",
  uint8: "|u1",
  "datetime64[s]": "<M8[s]",
};

/** Bytes per element of each element type. */
export const DTYPE_BYTES: Readonly<Record<DType, number>> = {
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

/** True for the floating-point types (fill value NaN; all-NaN chunks may be left out). */
export function isFloat(dtype: DType): boolean {
  return dtype === "float32" || dtype === "float64";
}

/** A typed array of `dtype` over `n` elements of `bytes`, which must be 8-byte aligned. */
export function viewAs(dtype: DType, bytes: Uint8Array, n: number): ChunkData {
  switch (dtype) {
    case "float32":
      return new Float32Array(bytes.buffer, bytes.byteOffset, n);
    case "float64":
      return new Float64Array(bytes.buffer, bytes.byteOffset, n);
    case "int32":
      return new Int32Array(bytes.buffer, bytes.byteOffset, n);
    case "uint8":
      return new Uint8Array(bytes.buffer, bytes.byteOffset, n);
    default:
      return new BigInt64Array(bytes.buffer, bytes.byteOffset, n);
  }
}

/**
 * File name of a chunk (or shard) relative to its array: `1.0.3` in v2
 * (separator `.`), `c/1/0/3` in v3 (the default key encoding).
 */
export function chunkKey(format: ZarrFormat, coords: number[]): string {
  if (coords.length === 0) return format === 2 ? "0" : "c";
  return format === 2 ? coords.join(".") : "c/" + coords.join("/");
}

/** Metadata documents of one node, keyed by file name relative to the store root. */
export type MetadataDocs = Record<string, unknown>;

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

/** Write one metadata document (ASCII JSON, indented) via a temporary name and a rename. */
export function writeJson(path: string, value: unknown): void {
  writeFileDurable(path, new TextEncoder().encode(asciiJson(value, jsonSafe, 2)));
}

/** One metadata document as bytes (ASCII JSON, indented, NaN as "NaN"), for stores written in memory. */
export function jsonBytes(value: unknown): Uint8Array {
  return new TextEncoder().encode(asciiJson(value, jsonSafe, 2));
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

/**
 * Parse a metadata document, naming it when it is not there or not JSON.
 * With `absent`, a document that is not there reads as that value.
 */
// deno-lint-ignore no-explicit-any
export function readJsonFile(path: string, absent?: unknown): any {
  let text: string;
  try {
    text = Deno.readTextFileSync(path);
  } catch (e) {
    const notFound = e instanceof Deno.errors.NotFound;
    if (notFound && absent !== undefined) return absent;
    throw new StoreError(path, notFound ? "metadata file missing" : String(e));
  }
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new StoreError(path, `metadata is not valid JSON (${(e as Error).message})`);
  }
}

/** The `bytes` codec entry every v3 pipeline starts with (little-endian elements). */
const V3_BYTES = { name: "bytes", configuration: { endian: "little" } };

/** Metadata documents of an array at `path`, keyed relative to the store root. */
export function arrayDocs(path: string, format: ZarrFormat, spec: ArraySpec, pipeline: CodecPipeline): MetadataDocs {
  const attrs = { ...(spec.attributes ?? {}), ...(spec.complete ? { chunks_complete: true } : {}) };
  const prefix = path ? `${path}/` : "";
  if (format === 2) {
    return {
      [`${prefix}.zarray`]: zarrayDoc(spec, pipeline),
      [`${prefix}.zattrs`]: { ...attrs, _ARRAY_DIMENSIONS: spec.dimensions },
    };
  }
  return {
    [`${prefix}zarr.json`]: {
      zarr_format: 3,
      node_type: "array",
      shape: spec.shape,
      data_type: spec.dtype === "datetime64[s]" ? "int64" : spec.dtype,
      chunk_grid: { name: "regular", configuration: { chunk_shape: spec.shards ?? spec.chunks } },
      chunk_key_encoding: { name: "default", configuration: { separator: "/" } },
      fill_value: isFloat(spec.dtype) ? NaN : 0,
      codecs: v3Codecs(spec, pipeline),
      attributes: attrs,
      dimension_names: spec.dimensions,
    },
  };
}

/** The v2 `.zarray` document: codec stages split into filters and the compressor. */
function zarrayDoc(spec: ArraySpec, pipeline: CodecPipeline): Record<string, unknown> {
  const filters = pipeline.stages.filter((c) => c.v2().role === "filter").map((c) => c.v2().config);
  const compressor = pipeline.stages.find((c) => c.v2().role === "compressor");
  return {
    zarr_format: 2,
    shape: spec.shape,
    chunks: spec.chunks,
    dtype: V2_DTYPE[spec.dtype],
    compressor: compressor ? compressor.v2().config : null,
    fill_value: isFloat(spec.dtype) ? NaN : null,
    order: "C",
    filters: filters.length ? filters : null,
    dimension_separator: ".",
  };
}

/** The v3 `codecs` list: the pipeline, or one `sharding_indexed` codec holding it (index at the end, CRC-32C). */
function v3Codecs(spec: ArraySpec, pipeline: CodecPipeline): unknown[] {
  const codecs = [V3_BYTES, ...pipeline.stages.map((c) => c.v3())];
  if (!spec.shards) return codecs;
  return [{
    name: "sharding_indexed",
    configuration: {
      chunk_shape: spec.chunks,
      codecs,
      index_codecs: [V3_BYTES, { name: "crc32c" }],
      index_location: "end",
    },
  }];
}

/** Metadata documents of a group node at `path` with `attributes`. */
export function groupDocs(path: string, format: ZarrFormat, attributes: Record<string, unknown>): MetadataDocs {
  const prefix = path ? `${path}/` : "";
  if (format === 2) {
    return { [`${prefix}.zgroup`]: { zarr_format: 2 }, [`${prefix}.zattrs`]: attributes };
  }
  return { [`${prefix}zarr.json`]: { zarr_format: 3, node_type: "group", attributes } };
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

/** An array as its stored metadata describes it. */
export interface ArrayMetadata {
  /** Shape. */
  shape: number[];
  /** Chunk shape (the inner chunks of a sharded array). */
  chunks: number[];
  /** Shard shape of a sharded v3 array. */
  shards?: number[];
  /** Element type. */
  dtype: DType;
  /** Dimension names. */
  dimensions: string[];
  /** Attributes (without `_ARRAY_DIMENSIONS`). */
  attributes: Record<string, unknown>;
  /** Codec pipeline of a chunk. */
  pipeline: CodecPipeline;
}

/** Read the metadata of the array at `dir` (a v2 `.zarray` + optional `.zattrs`, or a v3 `zarr.json`). */
export function readArrayMetadata(dir: string, format: ZarrFormat): ArrayMetadata {
  return format === 2 ? readV2(dir) : readV3(dir);
}

function readV2(dir: string): ArrayMetadata {
  const meta = readJsonFile(join(dir, ".zarray"));
  const attrs = readJsonFile(join(dir, ".zattrs"), {});
  const dtype = (Object.entries(V2_DTYPE).find(([, v]) => v === meta.dtype)?.[0] ??
    unsupported(`dtype ${meta.dtype}`)) as DType;
  const dimensions = attrs._ARRAY_DIMENSIONS ?? [];
  delete attrs._ARRAY_DIMENSIONS;
  return {
    shape: meta.shape,
    chunks: meta.chunks,
    dtype,
    dimensions,
    attributes: attrs,
    pipeline: pipelineFromV2(meta.filters, meta.compressor, DTYPE_BYTES[dtype]),
  };
}

function readV3(dir: string): ArrayMetadata {
  const meta = readJsonFile(join(dir, "zarr.json"));
  const dtype: DType = meta.data_type;
  const common = {
    shape: meta.shape,
    dtype,
    dimensions: meta.dimension_names ?? [],
    attributes: meta.attributes ?? {},
  };
  const sharding = meta.codecs[0]?.name === "sharding_indexed" ? meta.codecs[0].configuration : undefined;
  if (!sharding) {
    return {
      ...common,
      chunks: meta.chunk_grid.configuration.chunk_shape,
      pipeline: pipelineFromV3(meta.codecs, DTYPE_BYTES[dtype]),
    };
  }
  if ((sharding.index_location ?? "end") !== "end") {
    throw new StoreError(dir, "shard index at the start is not supported");
  }
  return {
    ...common,
    shards: meta.chunk_grid.configuration.chunk_shape,
    chunks: sharding.chunk_shape,
    pipeline: pipelineFromV3(sharding.codecs, DTYPE_BYTES[dtype]),
  };
}

function unsupported(what: string): never {
  throw new StoreError("", `unsupported ${what}`);
}
