/**
 * netCDF4 / HDF5 reader: the format plug-in ({@link hdf5Reader}) and the
 * open file ({@link HDF5Dataset}). Metadata (variables, attributes,
 * dimension names) comes from this project's own metadata reader
 * (group.ts, attributes.ts), or from h5wasm's Node build (h5wasm.ts; it
 * opens host files directly, reading on demand) for files with structures
 * the own reader does not read. Dimension names
 * come from netCDF-4's dimension scales (`_Netcdf4Dimid`,
 * `_Netcdf4Coordinates`), falling back to matching lengths against the
 * dimension scales.
 *
 * Numeric values are read by this project's own chunk reader
 * (variable.ts: libdeflate + SIMD unshuffle, several times h5wasm's
 * speed); a variable it does not support (another filter, a shared
 * datatype, …) is read through h5wasm instead, and so are variables of
 * other types than numbers and plain strings. `ATMOREP_HDF5_READER=h5wasm`
 * sends metadata and every read through h5wasm (for comparisons).
 *
 * h5wasm is loaded (≈0.45 s of CPU per thread) only for a file that needs
 * it: one the own metadata reader cannot read, or one with a variable the
 * own readers cannot read (values are read synchronously, so that is
 * decided when the file is opened).
 *
 * A variable the own reader reads is located at scan time (its object
 * header's address, see {@link HDF5Dataset.locate}); a worker reads it
 * through `openLocatedHdf5` (located.ts) with the own reader alone. h5wasm is
 * imported on first use, so a thread that only reads located variables
 * never loads it (≈0.5 s of CPU per thread).
 *
 * @module
 */
import {
  type FileStamp,
  fileStamp,
  type FormatReader,
  type LocatedFile,
  type LocatedVariable,
  type NumericArray,
  readHead,
  type SourceDataset,
  type SourceVariable,
} from "../dataset.ts";
import { InputError } from "../../../errors.ts";
import { Hdf5Corrupt, Hdf5Unsupported } from "./cursor.ts";
import { HDF5_SIGNATURE, hdf5EndOfFile, Hdf5File } from "./superblock.ts";
import type { Message } from "./object_header.ts";
import { Hdf5Variable } from "./variable.ts";
import { Hdf5CorruptMember, readRootGroup } from "./group.ts";
import { Hdf5StringDataset } from "./strings.ts";
import type { Packing } from "../../cf.ts";
import {
  attrsOf,
  dtypeOf,
  engineFromEnv,
  type H5Any,
  h5wasmRead,
  type Hdf5Engine,
  openWithH5wasm,
  readableGroup,
  referencedAddress,
} from "./h5wasm.ts";
import { dtypeOfStored, ownRead, ownReadDecoded, TYPED } from "./own_read.ts";
import { openLocatedHdf5 } from "./located.ts";

/** Name of this plug-in (also in the variables it locates). */
const FORMAT_NAME = "netcdf4/hdf5";

/** One dataset as {@link HDF5Dataset} needs it, from either metadata reader. */
interface DatasetMeta {
  /** Name in the root group. */
  name: string;
  /** Current shape. */
  shape: number[];
  /** Element type name (see `dtypeOf`). */
  dtype: string;
  /** Attributes as `attrsOf` gives them. */
  attrs: Record<string, unknown>;
  /** Object header address (own metadata; h5wasm's are asked for when needed). */
  address?: number;
  /** Object header messages (own metadata), for the value readers. */
  messages?: Message[];
}

/** What a metadata reader found in a file's root group. */
interface FileMeta {
  /** Which reader: the own one or h5wasm. */
  source: "own" | "h5wasm";
  /** Attributes of the root group. */
  attrs: Record<string, unknown>;
  /** Datasets in the order the HDF5 library lists them. */
  datasets: DatasetMeta[];
}

