/**
 * The filter pipeline of chunked datasets: the pipeline message, and the
 * undoing of the filters this reader supports on one stored chunk —
 * fletcher32 (verified), deflate (libdeflate through FFI, else node:zlib,
 * see native/deflate.ts) and shuffle (WebAssembly SIMD for 4-byte elements,
 * unshuffled straight into a conversion's slab when the chunk lands
 * there). Other filters (szip, nbit, scaleoffset, blosc, …) are named for
 * the message that hands the variable to the HDF5 library.
 *
 * @module
 */
import type { Inflater } from "../../../native/deflate.ts";
import { simdUnshuffle } from "../../../simd/shuffle.ts";
import { tileWorkspaceOf } from "../../../simd/tiles.ts";
import { Cursor, Hdf5Unsupported } from "./cursor.ts";
import { grown } from "./scratch.ts";

/** A filter of the pipeline. */
export interface Filter {
  /** Filter id (1 deflate, 2 shuffle, 3 fletcher32, …). */
  id: number;
  /** Name for messages. */
  name: string;
  /** Optional: a chunk may skip it. */
  optional: boolean;
  /** Client data values (shuffle: element size). */
  values: number[];
}

const FILTER_NAMES: Record<number, string> = {
  1: "deflate",
  2: "shuffle",
  3: "fletcher32",
  4: "szip",
  5: "nbit",
  6: "scaleoffset",
  32001: "blosc",
  32004: "lz4",
  32013: "zfp",
  32015: "zstd",
  307: "bzip2",
};

/** The filters this reader undoes. */
export const FILTER_DEFLATE = 1, FILTER_SHUFFLE = 2, FILTER_FLETCHER32 = 3;

/** The filters of a filter pipeline message, in the order they were applied when writing. */
export function parseFilters(m: Uint8Array): Filter[] {
  const c = new Cursor(m, 0, 8, 8);
  const version = c.u8();
  const n = c.u8();
  if (version === 1) c.skip(6);
  else if (version !== 2) throw new Hdf5Unsupported(`filter pipeline message version ${version}`);
  const out: Filter[] = [];
  for (let i = 0; i < n; i++) {
    const id = c.u16();
    const nameLength = version === 1 || id >= 256 ? c.u16() : 0;
    const flags = c.u16();
    const nvalues = c.u16();
    let name = FILTER_NAMES[id] ?? `filter ${id}`;
    if (nameLength > 0) {
      const raw = c.bytes(version === 1 ? nameLength + (-nameLength & 7) : nameLength);
      const text = new TextDecoder().decode(raw).replace(/\0.*$/s, "");
      if (text) name = `${FILTER_NAMES[id] ?? text} (id ${id})`;
    }
    const values: number[] = [];
    for (let k = 0; k < nvalues; k++) values.push(c.u32());
    if (version === 1 && nvalues % 2 === 1) c.skip(4);
    out.push({ id, name, optional: (flags & 1) !== 0, values });
  }
  return out;
}

/** Fletcher-32 as HDF5 computes it (16-bit big-endian words, folded every 360 words). */
export function fletcher32(data: Uint8Array): number {
  let sum1 = 0, sum2 = 0, p = 0, len = data.length >>> 1;
  while (len > 0) {
    let t = len > 360 ? 360 : len;
    len -= t;
    do {
      sum1 += (data[p] << 8) | data[p + 1];
      p += 2;
      sum2 += sum1;
    } while (--t);
    sum1 = sum1 >>> 0, sum2 = sum2 >>> 0;
    sum1 = (sum1 & 0xffff) + (sum1 >>> 16);
    sum2 = (sum2 & 0xffff) + (sum2 >>> 16);
  }
  if (data.length & 1) {
    sum1 += data[p] << 8;
    sum2 += sum1;
    sum1 = sum1 >>> 0, sum2 = sum2 >>> 0;
    sum1 = (sum1 & 0xffff) + (sum1 >>> 16);
    sum2 = (sum2 & 0xffff) + (sum2 >>> 16);
  }
  sum1 = (sum1 & 0xffff) + (sum1 >>> 16);
  sum2 = (sum2 & 0xffff) + (sum2 >>> 16);
  return ((sum2 << 16) | sum1) >>> 0;
}

/** Scalar byte unshuffle (any element size); a trailing partial element is copied as is. */
function unshuffleScalar(src: Uint8Array, es: number, out: Uint8Array): void {
  const n = Math.floor(src.length / es);
  for (let b = 0; b < es; b++) {
    const plane = b * n;
    for (let i = 0; i < n; i++) out[i * es + b] = src[plane + i];
  }
  for (let k = n * es; k < src.length; k++) out[k] = src[k];
}

