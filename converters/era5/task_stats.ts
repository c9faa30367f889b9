/**
 * The binary file of one task's partial statistics, kept in the build
 * directory until finalize merges them: a little-endian uint32 header
 * length, a JSON header (byte counts, per-month global moments), padding
 * to 8 bytes, then count, mean and M2 per point as float64 for each month
 * the task did not finish itself (those are marked `written` in the
 * header: the task wrote their per-point statistics into the stores).
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

/**
 * A task's result as the pieces of its file (header, then the arrays as
 * they are, uncopied). Months in `written` were finished by the task
 * itself: only their global moments are kept.
 */
export function encodeTaskStats(r: TaskResult, written: ReadonlySet<number> = new Set()): Uint8Array[] {
  const json = new TextEncoder().encode(JSON.stringify({
    rawBytes: r.rawBytes,
    storedBytes: r.storedBytes,
    partials: r.partials.map((p) => ({
      month: p.month,
      global: p.global,
      ...(written.has(p.month) ? { written: true } : {}),
    })),
  }, jsonTyped));
  const pad = (8 - ((4 + json.length) % 8)) % 8;
  const head = new Uint8Array(4 + json.length + pad);
  new DataView(head.buffer).setUint32(0, json.length, true);
  head.set(json, 4);
  const arrays = r.partials.filter((p) => !written.has(p.month)).flatMap((p) => [p.count, p.mean, p.m2]);
  return [head, ...arrays.map((x) => new Uint8Array(x.buffer, x.byteOffset, x.byteLength))];
}

/** Write a task's statistics file durably (see {@link encodeTaskStats}); returns the seal for its done marker. */
export function writeTaskStats(path: string, r: TaskResult, written?: ReadonlySet<number>): StatsSeal {
  const pieces = encodeTaskStats(r, written);
  writeFileDurable(path, pieces, { sync: true, tmpDir: join(dirname(dirname(path)), "tmp") });
  return {
    bytes: pieces.reduce((a, p) => a + p.length, 0),
    crc: pieces.reduce((crc, p) => crc32cUpdate(crc, p), 0),
  };
}

/** A task's statistics file as read back. */
export interface TaskStatistics {
  /** Decoded bytes the task wrote. */
  rawBytes: number;
  /** Encoded bytes the task wrote. */
  storedBytes: number;
  /** Per month: global moments, and the per-point sums unless the task finished the month itself. */
  months: { month: number; global: Moments; points?: { count: Float64Array; mean: Float64Array; m2: Float64Array } }[];
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
export function readTaskStats(path: string, plane: number, seal?: StatsSeal, into?: ReadBuffer): TaskStatistics {
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
  let head: { rawBytes: number; storedBytes: number; partials: { month: number; global: Moments; written?: true }[] };
  try {
    head = JSON.parse(new TextDecoder().decode(bytes.subarray(4, 4 + n)), jsonNumbers);
  } catch {
    throw new StoreError(path, "task statistics header is not valid JSON");
  }
  const start = 4 + n + ((8 - ((4 + n) % 8)) % 8);
  const aligned = bytes.byteOffset % 8 === 0 ? bytes : bytes.slice();
  const withPoints = head.partials.filter((p) => !p.written).length;
  if ((aligned.length - start) !== withPoints * 3 * plane * 8) {
    throw new StoreError(path, "task statistics file has the wrong size for its header");
  }
  const all = new Float64Array(aligned.buffer, aligned.byteOffset + start, (aligned.length - start) / 8);
  let i = 0;
  const at = () => all.subarray(plane * i, plane * ++i);
  return {
    rawBytes: head.rawBytes,
    storedBytes: head.storedBytes,
    months: head.partials.map((p) => ({
      month: p.month,
      global: p.global,
      points: p.written ? undefined : { count: at(), mean: at(), m2: at() },
    })),
  };
}
