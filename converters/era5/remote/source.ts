/**
 * A cloud zarr store (ARCO-ERA5, WeatherBench 2, or any store with xarray's
 * conventions) seen as one input of the ERA5 converter: a
 * {@link SourceDataset} whose coordinates are the selected times, levels and
 * grid points and whose variables carry ERA5 short names, so the plan, the
 * tasks and the statistics are those of the netCDF path.
 *
 * Values are read in two steps. {@link StoreSource.prefetch} (async, before
 * a task runs) downloads the whole chunks holding the task's time steps,
 * concurrently through a bounded pool, decodes them, cuts out the selected
 * levels and points, and writes one float32 plane per (field, level, time)
 * into a scratch directory inside the build (`OUT.partial/.build/fetched`);
 * the reads a task then makes (synchronous, as for files) take those planes
 * and delete them. Planes of the other selected levels, which came in the
 * same chunks, wait there for their tasks, so a chunk holding all levels is
 * downloaded once, not once per level; a task killed midway finds the
 * planes it had fetched when it runs again.
 *
 * @module
 */
import { join } from "node:path";
import { decodeTimes, isoTime, packingOf, parseTimeUnits } from "../../cf.ts";
import type { NumericArray, SourceDataset, SourceVariable } from "../../formats/dataset.ts";
import { ConfigError, InputError } from "../../../errors.ts";
import { chunkFetched, Limiter, openObjectStore } from "../../../zarr/http.ts";
import { pathExists } from "../../../zarr/publish.ts";
import { parseSelection, type StoreSelection } from "./spec.ts";
import { type ChunkValues, type StoreArray, ZarrStore } from "./zarr.ts";

const TIME_NAMES = ["time", "valid_time"];
const LAT_NAMES = ["latitude", "lat"];
const LON_NAMES = ["longitude", "lon"];
/** Level coordinates, named as the ERA5 scan knows them. */
const LEVEL_NAMES = ["level", "pressure_level", "isobaricInhPa", "plev", "hybrid", "model_level"];

/** A plane lock older than this (ms) belongs to a run that died: it is taken over. */
const STALE_LOCK_MS = 120_000;

/** Planes a thread keeps in memory for its own task before writing the rest to the scratch directory. */
const MEMORY_BUDGET = 512 * 2 ** 20;

/** Requests in flight per thread (each worker has its own pool). */
export const DEFAULT_CONNECTIONS = 8;

/** Requests in flight per thread: ATMOREP_HTTP_CONNECTIONS when set (and readable), else {@link DEFAULT_CONNECTIONS}. */
export function connectionsFromEnv(): number {
  const name = "ATMOREP_HTTP_CONNECTIONS";
  const granted = Deno.permissions.querySync({ name: "env", variable: name }).state === "granted";
  const n = granted ? Number(Deno.env.get(name)) : NaN;
  return Number.isInteger(n) && n >= 1 ? n : DEFAULT_CONNECTIONS;
}

/** What a prefetch downloaded. */
export interface FetchedCount {
  /** Stored (compressed) bytes received. */
  bytes: number;
  /** Chunks received. */
  chunks: number;
}

interface FieldInfo {
  short: string;
  array: StoreArray;
  /** Axis of the array holding time, level (−1: none), latitude, longitude. */
  axes: { t: number; l: number; y: number; x: number };
}

/** How one time step of a field is cut out of its chunks (see {@link StoreSource.fetchTime}). */
interface PlaneCut {
  f: FieldInfo;
  a: StoreArray;
  axes: FieldInfo["axes"];
  /** Selected time index and the store's. */
  t: number;
  rt: number;
  scratch: string;
  /** Store level index per selected level ([−1] without levels). */
  levels: number[];
  lChunks: number[];
  yChunks: number[];
  xChunks: number[];
  /** Whether a selected level is the caller's. */
  isOwn: (li: number) => boolean;
  /** Planes are complete per chunk (written as cut, from one reused array). */
  streaming: boolean;
  /** Per selected level: the array it is assembled in (undefined: streamed). */
  planes: (Float32Array | undefined)[];
  /** C-order strides of a chunk. */
  strides: number[];
  packing: ReturnType<typeof packingOf>;
  plain: boolean;
}

