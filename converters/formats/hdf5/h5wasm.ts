/**
 * h5wasm, the HDF5 library compiled to WebAssembly, for what the own
 * readers do not read: loaded on first use in a thread (≈0.45 s of CPU),
 * files opened with it, attributes and element types as its objects give
 * them, object header addresses through its object references, and
 * hyperslabs read into one buffer in its heap. Also which engine reads
 * numeric values (`ATMOREP_HDF5_READER=h5wasm` sends every read here).
 *
 * @module
 */
import { resolve } from "node:path";
import type { NumericArray } from "../dataset.ts";
import { InputError } from "../../../errors.ts";
import { Hdf5Unsupported } from "./cursor.ts";

/** Which code reads the values of numeric variables. */
export type Hdf5Engine = "own" | "h5wasm";

/** The engine from `ATMOREP_HDF5_READER` (`own` when unset or not readable). */
export function engineFromEnv(): Hdf5Engine {
  try {
    return Deno.env.get("ATMOREP_HDF5_READER") === "h5wasm" ? "h5wasm" : "own";
  } catch {
    return "own";
  }
}

type H5wasmLibrary = typeof import("h5wasm/node");

let library: Promise<H5wasmLibrary> | undefined;
/** h5wasm's low-level module, set once the library is loaded (every HDF5Dataset exists after that). */
let Module: H5wasmLibrary["Module"];

/** h5wasm, loaded and initialized on first use in this thread. */
function h5wasmLibrary(): Promise<H5wasmLibrary> {
  library ??= import("h5wasm/node").then(async (lib) => {
    await lib.default.ready;
    Module = lib.Module;
    return lib;
  });
  return library;
}

/** True once this thread has loaded h5wasm (a thread that only reads located variables never does). */
export function h5wasmLoaded(): boolean {
  return library !== undefined;
}

/** An h5wasm object (file, group, dataset): untyped, as the library's typings do not cover what is used here. */
// deno-lint-ignore no-explicit-any
export type H5Any = any;

/**
 * Attributes of an h5wasm object as this reader keeps them: 1-element
 * numeric arrays and 64-bit integer scalars as numbers; DIMENSION_LIST,
 * REFERENCE_LIST and what h5wasm cannot read left out. The own metadata
 * reader (group.ts, attributes.ts) gives the same.
 */
export function attrsOf(obj: H5Any): Record<string, unknown> {
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
export function readableGroup(obj: H5Any): boolean {
  try {
    obj.keys();
    return true;
  } catch {
    return false;
  }
}

/** The element type name of an h5wasm dataset: float32, float64, int8…uint64, string or unknown. */
export function dtypeOf(ds: H5Any): string {
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

/** A file opened with h5wasm (the library loaded first). */
export async function openWithH5wasm(path: string): Promise<H5Any> {
  const h5wasm = (await h5wasmLibrary()).default;
  const file = new h5wasm.File(resolve(path), "r");
  if (Number(file.file_id) < 0) {
    throw new InputError(path, "HDF5 library could not open the file (truncated or corrupt netCDF4/HDF5)");
  }
  return file;
}

/** Object header address of a dataset of a file opened with h5wasm, through its object references. */
export function referencedAddress(file: H5Any, name: string): number {
  const ref = Module.create_object_reference(file.file_id, name.startsWith("/") ? name : `/${name}`);
  const bytes = Array.from(ref as ArrayLike<number>);
  if (bytes.length !== 8) throw new Hdf5Unsupported("object references that are not addresses");
  return bytes.reduceRight((a, b) => a * 256 + b, 0);
}

/**
 * A hyperslab of a numeric dataset read by h5wasm into the shared heap
 * buffer: a view into the wasm heap, valid until the next read (no
 * allocation per read, see SourceDataset.read). `Type` is the typed array
 * of the dataset's element type; `file` gives the file opened with h5wasm.
 */
export function h5wasmRead(
  path: string,
  file: () => H5Any,
  name: string,
  // deno-lint-ignore no-explicit-any
  Type: any,
  start: number[],
  count: number[],
): NumericArray {
  const n = count.reduce((a, b) => a * b, 1);
  const ptr = heapBuffer(path, n * Type.BYTES_PER_ELEMENT);
  let status: number;
  try {
    status = Module.get_dataset_data(
      file().file_id,
      name.startsWith("/") ? name : `/${name}`,
      count.map(BigInt),
      start.map(BigInt),
      count.map(() => 1n),
      BigInt(ptr),
    );
  } catch (e) {
    throw new InputError(path, `cannot read ${name}: ${(e as Error).message} (truncated or corrupt file?)`);
  }
  if (status < 0) {
    throw new InputError(
      path,
      `cannot read ${name} at [${start.join(", ")}] + [${count.join(", ")}]: the HDF5 library reports a read ` +
        "failure (a filter or checksum failed: the file is corrupt)",
      { field: name },
    );
  }
  return new Type(Module.HEAPU8.buffer, ptr, n);
}

/** The wasm-heap read buffer, grown to at least `bytes`. */
function heapBuffer(path: string, bytes: number): number {
  if (heap.bytes < bytes) {
    if (heap.ptr) Module._free(heap.ptr);
    heap.ptr = Module._malloc(bytes);
    heap.bytes = heap.ptr ? bytes : 0;
    if (!heap.ptr) throw new InputError(path, `cannot allocate ${bytes} bytes in the HDF5 heap`);
  }
  return heap.ptr;
}
