/**
 * One unit of conversion work: a range of whole time chunks of one
 * (field, level). Reads the inputs, decodes CF packing, remaps the grid,
 * accumulates monthly statistics and writes the chunks. Runs in a Worker or
 * inline; it owns its chunks exclusively, so tasks never conflict.
 *
 * @module
 */
import { logTransform } from "../../normalization/transforms.ts";
import { type Packing, unpackInto } from "../cf.ts";
import { checkInfinite } from "../finite.ts";
import {
  type LocatedFile,
  type LocatedVariable,
  type NumericArray,
  openLocated,
  type SourceDataset,
} from "../formats/registry.ts";
import { InputError } from "../../errors.ts";
import type { ArraySpec, ZarrFormat } from "../../zarr/metadata.ts";
import { ArrayWriter } from "../../zarr/writer.ts";
import { adviseHugePages, tuneMallocForChunks } from "../../native/malloc.ts";
import { tileWorkspace } from "../../simd/tiles.ts";
import { openInput, prefetchRuns } from "./remote/open.ts";
import { type Moments, ShiftedPointSums } from "../../normalization/moments.ts";
import { type Grid, remapPlane } from "./grid.ts";

/** A contiguous run of time steps read from one file. */
export interface ReadRun {
  /** File path. */
  file: string;
  /** Variable name. */
  variable: string;
  /** Dimension names of the variable. */
  dims: string[];
  /** Name of the level dimension, if the variable has one. */
  levelDim?: string;
  /** Index along the level dimension. */
  levelIndex: number;
  /** Name of a legacy expver dimension to merge. */
  expverDim?: string;
  /** Length of the expver dimension. */
  expverCount: number;
  /** CF packing. */
  packing: Packing;
  /** First time index in the file. */
  localT: number;
  /** First store time index. */
  storeT: number;
  /** Number of time steps. */
  count: number;
  /** Map ±Inf to NaN instead of failing. */
  infToNaN?: boolean;
  /**
   * Where the variable's values lie, as the scan found them: read there
   * without opening the file through its format's full reader (absent in
   * build.json files written before it existed, and where the format
   * plug-in cannot locate the variable).
   */
  located?: LocatedVariable;
}

/** Where a task writes. */
export interface TaskTarget {
  /** Staging store root. */
  root: string;
  /** Zarr format. */
  format: ZarrFormat;
  /** Array path (`data` or `data_sfc`). */
  path: string;
  /** Array spec. */
  spec: ArraySpec;
  /** Chunk coordinates prefix before (time, lat, lon): [field, level] or [field]. */
  prefix: number[];
}

/** A conversion task. */
export interface ConvertTask {
  /** Task id. */
  id: number;
  /** Target array and position. */
  target: TaskTarget;
  /** First store time index (chunk aligned). */
  t0: number;
  /** End store time index (exclusive). */
  t1: number;
  /** Month number (relative to the first month) of each store time in [t0, t1). */
  months: Int32Array;
  /** Reads, in store time order. */
  runs: ReadRun[];
  /** Statistics of log(x + eps) − log(eps) instead of x, when set. */
  logEps?: number;
}

/** Statistics of one month produced by a task. */
export interface MonthPartial {
  /** Month index relative to the store's first month. */
  month: number;
  /** Moments over all points and time steps. */
  global: Moments;
  /** Per-point count. */
  count: Float64Array;
  /** Per-point mean. */
  mean: Float64Array;
  /** Per-point M2. */
  m2: Float64Array;
  /** Mean then std plane as float32, where the statistics module computed them on the way (else from the arrays). */
  coefficients?: Float32Array;
}

/** What a finished task reports. */
export interface TaskResult {
  /** Task id. */
  id: number;
  /** Decoded bytes written (float32 values). */
  rawBytes: number;
  /** Encoded bytes written. */
  storedBytes: number;
  /** Statistics per month touched. */
  partials: MonthPartial[];
}

/** At most this many inputs open at once per thread (datasets and located files each). */
const MAX_OPEN = 16;

/** Keep `value` under `key`, closing the oldest entry when `open` is full. */
function keepOpen<T extends { close(): void } | null>(open: Map<string, T>, key: string, value: T): T {
  if (open.size >= MAX_OPEN) {
    const [first, old] = open.entries().next().value!;
    old?.close();
    open.delete(first);
  }
  open.set(key, value);
  return value;
}