async function findArray(store: ZarrStore, names: string[]): Promise<StoreArray | undefined> {
  for (const n of names) {
    const a = await store.array(n);
    if (a) return a;
  }
  return undefined;
}

const near = (a: number, b: number) => Math.abs(a - b) < 1e-6;

/** Indices of `values` kept by the area's range and the grid's stride, in source order. */
function keptRows(lats: Float64Array, sel: StoreSelection, spacing: number, where: string): number[] {
  const [n, , s] = sel.area ?? [90, 0, -90, 0];
  const out: number[] = [];
  lats.forEach((v, i) => {
    if (v > n + 1e-6 || v < s - 1e-6) return;
    if (sel.grid && !near(v / sel.grid, Math.round(v / sel.grid))) return;
    out.push(i);
  });
  if (out.length === 0) {
    throw new ConfigError("--area", `no latitude of ${where} lies in ${s}..${n} (it has ${lats[0]}..${lats.at(-1)})`);
  }
  void spacing;
  return out;
}

/** Columns kept (ordered west to east from W) and their longitudes (W ≤ lon ≤ E, may be negative). */
function keptCols(lons: Float64Array, sel: StoreSelection, where: string): { cols: number[]; values: number[] } {
  const pairs: [number, number][] = [];
  if (!sel.area) {
    lons.forEach((v, i) => {
      if (!sel.grid || near(v / sel.grid, Math.round(v / sel.grid))) pairs.push([i, v]);
    });
    return { cols: pairs.map((p) => p[0]), values: pairs.map((p) => p[1]) };
  }
  const [, w, , e0] = sel.area;
  const e = e0 >= w ? e0 : e0 + 360;
  lons.forEach((v, i) => {
    const shifted = w + ((((v - w) % 360) + 360) % 360);
    const lon = near(shifted, w + 360) ? w : shifted;
    if (lon > e + 1e-6) return;
    if (sel.grid && !near(lon / sel.grid, Math.round(lon / sel.grid))) return;
    pairs.push([i, Math.round(lon * 1e6) / 1e6]);
  });
  pairs.sort((a, b) => a[1] - b[1]);
  if (pairs.length === 0) {
    throw new ConfigError("--area", `no longitude of ${where} lies in ${w}..${e0} (it has ${lons[0]}..${lons.at(-1)})`);
  }
  return { cols: pairs.map((p) => p[0]), values: pairs.map((p) => p[1]) };
}

function spacingOf(values: Float64Array): number {
  return values.length > 1 ? Math.abs(values[1] - values[0]) : 0;
}

/** A cloud zarr store opened for the ERA5 converter (see the module doc). */
export class StoreSource implements SourceDataset {
  readonly format: string;
  readonly dims: Record<string, number> = {};
  readonly variables = new Map<string, SourceVariable>();
  readonly attrs: Record<string, unknown> = {};
  private readonly coords = new Map<string, Float64Array>();
  private readonly fields = new Map<string, FieldInfo>();
  /** Store time index of each selected time. */
  private timeIndex: number[] = [];
  /** Store level index of each selected level (empty without levels). */
  private levelIndex: number[] = [];
  private rows: number[] = [];
  private cols: number[] = [];
  /** Downloads in progress, by plane group (field and time), shared by concurrent prefetches. */
  private readonly pending = new Map<string, Promise<void>>();
  /** Planes fetched for this thread's own task, kept in memory (by scratch path) until read. */
  private readonly held = new Map<string, Float32Array>();
  private heldBytes = 0;
  /** Plane arrays written out and free for the next time step (fresh memory costs page faults). */
  private readonly spares: Float32Array[] = [];

