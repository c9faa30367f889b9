/**
 * Reading a zarr store as the cloud copies of ERA5 are written: zarr v2
 * (consolidated `.zmetadata`, or `.zgroup` with per-array `.zarray` and
 * `.zattrs`) and zarr v3 (`zarr.json`, with or without consolidated
 * metadata), xarray's conventions for dimension names, and the codecs of
 * those stores: Blosc (lz4, zstd, … with or without shuffle), zstd, lz4,
 * gzip, zlib, and in v3 `bytes`, `blosc`, `zstd`, `gzip`, `crc32c`. Every
 * chunk is checked: a chunk whose codec fails or whose decoded size is
 * not the chunk's is an error naming its URL.
 *
 * @module
 */
import { InputError } from "../../../errors.ts";
import { zstd } from "../../../native/zstd.ts";
import { nodeZlib } from "../../../native/node_zlib.ts";
import type { ObjectStore } from "../../../zarr/http.ts";
import { decodeBlosc } from "../../../native/blosc.ts";

/** Element types the reader decodes. */
export type StoreDType = "float32" | "float64" | "int8" | "int16" | "int32" | "int64" | "uint8" | "uint16" | "uint32";

const SIZES: Record<StoreDType, number> = {
  float32: 4,
  float64: 8,
  int8: 1,
  int16: 2,
  int32: 4,
  int64: 8,
  uint8: 1,
  uint16: 2,
  uint32: 4,
};

/**
 * A bytes-to-bytes decoding stage. With `transient` its result may lie in a
 * buffer the next transient decode of this thread overwrites (the caller
 * uses it at once, without awaiting anything in between).
 */
type Stage = (bytes: Uint8Array, url: string, transient: boolean) => Uint8Array | Promise<Uint8Array>;

/** Decoded chunk values. */
export type ChunkValues =
  | Float64Array
  | Float32Array
  | BigInt64Array
  | Int32Array
  | Int16Array
  | Int8Array
  | Uint8Array
  | Uint16Array
  | Uint32Array;

/** An array of the store: its metadata and how its chunks decode. */
export interface StoreArray {
  /** Name (path in the store). */
  name: string;
  /** Shape. */
  shape: number[];
  /** Chunk shape. */
  chunks: number[];
  /** Element type. */
  dtype: StoreDType;
  /** Dimension names (xarray's `_ARRAY_DIMENSIONS`, v3 `dimension_names`). */
  dims: string[];
  /** Attributes (v2 `.zattrs`, v3 `attributes`). */
  attrs: Record<string, unknown>;
  /** The object key of a chunk. */
  chunkKey(coords: number[]): string;
  /**
   * Decode a chunk's stored bytes into values (C order, the chunk's full
   * shape): synchronously where every codec can (native Blosc, zstd, zlib).
   * With `transient` the values may lie in a buffer the thread's next
   * transient decode overwrites: use them before awaiting anything.
   */
  decode(stored: Uint8Array, url: string, transient?: boolean): ChunkValues | Promise<ChunkValues>;
}

/** Zarr format and how the metadata was found. */
export interface StoreLayout {
  /** 2 or 3. */
  format: 2 | 3;
  /** True when all array metadata came in one object (.zmetadata or zarr.json's consolidated_metadata). */
  consolidated: boolean;
}

/** numpy datetime64 units as CF time units. */
const DATETIME_UNITS: Record<string, string> = {
  ns: "nanoseconds",
  us: "microseconds",
  ms: "milliseconds",
  s: "seconds",
  m: "minutes",
  h: "hours",
  D: "days",
};

function v2DType(text: string, where: string): { dtype: StoreDType; little: boolean; timeUnits?: string } {
  // numpy datetime64 (zarr-python stores it natively when xarray does not encode it): int64 counts since 1970.
  const dt = /^([<>|])M8\[(\w+)\]$/.exec(text);
  if (dt && DATETIME_UNITS[dt[2]]) {
    return { dtype: "int64", little: dt[1] !== ">", timeUnits: `${DATETIME_UNITS[dt[2]]} since 1970-01-01` };
  }
  const m = /^([<>|])([fiu])(\d+)$/.exec(text);
  const kinds: Record<string, string> = { f: "float", i: "int", u: "uint" };
  const dtype = m ? `${kinds[m[2]]}${Number(m[3]) * 8}` as StoreDType : undefined;
  if (!m || !dtype || !(dtype in SIZES)) throw new InputError(where, `data type "${text}" is not supported`);
  return { dtype, little: m[1] !== ">" };
}

function blosc(): Stage {
  return decodeBlosc;
}

