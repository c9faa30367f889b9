/**
 * The layout of an ERA5 conversion: the arrays of the staged data store and
 * coefficient set (metadata and coordinates written at init), the store
 * attributes, and the task list (runs of whole time chunks of one field
 * level, each with the reads that fill it).
 *
 * @module
 */
import { basename } from "node:path";
import { isoTime, monthIndex } from "../cf.ts";
import { writeGroupMetadata, type ZarrFormat } from "../../zarr/metadata.ts";
import type { ArrayWriter } from "../../zarr/writer.ts";
import { createNormArrays, monthEntries, type NormArrays, type NormLayout } from "../../normalization/sets.ts";
import { ConfigError } from "../../errors.ts";
import { arrayMaker, coefficientSetAttrs, type MakeArray, provenance } from "../output.ts";
import type { FieldPlan, Plan } from "./inventory.ts";
import type { ConvertTask, ReadRun } from "./task.ts";
import type { BuildState, WriterSpec } from "./build.ts";
import type { Era5Options, Progress } from "./convert.ts";
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

/**
 * Default inner chunks of sharded stores: 6 time steps × 18 × 36 points
 * (15.5 KB). Shards keep the file count of the default layout, so chunks
 * can be small: a 36 h × 54 × 108 neighborhood decodes ≈2× its size
 * instead of ≈8× (measured by bench:sampler; README).
 */
export const DEFAULT_SHARD_CHUNKS: ChunkShape = { time: 6, lat: 18, lon: 36 };

/** Resolved options of {@link createStores}. */
export interface WriteContext extends Era5Options {
  codec: string;
  format: ZarrFormat;
  stageOut: string;
  stageNorm: string;
  out: string;
  normPath: string;
  progress: (p: Progress) => void;
}

/** Store sizes and chunk extents of a conversion. */
interface StoreShape {
  nt: number;
  nlat: number;
  nlon: number;
  /** Fields with levels, surface fields, levels. */
  nf: number;
  ns: number;
  nl: number;
  /** Chunk extents: time steps, grid rows, grid columns. */
  tc: number;
  clat: number;
  clon: number;
}

/** Create both staged stores' arrays and coordinates and the task list. */
export function createStores(plan: Plan, ctx: WriteContext): BuildState {
  const { grid, times } = plan;
  const shape = storeShape(plan, ctx);
  const { stageOut: root, format } = ctx;
  Deno.mkdirSync(root, { recursive: true });

  const mk = arrayMaker(root, format);
  if (ctx.shard && format !== 3) throw new ConfigError("--shard", "needs --zarr-format 3");
  const dataArrays = createDataArrays(mk, ctx, shape);
  writeCoordinates(mk, plan, format);

  // Monthly statistics: entry 0 = January of the first year (AtmoRep's indexing).
  const firstMonth = Math.floor(monthIndex(times[0]) / 12) * 12;
  const months = monthEntries(firstMonth, monthIndex(times[shape.nt - 1]));
  const layout: NormLayout = {
    months,
    fields: plan.fields.map((f) => f.name),
    fieldsSfc: plan.fieldsSfc.map((f) => f.name),
    levels: plan.levels,
    pointShape: [shape.nlat, shape.nlon],
    pointDims: ["lats", "lons"],
  };
  checkLogFields(ctx, layout);
  const transforms = logTransforms(ctx);
  writeGroupMetadata(root, "statistics", format, {
    transforms,
    description:
      "mergeable float64 partial statistics per month (count, mean, M2, min, max); see `deno task normalize`",
    months,
  });
  const stats = createStatisticsArrays(mk, shape, months.length);
  const normSets = createNormSets(ctx, layout);
  const tasks = conversionTasks(plan, ctx, dataArrays, shape.tc, firstMonth);
  const attrs = storeAttrs(plan, ctx, layout, transforms);
  const normAttrs = coefficientSetAttrs({ out: ctx.out, norm: ctx.normPath }, {
    fields: layout.fields,
    fieldsSfc: layout.fieldsSfc,
    levels: plan.levels,
    months,
    period: [isoTime(times[0]).slice(0, 7), isoTime(times[shape.nt - 1]).slice(0, 7)],
  }, { transforms });
  const spec = (w: ArrayWriter): WriterSpec => ({ path: w.path, spec: w.spec });
  return {
    out: ctx.out,
    normPath: ctx.normPath,
    stageOut: root,
    stageNorm: ctx.stageNorm,
    format,
    grid,
    tasks,
    layout,
    writers: {
      pointData: stats.point.data.map(spec),
      pointSfc: stats.point.sfc.map(spec),
      globalData: stats.global.data.map(spec),
      globalSfc: stats.global.sfc.map(spec),
    },
    normSets: normSets.map((n) => ({
      root: n.norm.root,
      norm: spec(n.norm),
      normSfc: spec(n.normSfc),
      globalNorm: spec(n.globalNorm),
      globalNormSfc: spec(n.globalNormSfc),
    })),
    attrs,
    normAttrs,
  };
}