  private spare(n: number): Float32Array {
    const i = this.spares.findIndex((p) => p.length === n);
    return i >= 0 ? this.spares.splice(i, 1)[0] : new Float32Array(n);
  }

  /** Plane groups being fetched at once: as many as requests in flight. */
  private readonly slots: Limiter;

  private constructor(
    readonly path: string,
    readonly store: ZarrStore,
    readonly selection: StoreSelection,
    connections: number,
  ) {
    this.slots = new Limiter(connections);
    this.format = `zarr-v${store.layout.format}${/^https?:/.test(selection.location) ? " (http)" : ""}`;
  }

  /** Open the selection `path` (see {@link formatSelection}): metadata and coordinates, no data. */
  static async open(path: string, connections = connectionsFromEnv()): Promise<StoreSource> {
    const sel = parseSelection(path);
    const store = await ZarrStore.open(openObjectStore(sel.location, connections));
    const src = new StoreSource(path, store, sel, connections);
    await src.init();
    return src;
  }

  /** Read the metadata and coordinates and apply the selection: the steps below, in order. */
  private async init(): Promise<void> {
    const { store } = this;
    // Metadata and coordinates asked for at once (each a round trip to the store).
    const [time, lat, lon, level] = await Promise.all(
      [TIME_NAMES, LAT_NAMES, LON_NAMES, LEVEL_NAMES].map((names) => findArray(store, names)),
    );
    if (!time || !lat || !lon) {
      const lacks = [!time && "a time", !lat && "a latitude", !lon && "a longitude"].filter(Boolean).join(", ");
      throw new InputError(
        this.selection.location,
        `the store lacks ${lacks} coordinate (looked for ${[...TIME_NAMES, ...LAT_NAMES, ...LON_NAMES].join(", ")})`,
      );
    }
    const coordinates = Promise.all([time, lat, lon].map((c) => store.readAll(c)));
    coordinates.catch(() => {}); // awaited below; a field error may come first
    await this.findFields(time, lat, lon, level);
    const [tv, lats, lons] = await coordinates;
    this.selectTimes(time, tv);
    const levelName = await this.selectLevels(level);
    this.selectGrid(lats, lons);
    // Fields, under their short names.
    for (const f of this.fields.values()) {
      const hasLevel = f.axes.l >= 0 && levelName !== undefined;
      const dims = hasLevel ? ["time", levelName!, "latitude", "longitude"] : ["time", "latitude", "longitude"];
      this.variables.set(f.short, {
        name: f.short,
        dims,
        shape: dims.map((d) => this.dims[d]),
        dtype: "float32",
        attrs: { units: f.array.attrs.units ?? "", long_name: f.array.attrs.long_name ?? f.array.name },
      });
    }
  }

  /** Every selected field must be in the store, on (time, [level], latitude, longitude) in any order. */
  private async findFields(
    time: StoreArray,
    lat: StoreArray,
    lon: StoreArray,
    level: StoreArray | undefined,
  ): Promise<void> {
    const { store, selection: sel } = this;
    const arrays = await Promise.all(sel.fields.map((f) => store.array(f.cloud)));
    for (const [k, f] of sel.fields.entries()) {
      const a = arrays[k];
      if (!a) {
        const names = store.arrayNames;
        throw new ConfigError(
          "--fields",
          `variable "${f.cloud}" (${f.short}) is not in ${sel.location}` +
            (names ? ` (it has: ${names.sort().join(", ")})` : " (the store has no consolidated metadata to list)"),
        );
      }
      const axes = {
        t: a.dims.indexOf(time.dims[0]),
        l: level ? a.dims.indexOf(level.dims[0]) : -1,
        y: a.dims.indexOf(lat.dims[0]),
        x: a.dims.indexOf(lon.dims[0]),
      };
      const known = [axes.t, axes.l, axes.y, axes.x].filter((i) => i >= 0).length;
      if (axes.t < 0 || axes.y < 0 || axes.x < 0 || known !== a.dims.length) {
        throw new InputError(
          store.objects.urlOf(f.cloud),
          `variable ${f.cloud} has dimensions (${a.dims.join(", ")}); expected time, [level], latitude, longitude`,
        );
      }
      this.fields.set(f.short, { short: f.short, array: a, axes });
    }
  }

