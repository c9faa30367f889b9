/**
 * The common view of a gridded input file (netCDF3, netCDF4/HDF5, and later
 * GRIB): named dimensions, variables with attributes, and hyperslab reads.
 * Format readers are plug-ins, listed in registry.ts and chosen there by
 * sniffing the file's first bytes, never by its name.
 *
 * @module
 */
import type { Packing } from "../cf.ts";

/** Numeric arrays a reader may return. */
export type NumericArray =
  | Int8Array
  | Uint8Array
  | Int16Array
  | Uint16Array
  | Int32Array
  | Uint32Array
  | BigInt64Array
  | Float32Array
  | Float64Array;

/** A variable of an input file. */
export interface SourceVariable {
  /** Variable name. */
  name: string;
  /** Dimension names, slowest first. */
  dims: string[];
  /** Length of each dimension. */
  shape: number[];
  /** Element type: int8, int16, int32, int64, float32, float64, char or string. */
  dtype: string;
  /** Attributes as stored (numbers, strings or arrays). */
  attrs: Record<string, unknown>;
}

/** An open input file. */
export interface SourceDataset {
  /** File path. */
  readonly path: string;
  /** Format name, e.g. `netcdf3-64bit`, `netcdf4`. */
  readonly format: string;
  /** Dimension lengths by name. */
  readonly dims: Record<string, number>;
  /** Variables by name. */
  readonly variables: Map<string, SourceVariable>;
  /** Global attributes. */
  readonly attrs: Record<string, unknown>;
  /**
   * Read the raw (still packed) values of a hyperslab. The result may be a
   * view into a buffer the reader reuses: it is valid until the next read
   * of any dataset in this thread.
   */
  read(name: string, start: number[], count: number[]): NumericArray;
  /**
   * Optional fast path: read a hyperslab and CF-decode it (packing, fill
   * values → NaN) straight into `out` as float32 (netCDF3 shorts in one
   * pass over the bytes, netCDF4 float32 decoded in place), giving the same
   * values as `unpackInto(read(...), packing, out)`. Returns false when the
   * reader has no such path for this variable.
   */
  readDecoded?(name: string, start: number[], count: number[], packing: Packing, out: Float32Array): boolean;
  /** Read a whole variable; strings come back as `string[]`. */
  readAll(name: string): NumericArray | string[];
  /**
   * Optional: where a variable's values lie, for `openLocated` (registry.ts) in
   * another thread; undefined when this reader cannot read it that way.
   */
  locate?(name: string): LocatedVariable | undefined;
  /** Release the file. */
  close(): void;
}

/** Size and modification time of a file: a file whose stamp changed is not read at a located place. */
export interface FileStamp {
  /** Size in bytes. */
  size: number;
  /** Modification time in milliseconds since 1970 (null where the file system has none). */
  mtimeMs: number | null;
}

/** The stamp of a file now. */
export function fileStamp(path: string): FileStamp {
  const st = Deno.statSync(path);
  return { size: st.size, mtimeMs: st.mtime?.getTime() ?? null };
}

/**
 * Where a variable's values lie in its file, as the format plug-in that
 * scanned it found them: a plain object (JSON and structured-clone safe)
 * that travels with a conversion task, so that a worker reads the values
 * through `openLocated` (registry.ts) without the plug-in's full open (netCDF4/HDF5:
 * without loading the HDF5 library for the metadata).
 */
export interface LocatedVariable {
  /** Name of the plug-in that located it (its {@link FormatReader.name}). */
  format: string;
  /** Element type, as {@link SourceVariable.dtype}. */
  dtype: string;
  /** Shape, as {@link SourceVariable.shape}. */
  shape: number[];
  /** The file's stamp when it was scanned. */
  stamp: FileStamp;
  /** The place, in the plug-in's terms (netCDF4/HDF5: `headerAddress`, the dataset's object header). */
  at: Record<string, number>;
}

/**
 * A file opened for reading located variables only. A variable whose
 * place no longer holds what was located (type, shape) is an
 * `InputError` naming the file and variable.
 */
export interface LocatedFile {
  /** File path. */
  readonly path: string;
  /** Raw values of a hyperslab, as {@link SourceDataset.read} (a view valid until the next read). */
  read(name: string, at: LocatedVariable, start: number[], count: number[]): NumericArray;
  /** CF-decoded values straight into `out`, as {@link SourceDataset.readDecoded}. */
  readDecoded(
    name: string,
    at: LocatedVariable,
    start: number[],
    count: number[],
    packing: Packing,
    out: Float32Array,
  ): void;
  /** Release the file. */
  close(): void;
}

/** A format reader plug-in. */
export interface FormatReader {
  /** Format name. */
  readonly name: string;
  /** True when the first bytes belong to this format. */
  sniff(head: Uint8Array): boolean;
  /** Open the file (already sniffed). */
  open(path: string): Promise<SourceDataset>;
  /**
   * Optional: open a file to read variables this plug-in located (see
   * {@link SourceDataset.locate}); undefined when it declines (then the
   * file is opened with {@link open}).
   */
  openLocated?(path: string): LocatedFile | undefined;
  /**
   * Optional: variants of this format that its signature recognises but
   * this reader does not read; opening one is an `InputError` giving
   * the refusal's reason (netCDF3: CDF-5), not "not a netCDF file".
   */
  readonly refuses?: readonly FormatRefusal[];
}

/** A variant of a format that is recognised by its first bytes and refused with a reason. */
export interface FormatRefusal {
  /** Variant name, e.g. `cdf5`. */
  readonly variant: string;
  /** True when the first bytes belong to this variant. */
  sniff(head: Uint8Array): boolean;
  /** What the user is told (what is not supported and what to do). */
  readonly reason: string;
}

/** Read the first `n` bytes of a file. */
export function readHead(path: string, n: number): Uint8Array {
  const file = Deno.openSync(path, { read: true });
  try {
    const buf = new Uint8Array(n);
    let got = 0;
    while (got < n) {
      const r = file.readSync(buf.subarray(got));
      if (r === null || r === 0) break;
      got += r;
    }
    return buf.subarray(0, got);
  } finally {
    file.close();
  }
}