function lz4(): Stage {
  // numcodecs.js's LZ4 loads on first use (its import costs ≈15 MB with Blosc's in every thread).
  const codec = import("numcodecs/lz4").then(({ default: LZ4 }) => LZ4.fromConfig({ id: "lz4" }));
  return async (b, url) => {
    try {
      return await (await codec).decode(b);
    } catch (e) {
      throw new InputError(url, `LZ4 decode failed: ${(e as Error).message}`);
    }
  };
}

/** zstd of a frame whose content size is known to be `size` (the chunk's). */
function zstdStage(size: number): Stage {
  return (b, url) => {
    try {
      return zstd().decompress(b, size);
    } catch (e) {
      throw new InputError(url, `zstd decode failed: ${(e as Error).message}`);
    }
  };
}

function zlibStage(kind: "gzip" | "zlib"): Stage {
  return (b, url) => {
    try {
      const out = kind === "gzip" ? nodeZlib().gunzipSync(b) : nodeZlib().inflateSync(b);
      return new Uint8Array(out.buffer, out.byteOffset, out.byteLength);
    } catch (e) {
      throw new InputError(url, `${kind} decode failed: ${(e as Error).message}`);
    }
  };
}

function crc32cStage(): Stage {
  return (b, url) => {
    if (b.length < 4) throw new InputError(url, "chunk shorter than its CRC-32C");
    return b.subarray(0, b.length - 4);
  };
}

function compressorStage(id: string, size: number, where: string): Stage {
  switch (id) {
    case "blosc":
      return blosc();
    case "zstd":
      return zstdStage(size);
    case "lz4":
      return lz4();
    case "gzip":
    case "zlib":
      return zlibStage(id);
    case "crc32c":
      return crc32cStage();
    default:
      throw new InputError(where, `codec "${id}" is not supported (supported: blosc, zstd, lz4, gzip, zlib, crc32c)`);
  }
}

/** Values of raw chunk bytes, byte-swapped when big-endian. */
function typed(bytes: Uint8Array, dtype: StoreDType, little: boolean) {
  const size = SIZES[dtype];
  // An aligned copy: views need their offset to be a multiple of the element size.
  const own = bytes.byteOffset % size === 0 ? bytes : bytes.slice();
  if (!little && size > 1) {
    const copy = own === bytes ? own.slice() : own;
    for (let i = 0; i < copy.length; i += size) copy.subarray(i, i + size).reverse();
    return view(copy, dtype);
  }
  return view(own, dtype);
}

function view(b: Uint8Array, dtype: StoreDType) {
  const n = b.byteLength / SIZES[dtype];
  switch (dtype) {
    case "float32":
      return new Float32Array(b.buffer, b.byteOffset, n);
    case "float64":
      return new Float64Array(b.buffer, b.byteOffset, n);
    case "int64":
      return new BigInt64Array(b.buffer, b.byteOffset, n);
    case "int32":
      return new Int32Array(b.buffer, b.byteOffset, n);
    case "int16":
      return new Int16Array(b.buffer, b.byteOffset, n);
    case "int8":
      return new Int8Array(b.buffer, b.byteOffset, n);
    case "uint8":
      return new Uint8Array(b.buffer, b.byteOffset, n);
    case "uint16":
      return new Uint16Array(b.buffer, b.byteOffset, n);
    case "uint32":
      return new Uint32Array(b.buffer, b.byteOffset, n);
  }
}

function makeArray(
  name: string,
  shape: number[],
  chunks: number[],
  dtype: StoreDType,
  little: boolean,
  dims: string[],
  attrs: Record<string, unknown>,
  stages: Stage[],
  chunkKey: (c: number[]) => string,
): StoreArray {
  const size = chunks.reduce((a, b) => a * b, 1) * SIZES[dtype];
  return {
    name,
    shape,
    chunks,
    dtype,
    dims,
    attrs,
    chunkKey,
    decode(stored, url, transient = false) {
      const finish = (b: Uint8Array) => {
        if (b.length !== size) {
          throw new InputError(url, `chunk decodes to ${b.length} bytes, a chunk of ${name} has ${size}`);
        }
        return typed(b, dtype, little);
      };
      const rest = async (from: number, b: Promise<Uint8Array>) => {
        let bytes = await b;
        for (let i = from; i < stages.length; i++) bytes = await stages[i](bytes, url, false);
        return finish(bytes);
      };
      let b = stored;
      for (let i = 0; i < stages.length; i++) {
        const r = stages[i](b, url, transient && i === stages.length - 1);
        if (r instanceof Promise) return rest(i + 1, r);
        b = r;
      }
      return finish(b);
    },
  };
}