  /** The store's valid time range (ARCO-ERA5 is sized ahead of its data: its attributes say how far they go). */
  private validRange(times: number[]): [number, number] {
    const attrs = this.store.attrs;
    let first = times[0], last = times.at(-1)!;
    const validStart = Date.parse(String(attrs.valid_time_start ?? "") + "Z") / 1000;
    const validStop = Date.parse(String(attrs.valid_time_stop ?? "") + "Z") / 1000;
    if (Number.isFinite(validStart)) first = Math.max(first, validStart);
    if (Number.isFinite(validStop)) {
      last = Math.min(last, validStop + (/T/.test(String(attrs.valid_time_stop)) ? 0 : 86399));
    }
    return [first, last];
  }

  /** The selected times (`--time`, `--every`) inside the store's valid range. */
  private selectTimes(time: StoreArray, values: Float64Array): void {
    const { store, selection: sel } = this;
    const where = sel.location;
    let times: number[];
    try {
      const units = String(time.attrs.units ?? ""), calendar = String(time.attrs.calendar ?? "standard");
      times = decodeTimes(...inSeconds(values, units, calendar));
    } catch (e) {
      throw new InputError(store.objects.urlOf(time.name), `time coordinate: ${(e as Error).message}`);
    }
    const [first, last] = this.validRange(times);
    const [from, to] = sel.time ?? [first, last];
    if (from < first || to > last) {
      throw new ConfigError(
        "--time",
        `${isoTime(from)}/${isoTime(to)} is not inside the store's times, ${isoTime(first)} to ${isoTime(last)} ` +
          `(${where})`,
      );
    }
    const every = sel.every ?? 0;
    times.forEach((t, i) => {
      if (t >= from && t <= to && (every === 0 || t % every === 0)) this.timeIndex.push(i);
    });
    if (this.timeIndex.length === 0) {
      const step = every ? ` at multiples of ${every / 3600} h` : "";
      throw new ConfigError("--time", `no time step of ${where} lies in ${isoTime(from)}/${isoTime(to)}${step}`);
    }
    this.coords.set("time", Float64Array.from(this.timeIndex, (i) => times[i]));
    this.dims.time = this.timeIndex.length;
    this.variables.set("time", {
      name: "time",
      dims: ["time"],
      shape: [this.dims.time],
      dtype: "float64",
      attrs: { units: "seconds since 1970-01-01", calendar: "proleptic_gregorian" },
    });
  }

  /** The selected levels (`--levels`, default all); the level coordinate's name, undefined without one. */
  private async selectLevels(level: StoreArray | undefined): Promise<string | undefined> {
    const { store, selection: sel } = this;
    if (!level) {
      if (sel.levels?.length) {
        throw new ConfigError(
          "--levels",
          `${sel.location} has no level coordinate (looked for ${LEVEL_NAMES.join(", ")})`,
        );
      }
      return undefined;
    }
    const name = LEVEL_NAMES.includes(level.name) ? level.name : "level";
    const values = await store.readAll(level);
    for (const l of sel.levels ?? [...values]) {
      const i = values.findIndex((v) => near(v, l));
      if (i < 0) {
        throw new ConfigError("--levels", `level ${l} is not in ${sel.location} (it has ${[...values].join(", ")})`);
      }
      this.levelIndex.push(i);
    }
    this.coords.set(name, Float64Array.from(this.levelIndex, (i) => values[i]));
    this.dims[name] = this.levelIndex.length;
    this.variables.set(name, {
      name,
      dims: [name],
      shape: [this.levelIndex.length],
      dtype: "float64",
      attrs: { units: String(level.attrs.units ?? "") },
    });
    return name;
  }

