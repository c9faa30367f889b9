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
import { crc32c } from "../../zarr/crc32c.ts";
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

/** Encode a task's result. */
export function encodeTaskStats(r: TaskResult): Uint8Array {
  const head = new TextEncoder().encode(JSON.stringify({
    rawBytes: r.rawBytes,
    storedBytes: r.storedBytes,
    partials: r.partials.map((p) => ({ month: p.month, global: p.global })),
  }, jsonTyped));
  const arrays = r.partials.flatMap((p) => [p.count, p.mean, p.m2]);
  const pad = (8 - ((4 + head.length) % 8)) % 8;
  const body = new Uint8Array(4 + head.length + pad + arrays.reduce((a, x) => a + x.byteLength, 0));
  new DataView(body.buffer).setUint32(0, head.length, true);
  body.set(head, 4);
  let o = 4 + head.length + pad;
  for (const x of arrays) {
    body.set(new Uint8Array(x.buffer, x.byteOffset, x.byteLength), o);
    o += x.byteLength;
  }
  return body;
}

/** Write a task's statistics file durably; returns the seal for its done marker. */
export function writeTaskStats(path: string, r: TaskResult): StatsSeal {
  const body = encodeTaskStats(r);
  writeFileDurable(path, body, { sync: true, tmpDir: join(dirname(dirname(path)), "tmp") });
  return { bytes: body.length, crc: crc32c(body) };
}

/**
 * Read a task's statistics file, checking it against its seal; a file that
 * is absent, cut or changed is a {@link StoreError} naming it.
 */
export function readTaskStats(path: string, plane: number, seal?: StatsSeal): TaskResult {
  let bytes: Uint8Array;
  try {
    bytes = Deno.readFileSync(path);
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
