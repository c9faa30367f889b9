/**
 * Numeric values through the own reader ({@link Hdf5Variable}), as the
 * format interface gives them: raw values of a hyperslab in a buffer
 * shared by all files of this thread, or CF-decoded float32 values read
 * straight into the caller's output. Damage is an InputError naming the
 * file and variable.
 *
 * @module
 */
import type { NumericArray } from "../dataset.ts";
import { InputError } from "../../../errors.ts";
import { type Packing, unpackInto } from "../../cf.ts";
import { Hdf5Corrupt } from "./cursor.ts";
import type { Hdf5Variable } from "./variable.ts";

/** Typed array of each numeric element type name. */
// deno-lint-ignore no-explicit-any
export const TYPED: Record<string, any> = {
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

/** The element type name of a type the own reader found on disk. */
export function dtypeOfStored(own: Hdf5Variable): string {
  const t = own.type;
  return t.kind === "float" ? `float${t.size * 8}` : `${t.kind}${t.size * 8}`;
}

/** Raw values of a hyperslab through the own reader (a view into {@link ownOut}). */
export function ownRead(
  path: string,
  own: Hdf5Variable,
  dtype: string,
  start: number[],
  count: number[],
): NumericArray {
  const Type = TYPED[dtype];
  const n = count.reduce((a, b) => a * b, 1);
  const bytes = n * Type.BYTES_PER_ELEMENT;
  if (ownOut.byteLength < bytes) ownOut = new ArrayBuffer(bytes);
  try {
    own.read(start, count, new Uint8Array(ownOut, 0, bytes));
  } catch (e) {
    if (e instanceof Hdf5Corrupt) throw new InputError(path, e.message, { field: own.name });
    throw e;
  }
  return new Type(ownOut, 0, n);
}

/**
 * CF-decoded values through the own reader: float32 without packing is
 * read into `out` directly; other numeric types are read and unpacked.
 */
export function ownReadDecoded(
  path: string,
  own: Hdf5Variable,
  dtype: string,
  start: number[],
  count: number[],
  packing: Packing,
  out: Float32Array,
): void {
  const n = count.reduce((a, b) => a * b, 1);
  if (dtype === "float32" && packing.scale === 1 && packing.offset === 0 && packing.fills.length === 0) {
    try {
      own.read(start, count, new Uint8Array(out.buffer, out.byteOffset, 4 * n));
    } catch (e) {
      if (e instanceof Hdf5Corrupt) throw new InputError(path, e.message, { field: own.name });
      throw e;
    }
  } else unpackInto(ownRead(path, own, dtype, start, count), packing, out);
}