/** A variable of one input as {@link readRun} reads it, through whichever reader opened it. */
interface RunSource {
  /** Shape of the variable. */
  shape: number[];
  /** Raw values of a hyperslab (see {@link SourceDataset.read}). */
  read(start: number[], count: number[]): NumericArray;
  /** CF-decoded values into `out`; false when the reader has no such path (see {@link SourceDataset.readDecoded}). */
  readDecoded(start: number[], count: number[], packing: Packing, out: Float32Array): boolean;
}

/** Per-process state: the grid and a cache of open inputs. */
export class TaskContext {
  private readonly open = new Map<string, SourceDataset>();
  /** Inputs opened for located reads; null where that is not possible (opened as datasets instead). */
  private readonly openAt = new Map<string, LocatedFile | null>();
  /** The store grid. */
  readonly grid: Grid;
  private readonly buffers = new Map<string, Float32Array>();
  private readonly writers = new Map<string, ArrayWriter>();

  /** A reusable float32 buffer of at least `n` elements, by purpose. */
  buffer(name: string, n: number): Float32Array {
    let b = this.buffers.get(name);
    if (!b || b.length < n) {
      this.buffers.set(name, b = new Float32Array(n));
      adviseHugePages(b);
    }
    return b.subarray(0, n);
  }

  /** Per-point sums lent to the running task, and returned ones kept for the next (see {@link sums}). */
  private readonly lentSums: ShiftedPointSums[] = [];
  private readonly spareSums: ShiftedPointSums[] = [];

  /**
   * Empty per-point sums over `points` points: returned ones reused (a plane
   * of sums is tens of MB, fresh memory costs page faults on every task).
   */
  sums(points: number): ShiftedPointSums {
    const i = this.spareSums.findIndex((s) => s.points === points);
    const sums = i >= 0 ? this.spareSums.splice(i, 1)[0] : new ShiftedPointSums(points);
    if (i >= 0) sums.reset();
    this.lentSums.push(sums);
    return sums;
  }

  /**
   * The running task's results have been consumed (written): its sums, and
   * the arrays its result holds, may be reused by the next task.
   */
  returnSums(): void {
    this.spareSums.push(...this.lentSums.splice(0));
    this.spareSums.splice(0, this.spareSums.length - 4); // a few planes at most
  }

  /** A writer per target array (keeps its codec buffers across tasks). */
  writer(t: TaskTarget): ArrayWriter {
    const key = `${t.root}/${t.path}`;
    let w = this.writers.get(key);
    if (!w) this.writers.set(key, w = new ArrayWriter(t.root, t.path, t.format, t.spec));
    return w;
  }

  constructor(grid: Grid) {
    this.grid = grid;
    // Chunk-sized buffers come and go by the thousand: keep freed pages for reuse (see native/malloc.ts).
    tuneMallocForChunks();
  }

  /** An open dataset (kept for reuse; at most 16 at once). */
  async dataset(path: string): Promise<SourceDataset> {
    return this.open.get(path) ?? keepOpen(this.open, path, await openInput(path));
  }

  /**
   * An input opened for reading at located places (kept for reuse; at most
   * 16 at once); undefined when it must be opened as a dataset instead
   * (see {@link openLocated}).
   */
  located(path: string, at: LocatedVariable): LocatedFile | undefined {
    let file = this.openAt.get(path);
    if (file === undefined) file = keepOpen(this.openAt, path, openLocated(path, at) ?? null);
    return file ?? undefined;
  }

  /** The variable a run reads: at its located place when possible, else through the opened dataset. */
  async source(run: ReadRun): Promise<RunSource> {
    const at = run.located;
    const file = at && this.located(run.file, at);
    if (at && file) {
      return {
        shape: at.shape,
        read: (start, count) => file.read(run.variable, at, start, count),
        readDecoded: (
          start,
          count,
          packing,
          out,
        ) => (file.readDecoded(run.variable, at, start, count, packing, out), true),
      };
    }
    const ds = await this.dataset(run.file);
    const v = ds.variables.get(run.variable);
    if (at && (v?.dtype !== at.dtype || v.shape.join() !== at.shape.join())) {
      // The file changed since the scan: its values would not fit the plan.
      throw new InputError(
        run.file,
        `variable ${run.variable} is ${
          v ? `${v.dtype} [${v.shape.join(", ")}]` : "missing"
        }, the scan found ${at.dtype} ` +
          `[${at.shape.join(", ")}]: the file changed since the inputs were scanned (initialize the conversion again)`,
        { field: run.variable },
      );
    }
    return {
      shape: run.dims.map((d) => ds.dims[d]),
      read: (start, count) => ds.read(run.variable, start, count),
      readDecoded: (start, count, packing, out) => ds.readDecoded?.(run.variable, start, count, packing, out) ?? false,
    };
  }