/** Sizes of the store and its chunk extents (the default chunks, or the options', cut to the sizes). */
function storeShape(plan: Plan, ctx: WriteContext): StoreShape {
  const nt = plan.times.length, nlat = plan.grid.lats.length, nlon = plan.grid.lons.length;
  const chunks = { ...(ctx.shard ? DEFAULT_SHARD_CHUNKS : DEFAULT_CHUNKS), ...(ctx.chunks ?? {}) };
  return {
    nt,
    nlat,
    nlon,
    nf: plan.fields.length,
    ns: plan.fieldsSfc.length,
    nl: plan.levels.length,
    tc: Math.min(chunks.time, nt),
    clat: Math.min(chunks.lat, nlat),
    clon: Math.min(chunks.lon, nlon),
  };
}

/** The data arrays (fields with levels, surface fields), sharded over the whole globe with --shard. */
function createDataArrays(
  mk: MakeArray,
  ctx: WriteContext,
  s: StoreShape,
): { data: ArrayWriter; dataSfc: ArrayWriter } {
  const { nt, nf, ns, nl, nlat, nlon, tc, clat, clon } = s;
  const globe = [Math.ceil(nlat / clat) * clat, Math.ceil(nlon / clon) * clon];
  const data = mk("data", {
    shape: [nt, nf, nl, nlat, nlon],
    chunks: [tc, 1, 1, clat, clon],
    shards: ctx.shard ? [tc, 1, 1, ...globe] : undefined,
    dtype: "float32",
    dimensions: ["time", "field", "level", "lats", "lons"],
    codec: ctx.codec,
    complete: true,
  });
  const dataSfc = mk("data_sfc", {
    shape: [nt, ns, nlat, nlon],
    chunks: [tc, 1, clat, clon],
    shards: ctx.shard ? [tc, 1, ...globe] : undefined,
    dtype: "float32",
    dimensions: ["time", "field_sfc", "lats", "lons"],
    codec: ctx.codec,
    complete: true,
  });
  return { data, dataSfc };
}

/** The coordinate arrays, written whole: time, colatitude, latitude, longitude, level. */
function writeCoordinates(mk: MakeArray, plan: Plan, format: ZarrFormat): void {
  const { grid, times } = plan;
  const nt = times.length, nlat = grid.lats.length, nlon = grid.lons.length, nl = plan.levels.length;
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
}

/** Refuse a --log field that is not converted. */
function checkLogFields(ctx: WriteContext, layout: NormLayout): void {
  for (const name of Object.keys(ctx.logTransform ?? {})) {
    if (!layout.fields.includes(name) && !layout.fieldsSfc.includes(name)) {
      throw new ConfigError(
        "--log",
        `field "${name}" is not converted (fields: ${[...layout.fields, ...layout.fieldsSfc].join(", ")})`,
      );
    }
  }
}

/** The statistics transforms of the --log fields, as the stores record them. */
function logTransforms(ctx: WriteContext): Record<string, unknown> {
  return Object.fromEntries(
    Object.entries(ctx.logTransform ?? {}).map((
      [f, eps],
    ) => [f, { type: "log", eps, formula: "log(x + eps) - log(eps)" }]),
  );
}

/** The partial statistics arrays: per point (count, mean, M2) and global (count, mean, M2, min, max), per month. */
function createStatisticsArrays(
  mk: MakeArray,
  s: StoreShape,
  nm: number,
): { point: { data: ArrayWriter[]; sfc: ArrayWriter[] }; global: { data: ArrayWriter[]; sfc: ArrayWriter[] } } {
  const { nf, ns, nl, nlat, nlon } = s;
  // Point means and M2 are float64 noise to a compressor (×1.1 with zstd):
  // stored raw, they cost no CPU. Point counts are one number repeated
  // (every point sees every time step unless values are missing): zstd
  // alone writes that third of the point statistics' bytes in a few
  // hundred (0.5 ms a plane; a byte shuffle first only added CPU).
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
      codec: !local ? "shuffle,zstd:1" : name === "point_count" ? "zstd:1" : "none",
    });
  const point = {
    data: ["point_count", "point_mean", "point_m2"].map((n) => statArr(n, false, true)),
    sfc: ["point_count", "point_mean", "point_m2"].map((n) => statArr(n, true, true)),
  };
  const global = {
    data: ["count", "mean", "m2", "min", "max"].map((n) => statArr(n, false, false)),
    sfc: ["count", "mean", "m2", "min", "max"].map((n) => statArr(n, true, false)),
  };
  return { point, global };
}

