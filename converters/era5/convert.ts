/**
 * ERA5 netCDF → zarr conversion in AtmoRep's layout, with monthly
 * normalization coefficients in a separate store.
 *
 * The store is written into `OUT.partial`, published by writing its root
 * metadata last and renaming it to `OUT`; a failed run removes the partial
 * directory and never touches an existing `OUT`.
 *
 * @module
 */
import { basename, dirname, join, resolve } from "node:path";
import { isoTime, monthIndex } from "../cf.ts";
import {
  ArrayWriter,
  finalizeStore,
  pathExists,
  publishStore,
  removeStore,
  writeGroupMetadata,
  type ZarrFormat,
} from "../../zarr/store.ts";
import { DEFAULT_CODEC, parseCodecSpec } from "../../zarr/codecs.ts";
import { emptyMoments, mergeMoments, type Moments, PointMoments } from "../../normalization/moments.ts";
import {
  createNormArrays,
  defaultNormPath,
  monthEntries,
  type NormArrays,
  type NormLayout,
  writeGlobalCoefficients,
  writeLocalCoefficients,
} from "../../normalization/sets.ts";
import { type FieldPlan, type Plan, planConversion, scanFile } from "./inventory.ts";
import { type ConvertTask, type ReadRun, runTask, TaskContext, type TaskResult } from "./task.ts";
import { VERSION } from "../../version.ts";
import { fullLevelPressure, REFERENCE_SURFACE_PRESSURE, splitPv } from "./levels.ts";

/** Chunk extents of the data arrays (field and level chunks are always 1). */
export interface ChunkShape {
  /** Time steps per chunk. */
  time: number;
  /** Grid rows per chunk. */
  lat: number;
  /** Grid columns per chunk. */
  lon: number;
}

/**
 * Default chunks: 6 time steps × one field × one level × 91 × 180 points
 * (≈390 KB raw, ≈200 KB stored). A 36 h × 54 × 108 AtmoRep neighborhood
 * touches 7–12 chunks instead of eight whole-globe 1.2 GB chunks.
 */
export const DEFAULT_CHUNKS: ChunkShape = { time: 6, lat: 91, lon: 180 };

/** Options of {@link convertEra5}. */
export interface Era5Options {
  /** Input files (already expanded). */
  inputs: string[];
  /** Output store path. */
  out: string;
  /** Normalization store path (default: OUT with `.zarr` → `.norm.zarr`). */
  norm?: string;
  /** Fields to keep. */
  fields?: string[];
  /** Levels to keep. */
  levels?: number[];
  /** Zarr format, default 2. */
  zarrFormat?: ZarrFormat;
  /** Codec spec, default {@link DEFAULT_CODEC}. */
  codec?: string;
  /** Chunk extents. */
  chunks?: Partial<ChunkShape>;
  /** Fill gaps with NaN instead of failing. */
  allowGaps?: boolean;
  /**
   * Fields whose statistics (and so coefficients) are of log(x + eps) − log(eps),
   * with their eps: for fields spanning orders of magnitude (humidity, ozone,
   * precipitation), as AtmoRep's log-transform branch. The data stay raw.
   */
  logTransform?: Record<string, number>;
  /** Also write AtmoRep's `normalization/` group into the data store. */
  embedNormalization?: boolean;
  /** Replace existing outputs. */
  overwrite?: boolean;
  /** Worker count (0 = in this thread). Default: one per core, at most 16. */
  workers?: number;
  /** Command line recorded in provenance. */
  command?: string;
  /** Progress callback. */
  onProgress?: (p: Progress) => void;
}

/** Progress of a conversion. */
export interface Progress {
  /** Phase. */
  phase: "scan" | "convert" | "finalize";
  /** Units done. */
  done: number;
  /** Units in all. */
  total: number;
  /** Decoded bytes written so far. */
  bytes: number;
}

