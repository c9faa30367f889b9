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
import { ArrayWriter } from "../../zarr/writer.ts";
import { finalizeStore, pathExists, publishStore, removeStore } from "../../zarr/publish.ts";
import { beforeWrite, faultPoint } from "../../zarr/fault_hook.ts";
import { writeTextDurable } from "../../zarr/durable.ts";
import { emptyMoments, type Moments } from "../../normalization/moments.ts";
import { writeGlobalCoefficients } from "../../normalization/sets.ts";
import { refuseImplausible } from "../../normalization/plausible.ts";
import { lockOutputs } from "../output.ts";
import {
  assertNoRunningTasks,
  buildDir,
  type BuildState,
  loadBuild,
  parkedBuildDir,
  taskDone,
  undoTask,
  type WriterSpec,
} from "./build.ts";
import { type MergeJob, statisticsTargets } from "./merge.ts";
import { runPool } from "./pool.ts";
import type { ConversionSummary, Progress } from "./convert.ts";

/** Options of {@link finalizeConversion}. */
export interface FinalizeOptions {
  /** Progress callback. */
  onProgress?: (p: Progress) => void;
  /** The caller already holds the output locks (a single-process conversion). */
  locked?: boolean;
  /** Worker threads for the merges (0 = this thread). Default: one per core, at most 16. */
  workers?: number;
  /** Publish coefficients outside the plausible ranges of their fields (normalization/plausible.ts). */
  allowImplausible?: boolean;
}

/**
 * Step 3: verify every task, merge, write coefficients, publish. Run again
 * after a kill at any point, it completes the conversion.
 */
export async function finalizeConversion(
  out: string,
  options: FinalizeOptions | ((p: Progress) => void) = {},
): Promise<Omit<ConversionSummary, "plan" | "seconds">> {
  const opts = typeof options === "function" ? { onProgress: options } : options;
  const { state, dir } = loadBuild(out);
  const lock = opts.locked ? undefined : lockOutputs({ out: state.out, norm: state.normPath }, "convert --finalize");
  try {
    assertNoRunningTasks(dir, state.stageOut);
    let sizes = { rawBytes: 0, storedBytes: 0 };
    if (!pathExists(join(dir, "finalized"))) {
      const { nanCounts, ...merged } = await mergeAndWrite(state, dir, opts);
      sizes = merged;
      // A fill value read as data (3.4e38) gives finite but absurd coefficients: the build stays for a rerun.
      if (!opts.allowImplausible) {
        refuseImplausible(state.stageNorm, state.normPath, { attrs: state.normAttrs, format: state.format });
      }
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

async function mergeAndWrite(
  state: BuildState,
  dir: string,
  opts: FinalizeOptions,
): Promise<{ rawBytes: number; storedBytes: number; nanCounts: Record<string, number> }> {
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
  const { format, layout } = state;
  const plane = layout.pointShape.reduce((a, b) => a * b, 1);
  const nm = layout.months.length, nf = layout.fields.length, ns = layout.fieldsSfc.length, nl = layout.levels.length;
  const globalMoments = (n: number, l: number) =>
    Array.from({ length: nm }, () => Array.from({ length: n }, () => Array.from({ length: l }, emptyMoments)));
  const gData = globalMoments(nf, nl), gSfc = globalMoments(ns, 1);
  // One merge per (field, level), its tasks in task order.
  const targets = statisticsTargets(state);
  const jobs = targets.map(({ target, tasks }, id): { kind: "merge" } & MergeJob => ({
    kind: "merge",
    id,
    ...target,
    buildDir: dir,
    tasks: tasks.map((t) => ({ id: t.id, values: (t.t1 - t.t0) * plane })),
  }));
  let rawBytes = 0, storedBytes = 0, merged = 0;
  const nanCounts: Record<string, number> = {};
  opts.onProgress?.({ phase: "finalize", done: 0, total: jobs.length, bytes: 0 });
  // Months that tasks finished alone leave only small headers to read: no worker is worth starting for them.
  await runPool(jobs, state.grid, targets.some((t) => t.shared) ? opts.workers : 0, (job, r) => {
    rawBytes += r.rawBytes;
    storedBytes += r.storedBytes;
    nanCounts[job.label.field] = (nanCounts[job.label.field] ?? 0) + r.nanCount;
    for (const [m, g] of r.months) (job.sfc ? gSfc : gData)[m][job.field][job.level] = g;
    opts.onProgress?.({ phase: "finalize", done: ++merged, total: jobs.length, bytes: rawBytes });
  });
  // Field order in nan_counts as in the store, whatever order the merges finished in.
  const ordered: Record<string, number> = {};
  for (const name of [...layout.fields, ...layout.fieldsSfc]) if (name in nanCounts) ordered[name] = nanCounts[name];
  const writer = (root: string, w: WriterSpec) => new ArrayWriter(root, w.path, format, w.spec);
  // Months with no data at all had no task: they keep empty moments (NaN coefficients).
  for (const ns of state.normSets) {
    writeGlobalCoefficients(
      { globalNorm: writer(ns.root, ns.globalNorm), globalNormSfc: writer(ns.root, ns.globalNormSfc) },
      layout,
      gData,
      gSfc,
    );
  }
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
  return { rawBytes, storedBytes, nanCounts: ordered };
}