/** Two scratch buffers handed out in turn, so that each filter step writes where the previous one did not. */
class Stages {
  private spare: "stage" | "stage2" = "stage";
  /** The next buffer, `n` bytes long. */
  next(n: number): Uint8Array {
    const b = grown(this.spare, n).subarray(0, n);
    this.spare = this.spare === "stage" ? "stage2" : "stage";
    return b;
  }
}

/**
 * Input size of each filter in write order: the decoded chunk, plus 4 bytes
 * after each fletcher32; unknown (NaN) after deflate.
 */
function filterInputSizes(active: Filter[], decoded: number): number[] {
  const sizes = [decoded];
  for (const flt of active) {
    sizes.push(flt.id === FILTER_DEFLATE ? NaN : sizes.at(-1)! + (flt.id === FILTER_FLETCHER32 ? 4 : 0));
  }
  return sizes;
}

/**
 * Undo the `active` filters (those the chunk did not skip) of one stored
 * chunk into `into` (exactly one decoded chunk of `elementSize`-byte
 * elements). A damaged chunk throws a plain Error saying what is wrong
 * (the caller names the chunk); what this reader cannot undo throws
 * {@link Hdf5Unsupported}.
 */
export function undoFilters(
  active: Filter[],
  stored: Uint8Array,
  into: Uint8Array,
  elementSize: number,
  inflate: Inflater,
): void {
  const sizes = filterInputSizes(active, into.length);
  const stages = new Stages();
  let data = stored;
  for (let i = active.length - 1; i >= 0; i--) {
    const flt = active[i], n = sizes[i];
    if (flt.id === FILTER_FLETCHER32) data = checkedFletcher32(data, n);
    else if (flt.id === FILTER_DEFLATE) {
      const next = i > 0 ? active[i - 1] : undefined;
      const es = next?.id === FILTER_SHUFFLE ? (next.values[0] ?? elementSize) : 0;
      const simd = es === 4 ? simdUnshuffle() : undefined;
      if (Number.isNaN(n)) throw new Hdf5Unsupported("two deflate filters");
      // Inflated into the SIMD module's input when a 4-byte unshuffle follows: it reads from there.
      const target = i === 0 ? into : simd ? simd.input(n) : stages.next(n);
      inflate.inflate(data, target);
      data = target;
    } else if (flt.id === FILTER_SHUFFLE) {
      const es = flt.values[0] ?? elementSize;
      if (data.length !== n) throw new Error(`shuffled data of ${data.length} bytes, expected ${n}`);
      const target = i === 0 ? into : stages.next(n);
      unshuffle(data, es, target, stages);
      data = target;
    }
  }
  if (data !== into) {
    if (data.length !== into.length) throw new Error(`decodes to ${data.length} bytes, expected ${into.length}`);
    into.set(data);
  }
}

/** The data before a fletcher32 checksum (`n` bytes when known), the checksum verified. */
function checkedFletcher32(data: Uint8Array, n: number): Uint8Array {
  if (data.length < 4 || (!Number.isNaN(n) && data.length !== n + 4)) {
    throw new Error(`${data.length} bytes before fletcher32, expected ${n + 4}`);
  }
  const body = data.subarray(0, data.length - 4);
  const t = data.subarray(data.length - 4);
  const storedSum = (t[0] | (t[1] << 8) | (t[2] << 16) | (t[3] << 24)) >>> 0;
  const sum = fletcher32(body);
  // HDF5 also accepts the checksum with its bytes swapped in pairs (files of HDF5 1.6.0–1.6.2).
  const swapped = (((sum >>> 8) & 0xff) | ((sum & 0xff) << 8) | ((sum >>> 24) << 16) |
    (((sum >>> 16) & 0xff) << 24)) >>> 0;
  if (storedSum !== sum && storedSum !== swapped) {
    throw new Error(
      `fletcher32 checksum mismatch (stored ${storedSum.toString(16)}, computed ${sum.toString(16)})`,
    );
  }
  return body;
}

/** Unshuffle `data` (elements of `es` bytes) into `target`: SIMD for 4-byte elements, else scalar. */
function unshuffle(data: Uint8Array, es: number, target: Uint8Array, stages: Stages): void {
  const n = data.length;
  if (es <= 1) return void target.set(data);
  const simd = es === 4 ? simdUnshuffle() : undefined;
  if (simd) {
    const input = simd.input(n);
    if (data.buffer !== input.buffer || data.byteOffset !== 0) input.set(data);
    // Into a conversion's slab: unshuffled straight there, without a copy out of the module.
    const slab = tileWorkspaceOf(target);
    if (slab) slab.unshuffleInto(n, target);
    else simd.unshuffle4(n, target);
  } else if (data === target) {
    const copy = stages.next(n);
    copy.set(data);
    unshuffleScalar(copy, es, target);
  } else unshuffleScalar(data, es, target);
}
