/**
 * netCDF4 / HDF5 reader. Metadata (variables, attributes, dimension names)
 * comes from h5wasm's Node build, which opens host files directly (reads on
 * demand, never the whole file). Dimension names come from netCDF-4's
 * dimension scales (`_Netcdf4Dimid`, `_Netcdf4Coordinates`), falling back
 * to matching lengths against the dimension scales.
 *
 * Numeric values are read by this project's own chunk reader
 * (hdf5_chunks.ts: libdeflate + SIMD unshuffle, several times h5wasm's
 * speed); a variable it does not support (another filter, a shared
 * datatype, …) is read through h5wasm instead. `ATMOREP_HDF5_READER=h5wasm`
 * sends every read through h5wasm (for comparisons).
 *
 * @module
 */
import h5wasm, { Module } from "h5wasm/node";
import { resolve } from "node:path";
import {
  type FormatReader,
  type NumericArray,
  readHead,
  registerFormat,
  type SourceDataset,
  type SourceVariable,
} from "./dataset.ts";
import { InputError } from "../../errors.ts";
import { Hdf5Corrupt, Hdf5File, Hdf5Unsupported, Hdf5Variable } from "./hdf5_chunks.ts";
import { type Packing, unpackInto } from "../cf.ts";

/** Which code reads the values of numeric variables. */
export type Hdf5Engine = "own" | "h5wasm";

const HDF5_MAGIC = [0x89, 0x48, 0x44, 0x46, 0x0d, 0x0a, 0x1a, 0x0a];

// deno-lint-ignore no-explicit-any
type H5Any = any;

function attrsOf(obj: H5Any): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const k of Object.keys(obj.attrs ?? {})) {
    if (k === "DIMENSION_LIST" || k === "REFERENCE_LIST") continue;
    try {
      let v = obj.attrs[k].value;
      if (ArrayBuffer.isView(v) && (v as NumericArray).length === 1) v = (v as NumericArray)[0];
      if (typeof v === "bigint") v = Number(v);
      out[k] = v;
    } catch { /* attribute types h5wasm cannot read are skipped */ }
  }
  return out;
}

/** A group h5wasm can list (a damaged object shows up as a group whose members cannot be read). */
function readableGroup(obj: H5Any): boolean {
  try {
    obj.keys();
    return true;
  } catch {
    return false;
  }
}

function dtypeOf(ds: H5Any): string {
  const m = ds.metadata;
  if (m.type === 3 /* H5T_STRING */) return "string";
  if (m.type === 1 /* H5T_FLOAT */) return m.size === 8 ? "float64" : "float32";
  if (m.type === 0 /* H5T_INTEGER */) return `${m.signed ? "int" : "uint"}${m.size * 8}`;
  return "unknown";
}

/**
 * One read buffer in the wasm heap for all files of this thread: reads
 * return views into it, valid until the next read (the heap never shrinks,
 * so a buffer per open file would grow memory with the number of inputs).
 */
const heap = { ptr: 0, bytes: 0 };

// deno-lint-ignore no-explicit-any
const TYPED: Record<string, any> = {
  int8: Int8Array,
  uint8: Uint8Array,
  int16: Int16Array,
  uint16: Uint16Array,
  int32: Int32Array,
  uint32: Uint32Array,
  int64: BigInt64Array,
  float32: Float32Array,
  float64: Float64Array,
};

/** Output buffer of the own reader, shared by all files of this thread (see SourceDataset.read). */
let ownOut = new ArrayBuffer(0);

/** An open netCDF4/HDF5 file. */
export class HDF5Dataset implements SourceDataset {
  /** File path. */
  readonly path: string;
  /** Always `netcdf4`. */
  readonly format = "netcdf4";
  /** Dimension lengths by name. */
  readonly dims: Record<string, number> = {};
  /** Variables by name. */
  readonly variables = new Map<string, SourceVariable>();
  /** Global attributes. */
  readonly attrs: Record<string, unknown>;
  /** The engine asked for. */
  readonly engine: Hdf5Engine;
  private readonly file: H5Any;
  private raw: Hdf5File | undefined;
  /** Per variable: the own reader, or why h5wasm reads it. */
  private readonly own = new Map<string, Hdf5Variable | string>();

