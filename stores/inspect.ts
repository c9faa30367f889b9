/**
 * Summaries of stores written by this project: what `deno task inspect` prints.
 *
 * @module
 */
import { basename, dirname, join, resolve } from "node:path";
import { ArrayReader, diskUsage, readRootAttributes, readTimeCoordinate } from "../zarr/reader.ts";
import { assertComplete, pathExists as exists } from "../zarr/publish.ts";
import { IncompleteStoreError, StoreError } from "../errors.ts";
import { isMirrorRoot } from "../zarr/mirror.ts";
import { isoTime } from "../converters/cf.ts";
import {
  describeImplausible,
  implausibleCoefficients,
  PLAUSIBLE_RANGES,
  type Range,
} from "../normalization/plausible.ts";

/** A normalization set found next to a data store. */
export interface NormSetSummary {
  /** Path. */
  path: string;
  /** Complete (published) or not. */
  complete: boolean;
  /** Pooling rule. */
  pooling?: string;
  /** Period the statistics cover. */
  period?: string[];
  /** Number of month entries. */
  months?: number;
}

/** Summary of one array. */
export interface ArraySummary {
  /** Array name. */
  name: string;
  /** Shape. */
  shape: number[];
  /** Chunk shape (the inner chunks of a sharded array). */
  chunks: number[];
  /** Shard shape of a sharded v3 array. */
  shards?: number[];
  /** Dimension names. */
  dimensions: string[];
  /** Codec spec. */
  codec: string;
  /** Uncompressed bytes. */
  bytes: number;
  /** Bytes on disk. */
  storedBytes: number;
}

/** Summary of a data store. */
export interface StoreSummary {
  /** Path. */
  path: string;
  /** Zarr format. */
  zarrFormat: number;
  /** Root attributes. */
  attrs: Record<string, unknown>;
  /** Time axis: first, last, step in seconds, count. */
  time?: { start: string; end: string; stepSeconds: number; count: number };
  /** The main arrays. */
  arrays: ArraySummary[];
  /** Normalization sets next to the store. */
  normSets: NormSetSummary[];
  /** Warnings: coefficients that are finite but physically implausible (normalization/plausible.ts). */
  warnings: string[];
}

function summarizeArray(root: string, name: string): ArraySummary {
  const a = new ArrayReader(root, name);
  const missing = a.missingChunkFiles();
  if (missing.length) {
    throw new StoreError(
      join(root, name),
      `${missing.length} chunk file(s) missing (first: chunk [${missing[0].join(", ")}], ${
        a.chunkPath(missing[0])
      }); the array's metadata says every chunk was written, so the store is damaged: convert it again`,
    );
  }
  const n = a.shape.reduce((x, y) => x * y, 1);
  const size = { float32: 4, float64: 8, int32: 4, int64: 8, uint8: 1, "datetime64[s]": 8 }[a.dtype];
  return {
    name,
    shape: a.shape,
    chunks: a.chunks,
    shards: a.shards,
    dimensions: a.dimensions,
    codec: a.pipeline.spec,
    bytes: n * size,
    storedBytes: diskUsage(join(root, name)),
  };
}

/** The arrays a summary describes: the data (or coefficient) arrays the store has. */
export function summarizedArrays(path: string): string[] {
  const root = path.replace(/\/+$/, "");
  const attrs = readRootAttributes(root);
  const names = attrs.kind === "normalization"
    ? ["", "_elem", "_nz", "_elem_nz"].flatMap((
      k,
    ) => [`norm${k}`, `global_norm${k}`, `norm${k}_sfc`, `global_norm${k}_sfc`])
    : [
      ...["data", "data_sfc", "data_elem", "data_elem_sfc", "data_nz", "data_elem_nz"],
      ...["normalization/norm", "normalization/norm_sfc", "statistics/point_mean"],
    ];
  return names.filter((n) => exists(join(root, n)));
}

/** Summarise a finished store; throws {@link IncompleteStoreError} for unfinished ones. */
export function inspectStore(path: string, ranges: Record<string, Range> = PLAUSIBLE_RANGES): StoreSummary {
  const root = path.replace(/\/+$/, "");
  const zarrFormat = assertComplete(root);
  const attrs = readRootAttributes(root);
  const arrays = summarizedArrays(root).map((n) => summarizeArray(root, n));
  let time: StoreSummary["time"];
  if (exists(join(root, "time"))) {
    const s = Array.from(readTimeCoordinate(root));
    time = {
      start: isoTime(s[0]),
      end: isoTime(s[s.length - 1]),
      stepSeconds: s.length > 1 ? s[1] - s[0] : 0,
      count: s.length,
    };
  }
  const normSets = findNormSets(root);
  const sets = attrs.kind === "normalization" ? [root] : normSets.filter((n) => n.complete).map((n) => n.path);
  const warnings = sets.flatMap((n) => describeImplausible(n, implausibleCoefficients(n, ranges)));
  return { path: root, zarrFormat, attrs, time, arrays, normSets, warnings };
}