/** The root group's metadata through h5wasm. */
function h5wasmMeta(path: string, file: H5Any): FileMeta {
  const attrs = attrsOf(file);
  const datasets: DatasetMeta[] = [];
  for (const name of file.keys() as string[]) {
    const obj = file.get(name);
    if (obj && obj.type === "Dataset") {
      datasets.push({ name, shape: obj.shape ?? [], dtype: dtypeOf(obj), attrs: attrsOf(obj) });
    } else if (obj && obj.type === "Datatype") continue; // a netCDF-4 user-defined type, not a variable
    else if (!obj || !readableGroup(obj)) {
      // h5wasm reports an object whose header fails to load (bad checksum) as a group it cannot list.
      throw new InputError(
        path,
        `variable ${name} cannot be read: its HDF5 object header is corrupt (checksum or read failure)`,
        { field: name },
      );
    }
  }
  return { source: "h5wasm", attrs, datasets };
}

/**
 * The root group's metadata through the own reader (the file stays open in
 * `raw` on success); undefined when it holds something the own reader
 * does not read (then h5wasm reads it). Damage is an InputError.
 */
function ownMeta(path: string): { meta: FileMeta; raw: Hdf5File } | undefined {
  let raw: Hdf5File | undefined;
  try {
    raw = new Hdf5File(path);
    const root = readRootGroup(raw);
    return { meta: { source: "own", attrs: root.attrs, datasets: root.datasets }, raw };
  } catch (e) {
    raw?.close();
    if (e instanceof Hdf5Unsupported) return undefined;
    if (e instanceof Hdf5CorruptMember) {
      throw new InputError(
        path,
        `variable ${e.member} cannot be read: its HDF5 ${e.part} ${e.part === "attributes" ? "are" : "is"} corrupt ` +
          `(${e.message})`,
        { field: e.member },
      );
    }
    if (e instanceof Hdf5Corrupt) throw new InputError(path, `corrupt netCDF4/HDF5 file: ${e.message}`);
    throw e;
  }
}

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
  /** The file's stamp when it was opened. */
  readonly stamp: FileStamp;
  /** Which reader read the metadata: the own one, or h5wasm. */
  readonly metadataSource: "own" | "h5wasm";
  /** The file opened with h5wasm, where anything needs it. */
  private file: H5Any | undefined;
  private raw: Hdf5File | undefined;
  /** Each dataset's metadata, by name. */
  private readonly meta = new Map<string, DatasetMeta>();
  /** Per variable: the own reader, or why h5wasm reads it. */
  private readonly own = new Map<string, Hdf5Variable | string>();
  /** Per string variable: the own string reader, or why h5wasm reads it. */
  private readonly ownStrings = new Map<string, Hdf5StringDataset | string>();
  /** Object header address of each variable the own reader reads. */
  private readonly headers = new Map<string, number>();

  /**
   * A file whose metadata one of the readers read (through
   * {@link openHdf5}): `file` is the file opened with h5wasm (given when
   * h5wasm read the metadata), `raw` the file opened for the own reader.
   */
  constructor(
    path: string,
    meta: FileMeta,
    engine: Hdf5Engine = "own",
    stamp: FileStamp = fileStamp(path),
    file?: H5Any,
    raw?: Hdf5File,
  ) {
    this.path = path;
    this.file = file;
    this.raw = raw;
    this.engine = engine;
    this.stamp = stamp;
    this.metadataSource = meta.source;
    this.attrs = meta.attrs;
    for (const d of meta.datasets) this.meta.set(d.name, d);
    // Dimension scales: id → (name, length).
    const scales = new Map<number, { name: string; size: number }>();
    for (const ds of meta.datasets) {
      const a = ds.attrs;
      if (a.CLASS === "DIMENSION_SCALE") {
        const id = typeof a._Netcdf4Dimid === "number" ? a._Netcdf4Dimid : scales.size + 1000;
        scales.set(id, { name: ds.name, size: ds.shape[0] ?? 0 });
        this.dims[ds.name] = ds.shape[0] ?? 0;
      }
    }
    for (const { name, shape, dtype, attrs: stored } of meta.datasets) {
      const attrs = { ...stored };
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
      this.variables.set(name, { name, dims, shape, dtype, attrs });
    }
  }

  /**
   * True when a variable needs h5wasm for its values (the own readers do
   * not read its type, layout or filters), so {@link openHdf5} opens the
   * file with h5wasm too. Damage is not a reason: it is reported on reading.
   */
  needsH5wasm(): boolean {
    if (this.file) return false;
    for (const v of this.variables.values()) {
      try {
        if (TYPED[v.dtype] ? typeof this.ownVariable(v.name) === "string" : !this.ownStringReader(v.name)) return true;
      } catch (e) {
        if (!(e instanceof InputError)) throw e;
      }
    }
    return false;
  }

  /** Give the file opened with h5wasm, for the variables {@link needsH5wasm} found. */
  attachH5wasm(file: H5Any): void {
    this.file = file;
  }

  /** The file opened with h5wasm (opened by {@link openHdf5} wherever a variable needs it). */
  private h5wasmFile(): H5Any {
    if (!this.file) throw new Error(`${this.path}: h5wasm was not opened for this file`);
    return this.file;
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
      r = this.ownOrReason(name, () => {
        const meta = this.meta.get(name)!;
        const addr = meta.address ?? referencedAddress(this.h5wasmFile(), name);
        this.raw ??= new Hdf5File(this.path);
        const own = new Hdf5Variable(this.raw, addr, name, meta.messages);
        const dtype = dtypeOfStored(own);
        if (dtype !== v.dtype || own.shape.join() !== v.shape.join()) {
          throw new Hdf5Unsupported(`type/shape ${dtype} ${own.shape} differ from the library's ${v.dtype} ${v.shape}`);
        }
        this.headers.set(name, addr);
        return own;
      });
    }
    this.own.set(name, r);
    return r;
  }

  /**
   * An own reader made by `open`, or why h5wasm reads the variable instead
   * (what the reader does not support); a corrupt structure is an
   * InputError naming the file and variable.
   */
  private ownOrReason<T>(name: string, open: () => T): T | string {
    try {
      return open();
    } catch (e) {
      if (e instanceof Hdf5Corrupt) {
        throw new InputError(this.path, `variable ${name}: corrupt HDF5 structure: ${e.message}`, { field: name });
      }
      if (!(e instanceof Hdf5Unsupported)) throw e;
      return e.message;
    }
  }

  /** The own reader of a string variable, or undefined when h5wasm reads it. */
  private ownStringReader(name: string): Hdf5StringDataset | undefined {
    let r = this.ownStrings.get(name);
    if (r === undefined) {
      const meta = this.meta.get(name);
      if (!meta) throw new InputError(this.path, `no variable ${name}`);
      if (this.engine === "h5wasm" || meta.dtype !== "string") r = "not a string variable the own reader reads";
      else {
        r = this.ownOrReason(name, () => {
          this.raw ??= new Hdf5File(this.path);
          return new Hdf5StringDataset(
            this.raw,
            meta.address ?? referencedAddress(this.h5wasmFile(), name),
            meta.messages,
          );
        });
      }
      this.ownStrings.set(name, r);
    }
    return typeof r === "string" ? undefined : r;
  }

  /** All values of a string variable through the own reader. */
  private ownStringValues(name: string, reader: Hdf5StringDataset): string[] {
    try {
      return reader.read();
    } catch (e) {
      if (e instanceof Hdf5Corrupt) {
        throw new InputError(this.path, `variable ${name}: corrupt HDF5 structure: ${e.message}`, { field: name });
      }
      throw e;
    }
  }

  /**
   * Where the own reader finds a variable (its object header), for
   * {@link openLocatedHdf5}; undefined when h5wasm reads it (or was asked
   * to read everything).
   */
  locate(name: string): LocatedVariable | undefined {
    const v = this.variables.get(name);
    if (!v || !TYPED[v.dtype] || typeof this.ownVariable(name) === "string") return undefined;
    return {
      format: FORMAT_NAME,
      dtype: v.dtype,
      shape: [...v.shape],
      stamp: this.stamp,
      at: { headerAddress: this.headers.get(name)! },
    };
  }

  /**
   * Values decoded straight into `out`: float32 without packing is read by
   * the own reader into it directly; other numeric types are read and
   * unpacked. False when h5wasm reads the variable (the caller falls back).
   */
  readDecoded(name: string, start: number[], count: number[], packing: Packing, out: Float32Array): boolean {
    const v = this.variables.get(name);
    if (!v || !TYPED[v.dtype] || typeof this.ownVariable(name) === "string") return false;
    ownReadDecoded(this.path, this.ownVariable(name) as Hdf5Variable, v.dtype, start, count, packing, out);
    return true;
  }

  read(name: string, start: number[], count: number[]): NumericArray {
    const v = this.variables.get(name);
    if (!v) throw new InputError(this.path, `no variable ${name}`);
    const Type = TYPED[v.dtype];
    const own = Type ? this.ownVariable(name) : "";
    if (typeof own !== "string") return ownRead(this.path, own, v.dtype, start, count);
    if (!Type) {
      const strings = this.ownStringReader(name);
      if (strings) return slabOf(this.ownStringValues(name, strings), v.shape, start, count) as unknown as NumericArray;
      return this.h5wasmFile().get(name).slice(start.map((s, i) => [s, s + count[i]])) as NumericArray;
    }
    return h5wasmRead(this.path, () => this.h5wasmFile(), name, Type, start, count);
  }

  readAll(name: string): NumericArray | string[] {
    const meta = this.variables.get(name);
    if (!meta) throw new InputError(this.path, `no variable ${name}`);
    if (TYPED[meta.dtype]) {
      const own = this.ownVariable(name);
      // A copy: ownRead's values live in a buffer the next read reuses.
      if (typeof own !== "string") {
        return ownRead(this.path, own, meta.dtype, meta.shape.map(() => 0), meta.shape).slice();
      }
    } else {
      const strings = this.ownStringReader(name);
      if (strings) return this.ownStringValues(name, strings);
    }
    const ds = this.h5wasmFile().get(name);
    if (!ds) throw new InputError(this.path, `no variable ${name}`);
    const v = ds.value;
    if (typeof v === "string") return [v];
    if (Array.isArray(v)) return v.map(String);
    return v as NumericArray;
  }

  close(): void {
    this.raw?.close();
    this.file?.close();
  }
}