  /** Close every open input. */
  close(): void {
    for (const ds of this.open.values()) ds.close();
    for (const file of this.openAt.values()) file?.close();
    this.open.clear();
    this.openAt.clear();
  }
}

/** The tile geometry and work buffers of one task. */
interface TaskTiles {
  nlat: number;
  nlon: number;
  /** Points of one grid plane. */
  plane: number;
  /** Chunk extents: time steps, grid rows, grid columns. */
  tc: number;
  clat: number;
  clon: number;
  /** The SIMD tile workspace, where the task's chunks are written shuffled. */
  ws: ReturnType<typeof tileWorkspace>;
  /** Slab and edge chunk in one buffer. */
  work: Float32Array;
  /** A time chunk's planes (time × lat × lon). */
  slab: Float32Array;
  /** One chunk (time × tile rows × tile columns). */
  chunk: Float32Array;
}

/** Partial point sums of one month and the time steps of a time chunk they take: [sums, first step, steps]. */
type MonthRun = [ShiftedPointSums, number, number];

/** Run one task. */
export async function runTask(task: ConvertTask, ctx: TaskContext): Promise<TaskResult> {
  const writer = ctx.writer(task.target);
  const tiles = taskTiles(task, ctx, writer);
  const { plane, tc } = tiles;
  // Cloud store inputs: download the task's planes first, concurrently (files: nothing to do).
  await prefetchRuns(task.runs, task.target.root, (p) => ctx.dataset(p));
  const partials = new Map<number, ShiftedPointSums>();
  let rawBytes = 0, storedBytes = 0;
  for (let c0 = task.t0; c0 < task.t1; c0 += tc) {
    const c1 = Math.min(c0 + tc, task.t1);
    const deferred = await readTimeChunk(task, ctx, tiles, c0, c1);
    const monthRuns = monthRunsOf(task, ctx, partials, plane, c0, c1);
    storedBytes += writeTimeChunk(task, ctx, writer, tiles, c0, c1, monthRuns, deferred);
    rawBytes += (c1 - c0) * plane * 4;
  }
  return {
    id: task.id,
    rawBytes,
    storedBytes,
    partials: [...partials].map(([month, acc]) => {
      const { points, global, coefficients } = acc.finish();
      return { month, global, count: points.count, mean: points.mean, m2: points.m2, coefficients };
    }),
  };
}

/** The task's tile geometry and its work buffers. */
function taskTiles(task: ConvertTask, ctx: TaskContext, writer: ArrayWriter): TaskTiles {
  const { target } = task;
  const nlat = ctx.grid.latPerm.length, nlon = ctx.grid.lonPerm.length;
  const plane = nlat * nlon;
  const rank = target.spec.shape.length;
  const [tc, clat, clon] = [target.spec.chunks[0], target.spec.chunks[rank - 2], target.spec.chunks[rank - 1]];
  // Slab and edge chunk in one buffer: a tile's rows are copied with copyWithin (a memmove, no view
  // objects). In the SIMD tile workspace where there is one: inputs are unshuffled straight into the slab,
  // statistics read it in place, and chunks are shuffled straight out of it for the compressor.
  const size = tc * plane + tc * clat * clon;
  const ws = writer.takesShuffled && task.logEps === undefined ? tileWorkspace() : undefined;
  const work = ws ? ws.reserve(4 * size).subarray(0, size) : ctx.buffer("slab+chunk", size);
  const slab = work.subarray(0, tc * plane), chunk = work.subarray(tc * plane);
  return { nlat, nlon, plane, tc, clat, clon, ws, work, slab, chunk };
}