  constructor(path: string, file: H5Any, engine: Hdf5Engine = "own") {
    this.path = path;
    this.file = file;
    this.engine = engine;
    this.attrs = attrsOf(file);
    const datasets: [string, H5Any][] = [];
    for (const name of file.keys() as string[]) {
      const obj = file.get(name);
      if (obj && obj.type === "Dataset") datasets.push([name, obj]);
      else if (!obj || !readableGroup(obj)) {
        // h5wasm reports an object whose header fails to load (bad checksum) as a group it cannot list.
        throw new InputError(
          path,
          `variable ${name} cannot be read: its HDF5 object header is corrupt (checksum or read failure)`,
          { field: name },
        );
      }
    }
    // Dimension scales: id → (name, length).
    const scales = new Map<number, { name: string; size: number }>();
    for (const [name, ds] of datasets) {
      const a = attrsOf(ds);
      if (a.CLASS === "DIMENSION_SCALE") {
        const id = typeof a._Netcdf4Dimid === "number" ? a._Netcdf4Dimid : scales.size + 1000;
        scales.set(id, { name, size: ds.shape[0] ?? 0 });
        this.dims[name] = ds.shape[0] ?? 0;
      }
    }
    for (const [name, ds] of datasets) {
      const attrs = attrsOf(ds);
      const shape: number[] = ds.shape ?? [];
      let dims: string[] | undefined;
      if (attrs.CLASS === "DIMENSION_SCALE") dims = [name];
      const coords = attrs._Netcdf4Coordinates;
      if (!dims && coords && ArrayBuffer.isView(coords)) {
        dims = [...(coords as Int32Array)].map((id) => scales.get(id)?.name ?? "");
      } else if (!dims && typeof coords === "number") dims = [scales.get(coords)?.name ?? ""];
      if (!dims || dims.length !== shape.length || dims.some((d) => !d)) {
        dims = shape.map((len, axis) => {
          const match = [...scales.values()].filter((s) => s.size === len);
          if (match.length === 1) return match[0].name;
          const phony = `phony_dim_${name}_${axis}`;
          this.dims[phony] = len;
          return phony;
        });
      }
      for (const k of ["CLASS", "NAME", "_Netcdf4Dimid", "_Netcdf4Coordinates"]) delete attrs[k];
      this.variables.set(name, { name, dims, shape, dtype: dtypeOf(ds), attrs });
    }
  }

  /**
   * What reads a variable's values: `own (chunked (btree1), deflate+shuffle)`
   * and the like, or `h5wasm (why)`.
   */
  readerOf(name: string): string {
    const r = this.ownVariable(name);
    return typeof r === "string"
      ? `h5wasm (${r})`
      : `own (${r.storage}${r.filterNames.length ? `, ${r.filterNames.join("+")}` : ""})`;
  }

  /** The own reader of a variable, or the reason h5wasm reads it. */
  private ownVariable(name: string): Hdf5Variable | string {
    let r = this.own.get(name);
    if (r !== undefined) return r;
    const v = this.variables.get(name);
    if (!v) throw new InputError(this.path, `no variable ${name}`);
    if (this.engine === "h5wasm") r = "asked for";
    else if (!TYPED[v.dtype]) r = `type ${v.dtype}`;
    else {
      try {
        const ref = Module.create_object_reference(this.file.file_id, name.startsWith("/") ? name : `/${name}`);
        const bytes = Array.from(ref as ArrayLike<number>);
        if (bytes.length !== 8) throw new Hdf5Unsupported("object references that are not addresses");
        const addr = bytes.reduceRight((a, b) => a * 256 + b, 0);
        this.raw ??= new Hdf5File(this.path);
        const own = new Hdf5Variable(this.raw, addr, name);
        const t = own.type;
        const dtype = t.kind === "float" ? `float${t.size * 8}` : `${t.kind}${t.size * 8}`;
        if (dtype !== v.dtype || own.shape.join() !== v.shape.join()) {
          throw new Hdf5Unsupported(`type/shape ${dtype} ${own.shape} differ from the library's ${v.dtype} ${v.shape}`);
        }
        r = own;
      } catch (e) {
        if (e instanceof Hdf5Corrupt) {
          throw new InputError(this.path, `variable ${name}: corrupt HDF5 structure: ${e.message}`, { field: name });
        }
        if (!(e instanceof Hdf5Unsupported)) throw e;
        r = e.message;
      }
    }
    this.own.set(name, r);
    return r;
  }

  /**
   * Values decoded straight into `out`: float32 without packing is read by
   * the own reader into it directly; other numeric types are read and
   * unpacked. False when h5wasm reads the variable (the caller falls back).
   */
  readDecoded(name: string, start: number[], count: number[], packing: Packing, out: Float32Array): boolean {
    const v = this.variables.get(name);
    if (!v || !TYPED[v.dtype] || typeof this.ownVariable(name) === "string") return false;
    const own = this.ownVariable(name) as Hdf5Variable;
    const n = count.reduce((a, b) => a * b, 1);
    if (v.dtype === "float32" && packing.scale === 1 && packing.offset === 0 && packing.fills.length === 0) {
      try {
        own.read(start, count, new Uint8Array(out.buffer, out.byteOffset, 4 * n));
      } catch (e) {
        if (e instanceof Hdf5Corrupt) throw new InputError(this.path, e.message, { field: name });
        throw e;
      }
    } else unpackInto(this.read(name, start, count), packing, out);
    return true;
  }