  /** The selected grid points (`--area`, `--grid` striding). */
  private selectGrid(lats: Float64Array, lons: Float64Array): void {
    const sel = this.selection;
    if (sel.grid) {
      for (const [name, values] of [["latitude", lats], ["longitude", lons]] as const) {
        const d = spacingOf(values), k = sel.grid / d;
        if (!(d > 0) || !near(k, Math.round(k)) || Math.round(k) < 1) {
          throw new ConfigError("--grid", `${sel.grid}° is not a whole multiple of the store's ${name} spacing ${d}°`);
        }
      }
    }
    this.rows = keptRows(lats, sel, spacingOf(lats), sel.location);
    const { cols, values } = keptCols(lons, sel, sel.location);
    this.cols = cols;
    this.coords.set("latitude", Float64Array.from(this.rows, (i) => lats[i]));
    this.coords.set("longitude", Float64Array.from(values));
    this.dims.latitude = this.rows.length;
    this.dims.longitude = this.cols.length;
    for (const name of ["latitude", "longitude"]) {
      this.variables.set(name, { name, dims: [name], shape: [this.dims[name]], dtype: "float64", attrs: {} });
    }
  }

  readAll(name: string): NumericArray {
    const c = this.coords.get(name);
    if (!c) throw new Error(`${name} is not a coordinate of ${this.selection.location}`);
    return c;
  }

  /** Planes per (field, time) group: all selected levels (one for single-level fields). */
  private levelsOf(f: FieldInfo): number {
    return f.axes.l >= 0 ? Math.max(1, this.levelIndex.length) : 1;
  }

  private planePath(scratch: string, short: string, level: number, t: number): string {
    return join(scratch, short, level < 0 ? "sfc" : String(level), `${t}.f32`);
  }

  /**
   * Download what reads of `field` at selected times `[t0, t0 + count)` need
   * (level `level`, −1 without levels), unless its planes already wait in
   * `scratch`. Returns what came in.
   */
  async prefetch(field: string, t0: number, count: number, level: number, scratch: string): Promise<FetchedCount> {
    const f = this.fields.get(field);
    if (!f) throw new Error(`${field} is not a field of ${this.selection.location}`);
    const before = { ...this.store.objects.counters };
    const jobs: Promise<void>[] = [];
    const own = f.axes.l >= 0 ? level : -1;
    for (let t = t0; t < t0 + count; t++) {
      const path = this.planePath(scratch, field, own, t);
      if (this.held.has(path) || pathExists(path)) continue;
      const key = `${scratch}\0${field}\0${t}`;
      let job = this.pending.get(key);
      if (!job) {
        // Locks are taken only when a download slot is free: concurrent tasks (other workers) wanting the
        // same times then share them out instead of one holding every lock while the others wait.
        job = this.slots.run(() => this.fetchTimeOnce(f, t, own, scratch)).finally(() => this.pending.delete(key));
        this.pending.set(key, job);
      }
      jobs.push(job);
    }
    // Every download finishes (or fails) before this returns: no write lands after a failed task is cleaned up.
    const results = await Promise.allSettled(jobs);
    const failed = results.find((r) => r.status === "rejected") as PromiseRejectedResult | undefined;
    if (failed) throw failed.reason;
    const now = this.store.objects.counters;
    return { bytes: now.bytes - before.bytes, chunks: now.objects - before.objects };
  }