/** What a conversion made. */
export interface ConversionSummary {
  /** Data store path. */
  out: string;
  /** Normalization store path. */
  norm: string;
  /** The plan it followed. */
  plan: Plan;
  /** Decoded bytes. */
  rawBytes: number;
  /** Bytes on disk (chunks). */
  storedBytes: number;
  /** Wall time in seconds. */
  seconds: number;
}

/** Convert ERA5 files into a zarr store plus a normalization store. */
export async function convertEra5(opts: Era5Options): Promise<ConversionSummary> {
  const started = performance.now();
  const out = opts.out.replace(/\/+$/, "");
  const normPath = (opts.norm ?? defaultNormPath(out)).replace(/\/+$/, "");
  const format = opts.zarrFormat ?? 2;
  const codec = opts.codec ?? DEFAULT_CODEC;
  parseCodecSpec(codec); // fail early on a bad spec
  if (resolve(out) === resolve(normPath)) throw new Error("--norm must differ from --out");
  for (const p of [out, normPath]) {
    if (pathExists(p) && !opts.overwrite) throw new Error(`${p} already exists; pass --overwrite to replace it`);
  }
  const progress = opts.onProgress ?? (() => {});

  const entries = [];
  for (const [i, path] of opts.inputs.entries()) {
    progress({ phase: "scan", done: i, total: opts.inputs.length, bytes: 0 });
    entries.push(await scanFile(path));
  }
  const plan = planConversion(entries, { fields: opts.fields, levels: opts.levels, allowGaps: opts.allowGaps });

  const stageOut = `${out}.partial`, stageNorm = `${normPath}.partial`;
  removeStore(stageOut);
  removeStore(stageNorm);
  try {
    const result = await writeStores(plan, { ...opts, codec, format, stageOut, stageNorm, out, normPath, progress });
    publishStore(stageOut, out);
    publishStore(stageNorm, normPath);
    return {
      out,
      norm: normPath,
      plan,
      rawBytes: result.rawBytes,
      storedBytes: result.storedBytes,
      seconds: (performance.now() - started) / 1000,
    };
  } catch (e) {
    removeStore(stageOut);
    removeStore(stageNorm);
    throw e;
  }
}

interface WriteContext extends Era5Options {
  codec: string;
  format: ZarrFormat;
  stageOut: string;
  stageNorm: string;
  out: string;
  normPath: string;
  progress: (p: Progress) => void;
}