/** The hyperslab `start`/`count` of row-major `values` of `shape`. */
function slabOf<T>(values: T[], shape: number[], start: number[], count: number[]): T[] {
  const n = count.reduce((a, b) => a * b, 1);
  const out: T[] = [];
  const at = new Array(shape.length).fill(0);
  for (let k = 0; k < n; k++) {
    let rem = k, index = 0;
    for (let d = shape.length - 1; d >= 0; d--) (at[d] = rem % count[d], rem = Math.floor(rem / count[d]));
    for (let d = 0; d < shape.length; d++) index = index * shape[d] + start[d] + at[d];
    out.push(values[index]);
  }
  return out;
}

/** Open a netCDF4/HDF5 file with the given engine for numeric values. */
export async function openHdf5(path: string, engine: Hdf5Engine = engineFromEnv()): Promise<HDF5Dataset> {
  const stamp = fileStamp(path);
  const eof = hdf5EndOfFile(readHead(path, 128));
  if (eof !== undefined && eof > stamp.size) {
    throw new InputError(
      path,
      `truncated netCDF4/HDF5 file: the superblock says ${eof} bytes, the file has ${stamp.size}`,
    );
  }
  const own = engine === "h5wasm" ? undefined : ownMeta(path);
  if (own) {
    const ds = new HDF5Dataset(path, own.meta, engine, stamp, undefined, own.raw);
    try {
      if (ds.needsH5wasm()) ds.attachH5wasm(await openWithH5wasm(path));
    } catch (e) {
      ds.close();
      throw e;
    }
    return ds;
  }
  const file = await openWithH5wasm(path);
  try {
    return new HDF5Dataset(path, h5wasmMeta(path, file), engine, stamp, file);
  } catch (e) {
    file.close();
    if (e instanceof InputError) throw e;
    throw new InputError(path, `corrupt netCDF4/HDF5 file: ${(e as Error).message}`);
  }
}

/** The netCDF4/HDF5 format plug-in. */
export const hdf5Reader: FormatReader = {
  name: FORMAT_NAME,
  sniff: (h: Uint8Array) => HDF5_SIGNATURE.every((b, i) => h[i] === b),
  open: (path: string): Promise<SourceDataset> => openHdf5(path),
  openLocated: (path: string): LocatedFile | undefined => openLocatedHdf5(path),
};