  /**
   * Fetch time `t` of field `f` unless another thread or process is fetching
   * it: a lock file per (field, time) in the scratch directory says who is;
   * the others wait for their planes (a lock left by a crashed run goes
   * stale after {@link STALE_LOCK_MS} without progress and is taken over).
   */
  private async fetchTimeOnce(f: FieldInfo, t: number, own: number, scratch: string): Promise<void> {
    const plane = this.planePath(scratch, f.short, own, t);
    const lock = join(scratch, f.short, "locks", String(t));
    await Deno.mkdir(join(lock, ".."), { recursive: true });
    for (;;) {
      if (this.held.has(plane) || pathExists(plane)) return;
      let file: Deno.FsFile | undefined;
      try {
        file = await Deno.open(lock, { createNew: true, write: true });
      } catch (e) {
        if (!(e instanceof Deno.errors.AlreadyExists)) throw e;
      }
      if (file) {
        file.close();
        // A long download keeps its lock fresh, so that nobody takes it for a dead run's.
        const keepFresh = setInterval(() => {
          const now = new Date();
          Deno.utime(lock, now, now).catch(() => {});
        }, STALE_LOCK_MS / 4);
        try {
          // The holder before us may have finished between our look for the plane and our taking the lock.
          if (this.held.has(plane) || pathExists(plane)) return;
          return await this.fetchTime(f, t, own, scratch);
        } finally {
          clearInterval(keepFresh);
          await Deno.remove(lock).catch(() => {});
        }
      }
      // Someone else fetches it: wait for the plane, or for the lock to go (done, failed or stale).
      await new Promise((r) => setTimeout(r, 10));
      try {
        const age = Date.now() - (Deno.statSync(lock).mtime?.getTime() ?? Date.now());
        if (age > STALE_LOCK_MS) await Deno.remove(lock).catch(() => {});
      } catch { /* gone: try again */ }
    }
  }

  /**
   * Fetch the chunks holding selected time `t` of field `f` and cut out its
   * planes: the one of level `own` (the caller's) is kept in memory while
   * the thread's budget allows, the others go to the scratch directory for
   * their tasks.
   */
  private async fetchTime(f: FieldInfo, t: number, own: number, scratch: string): Promise<void> {
    const cut = this.planCut(f, t, own, scratch);
    const { a, axes } = cut;
    const jobs: Promise<void>[] = [];
    for (const lc of cut.lChunks) {
      for (const yc of cut.yChunks) {
        for (const xc of cut.xChunks) {
          const coords = new Array(a.shape.length).fill(0);
          coords[axes.t] = Math.floor(cut.rt / a.chunks[axes.t]);
          if (axes.l >= 0) coords[axes.l] = lc;
          coords[axes.y] = yc;
          coords[axes.x] = xc;
          // Decoded and cut out in one go, with no await in between: the values may lie in a reused buffer.
          jobs.push(
            this.store.fetchChunk(a, coords).then(({ stored, url }) => {
              chunkFetched(stored.length);
              const decoded = a.decode(stored, url, true);
              const into = (values: ChunkValues) => this.cutChunk(cut, coords, values);
              return decoded instanceof Promise ? decoded.then(into) : into(decoded);
            }),
          );
        }
      }
    }
    const results = await Promise.allSettled(jobs);
    const failed = results.find((r) => r.status === "rejected") as PromiseRejectedResult | undefined;
    if (failed) throw failed.reason;
    for (let li = 0; li < cut.planes.length; li++) {
      const plane = cut.planes[li];
      if (!plane) continue; // written as it was cut
      const path = this.planePath(scratch, f.short, axes.l >= 0 ? li : -1, t);
      if (cut.isOwn(li) && this.heldBytes + plane.byteLength <= MEMORY_BUDGET) {
        this.held.set(path, plane);
        this.heldBytes += plane.byteLength;
        continue;
      }
      this.writePlane(path, plane);
      if (!cut.isOwn(li)) this.spares.push(plane);
    }
  }