/**
 * Read store times [c0, c1) of every run into the slab (NaN where no run
 * writes); returns the ±Inf checks of slab pieces left to the statistics
 * (see readRun), to run when they meet one.
 */
async function readTimeChunk(
  task: ConvertTask,
  ctx: TaskContext,
  { slab, plane }: TaskTiles,
  c0: number,
  c1: number,
): Promise<(() => void)[]> {
  // NaN only where no run writes (gaps): a full slab is overwritten anyway.
  let covered = 0;
  for (const run of task.runs) {
    covered += Math.max(0, Math.min(run.storeT + run.count, c1) - Math.max(run.storeT, c0));
  }
  if (covered !== c1 - c0) slab.fill(NaN);
  const deferred: (() => void)[] = [];
  for (const run of task.runs) {
    const a = Math.max(run.storeT, c0), b = Math.min(run.storeT + run.count, c1);
    if (a >= b) continue;
    const check = await readRun(ctx, run, run.localT + (a - run.storeT), b - a, slab, (a - c0) * plane, {
      deferInfCheck: task.logEps === undefined,
    });
    if (check) deferred.push(check);
  }
  return deferred;
}

/** Runs of time steps of the same month within store times [c0, c1), each with its month's partial sums. */
function monthRunsOf(
  task: ConvertTask,
  ctx: TaskContext,
  partials: Map<number, ShiftedPointSums>,
  plane: number,
  c0: number,
  c1: number,
): MonthRun[] {
  const monthRuns: MonthRun[] = [];
  for (let t = c0; t < c1;) {
    const month = task.months[t - task.t0];
    let end = t + 1;
    while (end < c1 && task.months[end - task.t0] === month) end++;
    let acc = partials.get(month);
    if (!acc) partials.set(month, acc = ctx.sums(plane));
    monthRuns.push([acc, t - c0, end - t]);
    t = end;
  }
  return monthRuns;
}

/**
 * Every tile of the time chunk [c0, c1): its statistics added while it is
 * in cache, then written as one chunk (or gathered into the shard, written
 * whole at the end). Returns the bytes stored.
 */
function writeTimeChunk(
  task: ConvertTask,
  ctx: TaskContext,
  writer: ArrayWriter,
  tiles: TaskTiles,
  c0: number,
  c1: number,
  monthRuns: MonthRun[],
  deferred: (() => void)[],
): number {
  const { target } = task;
  const { nlat, nlon, plane, tc, clat, clon, ws, work, chunk } = tiles;
  let storedBytes = 0;
  const shard: Float32Array[] | undefined = target.spec.shards ? [] : undefined;
  for (let i0 = 0; i0 < nlat; i0 += clat) {
    for (let j0 = 0; j0 < nlon; j0 += clon) {
      const rows = Math.min(clat, nlat - i0), cols = Math.min(clon, nlon - j0);
      const edge = rows < clat || cols < clon || c1 - c0 < tc;
      // Where the tile's values lie: a whole tile in the workspace's slab is read there; others are copied
      // into the chunk (edge tiles padded with NaN).
      let at = tc * plane, stepStride = clat * clon, rowStride = clon;
      if (ws && !edge) (at = i0 * nlon + j0, stepStride = plane, rowStride = nlon);
      else {
        if (edge) chunk.fill(NaN);
        for (let t = 0; t < c1 - c0; t++) {
          for (let i = 0; i < rows; i++) {
            const from = t * plane + (i0 + i) * nlon + j0;
            work.copyWithin(tc * plane + (t * clat + i) * clon, from, from + cols);
          }
        }
      }
      // Statistics from the tile while it is in cache.
      let statsOf = work, statsAt = at;
      if (task.logEps !== undefined) {
        statsOf = ctx.buffer("log", chunk.length);
        logTransform(task.logEps).forwardInto(chunk, 0, statsOf, 0, chunk.length);
        statsAt = 0;
      }
      for (const [acc, from, steps] of monthRuns) {
        acc.addBlock(
          statsOf,
          statsAt + from * stepStride,
          stepStride,
          rowStride,
          steps,
          rows,
          cols,
          i0 * nlon + j0,
          nlon,
        );
        // The statistics saw every value of the tile: an infinite extreme means ±Inf came in.
        if (acc.min === -Infinity || acc.max === Infinity) { for (const check of deferred) check(); }
      }
      const coords = [c0 / tc, ...target.prefix, i0 / clat, j0 / clon];
      if (shard) {
        // A copy per chunk of the shard, in buffers kept for the next shard (fresh memory costs page faults).
        const copy = ctx.buffer(`shard chunk ${shard.length}`, chunk.length);
        copy.set(chunk);
        shard.push(copy);
      } else if (ws) {
        // Shuffled straight out of where the values lie, for the compressor.
        storedBytes += writer.writeShuffledChunk(coords, ws.gatherShuffle(at, stepStride, rowStride, tc, clat, clon));
      } else storedBytes += writer.writeChunk(coords, chunk);
    }
  }
  if (shard) storedBytes += writer.writeShard([c0 / tc, ...target.prefix, 0, 0], shard);
  return storedBytes;
}

