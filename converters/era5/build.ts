/**
 * The build state of a parallel conversion (init → parts → finalize), kept
 * in `OUT.partial/.build/` while the stores are staged:
 *
 * - `build.json`: the plan's tasks, writer specs, attributes and the init
 *   options (written last by init, durably);
 * - `stats/<id>`: a task's partial statistics (durable);
 * - `done/<id>`: the task's done marker, written after its statistics and
 *   holding their size and CRC-32C, so it never vouches for a missing or
 *   cut file;
 * - `locks/<id>`: the lock of a task being run (a part locks its own tasks;
 *   parts share the build, not a lock);
 * - `finalized`: written once both stores' root metadata is written; from
 *   then on finalize only publishes.
 *
 * During publishing the build directory moves next to the store
 * (`OUT.partial.build`) so that the renamed store holds nothing of the
 * build; finalize finds it there when it resumes.
 *
 * @module
 */
import { basename, dirname, join, resolve } from "node:path";
import { ConfigError, StoreError } from "../../errors.ts";
import type { ArraySpec, ZarrFormat } from "../../zarr/metadata.ts";
import { pathExists } from "../../zarr/publish.ts";
import { beforeWrite } from "../../zarr/fault_hook.ts";
import { writeTextDurable } from "../../zarr/durable.ts";
import type { NormLayout } from "../../normalization/sets.ts";
import { stagePath } from "../output.ts";
import { acquireLock, liveOwner, type OutputLock } from "../../zarr/lock.ts";
import type { Plan } from "./inventory.ts";
import type { ConvertTask } from "./task.ts";
import { jsonNumbers, jsonTyped, type StatsSeal } from "./task_stats.ts";

/** An array writer as saved in build.json. */
export interface WriterSpec {
  /** Array path inside its store. */
  path: string;
  /** Array spec. */
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
  /** The options init ran with (a rerun of init with other ones is refused). */
  options?: Record<string, unknown>;
  /**
   * The data store's path as init saw it, absolute with its folder's links
   * resolved: a build moved or copied elsewhere is refused (its other paths
   * still name the old place). Absent in builds of older versions.
   */
  outAbsolute?: string;
  /** The plan (in memory only, right after init). */
  plan?: Plan;
}

/** `path` made absolute, its folder's symbolic links resolved (the folder as it is; `path` unresolved when absent). */
function canonicalPath(path: string): string {
  const abs = resolve(path.replace(/\/+$/, ""));
  try {
    return join(Deno.realPathSync(dirname(abs)), basename(abs));
  } catch {
    return abs;
  }
}

/** The build directory inside a staged store. */
export function buildDir(stageOut: string): string {
  return join(stageOut, ".build");
}

/** Where the build directory waits while the stores are being published. */
export function parkedBuildDir(out: string): string {
  return `${stagePath(out)}.build`;
}

/** The build directory of a conversion in progress, wherever it is now; undefined when none. */
export function findBuildDir(out: string): string | undefined {
  for (const dir of [buildDir(stagePath(out)), parkedBuildDir(out)]) {
    if (pathExists(join(dir, "build.json"))) return dir;
  }
  return undefined;
}

/** Save the build state durably (init's last write). */
export function saveBuild(dir: string, state: BuildState): void {
  const { plan: _plan, ...rest } = state;
  const saved = { ...rest, outAbsolute: canonicalPath(state.out) };
  writeTextDurable(join(dir, "build.json"), JSON.stringify(saved, jsonTyped), { sync: true });
}