function parseJson(bytes: Uint8Array, url: string): Record<string, unknown> {
  try {
    // zarr-python writes NaN/Infinity bare in v2 metadata; JSON.parse refuses them.
    const text = new TextDecoder().decode(bytes).replace(/(?<!")\bNaN\b(?!")/g, '"NaN"')
      .replace(/(?<!")(-?)\bInfinity\b(?!")/g, '"$1Infinity"');
    return JSON.parse(text);
  } catch (e) {
    throw new InputError(url, `not JSON: ${(e as Error).message}`);
  }
}

/** Array from zarr v2 `.zarray` and `.zattrs`. */
function v2Array(name: string, meta: Record<string, unknown>, attrs: Record<string, unknown>, url: string): StoreArray {
  const { dtype, little, timeUnits } = v2DType(String(meta.dtype), url);
  if (timeUnits && attrs.units === undefined) attrs = { ...attrs, units: timeUnits };
  if ((meta.order ?? "C") !== "C") throw new InputError(url, `order "${meta.order}" is not supported (only C)`);
  const shape = meta.shape as number[], chunks = meta.chunks as number[];
  const size = chunks.reduce((a, b) => a * b, 1) * SIZES[dtype];
  const stages: Stage[] = [];
  const compressor = meta.compressor as { id: string } | null;
  if (compressor) stages.push(compressorStage(compressor.id, size, url));
  const filters = (meta.filters as { id: string }[] | null) ?? [];
  if (filters.length) {
    throw new InputError(url, `filters (${filters.map((f) => f.id).join(", ")}) are not supported`);
  }
  const sep = String(meta.dimension_separator ?? ".");
  const dims = (attrs._ARRAY_DIMENSIONS as string[] | undefined) ?? shape.map((_, i) => `dim_${i}`);
  const { _ARRAY_DIMENSIONS: _, ...rest } = attrs;
  return makeArray(
    name,
    shape,
    chunks,
    dtype,
    little,
    dims,
    rest,
    stages,
    (c) => `${name}/${c.length ? c.join(sep) : "0"}`,
  );
}

/** Array from a zarr v3 `zarr.json`. */
function v3Array(name: string, meta: Record<string, unknown>, url: string): StoreArray {
  const dtype = String(meta.data_type) as StoreDType;
  if (!(dtype in SIZES)) throw new InputError(url, `data type "${meta.data_type}" is not supported`);
  const grid = meta.chunk_grid as { name: string; configuration: { chunk_shape: number[] } };
  if (grid?.name !== "regular") throw new InputError(url, `chunk grid "${grid?.name}" is not supported`);
  const shape = meta.shape as number[], chunks = grid.configuration.chunk_shape;
  const size = chunks.reduce((a, b) => a * b, 1) * SIZES[dtype];
  let little = true;
  const stages: Stage[] = [];
  for (const c of (meta.codecs as { name: string; configuration?: Record<string, unknown> }[]) ?? []) {
    if (c.name === "bytes") little = (c.configuration?.endian ?? "little") === "little";
    else if (c.name === "transpose") {
      const order = c.configuration?.order as number[] | string;
      if (!(Array.isArray(order) && order.every((v, i) => v === i)) && order !== "C") {
        throw new InputError(url, `transpose codec (order ${JSON.stringify(order)}) is not supported`);
      }
    } else if (c.name === "sharding_indexed") {
      throw new InputError(url, "sharded arrays (sharding_indexed) are not supported by this reader");
    } else stages.push(compressorStage(c.name.replace(/^numcodecs\./, ""), size, url));
  }
  stages.reverse(); // written in encode order
  const enc = meta.chunk_key_encoding as { name: string; configuration?: { separator?: string } } | undefined;
  const v2keys = enc?.name === "v2";
  const sep = enc?.configuration?.separator ?? (v2keys ? "." : "/");
  const key = v2keys
    ? (c: number[]) => `${name}/${c.length ? c.join(sep) : "0"}`
    : (c: number[]) => `${name}/c${c.length ? sep + c.join(sep) : ""}`;
  const dims = (meta.dimension_names as string[] | undefined) ?? shape.map((_, i) => `dim_${i}`);
  const attrs = (meta.attributes as Record<string, unknown>) ?? {};
  const { _ARRAY_DIMENSIONS: _, ...rest } = attrs;
  return makeArray(name, shape, chunks, dtype, little, dims, rest, stages, key);
}

/** An open zarr store: its root attributes and its arrays, looked up by name. */
export class ZarrStore {
  private constructor(
    readonly objects: ObjectStore,
    readonly layout: StoreLayout,
    readonly attrs: Record<string, unknown>,
    /** Array metadata known up front (consolidated), by name. */
    private readonly known: Map<string, StoreArray> | undefined,
  ) {}

  /** Names of the arrays, when the metadata is consolidated (else undefined: a store cannot be listed). */
  get arrayNames(): string[] | undefined {
    return this.known ? [...this.known.keys()] : undefined;
  }