const storeOrder = new WeakMap<Grid, boolean>();

/** True when the grid's permutations are the identity (remapping would copy planes unchanged). */
function inStoreOrder(grid: Grid): boolean {
  let same = storeOrder.get(grid);
  if (same === undefined) {
    same = grid.latPerm.every((v, i) => v === i) && grid.lonPerm.every((v, i) => v === i);
    storeOrder.set(grid, same);
  }
  return same;
}

/**
 * Read `count` steps of a run into `out` at `outOffset`, CF-decoded and
 * remapped to the store grid, and check them for ±Inf. With
 * `deferInfCheck`, where values land in the slab unchanged (no remap) and
 * the caller's statistics see every one of them untransformed, the check
 * is returned instead of run: the caller runs it (it throws, naming file,
 * variable and place) only if its statistics meet an infinite extreme,
 * which saves a pass over every value.
 */
async function readRun(
  ctx: TaskContext,
  run: ReadRun,
  localT: number,
  count: number,
  out: Float32Array,
  outOffset: number,
  opts: { deferInfCheck?: boolean } = {},
): Promise<(() => void) | undefined> {
  const src = await ctx.source(run);
  const start: number[] = [], cnt: number[] = [];
  for (const [axis, d] of run.dims.entries()) {
    const len = src.shape[axis];
    if (d === run.dims[0]) (start.push(localT), cnt.push(count));
    else if (d === run.levelDim) (start.push(run.levelIndex), cnt.push(1));
    else (start.push(0), cnt.push(len));
  }
  const plane = ctx.grid.latPerm.length * ctx.grid.lonPerm.length;
  const p = run.packing;
  const n = cnt.reduce((a, b) => a * b, 1);
  const nexp = run.expverDim ? run.expverCount : 1;
  // ±Inf is an error (or NaN with --inf-to-nan), wherever the values were decoded.
  const finite = (v: Float32Array) =>
    checkInfinite(v, {
      file: run.file,
      variable: run.variable,
      where: (i) => `time index ${localT + Math.floor(i / (nexp * plane))}, point ${i % plane}`,
    }, run.infToNaN ?? false);
  // Source already in store order (CDS files: north→south, 0..360) and no expver halves: decode into the slab.
  if (nexp === 1 && inStoreOrder(ctx.grid)) {
    const slab = out.subarray(outOffset, outOffset + n);
    if (src.readDecoded(start, cnt, p, slab)) {
      if (opts.deferInfCheck && !run.infToNaN) return () => finite(slab);
      finite(slab);
      return;
    }
  }
  let values = ctx.buffer("unpack", n);
  // Readers that decode CF packing while converting the bytes (netCDF3 shorts) skip a pass.
  if (!src.readDecoded(start, cnt, p, values)) {
    const raw = src.read(start, cnt);
    if (raw instanceof Float32Array && p.scale === 1 && p.offset === 0 && p.fills.length === 0 && !run.expverDim) {
      values = raw; // already physical float32 with NaN fill (new CDS files)
    } else unpackInto(raw, p, values);
  }
  finite(values);
  for (let t = 0; t < count; t++) {
    const base = t * nexp * plane;
    // Legacy ERA5/ERA5T downloads: halves along expver, NaN where the other has data.
    for (let e = 1; e < nexp; e++) {
      const o = base + e * plane;
      for (let i = 0; i < plane; i++) if (values[base + i] !== values[base + i]) values[base + i] = values[o + i];
    }
    remapPlane(values, base, ctx.grid, out, outOffset + t * plane);
  }
}