async function writeStores(plan: Plan, ctx: WriteContext): Promise<{ rawBytes: number; storedBytes: number }> {
  const { grid, times } = plan;
  const nt = times.length, nlat = grid.lats.length, nlon = grid.lons.length, plane = nlat * nlon;
  const nf = plan.fields.length, ns = plan.fieldsSfc.length, nl = plan.levels.length;
  const chunks = { ...DEFAULT_CHUNKS, ...(ctx.chunks ?? {}) };
  const tc = Math.min(chunks.time, nt), clat = Math.min(chunks.lat, nlat), clon = Math.min(chunks.lon, nlon);
  const { stageOut: root, format } = ctx;
  Deno.mkdirSync(root, { recursive: true });

  const mk = (path: string, spec: ConstructorParameters<typeof ArrayWriter>[3]) => {
    const w = new ArrayWriter(root, path, format, spec);
    w.writeMetadata();
    return w;
  };
  const data = mk("data", {
    shape: [nt, nf, nl, nlat, nlon],
    chunks: [tc, 1, 1, clat, clon],
    dtype: "float32",
    dimensions: ["time", "field", "level", "lats", "lons"],
    codec: ctx.codec,
  });
  const dataSfc = mk("data_sfc", {
    shape: [nt, ns, nlat, nlon],
    chunks: [tc, 1, clat, clon],
    dtype: "float32",
    dimensions: ["time", "field_sfc", "lats", "lons"],
    codec: ctx.codec,
  });
  const timeArr = mk("time", {
    shape: [nt],
    chunks: [nt],
    dtype: format === 2 ? "datetime64[s]" : "int64",
    dimensions: ["time"],
    attributes: format === 2
      ? { long_name: "time", standard_name: "time" }
      : { units: "seconds since 1970-01-01", calendar: "proleptic_gregorian", standard_name: "time" },
  });
  timeArr.writeAll(BigInt64Array.from(times, BigInt));
  mk("lats", {
    shape: [nlat],
    chunks: [nlat],
    dtype: "float64",
    dimensions: ["lats"],
    attributes: { long_name: "colatitude (0 = North Pole)", units: "degrees" },
  }).writeAll(Float64Array.from(grid.lats, (v) => 90 - v));
  mk("latitude", {
    shape: [nlat],
    chunks: [nlat],
    dtype: "float64",
    dimensions: ["lats"],
    attributes: { standard_name: "latitude", units: "degrees_north" },
  }).writeAll(grid.lats);
  mk("lons", {
    shape: [nlon],
    chunks: [nlon],
    dtype: "float64",
    dimensions: ["lons"],
    attributes: { standard_name: "longitude", units: "degrees_east" },
  }).writeAll(grid.lons);
  mk("level", {
    shape: [nl],
    chunks: [Math.max(1, nl)],
    dtype: "float64",
    dimensions: ["level"],
    attributes: { units: plan.levelType === "pressure" ? "hPa" : "1", long_name: `${plan.levelType} level` },
  }).writeAll(Float64Array.from(plan.levels));

  // Monthly statistics: entry 0 = January of the first year (AtmoRep's indexing).
  const firstMonth = Math.floor(monthIndex(times[0]) / 12) * 12;
  const months = monthEntries(firstMonth, monthIndex(times[nt - 1]));
  const nm = months.length;
  const layout: NormLayout = {
    months,
    fields: plan.fields.map((f) => f.name),
    fieldsSfc: plan.fieldsSfc.map((f) => f.name),
    levels: plan.levels,
    pointShape: [nlat, nlon],
    pointDims: ["lats", "lons"],
  };
  for (const name of Object.keys(ctx.logTransform ?? {})) {
    if (!layout.fields.includes(name) && !layout.fieldsSfc.includes(name)) {
      throw new Error(
        `--log: field "${name}" is not converted (fields: ${[...layout.fields, ...layout.fieldsSfc].join(", ")})`,
      );
    }
  }
  const transforms = Object.fromEntries(
    Object.entries(ctx.logTransform ?? {}).map((
      [f, eps],
    ) => [f, { type: "log", eps, formula: "log(x + eps) - log(eps)" }]),
  );
  writeGroupMetadata(root, "statistics", format, {
    transforms,
    description:
      "mergeable float64 partial statistics per month (count, mean, M2, min, max); see `deno task normalize`",
    months,
  });
  // Point statistics are float64 noise to a compressor (×1.1 with zstd):
  // stored raw, they cost no CPU and <1% of the data's size for a month.
  const statArr = (name: string, sfc: boolean, local: boolean) =>
    mk(`statistics/${name}${sfc ? "_sfc" : ""}`, {
      shape: sfc ? [nm, ns, ...(local ? [nlat, nlon] : [])] : [nm, nf, nl, ...(local ? [nlat, nlon] : [])],
      chunks: sfc
        ? [local ? 1 : nm, local ? 1 : Math.max(1, ns), ...(local ? [nlat, nlon] : [])]
        : [local ? 1 : nm, local ? 1 : Math.max(1, nf), local ? 1 : Math.max(1, nl), ...(local ? [nlat, nlon] : [])],
      dtype: "float64",
      dimensions: sfc
        ? ["month", "field_sfc", ...(local ? ["lats", "lons"] : [])]
        : ["month", "field", "level", ...(local ? ["lats", "lons"] : [])],
      codec: local ? "none" : "shuffle,zstd:1",
    });
  const pointStats = {
    data: ["point_count", "point_mean", "point_m2"].map((n) => statArr(n, false, true)),
    sfc: ["point_count", "point_mean", "point_m2"].map((n) => statArr(n, true, true)),
  };
  const globalStats = {
    data: ["count", "mean", "m2", "min", "max"].map((n) => statArr(n, false, false)),
    sfc: ["count", "mean", "m2", "min", "max"].map((n) => statArr(n, true, false)),
  };
  const normSets: NormArrays[] = [createNormArrays(ctx.stageNorm, format, "", layout)];
  if (ctx.embedNormalization) {
    writeGroupMetadata(root, "normalization", format, {
      source: "embedded copy of the default coefficient set",
      fields: layout.fields,
      fields_sfc: layout.fieldsSfc,
      months,
    });
    normSets.push(createNormArrays(root, format, "normalization", layout));
  }
  const globalMoments = (n: number, l: number) =>
    Array.from({ length: nm }, () => Array.from({ length: n }, () => Array.from({ length: l }, emptyMoments)));
  const gData = globalMoments(nf, nl), gSfc = globalMoments(ns, 1);

  // Tasks: runs of whole time chunks within one month (at most ~4 days, so
  // that even one field level spreads over the workers), per (field, level).
  const maxSteps = Math.max(tc, Math.floor(96 / tc) * tc);
  const groups: [number, number][] = [];
  for (let c = 0; c < nt; c += tc) {
    const m = monthIndex(times[c]);
    const last = groups.at(-1);
    if (last && monthIndex(times[last[0]]) === m && c + tc - last[0] <= maxSteps) last[1] = Math.min(c + tc, nt);
    else groups.push([c, Math.min(c + tc, nt)]);
  }
  const monthOf = Int32Array.from(times, (t) => monthIndex(t) - firstMonth);
  const tasks: ConvertTask[] = [];
  const pending = new Map<string, { remaining: number; global: Moments; points?: PointMoments }>();
  const addTasks = (fields: FieldPlan[], sfc: boolean) => {
    fields.forEach((field, fi) => {
      field.owner.forEach((owner, li) => {
        for (const [t0, t1] of groups) {
          const task: ConvertTask = {
            id: tasks.length,
            target: {
              root,
              format,
              path: sfc ? "data_sfc" : "data",
              spec: (sfc ? dataSfc : data).spec,
              prefix: sfc ? [fi] : [fi, li],
            },
            t0,
            t1,
            months: monthOf.slice(t0, t1),
            logEps: ctx.logTransform?.[field.name],
            runs: readRuns(plan, field, li, owner, t0, t1),
          };
          tasks.push(task);
          for (const m of new Set(task.months)) {
            const key = `${sfc ? "s" : "d"}:${m}:${fi}:${li}`;
            const p = pending.get(key) ?? { remaining: 0, global: emptyMoments() };
            p.remaining++;
            pending.set(key, p);
          }
        }
      });
    });
  };
  addTasks(plan.fields, false);
  addTasks(plan.fieldsSfc, true);

  let rawBytes = 0, storedBytes = 0, done = 0;
  const onResult = (task: ConvertTask, r: TaskResult) => {
    rawBytes += r.rawBytes;
    storedBytes += r.storedBytes;
    const sfc = task.target.path === "data_sfc";
    const [fi, li] = sfc ? [task.target.prefix[0], 0] : task.target.prefix;
    for (const part of r.partials) {
      const key = `${sfc ? "s" : "d"}:${part.month}:${fi}:${li}`;
      const p = pending.get(key)!;
      p.global = mergeMoments(p.global, part.global);
      const pm = new PointMoments(plane, part.count, part.mean, part.m2);
      if (p.points) p.points.merge(pm);
      else p.points = pm;
      if (--p.remaining > 0) continue;
      pending.delete(key);
      (sfc ? gSfc : gData)[part.month][fi][li] = p.global;
      const arrays = sfc ? pointStats.sfc : pointStats.data;
      const coords = sfc ? [part.month, fi, 0, 0] : [part.month, fi, li, 0, 0];
      arrays[0].writeChunk(coords, p.points!.count);
      arrays[1].writeChunk(coords, p.points!.mean);
      arrays[2].writeChunk(coords, p.points!.m2);
      const { mean, std } = p.points!.coefficients();
      for (const set of normSets) writeLocalCoefficients(set, sfc, part.month, fi, li, mean, std);
    }
    done++;
    ctx.progress({ phase: "convert", done, total: tasks.length, bytes: rawBytes });
  };
  await runPool(tasks, grid, ctx.workers, onResult);

  ctx.progress({ phase: "finalize", done: tasks.length, total: tasks.length, bytes: rawBytes });
  // Months with no data at all never had a task: they keep empty moments (NaN coefficients).
  for (const set of normSets) writeGlobalCoefficients(set, layout, gData, gSfc);
  const writeGlobalStats = (arrs: ArrayWriter[], g: Moments[][][]) => {
    const flat = g.flat(2);
    if (flat.length === 0) return;
    const pick = (k: keyof Moments) => Float64Array.from(flat, (m) => (m.count ? m[k] : k === "count" ? 0 : NaN));
    (["count", "mean", "m2", "min", "max"] as const).forEach((k, i) => arrs[i].writeAll(pick(k)));
  };
  writeGlobalStats(globalStats.data, gData);
  writeGlobalStats(globalStats.sfc, gSfc);

  const fieldAttrs = (fs: FieldPlan[]) =>
    Object.fromEntries(fs.map((f) => [f.name, { units: f.units, long_name: f.longName }]));
  const attrs = {
    fields: layout.fields,
    fields_sfc: layout.fieldsSfc,
    levels: plan.levels,
    level_type: plan.levelType,
    res: grid.res,
    is_global: grid.isGlobal,
    grid: "regular_ll",
    time_step_seconds: plan.step,
    time_start: isoTime(times[0]),
    time_end: isoTime(times[nt - 1]),
    field_metadata: { ...fieldAttrs(plan.fields), ...fieldAttrs(plan.fieldsSfc) },
    missing_times: plan.missing,
    era5t_steps: plan.era5tSteps,
    ...modelLevelAttrs(plan),
    ...(Object.keys(transforms).length ? { statistics_transforms: transforms } : {}),
    normalization: basename(ctx.normPath),
    provenance: {
      software: "atmorep-ts",
      version: VERSION,
      command: ctx.command ?? "",
      inputs: plan.files.map((f) => ({ path: f.path, format: f.format })),
      created: new Date().toISOString(),
    },
  };
  finalizeStore(root, format, attrs);
  finalizeStore(ctx.stageNorm, format, {
    kind: "normalization",
    source: relativeTo(ctx.normPath, ctx.out),
    fields: layout.fields,
    fields_sfc: layout.fieldsSfc,
    levels: plan.levels,
    months,
    pooling: "monthly",
    transforms,
    period: [isoTime(times[0]).slice(0, 7), isoTime(times[nt - 1]).slice(0, 7)],
    coefficients: ["mean", "std"],
    created: new Date().toISOString(),
  });
  return { rawBytes, storedBytes };
}