/** Load the build state of `out`, or say why there is none. */
export function loadBuild(out: string): { state: BuildState; dir: string } {
  const dir = findBuildDir(out);
  if (!dir) {
    const stage = stagePath(out);
    throw new StoreError(
      stage,
      pathExists(out) && !pathExists(stage)
        ? `no conversion in progress: ${out} is already finalized`
        : "no conversion in progress (run the same command with --init first)",
    );
  }
  let state: BuildState;
  try {
    state = JSON.parse(Deno.readTextFileSync(join(dir, "build.json")), jsonNumbers) as BuildState;
  } catch (e) {
    throw new StoreError(join(dir, "build.json"), `unreadable build state (${(e as Error).message})`);
  }
  if (state.outAbsolute !== undefined && state.outAbsolute !== canonicalPath(out)) {
    throw new StoreError(
      dir,
      `this build was initialized for ${state.outAbsolute}, not ${canonicalPath(out)}: ` +
        `a conversion in progress cannot be moved or copied (its coefficient set and paths stay at the old place); ` +
        `finish it where it was initialized, or convert again`,
    );
  }
  for (const t of state.tasks) t.months = Int32Array.from(t.months);
  state.grid.latPerm = Int32Array.from(state.grid.latPerm);
  state.grid.lonPerm = Int32Array.from(state.grid.lonPerm);
  state.grid.lats = Float64Array.from(state.grid.lats);
  state.grid.lons = Float64Array.from(state.grid.lons);
  return { state, dir };
}

/** The tasks of part `part` of `parts` (1-based): contiguous and disjoint; tasks own whole chunks. */
export function partTasks<T>(tasks: T[], part: number, parts: number): T[] {
  if (!(Number.isInteger(parts) && Number.isInteger(part) && parts >= 1 && part >= 1 && part <= parts)) {
    throw new ConfigError("--part", `${part}/${parts}: expected i/n with 1 ≤ i ≤ n`);
  }
  return tasks.slice(Math.floor(((part - 1) * tasks.length) / parts), Math.floor((part * tasks.length) / parts));
}

/** Path of a task's statistics file. */
export function statsPath(dir: string, id: number): string {
  return join(dir, "stats", String(id));
}

/** Path of a task's done marker. */
export function donePath(dir: string, id: number): string {
  return join(dir, "done", String(id));
}

/** The seal a done marker holds, or undefined when there is no valid marker. */
export function readDone(dir: string, id: number): StatsSeal | undefined {
  try {
    const seal = JSON.parse(Deno.readTextFileSync(donePath(dir, id))) as StatsSeal;
    return Number.isInteger(seal.bytes) && Number.isInteger(seal.crc) ? seal : undefined;
  } catch {
    return undefined;
  }
}

/** Mark a task done, after its statistics file is in place. */
export function writeDone(dir: string, id: number, seal: StatsSeal): void {
  writeTextDurable(donePath(dir, id), JSON.stringify(seal), { sync: true, tmpDir: join(dir, "tmp") });
}

/**
 * True when a task is done: its marker is valid and its statistics file
 * has the size the marker records (finalize also checks the CRC).
 */
export function taskDone(dir: string, id: number): boolean {
  const seal = readDone(dir, id);
  if (!seal) return false;
  try {
    return Deno.statSync(statsPath(dir, id)).size === seal.bytes;
  } catch {
    return false;
  }
}

/** Forget that a task is done (its files are bad): the next part run redoes it. */
export function undoTask(dir: string, id: number): void {
  beforeWrite(donePath(dir, id));
  for (const p of [donePath(dir, id), statsPath(dir, id)]) {
    try {
      Deno.removeSync(p);
    } catch { /* not there */ }
  }
}

/**
 * Lock one task for this process just before running it (a part holds at
 * most the tasks in flight, never thousands of open files); undefined when
 * another run finished it in the meantime. Fails naming the process
 * running it.
 */
export function claimTask(dir: string, id: number, purpose: string): OutputLock | undefined {
  Deno.mkdirSync(join(dir, "locks"), { recursive: true });
  const lock = acquireLock(join(dir, "locks", String(id)), `task ${id} of ${dir}`, purpose);
  if (taskDone(dir, id)) {
    lock.release();
    return undefined;
  }
  return lock;
}

/** Fail when a live process runs any task of the build (before finalize or a new init). */
export function assertNoRunningTasks(dir: string, subject: string): void {
  let names: string[];
  try {
    names = [...Deno.readDirSync(join(dir, "locks"))].map((e) => e.name);
  } catch {
    return;
  }
  for (const name of names) {
    if (!/^\d+$/.test(name)) continue;
    const owner = liveOwner(join(dir, "locks", name));
    if (owner) {
      throw new StoreError(
        subject,
        `task ${name} is being run by pid ${owner.pid} on ${owner.host} (${owner.purpose}, started ${owner.started}); ` +
          "wait for the parts to finish",
      );
    }
  }
}
