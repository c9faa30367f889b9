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
  type ArraySpec,
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

/**
 * Default inner chunks of sharded stores: 6 time steps × 18 × 36 points
 * (15.5 KB). Shards keep the file count of the default layout, so chunks
 * can be small: a 36 h × 54 × 108 neighborhood decodes ≈2× its size
 * instead of ≈8× (measured by bench:sampler; README).
 */
export const DEFAULT_SHARD_CHUNKS: ChunkShape = { time: 6, lat: 18, lon: 36 };

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
   * Zarr v3: one shard file per time chunk and field level holding all its
   * spatial chunks (far fewer files; readers still fetch single chunks).
   */
  shard?: boolean;
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

/**
 * Convert ERA5 files into a zarr store plus a normalization store: the
 * parallel protocol run locally (init, every task in worker threads,
 * finalize).
 */
export async function convertEra5(opts: Era5Options): Promise<ConversionSummary> {
  const started = performance.now();
  const build = await initConversion(opts);
  try {
    await runConversionPart(build.out, 1, 1, { workers: opts.workers, onProgress: opts.onProgress });
    const summary = finalizeConversion(build.out, opts.onProgress);
    return { ...summary, plan: build.plan!, seconds: (performance.now() - started) / 1000 };
  } catch (e) {
    removeStore(build.stageOut);
    removeStore(build.stageNorm);
    throw e;
  }
}

/** Where a conversion in progress keeps its state, inside the staged store. */
function buildDir(stageOut: string): string {
  return join(stageOut, ".build");
}

/** The staged data store of a final store path. */
export function stagePath(out: string): string {
  return `${out.replace(/\/+$/, "")}.partial`;
}

/**
 * Step 1 of the parallel protocol: scan the inputs, plan, and write the
 * metadata and coordinates of both stores (staged as OUT.partial and
 * NORM.partial, not readable as zarr groups until finalized) plus the task
 * list in OUT.partial/.build.
 */
export async function initConversion(opts: Era5Options): Promise<BuildState> {
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
  const stageOut = stagePath(out), stageNorm = `${normPath}.partial`;
  removeStore(stageOut);
  removeStore(stageNorm);
  try {
    const state = createStores(plan, { ...opts, codec, format, stageOut, stageNorm, out, normPath, progress });
    Deno.mkdirSync(join(buildDir(stageOut), "done"), { recursive: true });
    Deno.mkdirSync(join(buildDir(stageOut), "stats"), { recursive: true });
    Deno.writeTextFileSync(join(buildDir(stageOut), "build.json"), JSON.stringify(state, jsonTyped));
    return { ...state, plan };
  } catch (e) {
    removeStore(stageOut);
    removeStore(stageNorm);
    throw e;
  }
}

/** Typed arrays as plain arrays, non-finite numbers as strings, in build.json. */
function jsonTyped(_key: string, value: unknown): unknown {
  if (ArrayBuffer.isView(value)) return Array.from(value as Int32Array);
  if (typeof value === "number" && !Number.isFinite(value)) return String(value);
  return value;
}

function jsonNumbers(_key: string, value: unknown): unknown {
  return value === "Infinity" ? Infinity : value === "-Infinity" ? -Infinity : value === "NaN" ? NaN : value;
}

function loadBuild(out: string): BuildState {
  const stage = stagePath(out);
  let text: string;
  try {
    text = Deno.readTextFileSync(join(buildDir(stage), "build.json"));
  } catch {
    throw new Error(
      pathExists(out) && !pathExists(stage)
        ? `${out} is already finalized`
        : `${stage}: no conversion in progress (run the same command with --init first)`,
    );
  }
  const state = JSON.parse(text, jsonNumbers) as BuildState;
  for (const t of state.tasks) t.months = Int32Array.from(t.months);
  state.grid.latPerm = Int32Array.from(state.grid.latPerm);
  state.grid.lonPerm = Int32Array.from(state.grid.lonPerm);
  state.grid.lats = Float64Array.from(state.grid.lats);
  state.grid.lons = Float64Array.from(state.grid.lons);
  return state;
}