/** Hybrid coefficients and approximate level pressures of model-level stores. */
function modelLevelAttrs(plan: Plan): Record<string, unknown> {
  if (plan.levelType !== "model" || !plan.pv) return {};
  const { a, b } = splitPv(plan.pv);
  return {
    hybrid_a_half: a,
    hybrid_b_half: b,
    reference_surface_pressure_pa: REFERENCE_SURFACE_PRESSURE,
    level_pressure_hpa: plan.levels.map((k) => Math.round(fullLevelPressure(plan.pv!, k) * 1e6) / 1e6),
  };
}

function relativeTo(from: string, target: string): string {
  return dirname(resolve(from)) === dirname(resolve(target)) ? basename(target) : resolve(target);
}

/** Reads covering store times [t0, t1) of one field level: runs of consecutive times in one file. */
function readRuns(plan: Plan, field: FieldPlan, li: number, owner: Int32Array, t0: number, t1: number): ReadRun[] {
  const runs: ReadRun[] = [];
  const local = field.local[li];
  for (let t = t0; t < t1; t++) {
    const fi = owner[t];
    if (fi < 0) continue;
    const last = runs.at(-1);
    if (
      last && last.file === plan.files[fi].path && last.storeT + last.count === t &&
      last.localT + last.count === local[t]
    ) {
      last.count++;
      continue;
    }
    const f = plan.files[fi];
    const v = f.variables.get(field.name)!;
    runs.push({
      file: f.path,
      variable: v.name,
      dims: v.dims,
      levelDim: field.hasLevels ? f.levelDim : undefined,
      levelIndex: field.levelIndex[li][fi],
      expverDim: f.expverDim && v.dims.includes(f.expverDim) ? f.expverDim : undefined,
      expverCount: f.expverCount,
      packing: v.packing,
      localT: local[t],
      storeT: t,
      count: 1,
    });
  }
  return runs;
}