  /** Which chunks hold time `t` of field `f`, and the planes they are cut into. */
  private planCut(f: FieldInfo, t: number, own: number, scratch: string): PlaneCut {
    const a = f.array, { axes } = f;
    const levels = axes.l >= 0 ? this.levelIndex : [-1];
    const ny = this.rows.length, nx = this.cols.length;
    const chunkSet = (idx: number[], axis: number) => [...new Set(idx.map((i) => Math.floor(i / a.chunks[axis])))];
    const yChunks = chunkSet(this.rows, axes.y), xChunks = chunkSet(this.cols, axes.x);
    const isOwn = (li: number) => (axes.l >= 0 ? li : -1) === own;
    // One chunk holds the whole selected plane (ARCO-ERA5, WeatherBench 2): each level's plane is complete once
    // cut from its chunk and is written out at once from one reused array, so memory does not grow with the
    // levels. Otherwise planes are assembled from several chunks and written at the end. The caller's plane is
    // kept until read (a fresh array).
    const streaming = yChunks.length === 1 && xChunks.length === 1;
    const packing = packingOf(a.attrs);
    return {
      f,
      a,
      axes,
      t,
      rt: this.timeIndex[t],
      scratch,
      levels,
      lChunks: axes.l >= 0 ? chunkSet(levels, axes.l) : [0],
      yChunks,
      xChunks,
      isOwn,
      streaming,
      planes: Array.from(
        { length: levels.length },
        (_, li) => isOwn(li) ? new Float32Array(ny * nx) : streaming ? undefined : this.spare(ny * nx),
      ),
      strides: a.chunks.map((_, i) => a.chunks.slice(i + 1).reduce((p, q) => p * q, 1)),
      packing,
      plain: packing.scale === 1 && packing.offset === 0 && packing.fills.length === 0,
    };
  }

  /** Cut the selected levels and points of one decoded chunk into their planes. */
  private cutChunk(cut: PlaneCut, coords: number[], values: ChunkValues): void {
    const { a, axes, strides, packing, plain } = cut;
    const ny = this.rows.length, nx = this.cols.length;
    const base = (cut.rt - coords[axes.t] * a.chunks[axes.t]) * strides[axes.t];
    const lc = axes.l >= 0 ? coords[axes.l] : 0;
    const y0 = coords[axes.y] * a.chunks[axes.y], x0 = coords[axes.x] * a.chunks[axes.x];
    const sy = strides[axes.y], sx = strides[axes.x];
    const runs = this.columnRuns(x0, a.chunks[axes.x], sx);
    const block = plain && values instanceof Float32Array && sx === 1;
    const shared = cut.streaming ? this.spare(ny * nx) : undefined;
    cut.levels.forEach((l, li) => {
      let lbase = base;
      if (axes.l >= 0) {
        if (Math.floor(l / a.chunks[axes.l]) !== lc) return;
        lbase += (l - lc * a.chunks[axes.l]) * strides[axes.l];
      }
      const plane = cut.planes[li] ?? shared!;
      for (let i = 0; i < ny; i++) {
        const r = this.rows[i];
        if (r < y0 || r >= y0 + a.chunks[axes.y]) continue;
        const rowBase = lbase + (r - y0) * sy, outRow = i * nx;
        for (let k = 0; k < runs.length; k += 3) {
          const from = rowBase + runs[k + 1], to = outRow + runs[k], n = runs[k + 2];
          if (block) {
            plane.set((values as Float32Array).subarray(from, from + n), to);
            continue;
          }
          for (let q = 0; q < n; q++) {
            const raw = Number(values[from + q * sx]);
            plane[to + q] = plain ? raw : packing.fills.includes(raw) ? NaN : raw * packing.scale + packing.offset;
          }
        }
      }
      if (plane === shared) {
        this.writePlane(this.planePath(cut.scratch, cut.f.short, axes.l >= 0 ? li : -1, cut.t), plane);
      }
    });
    if (shared) this.spares.push(shared);
  }