  read(name: string, start: number[], count: number[]): NumericArray {
    const v = this.variables.get(name);
    if (!v) throw new InputError(this.path, `no variable ${name}`);
    const Type = TYPED[v.dtype];
    const own = Type ? this.ownVariable(name) : "";
    if (typeof own !== "string") {
      const n = count.reduce((a, b) => a * b, 1);
      const bytes = n * Type.BYTES_PER_ELEMENT;
      if (ownOut.byteLength < bytes) ownOut = new ArrayBuffer(bytes);
      try {
        own.read(start, count, new Uint8Array(ownOut, 0, bytes));
      } catch (e) {
        if (e instanceof Hdf5Corrupt) throw new InputError(this.path, e.message, { field: name });
        throw e;
      }
      return new Type(ownOut, 0, n);
    }
    if (!Type) return this.file.get(name).slice(start.map((s, i) => [s, s + count[i]])) as NumericArray;
    const n = count.reduce((a, b) => a * b, 1);
    const ptr = this.heapBuffer(n * Type.BYTES_PER_ELEMENT);
    let status: number;
    try {
      status = Module.get_dataset_data(
        this.file.file_id,
        name.startsWith("/") ? name : `/${name}`,
        count.map(BigInt),
        start.map(BigInt),
        count.map(() => 1n),
        BigInt(ptr),
      );
    } catch (e) {
      throw new InputError(this.path, `cannot read ${name}: ${(e as Error).message} (truncated or corrupt file?)`);
    }
    if (status < 0) {
      throw new InputError(
        this.path,
        `cannot read ${name} at [${start.join(", ")}] + [${count.join(", ")}]: the HDF5 library reports a read ` +
          "failure (a filter or checksum failed: the file is corrupt)",
        { field: name },
      );
    }
    // A view into the wasm heap: no allocation per read (see SourceDataset.read).
    return new Type(Module.HEAPU8.buffer, ptr, n);
  }

  /** The wasm-heap read buffer, grown to at least `bytes`. */
  private heapBuffer(bytes: number): number {
    if (heap.bytes < bytes) {
      if (heap.ptr) Module._free(heap.ptr);
      heap.ptr = Module._malloc(bytes);
      heap.bytes = heap.ptr ? bytes : 0;
      if (!heap.ptr) throw new InputError(this.path, `cannot allocate ${bytes} bytes in the HDF5 heap`);
    }
    return heap.ptr;
  }

  readAll(name: string): NumericArray | string[] {
    const ds = this.file.get(name);
    if (!ds) throw new InputError(this.path, `no variable ${name}`);
    const v = ds.value;
    if (typeof v === "string") return [v];
    if (Array.isArray(v)) return v.map(String);
    return v as NumericArray;
  }

  close(): void {
    this.raw?.close();
    this.file.close();
  }
}

/**
 * End-of-file address from the HDF5 superblock (versions 0–3), so a
 * truncated file is reported before the HDF5 library prints its own trace.
 */
export function hdf5EndOfFile(head: Uint8Array): number | undefined {
  const v = new DataView(head.buffer, head.byteOffset, head.byteLength);
  const version = head[8];
  let sizeOfOffsets: number, pos: number;
  if (version === 0 || version === 1) {
    sizeOfOffsets = head[13];
    pos = 24 + (version === 1 ? 4 : 0) + sizeOfOffsets * 2; // base address, free-space address
  } else if (version === 2 || version === 3) {
    sizeOfOffsets = head[9];
    pos = 12 + sizeOfOffsets * 2; // base address, superblock extension address
  } else return undefined;
  if (sizeOfOffsets !== 8 || pos + 8 > head.length) return undefined;
  const eof = v.getBigUint64(pos, true);
  return eof === 0xffffffffffffffffn ? undefined : Number(eof);
}

let ready: Promise<unknown> | undefined;

/** The engine from `ATMOREP_HDF5_READER` (`own` when unset or not readable). */
function engineFromEnv(): Hdf5Engine {
  try {
    return Deno.env.get("ATMOREP_HDF5_READER") === "h5wasm" ? "h5wasm" : "own";
  } catch {
    return "own";
  }
}

/** Open a netCDF4/HDF5 file with the given engine for numeric values. */
export async function openHdf5(path: string, engine: Hdf5Engine = engineFromEnv()): Promise<HDF5Dataset> {
  {
    const size = Deno.statSync(path).size;
    const eof = hdf5EndOfFile(readHead(path, 128));
    if (eof !== undefined && eof > size) {
      throw new InputError(path, `truncated netCDF4/HDF5 file: the superblock says ${eof} bytes, the file has ${size}`);
    }
    ready ??= h5wasm.ready;
    await ready;
    const file = new h5wasm.File(resolve(path), "r");
    if (Number(file.file_id) < 0) {
      throw new InputError(path, "HDF5 library could not open the file (truncated or corrupt netCDF4/HDF5)");
    }
    try {
      return new HDF5Dataset(path, file, engine);
    } catch (e) {
      file.close();
      if (e instanceof InputError) throw e;
      throw new InputError(path, `corrupt netCDF4/HDF5 file: ${(e as Error).message}`);
    }
  }
}

/** The netCDF4/HDF5 format plug-in. */
export const hdf5Reader: FormatReader = {
  name: "netcdf4/hdf5",
  sniff: (h: Uint8Array) => HDF5_MAGIC.every((b, i) => h[i] === b),
  open: (path: string): Promise<SourceDataset> => openHdf5(path),
};

registerFormat(hdf5Reader);
