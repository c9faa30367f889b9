/**
 * What a conversion from a cloud zarr store reads: the store's location
 * (`https://…`, `gs://bucket/path` → `https://storage.googleapis.com/bucket/path`,
 * `s3://bucket/path` → `https://bucket.s3.amazonaws.com/path`, or a local
 * directory) and the selection (fields with their names in both stores,
 * levels, time range and step, area, grid), written as one string: the
 * "input path" the conversion plan and its build state record, so that the
 * parallel protocol's parts and a rerun of `--init` see exactly the same
 * selection.
 *
 * @module
 */
import { join, resolve } from "node:path";
import { ConfigError } from "../../../errors.ts";
import { parseTime, parseTimeRange as parseRange } from "../../../time.ts";
import { isUrl, publicUrl } from "../../../zarr/http.ts";
import type { FieldName } from "./names.ts";

/** A store and what to read from it. */
export interface StoreSelection {
  /** HTTP(S) URL of the store's root, or an absolute local directory. */
  location: string;
  /** Fields, cloud name and short name. */
  fields: FieldName[];
  /** Levels to read (default all). */
  levels?: number[];
  /** First and last time to read, seconds since 1970 (inclusive; default the store's valid range). */
  time?: [number, number];
  /** Time step to keep, seconds (times that are multiples of it since 1970-01-01T00). */
  every?: number;
  /** Area N/W/S/E in degrees. */
  area?: [number, number, number, number];
  /** Target grid spacing in degrees: every k-th point of the source grid (striding, no averaging). */
  grid?: number;
}

const PREFIX = "zarr+";

/** True when `input` is a cloud URL (https, http, gs, s3) or a local directory holding a zarr store. */
export function isStoreInput(input: string): boolean {
  if (isUrl(input)) return true;
  const exists = (p: string) => {
    try {
      return Deno.statSync(p), true;
    } catch {
      return false;
    }
  };
  try {
    if (!Deno.statSync(input).isDirectory) return false;
  } catch {
    return false;
  }
  return [".zmetadata", ".zgroup", "zarr.json"].some((f) => exists(join(input, f)));
}

/** The HTTPS location of a store URL (`gs://`, `s3://` mapped to their public endpoints), or an absolute path. */
export function storeLocation(input: string): string {
  return isUrl(input) ? publicUrl(input) : resolve(input);
}

/** True when an input path is a store selection written by {@link formatSelection}. */
export function isSelection(path: string): boolean {
  return path.startsWith(PREFIX);
}

/** The store selection as one deterministic string. */
export function formatSelection(s: StoreSelection): string {
  const parts = [`fields=${s.fields.map((f) => `${f.cloud}:${f.short}`).join(",")}`];
  if (s.levels) parts.push(`levels=${s.levels.join(",")}`);
  if (s.time) parts.push(`time=${iso(s.time[0])}/${iso(s.time[1])}`);
  if (s.every) parts.push(`every=${s.every}s`);
  if (s.area) parts.push(`area=${s.area.join("/")}`);
  if (s.grid) parts.push(`grid=${s.grid}`);
  return `${PREFIX}${s.location}#${parts.join("&")}`;
}

/** Parse a string made by {@link formatSelection}. */
export function parseSelection(path: string): StoreSelection {
  if (!isSelection(path)) throw new Error(`${path} is not a store selection`);
  const hash = path.lastIndexOf("#");
  const location = path.slice(PREFIX.length, hash);
  const kv = new Map(path.slice(hash + 1).split("&").map((p) => p.split("=", 2) as [string, string]));
  const nums = (t: string, sep: string) => t.split(sep).map(Number);
  const s: StoreSelection = {
    location,
    fields: kv.get("fields")!.split(",").map((f) => {
      const [cloud, short] = f.split(":");
      return { cloud, short };
    }),
  };
  if (kv.has("levels")) s.levels = nums(kv.get("levels")!, ",");
  if (kv.has("time")) s.time = kv.get("time")!.split("/").map((t) => parseTime(t, `${path}: time`)) as [number, number];
  if (kv.has("every")) s.every = parseInt(kv.get("every")!);
  if (kv.has("area")) s.area = nums(kv.get("area")!, "/") as StoreSelection["area"];
  if (kv.has("grid")) s.grid = Number(kv.get("grid"));
  return s;
}

/** The URL (or directory) of a selection, for messages. */
export function selectionLocation(path: string): string {
  return isSelection(path) ? path.slice(PREFIX.length, path.lastIndexOf("#")) : path;
}

function iso(seconds: number): string {
  return new Date(seconds * 1000).toISOString().slice(0, 19);
}

/**
 * Parse `--time FROM/TO` (inclusive) with the project's one time parser
 * (time.ts): each end is `YYYY`, `YYYY-MM` or an instant, UTC; a coarse TO
 * means the end of that year, month, day or hour. A single value is the
 * range it spans (`--time 2020-01` = all of January 2020).
 */
export function parseTimeRange(text: string): [number, number] {
  return parseRange(text, "--time");
}

/** Parse `--every 6h` (also `30m`, `1d`, `3600s`) into seconds. */
export function parseEvery(text: string): number {
  const m = /^(\d+)\s*([smhd])$/.exec(text.trim());
  const n = m ? Number(m[1]) * { s: 1, m: 60, h: 3600, d: 86400 }[m[2] as "s"] : NaN;
  if (!(n > 0)) throw new ConfigError("--every", `"${text}" is not N followed by s, m, h or d (e.g. 6h)`);
  return n;
}

/** Parse `--area N/W/S/E` (CDS order) in degrees. */
export function parseArea(text: string): [number, number, number, number] {
  const v = text.split("/").map(Number);
  if (v.length !== 4 || v.some((x) => !Number.isFinite(x))) {
    throw new ConfigError("--area", `"${text}" is not N/W/S/E (e.g. 72/-25/34/45)`);
  }
  const [n, w, s, e] = v;
  if (n < s || n > 90 || s < -90) throw new ConfigError("--area", `"${text}": need -90 ≤ S ≤ N ≤ 90`);
  if (w === e || Math.abs(e - w) > 360) {
    throw new ConfigError("--area", `"${text}": W and E must differ by at most 360`);
  }
  return [n, w, s, e];
}

/** Parse `--grid DEG` (the target spacing; the source's must divide it). */
export function parseGridSpacing(text: string): number {
  const g = Number(text);
  if (!(g > 0 && g <= 90)) {
    throw new ConfigError("--grid", `"${text}" is not a grid spacing in degrees (e.g. 1 or 1.5)`);
  }
  return g;
}