/** The tasks of part `part` of `parts` (1-based): contiguous and disjoint; tasks own whole chunks. */
export function partTasks<T>(tasks: T[], part: number, parts: number): T[] {
  if (!(parts >= 1 && part >= 1 && part <= parts)) {
    throw new Error(`--part ${part}/${parts}: expected i/n with 1 ≤ i ≤ n`);
  }
  return tasks.slice(Math.floor(((part - 1) * tasks.length) / parts), Math.floor((part * tasks.length) / parts));
}

/**
 * Step 2: run the tasks of part `part`/`parts`. Each task rewrites whole
 * chunks it alone owns, then stores its partial statistics and a done
 * marker, so a part killed at any point and run again ends the same; tasks
 * already done are skipped.
 */
export async function runConversionPart(
  out: string,
  part: number,
  parts: number,
  opts: { workers?: number; onProgress?: (p: Progress) => void } = {},
): Promise<{ ran: number; skipped: number }> {
  const state = loadBuild(out);
  const dir = buildDir(stagePath(out));
  const mine = partTasks(state.tasks, part, parts);
  const todo = mine.filter((t) => !pathExists(join(dir, "done", String(t.id))));
  let rawBytes = 0, done = 0;
  const delay = testDelayMs();
  await runPool(todo, state.grid, opts.workers, (task, r) => {
    writeTaskStats(join(dir, "stats", String(task.id)), r);
    Deno.writeTextFileSync(join(dir, "done", String(task.id)), "");
    if (delay) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, delay);
    rawBytes += r.rawBytes;
    opts.onProgress?.({ phase: "convert", done: ++done, total: todo.length, bytes: rawBytes });
  });
  return { ran: todo.length, skipped: mine.length - todo.length };
}

/** ATMOREP_TEST_TASK_DELAY_MS slows parts down so tests can kill one mid-way. */
function testDelayMs(): number {
  const granted =
    Deno.permissions.querySync({ name: "env", variable: "ATMOREP_TEST_TASK_DELAY_MS" }).state === "granted";
  return granted ? Number(Deno.env.get("ATMOREP_TEST_TASK_DELAY_MS") ?? 0) : 0;
}

/** A task's partial statistics: a JSON header, then count, mean and M2 per month as float64. */
function writeTaskStats(path: string, r: TaskResult): void {
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
  const tmp = `${path}.tmp`;
  Deno.writeFileSync(tmp, body);
  Deno.renameSync(tmp, path);
}

function readTaskStats(path: string, plane: number): TaskResult {
  const bytes = Deno.readFileSync(path);
  const n = new DataView(bytes.buffer).getUint32(0, true);
  const head = JSON.parse(new TextDecoder().decode(bytes.subarray(4, 4 + n)), jsonNumbers);
  const start = 4 + n + ((8 - ((4 + n) % 8)) % 8);
  const all = new Float64Array(bytes.buffer, start, (bytes.length - start) / 8);
  return {
    id: 0,
    rawBytes: head.rawBytes,
    storedBytes: head.storedBytes,
    partials: head.partials.map((p: { month: number; global: Moments }, i: number) => ({
      month: p.month,
      global: p.global,
      count: all.subarray(3 * i * plane, (3 * i + 1) * plane),
      mean: all.subarray((3 * i + 1) * plane, (3 * i + 2) * plane),
      m2: all.subarray((3 * i + 2) * plane, (3 * i + 3) * plane),
    })),
  };
}

/**
 * Step 3: merge the partial statistics exactly (in task order, so any
 * split gives the same bytes), write statistics and coefficients,
 * consolidate the metadata and publish both stores.
 */