/**
 * Normalization stores in the same directory whose `source` is this store
 * (of a store opened by URL: the sets opened beside it, zarr/mirror.ts).
 */
export function findNormSets(root: string): NormSetSummary[] {
  const dir = dirname(resolve(root));
  const out: NormSetSummary[] = [];
  for (const e of Deno.readDirSync(dir)) {
    if (!e.isDirectory || !/\.norm\.zarr(\.partial)?$/.test(e.name)) continue;
    const p = join(dir, e.name);
    if (isMirrorRoot(root) && !isMirrorRoot(p)) continue;
    try {
      const a = readRootAttributes(p);
      if (a.source !== basename(root) && a.source !== resolve(root)) continue;
      out.push({
        path: p,
        complete: true,
        pooling: a.pooling as string,
        period: a.period as string[],
        months: (a.months as number[] | undefined)?.length,
      });
    } catch (e) {
      if (e instanceof IncompleteStoreError) out.push({ path: p, complete: false });
    }
  }
  return out.sort((a, b) => a.path.localeCompare(b.path));
}

function mb(n: number): string {
  return n >= 1e9 ? `${(n / 1e9).toFixed(2)} GB` : `${(n / 1e6).toFixed(2)} MB`;
}

/** Human-readable report. */
export function formatSummary(s: StoreSummary): string {
  const a = s.attrs;
  const lines = [`store      ${s.path} (zarr v${s.zarrFormat}, complete)`];
  if (a.kind === "normalization") {
    lines.push(
      `kind       normalization set for ${a.source}, pooling ${a.pooling}, period ${
        (a.period as string[]).join(" .. ")
      }`,
    );
    lines.push(
      `months     ${(a.months as number[]).length} entries: ${(a.months as number[])[0]} .. ${
        (a.months as number[]).at(-1)
      }`,
    );
  }
  for (const key of Object.keys(a).filter((k) => /^fields(_|$)/.test(k))) {
    const label = key === "fields_elem_sfc" ? "fields_elem_sfc" : key;
    lines.push(`${label.padEnd(10)} ${(a[key] as string[]).join(", ") || "-"}`);
  }
  const lv = (a.levels as number[] | undefined) ?? [];
  const shown = lv.length > 12 ? `${lv.slice(0, 6).join(", ")}, … ${lv.at(-1)} (${lv.length} levels)` : lv.join(", ");
  lines.push(`levels     ${shown || "-"}${a.level_type ? ` (${a.level_type})` : ""}`);
  if (a.res) {
    lines.push(`grid       ${a.grid ?? "regular_ll"}, res ${(a.res as number[]).join("° × ")}°, global ${a.is_global}`);
  }
  if (a.grid === "unstructured" && a.mesh_type === "reduced_gaussian") {
    lines.push(
      `grid       unstructured reduced Gaussian: ${a.nodes} points; HEALPix nested orders ${
        (a.healpix_orders as number[]).join(", ")
      }`,
    );
  } else if (a.grid === "unstructured") {
    const m = a.mesh as { source: string; path: string };
    lines.push(
      `grid       unstructured ${a.mesh_type}: ${a.nodes} nodes, ${a.elements} elements (mesh ${m.source}: ${m.path})`,
    );
    lines.push(
      `vectors    ${a.vector_frame}; calendar ${a.calendar}; HEALPix nested orders ${
        (a.healpix_orders as number[]).join(", ")
      }`,
    );
    lines.push(`time axis  ${a.time_convention}`);
  }
  if (s.time) {
    lines.push(
      `time       ${s.time.start} .. ${s.time.end}, step ${s.time.stepSeconds / 3600} h, ${s.time.count} steps`,
    );
  }
  const missing = (a.missing_times as { time: string; fields: string[] }[] | undefined) ?? [];
  if (a.kind !== "normalization") {
    lines.push(
      `missing    ${
        missing.length === 0
          ? "none"
          : `${missing.length} time steps filled with NaN, first ${missing.slice(0, 3).map((m) => m.time).join(", ")}`
      }`,
    );
  }
  for (const arr of s.arrays) {
    lines.push(
      `array      ${arr.name.padEnd(18)} (${arr.dimensions.join(", ")}) shape ${JSON.stringify(arr.shape)} chunks ${
        JSON.stringify(arr.chunks)
      }${arr.shards ? ` in shards ${JSON.stringify(arr.shards)}` : ""} codec ${arr.codec}: ${mb(arr.bytes)} → ${
        mb(arr.storedBytes)
      } (×${(arr.bytes / Math.max(1, arr.storedBytes)).toFixed(2)})`,
    );
  }
  if (a.kind !== "normalization") {
    if (s.normSets.length === 0) lines.push("norm sets  none found next to the store");
    for (const n of s.normSets) {
      lines.push(
        n.complete
          ? `norm set   ${n.path}: ${n.pooling}, ${n.months} months, period ${n.period?.join(" .. ")}`
          : `norm set   ${n.path}: INCOMPLETE`,
      );
    }
  }
  for (const w of s.warnings ?? []) lines.push(`warning    ${w}`);
  return lines.join("\n");
}
