/**
 * The input formats, in one list built here: netCDF3, netCDF4/HDF5 and
 * GRIB readers, tried in order on a file's first bytes. Importing a reader
 * registers nothing; every entry point (a CLI verb, a library call such as
 * `convertGaussian` alone, a worker) opens files through
 * {@link openDataset} here and so reads all of them alike. Variants a
 * format recognises but refuses (netCDF3's CDF-5) are a field of that
 * format's entry ({@link FormatReader.refuses}), reported by
 * {@link detectFormat}.
 *
 * @module
 */
import { InputError } from "../../errors.ts";
import {
  type FileStamp,
  fileStamp,
  type FormatReader,
  type FormatRefusal,
  type LocatedFile,
  type LocatedVariable,
  readHead,
  type SourceDataset,
} from "./dataset.ts";
import { netcdf3Reader } from "./netcdf3.ts";
import { hdf5Reader } from "./hdf5/dataset.ts";
import { gribReader } from "./grib/dataset.ts";

export type { LocatedFile, LocatedVariable, NumericArray, SourceDataset, SourceVariable } from "./dataset.ts";

/** The format readers, tried in order. */
export const formatRegistry: FormatReader[] = [netcdf3Reader, hdf5Reader, gribReader];

/** Add a format reader (a plug-in) after the built-in ones; a name already listed is kept as it is. */
export function registerFormat(reader: FormatReader): void {
  if (!formatRegistry.some((r) => r.name === reader.name)) formatRegistry.push(reader);
}

/** What the first bytes of a file are: the reader that reads them, or the refusal of a variant it does not read. */
export interface FormatMatch {
  /** The format's reader. */
  reader: FormatReader;
  /** Set when the bytes are a variant the reader refuses. */
  refusal?: FormatRefusal;
}

/** The format of a file by its first bytes; undefined when no listed format recognises them. */
export function detectFormat(head: Uint8Array): FormatMatch | undefined {
  const reader = formatRegistry.find((r) => r.sniff(head));
  if (reader) return { reader };
  for (const r of formatRegistry) {
    const refusal = r.refuses?.find((v) => v.sniff(head));
    if (refusal) return { reader: r, refusal };
  }
  return undefined;
}

function describeHead(head: Uint8Array): string {
  const text = new TextDecoder().decode(head.subarray(0, 40));
  const printable = /^[\x20-\x7e\r\n\t]*$/.test(text);
  return printable
    ? `it starts with the text "${text.replace(/\s+/g, " ").trim()}"`
    : `it starts with bytes ${[...head.subarray(0, 8)].map((b) => b.toString(16).padStart(2, "0")).join(" ")}`;
}

/** Open an input file with the reader whose signature matches its first bytes. */
export async function openDataset(path: string): Promise<SourceDataset> {
  let head: Uint8Array;
  try {
    head = readHead(path, 1024);
  } catch (e) {
    throw new InputError(path, e instanceof Deno.errors.NotFound ? "no such file" : String(e));
  }
  if (head.length === 0) throw new InputError(path, "the file is empty");
  const match = detectFormat(head);
  if (!match) {
    throw new InputError(
      path,
      `not a netCDF or HDF5 file (${describeHead(head)}); formats understood: ${
        formatRegistry.map((r) => r.name).join(", ")
      }`,
    );
  }
  if (match.refusal) throw new InputError(path, match.refusal.reason);
  return await match.reader.open(path);
}

/**
 * Open a file for reading a variable at the place its plug-in located it
 * when the inputs were scanned. Undefined when that is not possible — the
 * plug-in is not listed or declines, or the file's size or modification
 * time changed since (the caller opens the file with {@link openDataset},
 * which finds the variable again).
 */
export function openLocated(path: string, at: LocatedVariable): LocatedFile | undefined {
  const reader = formatRegistry.find((r) => r.name === at.format);
  if (!reader?.openLocated) return undefined;
  let now: FileStamp;
  try {
    now = fileStamp(path);
  } catch {
    return undefined; // openDataset names the problem
  }
  if (now.size !== at.stamp.size || now.mtimeMs !== at.stamp.mtimeMs) return undefined;
  return reader.openLocated(path);
}