async function runPool(
  tasks: ConvertTask[],
  grid: Plan["grid"],
  workers: number | undefined,
  onResult: (t: ConvertTask, r: TaskResult) => void,
): Promise<void> {
  const n = Math.min(workers ?? Math.min(16, navigator.hardwareConcurrency || 1), tasks.length);
  if (n <= 0) {
    const ctx = new TaskContext(grid);
    try {
      for (const t of tasks) onResult(t, await runTask(t, ctx));
    } finally {
      ctx.close();
    }
    return;
  }
  const pool = Array.from({ length: n }, () => {
    const w = new Worker(new URL("./worker.ts", import.meta.url).href, { type: "module" });
    w.postMessage({ type: "init", grid });
    return w;
  });
  let next = 0;
  try {
    await Promise.all(pool.map((w) =>
      new Promise<void>((resolveAll, reject) => {
        // Two tasks in flight per worker: the next one is queued while the
        // main thread handles a result, so workers never wait for it.
        let inFlight = 0;
        const feed = () => {
          while (inFlight < 2 && next < tasks.length) {
            w.postMessage({ type: "task", task: tasks[next++] });
            inFlight++;
          }
          if (inFlight === 0) resolveAll();
        };
        w.onmessage = (e: MessageEvent) => {
          const msg = e.data;
          if (msg.type === "error") return reject(new Error(msg.message));
          inFlight--;
          feed();
          try {
            onResult(tasks[msg.result.id], msg.result);
          } catch (err) {
            return reject(err);
          }
          if (inFlight === 0 && next >= tasks.length) resolveAll();
        };
        w.onerror = (e) => {
          e.preventDefault();
          reject(new Error(`conversion worker failed: ${e.message}`));
        };
        feed();
      })
    ));
  } finally {
    for (const w of pool) w.terminate();
  }
}

