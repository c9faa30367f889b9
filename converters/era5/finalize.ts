/**
 * Step 3 of the parallel protocol: merge the partial statistics exactly (in
 * task order, so any split gives the same bytes), write statistics and
 * coefficients, write both stores' root metadata and publish them.
 *
 * Crash consistency: every step can be killed and `--finalize` run again.
 * Until the `finalized` marker exists, finalize only rewrites arrays of the
 * staged stores (tasks whose files fail verification lose their done
 * marker and are named, so `--part` redoes them). After it, finalize only
 * publishes: the coefficient set is renamed into place, the build
 * directory is parked next to the data store, the data store is renamed,
 * and the parked build directory is removed. A staged store is never
 * readable as a finished one (its name ends in `.partial`, or it holds
 * `.build`).
 *
 * @module
 */
import { join } from "node:path";
import { StoreError } from "../../errors.ts";
import { ArrayWriter, finalizeStore, pathExists, publishStore, removeStore } from "../../zarr/store.ts";
import { beforeWrite, faultPoint, writeTextDurable } from "../../zarr/durable.ts";
import { emptyMoments, mergeMoments, type Moments, PointMoments } from "../../normalization/moments.ts";
import { type NormArrays, writeGlobalCoefficients, writeLocalCoefficients } from "../../normalization/sets.ts";
import { cleanupAfter, lockOutputs } from "../output.ts";
import {
  assertNoRunningTasks,
  buildDir,
  type BuildState,
  loadBuild,
  parkedBuildDir,
  readDone,
  statsPath,
  taskDone,
  undoTask,
  type WriterSpec,
} from "./build.ts";
import { readTaskStats } from "./task_stats.ts";
import type { ConvertTask, TaskResult } from "./task.ts";
import type { ConversionSummary, Progress } from "./convert.ts";

/** Options of {@link finalizeConversion}. */
export interface FinalizeOptions {
  /** Progress callback. */
  onProgress?: (p: Progress) => void;
  /** The caller already holds the output locks (a single-process conversion). */
  locked?: boolean;
}

/**
 * Step 3: verify every task, merge, write coefficients, publish. Run again
 * after a kill at any point, it completes the conversion.
 */
export function finalizeConversion(
  out: string,
  options: FinalizeOptions | ((p: Progress) => void) = {},
): Omit<ConversionSummary, "plan" | "seconds"> {
  const opts = typeof options === "function" ? { onProgress: options } : options;
  const { state, dir } = loadBuild(out);
  const lock = opts.locked ? undefined : lockOutputs({ out: state.out, norm: state.normPath }, "convert --finalize");
  try {
    assertNoRunningTasks(dir, state.stageOut);
    let sizes = { rawBytes: 0, storedBytes: 0 };
    if (!pathExists(join(dir, "finalized"))) {
      const { nanCounts, ...merged } = mergeAndWrite(state, dir, opts.onProgress);
      sizes = merged;
      finalizeStore(state.stageNorm, state.format, state.normAttrs);
      finalizeStore(state.stageOut, state.format, { ...state.attrs, nan_counts: nanCounts });
      writeTextDurable(join(dir, "finalized"), JSON.stringify(sizes), { sync: true });
    } else sizes = JSON.parse(Deno.readTextFileSync(join(dir, "finalized")));
    publish(state, dir);
    opts.onProgress?.({
      phase: "finalize",
      done: state.tasks.length,
      total: state.tasks.length,
      bytes: sizes.rawBytes,
    });
    return { out: state.out, norm: state.normPath, ...sizes };
  } finally {
    lock?.release();
  }
}

/** The publishing steps; each is skipped when a previous run already did it. */
function publish(state: BuildState, dir: string): void {
  if (pathExists(state.stageNorm)) publishStore(state.stageNorm, state.normPath);
  const parked = parkedBuildDir(state.out);
  if (dir === buildDir(state.stageOut)) {
    beforeWrite(parked);
    Deno.renameSync(dir, parked);
    faultPoint(parked);
  }
  if (pathExists(state.stageOut)) publishStore(state.stageOut, state.out);
  removeStore(parked);
}

/** Statistics of a task after checking them against its done marker; a bad task is undone and named. */
function readVerified(dir: string, id: number, plane: number): TaskResult {
  try {
    return readTaskStats(statsPath(dir, id), plane, readDone(dir, id));
  } catch (e) {
    throw cleanupAfter(
      new StoreError(
        statsPath(dir, id),
        `${
          (e as Error).message.replace(/^.*?: /, "")
        }; task ${id} must be redone: run its --part again (finished tasks are skipped), then --finalize`,
      ),
      () => undoTask(dir, id),
    );
  }
}

function mergeAndWrite(
  state: BuildState,
  dir: string,
  onProgress?: (p: Progress) => void,
): { rawBytes: number; storedBytes: number; nanCounts: Record<string, number> } {
  const bad = state.tasks.filter((t) => !taskDone(dir, t.id));
  if (bad.length) {
    for (const t of bad) undoTask(dir, t.id);
    const ids = bad.map((t) => t.id);
    throw new StoreError(
      state.stageOut,
      `${bad.length} of ${state.tasks.length} tasks are not done; run the missing parts first ` +
        `(--part redoes them), then --finalize (tasks to redo: ${ids.slice(0, 10).join(", ")}${
          ids.length > 10 ? ", …" : ""
        })`,
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
  const nanCounts: Record<string, number> = {};
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
      const r = readVerified(dir, t.id, plane);
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
    // NaN values (sst over land, gaps) are allowed and counted per field.
    const name = sfc ? layout.fieldsSfc[fi] : layout.fields[fi];
    const values = tasks.reduce((a, t) => a + (t.t1 - t.t0) * plane, 0);
    const finite = [...months.values()].reduce((a, acc) => a + acc.global.count, 0);
    nanCounts[name] = (nanCounts[name] ?? 0) + values - finite;
    for (const [m, acc] of [...months].sort((a, b) => a[0] - b[0])) {
      const g = acc.global;
      if (g.count > 0 && ![g.mean, g.m2, g.min, g.max].every(Number.isFinite)) {
        throw new StoreError(
          state.stageOut,
          `statistics of ${name}${sfc ? "" : ` level ${layout.levels[li]}`} in month ${
            layout.months[m]
          } are not finite (mean ${g.mean}, min ${g.min}, max ${g.max}): values too large for float64 statistics`,
          { field: name },
        );
      }
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
  return { rawBytes, storedBytes, nanCounts };
}
