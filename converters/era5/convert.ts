/**
 * ERA5 → zarr conversion in AtmoRep's layout, with monthly normalization
 * coefficients in a separate store: the parallel protocol (init, parts,
 * finalize) and the single-process conversion that runs it.
 *
 * Modules: `layout.ts` (arrays, attributes, tasks), `build.ts` (build
 * state, done markers, task locks), `task.ts` + `pool.ts` + `worker.ts`
 * (running tasks), `task_stats.ts` (partial statistics files),
 * `finalize.ts` (merge, coefficients, publish); the store life cycle shared
 * with the other converters is `../output.ts`.
 *
 * @module
 */
import { join, resolve } from "node:path";
import { DEFAULT_CODEC, parseCodecSpec } from "../../zarr/codecs.ts";
import type { ZarrFormat } from "../../zarr/metadata.ts";
import { pathExists, removeStore } from "../../zarr/publish.ts";
import { testVariable } from "../../zarr/fault_hook.ts";
import { ConfigError } from "../../errors.ts";
import {
  checkReplaceable,
  cleanupAfter,
  clearStage,
  lockOutputs,
  outputPaths,
  removeStaged,
  stagePath,
} from "../output.ts";
import { type Plan, planConversion, scanFile } from "./inventory.ts";
import { type ChunkShape, createStores } from "./layout.ts";
import {
  assertNoRunningTasks,
  buildDir,
  type BuildState,
  claimTask,
  findBuildDir,
  loadBuild,
  parkedBuildDir,
  partTasks,
  saveBuild,
  statsPath,
  taskDone,
  writeDone,
} from "./build.ts";
import { type ConvertJob, runPool, StartedWorkers, workerCount } from "./pool.ts";
import { finalizeConversion } from "./finalize.ts";
import { isSelection } from "./remote/spec.ts";
import { statisticsTargets } from "./merge.ts";

export { type ChunkShape, DEFAULT_CHUNKS, DEFAULT_SHARD_CHUNKS } from "./layout.ts";
export { type BuildState, partTasks } from "./build.ts";
export { stagePath } from "../output.ts";
export { finalizeConversion } from "./finalize.ts";

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
  /** Replace existing outputs (only stores this project wrote). */
  overwrite?: boolean;
  /** Map ±Inf in the inputs to NaN instead of failing (the default: Inf is an error naming file and variable). */
  infToNaN?: boolean;
  /** Publish coefficients outside the plausible ranges of their fields (default: an error). */
  allowImplausible?: boolean;
  /** Stop the conversion (SIGINT): the run fails with the signal's reason and cleans up. */
  signal?: AbortSignal;
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
  /** Cloud store inputs: bytes and chunks downloaded so far. */
  fetched?: { bytes: number; chunks: number };
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
 * finalize), holding the output locks throughout. Any failure removes the
 * staged stores; the first error is the one thrown.
 */
export async function convertEra5(opts: Era5Options): Promise<ConversionSummary> {
  const started = performance.now();
  const paths = outputPaths(opts.out, opts.norm);
  workerCount(opts.workers, 1); // a bad count fails before anything is written
  const lock = lockOutputs(paths, "convert era5");
  // Workers start now: loading their modules (≈0.1–0.3 s each) overlaps the scan, which needs one core.
  const workersAhead = new StartedWorkers(workerCount(opts.workers, Infinity));
  try {
    const build = await initConversion(opts, { locked: true });
    try {
      await runConversionPart(build.out, 1, 1, {
        workers: opts.workers,
        onProgress: opts.onProgress,
        signal: opts.signal,
        started: workersAhead,
      });
      const summary = await finalizeConversion(build.out, {
        onProgress: opts.onProgress,
        locked: true,
        workers: opts.workers,
        allowImplausible: opts.allowImplausible,
      });
      return { ...summary, plan: build.plan!, seconds: (performance.now() - started) / 1000 };
    } catch (e) {
      throw cleanupAfter(e, () => removeStaged(build.stageOut, build.stageNorm, parkedBuildDir(build.out)));
    }
  } finally {
    workersAhead.close();
    lock.release();
  }
}