/** Expand files, directories (their regular files, sorted) and globs (`*`, `?` in the last part). */
export function expandInputs(inputs: string[]): string[] {
  const out: string[] = [];
  for (const input of inputs) {
    if (/[*?[]/.test(input)) {
      const dir = dirname(input), pattern = basename(input);
      if (/[*?[]/.test(dir)) throw new Error(`${input}: wildcards are supported in the file name only`);
      const re = new RegExp(
        "^" + pattern.replace(/[.+^${}()|\\]/g, "\\$&").replace(/\*/g, ".*").replace(/\?/g, ".") + "$",
      );
      const matches = [...Deno.readDirSync(dir)].filter((e) => e.isFile && re.test(e.name)).map((e) =>
        join(dir, e.name)
      )
        .sort();
      if (matches.length === 0) throw new Error(`${input}: no file matches`);
      out.push(...matches);
    } else {
      let st: Deno.FileInfo;
      try {
        st = Deno.statSync(input);
      } catch {
        throw new Error(`${input}: no such file or directory`);
      }
      if (st.isDirectory) {
        const files = [...Deno.readDirSync(input)].filter((e) => e.isFile && !e.name.startsWith("."))
          .map((e) => join(input, e.name)).sort();
        if (files.length === 0) throw new Error(`${input}: directory holds no files`);
        out.push(...files);
      } else out.push(input);
    }
  }
  return [...new Set(out)];
}