/** The coefficient sets' arrays: the separate store, and with --embed-normalization the data store's group. */
function createNormSets(ctx: WriteContext, layout: NormLayout): NormArrays[] {
  const { stageOut: root, format } = ctx;
  const normSets: NormArrays[] = [createNormArrays(ctx.stageNorm, format, "", layout)];
  if (ctx.embedNormalization) {
    writeGroupMetadata(root, "normalization", format, {
      source: "embedded copy of the default coefficient set",
      fields: layout.fields,
      fields_sfc: layout.fieldsSfc,
      months: layout.months,
    });
    normSets.push(createNormArrays(root, format, "normalization", layout));
  }
  return normSets;
}

/**
 * The task list. Tasks: runs of whole time chunks within one month, per
 * (field, level): a whole month when that already makes enough tasks to
 * spread over many workers (then no month is shared by tasks and finalize
 * merges nothing), else shorter runs, down to ~4 days, so that even one
 * field level spreads.
 */
function conversionTasks(
  plan: Plan,
  ctx: WriteContext,
  arrays: { data: ArrayWriter; dataSfc: ArrayWriter },
  tc: number,
  firstMonth: number,
): ConvertTask[] {
  const { times } = plan;
  const { stageOut: root, format } = ctx;
  const targets = plan.fields.reduce((a, f) => a + f.owner.length, 0) + plan.fieldsSfc.length;
  const groups = timeGroups(times, tc, targets);
  const monthOf = Int32Array.from(times, (t) => monthIndex(t) - firstMonth);
  const tasks: ConvertTask[] = [];
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
              spec: (sfc ? arrays.dataSfc : arrays.data).spec,
              prefix: sfc ? [fi] : [fi, li],
            },
            t0,
            t1,
            months: monthOf.slice(t0, t1),
            logEps: ctx.logTransform?.[field.name],
            runs: readRuns(plan, field, li, owner, t0, t1).map((r) => ctx.infToNaN ? { ...r, infToNaN: true } : r),
          };
          tasks.push(task);
        }
      });
    });
  };
  addTasks(plan.fields, false);
  addTasks(plan.fieldsSfc, true);
  return tasks;
}

/** Root attributes of the data store. */
function storeAttrs(
  plan: Plan,
  ctx: WriteContext,
  layout: NormLayout,
  transforms: Record<string, unknown>,
): Record<string, unknown> {
  const { grid, times } = plan;
  const fieldAttrs = (fs: FieldPlan[]) =>
    Object.fromEntries(fs.map((f) => [f.name, { units: f.units, long_name: f.longName }]));
  return {
    fields: layout.fields,
    fields_sfc: layout.fieldsSfc,
    levels: plan.levels,
    level_type: plan.levelType,
    res: grid.res,
    is_global: grid.isGlobal,
    grid: "regular_ll",
    time_step_seconds: plan.step,
    time_start: isoTime(times[0]),
    time_end: isoTime(times[times.length - 1]),
    field_metadata: { ...fieldAttrs(plan.fields), ...fieldAttrs(plan.fieldsSfc) },
    missing_times: plan.missing,
    era5t_steps: plan.era5tSteps,
    ...modelLevelAttrs(plan),
    ...(Object.keys(transforms).length ? { statistics_transforms: transforms } : {}),
    normalization: basename(ctx.normPath),
    provenance: provenance(ctx.command, plan.files.map((f) => ({ path: f.path, format: f.format }))),
  };
}

/**
 * Tasks a conversion should make at least: four per worker for 64 workers
 * (a few nodes of a cluster run, or four 16-worker processes). A constant,
 * not the worker count of the run: the split (and so the statistics' last
 * bits) depends on the inputs alone, whoever runs it.
 */
const ENOUGH_TASKS = 256;

/**
 * Split the time axis into task ranges: runs of whole time chunks within one
 * month, as long as possible while `targets` field levels still make
 * {@link ENOUGH_TASKS} tasks, and never shorter than ~4 days (96 steps).
 */
export function timeGroups(times: ArrayLike<number>, tc: number, targets: number): [number, number][] {
  const nt = times.length;
  const split = (maxSteps: number) => {
    const groups: [number, number][] = [];
    for (let c = 0; c < nt; c += tc) {
      const m = monthIndex(times[c]);
      const last = groups.at(-1);
      if (last && monthIndex(times[last[0]]) === m && c + tc - last[0] <= maxSteps) last[1] = Math.min(c + tc, nt);
      else groups.push([c, Math.min(c + tc, nt)]);
    }
    return groups;
  };
  const shortest = Math.max(tc, Math.floor(96 / tc) * tc);
  let groups = split(Infinity);
  for (let steps = Math.max(...groups.map(([a, b]) => b - a)); groups.length * targets < ENOUGH_TASKS;) {
    steps = Math.max(shortest, Math.ceil(steps / 2 / tc) * tc);
    groups = split(steps);
    if (steps === shortest) break;
  }
  return groups;
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
      ...(v.located ? { located: v.located } : {}),
    });
  }
  return runs;
}