/** The init options that shape the stores; a rerun of init must give the same. */
function initFingerprint(opts: Era5Options, codec: string, format: number): Record<string, unknown> {
  return {
    inputs: opts.inputs.map((p) => isSelection(p) ? p : resolve(p)),
    norm: resolve(opts.norm ?? outputPaths(opts.out).norm),
    fields: opts.fields ?? null,
    levels: opts.levels ?? null,
    zarrFormat: format,
    codec,
    chunks: opts.chunks ?? null,
    allowGaps: !!opts.allowGaps,
    shard: !!opts.shard,
    logTransform: opts.logTransform ?? null,
    embedNormalization: !!opts.embedNormalization,
    infToNaN: !!opts.infToNaN,
  };
}

/** What init did when a conversion of the same output is already initialized. */
export type InitOutcome = "initialized" | "continuing";

/**
 * Is `out` already initialized with the same options? True: continue it.
 * False: nothing initialized. A build made with other options is a
 * {@link ConfigError} naming what differs.
 */
export function initializedAlready(opts: Era5Options): boolean {
  const dir = findBuildDir(opts.out.replace(/\/+$/, ""));
  if (!dir) return false;
  const { state } = loadBuild(opts.out.replace(/\/+$/, ""));
  const want = initFingerprint(opts, opts.codec ?? DEFAULT_CODEC, opts.zarrFormat ?? 2);
  if (!state.options) return true; // a build made before options were recorded: continue it as before
  const had = state.options;
  const differs = Object.keys(want).filter((k) => JSON.stringify(want[k]) !== JSON.stringify(had[k] ?? null));
  if (differs.length) {
    throw new ConfigError(
      differs.map((k) => `--${k.replace(/[A-Z]/g, (c) => "-" + c.toLowerCase())}`).join(", "),
      `${stagePath(opts.out)} was initialized with other options (${
        differs.map((k) => `${k}: ${JSON.stringify(had[k] ?? null)} then, ${JSON.stringify(want[k])} now`).join("; ")
      }); give the same options to continue it, or --overwrite to start over`,
    );
  }
  return true;
}

/**
 * Step 1 of the parallel protocol: scan the inputs, plan, and write the
 * metadata and coordinates of both stores (staged as OUT.partial and
 * NORM.partial, not readable as zarr groups until finalized) plus the task
 * list in OUT.partial/.build, whose build.json is written last.
 */
export async function initConversion(opts: Era5Options, how: { locked?: boolean } = {}): Promise<BuildState> {
  const paths = outputPaths(opts.out, opts.norm);
  const { out, norm: normPath, stageOut, stageNorm } = paths;
  const format = opts.zarrFormat ?? 2;
  const codec = opts.codec ?? DEFAULT_CODEC;
  parseCodecSpec(codec); // fail early on a bad spec
  const lock = how.locked ? undefined : lockOutputs(paths, "convert era5 --init");
  try {
    checkReplaceable(out, "data", opts);
    checkReplaceable(normPath, "normalization", opts);
    for (const dir of [buildDir(stageOut), parkedBuildDir(out)]) assertNoRunningTasks(dir, out);
    const progress = opts.onProgress ?? (() => {});
    const entries = [];
    for (const [i, path] of opts.inputs.entries()) {
      opts.signal?.throwIfAborted();
      progress({ phase: "scan", done: i, total: opts.inputs.length, bytes: 0 });
      entries.push(await scanFile(path));
    }
    const plan = planConversion(entries, { fields: opts.fields, levels: opts.levels, allowGaps: opts.allowGaps });
    clearStage(stageOut);
    clearStage(stageNorm);
    // No task can be writing there (checked above, under the output locks): no need to wait for late writes.
    removeStore(parkedBuildDir(out));
    try {
      const state = createStores(plan, { ...opts, codec, format, stageOut, stageNorm, out, normPath, progress });
      state.options = initFingerprint(opts, codec, format);
      Deno.mkdirSync(join(buildDir(stageOut), "done"), { recursive: true });
      Deno.mkdirSync(join(buildDir(stageOut), "stats"), { recursive: true });
      saveBuild(buildDir(stageOut), state);
      return { ...state, plan };
    } catch (e) {
      throw cleanupAfter(e, () => removeStaged(stageOut, stageNorm));
    }
  } finally {
    lock?.release();
  }
}