export function finalizeConversion(
  out: string,
  onProgress?: (p: Progress) => void,
): Omit<ConversionSummary, "plan" | "seconds"> {
  const state = loadBuild(out);
  const dir = buildDir(state.stageOut);
  const missing = state.tasks.filter((t) => !pathExists(join(dir, "done", String(t.id)))).length;
  if (missing) {
    throw new Error(
      `${state.stageOut}: ${missing} of ${state.tasks.length} tasks are not done; run the missing parts first`,
    );
  }
  onProgress?.({ phase: "finalize", done: 0, total: state.tasks.length, bytes: 0 });
  const { format, layout } = state;
  const plane = layout.pointShape.reduce((a, b) => a * b, 1);
  const writer = (root: string, w: WriterSpec) => new ArrayWriter(root, w.path, format, w.spec);
  const pointStats = {
    data: state.writers.pointData.map((w) => writer(state.stageOut, w)),
    sfc: state.writers.pointSfc.map((w) => writer(state.stageOut, w)),
  };
  const normSets: NormArrays[] = state.normSets.map((ns) => ({
    norm: writer(ns.root, ns.norm),
    normSfc: writer(ns.root, ns.normSfc),
    globalNorm: writer(ns.root, ns.globalNorm),
    globalNormSfc: writer(ns.root, ns.globalNormSfc),
  }));
  const nm = layout.months.length, nf = layout.fields.length, ns = layout.fieldsSfc.length, nl = layout.levels.length;
  const globalMoments = (n: number, l: number) =>
    Array.from({ length: nm }, () => Array.from({ length: n }, () => Array.from({ length: l }, emptyMoments)));
  const gData = globalMoments(nf, nl), gSfc = globalMoments(ns, 1);
  let rawBytes = 0, storedBytes = 0;
  // Merge each (field, level)'s tasks month by month, in task order.
  const byTarget = new Map<string, ConvertTask[]>();
  for (const t of state.tasks) {
    const key = `${t.target.path}:${t.target.prefix.join(",")}`;
    const list = byTarget.get(key);
    if (list) list.push(t);
    else byTarget.set(key, [t]);
  }
  for (const tasks of byTarget.values()) {
    const sfc = tasks[0].target.path === "data_sfc";
    const [fi, li] = sfc ? [tasks[0].target.prefix[0], 0] : tasks[0].target.prefix;
    const months = new Map<number, { global: Moments; points: PointMoments }>();
    for (const t of tasks) {
      const r = readTaskStats(join(dir, "stats", String(t.id)), plane);
      rawBytes += r.rawBytes;
      storedBytes += r.storedBytes;
      for (const p of r.partials) {
        const pm = new PointMoments(plane, p.count.slice(), p.mean.slice(), p.m2.slice());
        const acc = months.get(p.month);
        if (!acc) months.set(p.month, { global: p.global, points: pm });
        else {
          acc.global = mergeMoments(acc.global, p.global);
          acc.points.merge(pm);
        }
      }
    }
    for (const [m, acc] of [...months].sort((a, b) => a[0] - b[0])) {
      (sfc ? gSfc : gData)[m][fi][li] = acc.global;
      const arrays = sfc ? pointStats.sfc : pointStats.data;
      const coords = sfc ? [m, fi, 0, 0] : [m, fi, li, 0, 0];
      arrays[0].writeChunk(coords, acc.points.count);
      arrays[1].writeChunk(coords, acc.points.mean);
      arrays[2].writeChunk(coords, acc.points.m2);
      const { mean, std } = acc.points.coefficients();
      for (const set of normSets) writeLocalCoefficients(set, sfc, m, fi, li, mean, std);
    }
  }
  // Months with no data at all had no task: they keep empty moments (NaN coefficients).
  for (const set of normSets) writeGlobalCoefficients(set, layout, gData, gSfc);
  const writeGlobalStats = (specs: WriterSpec[], g: Moments[][][]) => {
    const flat = g.flat(2);
    if (flat.length === 0) return;
    const pick = (k: keyof Moments) => Float64Array.from(flat, (m) => (m.count ? m[k] : k === "count" ? 0 : NaN));
    (["count", "mean", "m2", "min", "max"] as const).forEach((k, i) =>
      writer(state.stageOut, specs[i]).writeAll(pick(k))
    );
  };
  writeGlobalStats(state.writers.globalData, gData);
  writeGlobalStats(state.writers.globalSfc, gSfc);
  removeStore(dir);
  finalizeStore(state.stageOut, format, state.attrs);
  finalizeStore(state.stageNorm, format, state.normAttrs);
  publishStore(state.stageOut, state.out);
  publishStore(state.stageNorm, state.normPath);
  onProgress?.({ phase: "finalize", done: state.tasks.length, total: state.tasks.length, bytes: rawBytes });
  return { out: state.out, norm: state.normPath, rawBytes, storedBytes };
}