  /** Open the store at `objects`: its format and metadata, or an error saying it is no zarr store. */
  static async open(objects: ObjectStore): Promise<ZarrStore> {
    const zmeta = await objects.get(".zmetadata");
    if (zmeta) {
      const url = objects.urlOf(".zmetadata");
      const all = (parseJson(zmeta, url).metadata ?? {}) as Record<string, Record<string, unknown>>;
      const known = new Map<string, StoreArray>();
      for (const key of Object.keys(all)) {
        const m = /^(.*)\/\.zarray$/.exec(key);
        if (!m) continue;
        known.set(m[1], v2Array(m[1], all[key], all[`${m[1]}/.zattrs`] ?? {}, objects.urlOf(key)));
      }
      return new ZarrStore(objects, { format: 2, consolidated: true }, all[".zattrs"] ?? {}, known);
    }
    const zjson = await objects.get("zarr.json");
    if (zjson) {
      const url = objects.urlOf("zarr.json");
      const root = parseJson(zjson, url);
      if (root.zarr_format !== 3 || root.node_type !== "group") {
        throw new InputError(url, `not a zarr v3 group (zarr_format ${root.zarr_format}, node_type ${root.node_type})`);
      }
      const cons = root.consolidated_metadata as { metadata?: Record<string, Record<string, unknown>> } | null;
      let known: Map<string, StoreArray> | undefined;
      if (cons?.metadata) {
        known = new Map();
        for (const [name, m] of Object.entries(cons.metadata)) {
          if (m.node_type === "array") known.set(name, v3Array(name, m, objects.urlOf(`${name}/zarr.json`)));
        }
      }
      return new ZarrStore(
        objects,
        { format: 3, consolidated: !!known },
        (root.attributes as Record<string, unknown>) ?? {},
        known,
      );
    }
    const zgroup = await objects.get(".zgroup");
    if (zgroup) {
      const attrs = await objects.get(".zattrs");
      return new ZarrStore(
        objects,
        { format: 2, consolidated: false },
        attrs ? parseJson(attrs, objects.urlOf(".zattrs")) : {},
        undefined,
      );
    }
    throw new InputError(
      objects.location,
      "not a zarr store: it has none of .zmetadata, zarr.json or .zgroup (give the URL of the store's root)",
    );
  }

  /** An array by name; undefined when the store has none of that name. */
  async array(name: string): Promise<StoreArray | undefined> {
    if (this.known) return this.known.get(name);
    if (this.layout.format === 3) {
      const b = await this.objects.get(`${name}/zarr.json`);
      if (!b) return undefined;
      const meta = parseJson(b, this.objects.urlOf(`${name}/zarr.json`));
      return meta.node_type === "array" ? v3Array(name, meta, this.objects.urlOf(`${name}/zarr.json`)) : undefined;
    }
    const b = await this.objects.get(`${name}/.zarray`);
    if (!b) return undefined;
    const attrs = await this.objects.get(`${name}/.zattrs`);
    return v2Array(
      name,
      parseJson(b, this.objects.urlOf(`${name}/.zarray`)),
      attrs ? parseJson(attrs, this.objects.urlOf(`${name}/.zattrs`)) : {},
      this.objects.urlOf(`${name}/.zarray`),
    );
  }

  /** A chunk's stored bytes and URL; a missing chunk is an error naming its URL (never filled). */
  async fetchChunk(a: StoreArray, coords: number[]): Promise<{ stored: Uint8Array; url: string }> {
    const key = a.chunkKey(coords);
    const stored = await this.objects.get(key);
    if (!stored) {
      throw new InputError(
        this.objects.urlOf(key),
        `chunk [${coords.join(", ")}] of ${a.name} is missing (HTTP 404 / no such file): the store holds no data there`,
      );
    }
    return { stored, url: this.objects.urlOf(key) };
  }

  /** A chunk's values; a missing chunk is an error naming its URL (never filled). */
  async chunk(a: StoreArray, coords: number[]): Promise<ChunkValues> {
    const { stored, url } = await this.fetchChunk(a, coords);
    return await a.decode(stored, url);
  }

  /** A whole (small) array's values as numbers: coordinates. */
  async readAll(a: StoreArray): Promise<Float64Array> {
    const out = new Float64Array(a.shape.reduce((x, y) => x * y, 1));
    if (a.shape.length !== 1) throw new InputError(this.objects.urlOf(a.name), `${a.name} is not one-dimensional`);
    const n = a.shape[0], c = a.chunks[0];
    await Promise.all(Array.from({ length: Math.ceil(n / c) }, async (_, k) => {
      const values = await this.chunk(a, [k]);
      const len = Math.min(c, n - k * c);
      for (let i = 0; i < len; i++) out[k * c + i] = Number(values[i]);
    }));
    return out;
  }
}
