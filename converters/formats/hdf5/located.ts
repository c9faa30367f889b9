/**
 * Reading located variables: a worker opens a file at the object headers
 * the scan found (see HDF5Dataset.locate in dataset.ts) and reads them with
 * the own reader alone, never loading h5wasm; a header that no longer
 * holds what the scan found is reported as a changed file.
 *
 * @module
 */
import type { LocatedFile, LocatedVariable, NumericArray } from "../dataset.ts";
import { InputError } from "../../../errors.ts";
import type { Packing } from "../../cf.ts";
import { Hdf5Corrupt, Hdf5Unsupported } from "./cursor.ts";
import { Hdf5File } from "./superblock.ts";
import { Hdf5Variable } from "./variable.ts";
import { dtypeOfStored, ownRead, ownReadDecoded } from "./own_read.ts";
import { engineFromEnv, type Hdf5Engine } from "./h5wasm.ts";

/** A netCDF4/HDF5 file read at located object headers by the own reader alone (no h5wasm). */
class LocatedHdf5File implements LocatedFile {
  /** File path. */
  readonly path: string;
  private raw: Hdf5File | undefined;
  /** Own readers by variable name and header address. */
  private readonly vars = new Map<string, Hdf5Variable>();

  constructor(path: string) {
    this.path = path;
  }

  /** The own reader at the located header, checked against what was located. */
  private variable(name: string, at: LocatedVariable): Hdf5Variable {
    const addr = at.at.headerAddress;
    const key = `${addr} ${name}`;
    let own = this.vars.get(key);
    const changed = "the file changed since the inputs were scanned (initialize the conversion again)";
    if (!own) {
      try {
        this.raw ??= new Hdf5File(this.path);
        own = new Hdf5Variable(this.raw, addr, name);
      } catch (e) {
        if (e instanceof Hdf5Corrupt || e instanceof Hdf5Unsupported) {
          throw new InputError(
            this.path,
            `variable ${name}: no readable dataset header at byte ${addr}, where the scan found it (${e.message}): ` +
              changed,
            { field: name },
          );
        }
        throw new InputError(this.path, `cannot open: ${(e as Error).message}`, { field: name });
      }
      this.vars.set(key, own);
    }
    // Checked on every read: the place is the same for every run of a scan, what it must hold too.
    const dtype = dtypeOfStored(own);
    if (dtype !== at.dtype || own.shape.join() !== at.shape.join()) {
      throw new InputError(
        this.path,
        `variable ${name}: the dataset header at byte ${addr} holds ${dtype} [${own.shape.join(", ")}], the scan ` +
          `found ${at.dtype} [${at.shape.join(", ")}]: ${changed}`,
        { field: name },
      );
    }
    return own;
  }

  read(name: string, at: LocatedVariable, start: number[], count: number[]): NumericArray {
    return ownRead(this.path, this.variable(name, at), at.dtype, start, count);
  }

  readDecoded(
    name: string,
    at: LocatedVariable,
    start: number[],
    count: number[],
    packing: Packing,
    out: Float32Array,
  ): void {
    ownReadDecoded(this.path, this.variable(name, at), at.dtype, start, count, packing, out);
  }

  close(): void {
    this.raw?.close();
    this.raw = undefined;
    this.vars.clear();
  }
}

/**
 * Open a file to read located variables with the own reader alone;
 * undefined when `ATMOREP_HDF5_READER=h5wasm` asks for h5wasm (the file is
 * then opened with {@link openHdf5}).
 */
export function openLocatedHdf5(path: string, engine: Hdf5Engine = engineFromEnv()): LocatedFile | undefined {
  return engine === "h5wasm" ? undefined : new LocatedHdf5File(path);
}