  /**
   * The selected columns of a chunk starting at column `x0` as runs
   * `[output column, offset in chunk, length]`, a run being consecutive
   * output columns at consecutive values (copied as one block for float32).
   */
  private columnRuns(x0: number, width: number, sx: number): number[] {
    const runs: number[] = [];
    this.cols.forEach((c, j) => {
      if (c < x0 || c >= x0 + width) return;
      const at = (c - x0) * sx, k = runs.length - 3;
      if (k >= 0 && sx === 1 && runs[k] + runs[k + 2] === j && runs[k + 1] + runs[k + 2] === at) runs[k + 2]++;
      else runs.push(j, at, 1);
    });
    return runs;
  }

  /** Write a plane for another task (atomically; skipped when another worker wrote it meanwhile). */
  private writePlane(path: string, plane: Float32Array): void {
    if (pathExists(path)) return;
    Deno.mkdirSync(join(path, ".."), { recursive: true });
    const tmp = `${path}.${crypto.randomUUID()}.tmp`;
    Deno.writeFileSync(tmp, new Uint8Array(plane.buffer, plane.byteOffset, plane.byteLength));
    Deno.renameSync(tmp, path);
  }

  /** Scratch directory of the planes, set by the first prefetch of this thread. */
  scratch: string | undefined;

  read(name: string, start: number[], count: number[]): NumericArray {
    const n = count.reduce((a, b) => a * b, 1);
    const out = new Float32Array(n);
    this.readDecoded(name, start, count, undefined, out);
    return out;
  }

  readDecoded(name: string, start: number[], count: number[], _packing: unknown, out: Float32Array): boolean {
    const v = this.variables.get(name);
    const f = this.fields.get(name);
    if (!v || !f || !this.scratch) throw new Error(`${name}: planes of ${this.selection.location} were not prefetched`);
    const hasLevel = v.dims.length === 4;
    const plane = this.rows.length * this.cols.length;
    const k = v.dims.length;
    if (start[k - 2] !== 0 || start[k - 1] !== 0 || count[k - 2] * count[k - 1] !== plane) {
      throw new Error(`${name}: reads of ${this.selection.location} take whole planes`);
    }
    const levels = hasLevel ? Array.from({ length: count[1] }, (_, i) => start[1] + i) : [-1];
    let at = 0;
    for (let t = start[0]; t < start[0] + count[0]; t++) {
      for (const l of levels) {
        const path = this.planePath(this.scratch, name, l, t);
        const held = this.held.get(path);
        if (held) {
          out.set(held, at);
          at += plane;
          this.held.delete(path);
          this.heldBytes -= held.byteLength;
          continue;
        }
        // Straight into the caller's array (no buffer of its own).
        const into = new Uint8Array(out.buffer, out.byteOffset + at * 4, plane * 4);
        let file: Deno.FsFile;
        try {
          file = Deno.openSync(path, { read: true });
        } catch {
          throw new Error(`${name} at ${t}: plane ${path} was not prefetched`);
        }
        try {
          for (let got = 0; got < into.length;) {
            const n = file.readSync(into.subarray(got));
            if (n === null) throw new Error(`${name} at ${t}: plane ${path} is short`);
            got += n;
          }
        } finally {
          file.close();
        }
        at += plane;
        Deno.removeSync(path); // read once: by the one task that owns this field level and time
      }
    }
    return true;
  }

  close(): void {}
}

/** Sub-second time units (xarray writes them for irregular times) as seconds, which the CF decoder takes. */
function inSeconds(values: Float64Array, units: string, calendar: string): Parameters<typeof decodeTimes> {
  const m = /^\s*(nanoseconds|microseconds|milliseconds)\s+(since\s+.*)$/i.exec(units);
  if (!m) return [values, parseTimeUnits(units, calendar)];
  const per = { nanoseconds: 1e9, microseconds: 1e6, milliseconds: 1e3 }[m[1].toLowerCase() as "nanoseconds"];
  return [Float64Array.from(values, (v) => v / per), parseTimeUnits(`seconds ${m[2]}`, calendar)];
}