/** Options of {@link runConversionPart}. */
export interface PartOptions {
  /** Worker threads (0 = this thread). */
  workers?: number;
  /** Progress callback. */
  onProgress?: (p: Progress) => void;
  /** Stop after the tasks in flight (SIGINT); finished tasks stay done. */
  signal?: AbortSignal;
  /** Workers started ahead of the part (their module loading overlapped the scan). */
  started?: StartedWorkers;
}

/**
 * Step 2: run the tasks of part `part`/`parts`, each locked for this
 * process. Each task rewrites whole chunks it alone owns, then stores its
 * partial statistics and then its done marker, so a part killed at any
 * point and run again ends the same; tasks already done are skipped.
 */
export async function runConversionPart(
  out: string,
  part: number,
  parts: number,
  opts: PartOptions = {},
): Promise<{ ran: number; skipped: number }> {
  const { state, dir } = loadBuild(out.replace(/\/+$/, ""));
  const mine = partTasks(state.tasks, part, parts);
  // Finalize already verified every task and is publishing: nothing is left to run.
  if (dir !== buildDir(state.stageOut)) return { ran: 0, skipped: mine.length };
  workerCount(opts.workers, 1);
  const todo = mine.filter((t) => !taskDone(dir, t.id));
  let rawBytes = 0, done = 0, ran = 0;
  let fetched: Progress["fetched"];
  const delay = testDelayMs();
  const purpose = `convert era5 --part ${part}/${parts}`;
  // Months a task has alone for its field level: it writes their statistics itself.
  const finishes = new Map<number, ConvertJob["finishes"]>();
  for (const { target, ownMonths } of statisticsTargets(state)) {
    for (const [id, months] of ownMonths) finishes.set(id, { ...target, ownMonths: months });
  }
  const jobs: ConvertJob[] = todo.map((task) => ({
    kind: "convert",
    id: task.id,
    task,
    statsFile: statsPath(dir, task.id),
    finishes: finishes.get(task.id),
  }));
  await runPool(
    jobs,
    state.grid,
    opts.workers,
    (job, r) => {
      writeDone(dir, job.id, r.seal);
      if (delay) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, delay);
      rawBytes += r.rawBytes;
      ran++;
      opts.onProgress?.({ phase: "convert", done: ++done, total: todo.length, bytes: rawBytes, fetched });
    },
    {
      signal: opts.signal,
      claim: (j) => {
        const lock = claimTask(dir, j.id, purpose);
        return lock && (() => lock.release());
      },
      started: opts.started,
      // Cloud store inputs: downloads shown as they come in (a task may download for minutes).
      onFetched: (bytes, objects) => {
        fetched ??= { bytes: 0, chunks: 0 };
        fetched.bytes += bytes;
        fetched.chunks += objects;
        opts.onProgress?.({ phase: "convert", done, total: todo.length, bytes: rawBytes, fetched });
      },
    },
  );
  return { ran, skipped: mine.length - ran };
}

/** ATMOREP_TEST_TASK_DELAY_MS slows parts down so tests can kill one mid-way. */
function testDelayMs(): number {
  return testVariable("ATMOREP_TEST_TASK_DELAY_MS");
}

/** True when `out` has a conversion in progress (initialized, not yet published). */
export function conversionInProgress(out: string): boolean {
  return findBuildDir(out.replace(/\/+$/, "")) !== undefined || pathExists(stagePath(out));
}