/** An array writer as saved in build.json. */
interface WriterSpec {
  path: string;
  spec: ArraySpec;
}

/** What init saves for the parts and finalize (OUT.partial/.build/build.json). */
export interface BuildState {
  /** Final data store path. */
  out: string;
  /** Final normalization store path. */
  normPath: string;
  /** Staged data store. */
  stageOut: string;
  /** Staged normalization store. */
  stageNorm: string;
  /** Zarr format. */
  format: ZarrFormat;
  /** The store grid. */
  grid: Plan["grid"];
  /** All tasks, in order. */
  tasks: ConvertTask[];
  /** Coefficient layout. */
  layout: NormLayout;
  /** Writers of the statistics arrays. */
  writers: { pointData: WriterSpec[]; pointSfc: WriterSpec[]; globalData: WriterSpec[]; globalSfc: WriterSpec[] };
  /** Coefficient sets: the separate store and, with --embed-normalization, the data store's group. */
  normSets: {
    root: string;
    norm: WriterSpec;
    normSfc: WriterSpec;
    globalNorm: WriterSpec;
    globalNormSfc: WriterSpec;
  }[];
  /** Root attributes of the data store. */
  attrs: Record<string, unknown>;
  /** Root attributes of the normalization store. */
  normAttrs: Record<string, unknown>;
  /** The plan (in memory only, right after init). */
  plan?: Plan;
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

function createStores(plan: Plan, ctx: WriteContext): BuildState {
  const { grid, times } = plan;
  const nt = times.length, nlat = grid.lats.length, nlon = grid.lons.length;
  const nf = plan.fields.length, ns = plan.fieldsSfc.length, nl = plan.levels.length;
  const chunks = { ...(ctx.shard ? DEFAULT_SHARD_CHUNKS : DEFAULT_CHUNKS), ...(ctx.chunks ?? {}) };
  const tc = Math.min(chunks.time, nt), clat = Math.min(chunks.lat, nlat), clon = Math.min(chunks.lon, nlon);
  const { stageOut: root, format } = ctx;
  Deno.mkdirSync(root, { recursive: true });

  const mk = (path: string, spec: ConstructorParameters<typeof ArrayWriter>[3]) => {
    const w = new ArrayWriter(root, path, format, spec);
    w.writeMetadata();
    return w;
  };
  if (ctx.shard && format !== 3) throw new Error("--shard needs --zarr-format 3");
  const globe = [Math.ceil(nlat / clat) * clat, Math.ceil(nlon / clon) * clon];
  const data = mk("data", {
    shape: [nt, nf, nl, nlat, nlon],
    chunks: [tc, 1, 1, clat, clon],
    shards: ctx.shard ? [tc, 1, 1, ...globe] : undefined,
    dtype: "float32",
    dimensions: ["time", "field", "level", "lats", "lons"],
    codec: ctx.codec,
  });
  const dataSfc = mk("data_sfc", {
    shape: [nt, ns, nlat, nlon],
    chunks: [tc, 1, clat, clon],
    shards: ctx.shard ? [tc, 1, ...globe] : undefined,
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
        }
      });
    });
  };
  addTasks(plan.fields, false);
  addTasks(plan.fieldsSfc, true);

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
  const normAttrs = {
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
  };
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
      pointData: pointStats.data.map(spec),
      pointSfc: pointStats.sfc.map(spec),
      globalData: globalStats.data.map(spec),
      globalSfc: globalStats.sfc.map(spec),
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
  const byId = new Map(tasks.map((t) => [t.id, t]));
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
            onResult(byId.get(msg.result.id)!, msg.result);
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
