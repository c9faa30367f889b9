/**
 * netCDF4 / HDF5 reader on h5wasm's Node build, which opens host files
 * directly (reads on demand, never the whole file). Dimension names come
 * from netCDF-4's dimension scales (`_Netcdf4Dimid`, `_Netcdf4Coordinates`),
 * falling back to matching lengths against the dimension scales.
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

class HDF5Dataset implements SourceDataset {
  readonly path: string;
  readonly format = "netcdf4";
  readonly dims: Record<string, number> = {};
  readonly variables = new Map<string, SourceVariable>();
  readonly attrs: Record<string, unknown>;
  private readonly file: H5Any;

  constructor(path: string, file: H5Any) {
    this.path = path;
    this.file = file;
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

  read(name: string, start: number[], count: number[]): NumericArray {
    const v = this.variables.get(name);
    if (!v) throw new InputError(this.path, `no variable ${name}`);
    const Type = TYPED[v.dtype];
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

/** The netCDF4/HDF5 format plug-in. */
export const hdf5Reader: FormatReader = {
  name: "netcdf4/hdf5",
  sniff: (h: Uint8Array) => HDF5_MAGIC.every((b, i) => h[i] === b),
  async open(path: string): Promise<SourceDataset> {
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
      return new HDF5Dataset(path, file);
    } catch (e) {
      file.close();
      if (e instanceof InputError) throw e;
      throw new InputError(path, `corrupt netCDF4/HDF5 file: ${(e as Error).message}`);
    }
  },
};

registerFormat(hdf5Reader);
