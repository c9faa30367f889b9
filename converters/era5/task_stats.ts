/**
 * The binary file of one task's partial statistics, kept in the build
 * directory until finalize merges them: a little-endian uint32 header
 * length, a JSON header (byte counts, per-month global moments), padding
 * to 8 bytes, then count, mean and M2 per point for each month as float64.
 *
 * The file is written durably (temporary name, fsync, rename) and its
 * size and CRC-32C go into the task's done marker, which is written only
 * after it: a done marker always vouches for a whole, verified file.
 *
 * @module
 */
import { dirname, join } from "node:path";
import type { Moments } from "../../normalization/moments.ts";
import { StoreError } from "../../errors.ts";
import { crc32c, crc32cUpdate } from "../../zarr/crc32c.ts";
import { writeFileDurable } from "../../zarr/durable.ts";
import type { TaskResult } from "./task.ts";

/** Typed arrays as plain arrays, non-finite numbers as strings (JSON has neither). */
export function jsonTyped(_key: string, value: unknown): unknown {
  if (ArrayBuffer.isView(value)) return Array.from(value as Int32Array);
  if (typeof value === "number" && !Number.isFinite(value)) return String(value);
  return value;
}

/** The inverse of {@link jsonTyped} for numbers. */
export function jsonNumbers(_key: string, value: unknown): unknown {
  return value === "Infinity" ? Infinity : value === "-Infinity" ? -Infinity : value === "NaN" ? NaN : value;
}

/** What a done marker records about its statistics file. */
export interface StatsSeal {
  /** File size in bytes. */
  bytes: number;
  /** CRC-32C of the whole file. */
  crc: number;
}

/** A task's result as the pieces of its file (header, then the arrays as they are, uncopied). */
export function encodeTaskStats(r: TaskResult): Uint8Array[] {
  const json = new TextEncoder().encode(JSON.stringify({
    rawBytes: r.rawBytes,
    storedBytes: r.storedBytes,
    partials: r.partials.map((p) => ({ month: p.month, global: p.global })),
  }, jsonTyped));
  const pad = (8 - ((4 + json.length) % 8)) % 8;
  const head = new Uint8Array(4 + json.length + pad);
  new DataView(head.buffer).setUint32(0, json.length, true);
  head.set(json, 4);
  const arrays = r.partials.flatMap((p) => [p.count, p.mean, p.m2]);
  return [head, ...arrays.map((x) => new Uint8Array(x.buffer, x.byteOffset, x.byteLength))];
}

/** Write a task's statistics file durably; returns the seal for its done marker. */
export function writeTaskStats(path: string, r: TaskResult): StatsSeal {
  const pieces = encodeTaskStats(r);
  writeFileDurable(path, pieces, { sync: true, tmpDir: join(dirname(dirname(path)), "tmp") });
  return {
    bytes: pieces.reduce((a, p) => a + p.length, 0),
    crc: pieces.reduce((crc, p) => crc32cUpdate(crc, p), 0),
  };
}

/** A buffer reused across reads (grown as needed): fresh memory costs page faults per read. */
export interface ReadBuffer {
  /** The buffer; replaced by a larger one when a file does not fit. */
  bytes: Uint8Array;
}

/** Read a whole file into `into` (grown to fit); the file's bytes are a view of it. */
function readInto(path: string, into: ReadBuffer): Uint8Array {
  const file = Deno.openSync(path, { read: true });
  try {
    const size = file.statSync().size;
    if (into.bytes.length < size) into.bytes = new Uint8Array(size);
    const bytes = into.bytes.subarray(0, size);
    for (let done = 0; done < size;) {
      const n = file.readSync(bytes.subarray(done));
      if (n === null) return bytes.subarray(0, done); // shorter than stat said: the seal check names it
      done += n;
    }
    return bytes;
  } finally {
    file.close();
  }
}

/**
 * Read a task's statistics file, checking it against its seal; a file that
 * is absent, cut or changed is a {@link StoreError} naming it. With `into`,
 * the arrays returned are views of that buffer (valid until its next use).
 */
export function readTaskStats(path: string, plane: number, seal?: StatsSeal, into?: ReadBuffer): TaskResult {
  let bytes: Uint8Array;
  try {
    bytes = into ? readInto(path, into) : Deno.readFileSync(path);
  } catch (e) {
    throw new StoreError(path, `task statistics unreadable (${(e as Error).message})`);
  }
  if (seal && (bytes.length !== seal.bytes || crc32c(bytes) !== seal.crc)) {
    throw new StoreError(path, `task statistics do not match their done marker (${bytes.length} bytes)`);
  }
  if (bytes.length < 4) throw new StoreError(path, "task statistics file is cut short");
  const n = new DataView(bytes.buffer, bytes.byteOffset).getUint32(0, true);
  let head: { rawBytes: number; storedBytes: number; partials: { month: number; global: Moments }[] };
  try {
    head = JSON.parse(new TextDecoder().decode(bytes.subarray(4, 4 + n)), jsonNumbers);
  } catch {
    throw new StoreError(path, "task statistics header is not valid JSON");
  }
  const start = 4 + n + ((8 - ((4 + n) % 8)) % 8);
  const aligned = bytes.byteOffset % 8 === 0 ? bytes : bytes.slice();
  if ((aligned.length - start) !== head.partials.length * 3 * plane * 8) {
    throw new StoreError(path, "task statistics file has the wrong size for its header");
  }
  const all = new Float64Array(aligned.buffer, aligned.byteOffset + start, (aligned.length - start) / 8);
  return {
    id: 0,
    rawBytes: head.rawBytes,
    storedBytes: head.storedBytes,
    partials: head.partials.map((p, i) => ({
      month: p.month,
      global: p.global,
      count: all.subarray(3 * i * plane, (3 * i + 1) * plane),
      mean: all.subarray((3 * i + 1) * plane, (3 * i + 2) * plane),
      m2: all.subarray((3 * i + 2) * plane, (3 * i + 3) * plane),
    })),
  };
}
