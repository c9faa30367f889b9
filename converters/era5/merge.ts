/**
 * The statistics of one (field, level): where its per-point statistics and
 * local coefficients go, writing one month of them, and finalize's merge of
 * the months that several tasks share.
 *
 * A month that lies wholly in one task is finished by that task (it writes
 * the month's per-point statistics and coefficients itself and keeps only
 * the month's global moments in its statistics file); the months split
 * across tasks are merged here at finalize, in task order, so any split of
 * the tasks gives the same bytes. Targets are independent, so finalize runs
 * them in the worker pool; what comes back is small (global moments, counts).
 *
 * @module
 */
import { StoreError } from "../../errors.ts";
import type { ZarrFormat } from "../../zarr/metadata.ts";
import { ArrayWriter } from "../../zarr/writer.ts";
import { adviseHugePages } from "../../native/malloc.ts";
import { mergeMoments, type Moments, PointMoments } from "../../normalization/moments.ts";
import { monthLabel, writeLocalCoefficientChunk } from "../../normalization/sets.ts";
import { cleanupAfter } from "../output.ts";
import { type BuildState, readDone, statsPath, undoTask, type WriterSpec } from "./build.ts";
import type { ConvertTask } from "./task.ts";
import { type ReadBuffer, readTaskStats, type TaskStatistics } from "./task_stats.ts";

/** Where the statistics of one (field, level) go, as plain data (it travels to workers). */
export interface StatisticsTarget {
  /** Staged data store (named in errors). */
  stageOut: string;
  /** Zarr format of both stores. */
  format: ZarrFormat;
  /** Points per plane. */
  plane: number;
  /** Surface field (`data_sfc`) or field with levels (`data`). */
  sfc: boolean;
  /** Field index in its array. */
  field: number;
  /** Level index (0 for surface fields). */
  level: number;
  /** Field name, and level label for messages (undefined for surface fields). */
  label: { field: string; level?: number };
  /** Month labels (YYYY-MM) by month index, for messages. */
  months: string[];
  /** Writers of the per-point count, mean and M2 arrays. */
  pointStats: WriterSpec[];
  /** Local coefficient arrays of every coefficient set: store root and its two arrays. */
  localSets: { root: string; norm: WriterSpec; normSfc: WriterSpec }[];
}

/**
 * Every (field, level) of a build with its tasks (in task order), the
 * months each task has alone, and whether any month is shared by tasks
 * (then finalize has per-point sums to merge).
 */
export function statisticsTargets(
  state: BuildState,
): { target: StatisticsTarget; tasks: ConvertTask[]; ownMonths: Map<number, number[]>; shared: boolean }[] {
  const { layout } = state;
  const plane = layout.pointShape.reduce((a, b) => a * b, 1);
  const months = layout.months.map(monthLabel);
  const byTarget = new Map<string, ConvertTask[]>();
  for (const t of state.tasks) {
    const key = `${t.target.path}:${t.target.prefix.join(",")}`;
    const list = byTarget.get(key);
    if (list) list.push(t);
    else byTarget.set(key, [t]);
  }
  return [...byTarget.values()].map((tasks) => {
    const sfc = tasks[0].target.path === "data_sfc";
    const [field, level] = sfc ? [tasks[0].target.prefix[0], 0] : tasks[0].target.prefix;
    // Which tasks touch each month: a month touched by one task only is that task's to finish.
    const touching = new Map<number, number[]>();
    for (const t of tasks) {
      for (const m of new Set(t.months)) touching.set(m, [...(touching.get(m) ?? []), t.id]);
    }
    const ownMonths = new Map<number, number[]>();
    for (const [m, ids] of touching) if (ids.length === 1) ownMonths.set(ids[0], [...(ownMonths.get(ids[0]) ?? []), m]);
    const target: StatisticsTarget = {
      stageOut: state.stageOut,
      format: state.format,
      plane,
      sfc,
      field,
      level,
      label: sfc ? { field: layout.fieldsSfc[field] } : { field: layout.fields[field], level: layout.levels[level] },
      months,
      pointStats: sfc ? state.writers.pointSfc : state.writers.pointData,
      localSets: state.normSets.map((n) => ({ root: n.root, norm: n.norm, normSfc: n.normSfc })),
    };
    return { target, tasks, ownMonths, shared: [...touching.values()].some((ids) => ids.length > 1) };
  });
}

/** Finalize's merge of one (field, level). */
export interface MergeJob extends StatisticsTarget {
  /** Job id (the target's index). */
  id: number;
  /** Build directory holding the tasks' statistics and done markers. */
  buildDir: string;
  /** The target's tasks, in task order, with the number of values each covers. */
  tasks: { id: number; values: number }[];
}

/** What a merged target reports back. */
export interface MergeResult {
  /** Job id. */
  id: number;
  /** Decoded bytes its tasks wrote. */
  rawBytes: number;
  /** Encoded bytes its tasks wrote. */
  storedBytes: number;
  /** Values that were NaN (no finite value). */
  nanCount: number;
  /** Global moments of each month with data, by month index. */
  months: [number, Moments][];
}

/** Coefficient chunk buffer of this thread, reused by every month written. */
let coefficientBuffer = new Float32Array(0);

/**
 * Write one month of a target: its per-point count, mean and M2 and the
 * local coefficients of every set (from `planes`, mean then std as
 * float32, when the caller has them; else computed from `points`).
 * Statistics that are not finite (values too large for float64) are a
 * {@link StoreError} naming field, level, month.
 */
export function writeMonthStatistics(
  target: StatisticsTarget,
  month: number,
  global: Moments,
  points: PointMoments,
  planes?: Float32Array,
): void {
  if (global.count > 0 && ![global.mean, global.m2, global.min, global.max].every(Number.isFinite)) {
    const where = target.label.level === undefined ? "" : ` level ${target.label.level}`;
    throw new StoreError(
      target.stageOut,
      `statistics of ${target.label.field}${where} in month ${
        target.months[month]
      } are not finite (mean ${global.mean}, min ${global.min}, max ${global.max}): values too large for float64 statistics`,
      { field: target.label.field },
    );
  }
  const writer = (root: string, w: WriterSpec) => new ArrayWriter(root, w.path, target.format, w.spec);
  const coords = target.sfc ? [month, target.field, 0, 0] : [month, target.field, target.level, 0, 0];
  const [count, mean, m2] = target.pointStats.map((w) => writer(target.stageOut, w));
  count.writeChunk(coords, points.count);
  mean.writeChunk(coords, points.mean);
  m2.writeChunk(coords, points.m2);
  let both = planes;
  if (!both) {
    if (coefficientBuffer.length < 2 * target.plane) {
      adviseHugePages(coefficientBuffer = new Float32Array(2 * target.plane));
    }
    both = points.coefficientsInto(coefficientBuffer);
  }
  for (const s of target.localSets) {
    const set = { norm: writer(s.root, s.norm), normSfc: writer(s.root, s.normSfc) };
    writeLocalCoefficientChunk(set, target.sfc, month, target.field, target.level, both);
  }
}

/** Statistics of a task after checking them against its done marker; a bad task is undone and named. */
function readVerified(dir: string, id: number, plane: number, into: ReadBuffer): TaskStatistics {
  try {
    return readTaskStats(statsPath(dir, id), plane, readDone(dir, id), into);
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

/**
 * Read buffers of this thread, reused by every merge: the first task's file
 * (its arrays become the accumulators) and each later one's.
 */
const firstRead: ReadBuffer = { bytes: new Uint8Array(0) }, laterRead: ReadBuffer = { bytes: new Uint8Array(0) };

/** Merge one target's shared months and write them; collect every month's global moments. */
export function mergeTarget(job: MergeJob): MergeResult {
  const { plane } = job;
  let rawBytes = 0, storedBytes = 0;
  const months = new Map<number, { global: Moments; points?: PointMoments }>();
  for (const [k, t] of job.tasks.entries()) {
    const r = readVerified(job.buildDir, t.id, plane, k === 0 ? firstRead : laterRead);
    rawBytes += r.rawBytes;
    storedBytes += r.storedBytes;
    for (const p of r.months) {
      const acc = months.get(p.month);
      if (!acc) {
        // Merge into the first read's arrays; a month first seen later is copied out of the reused buffer.
        const own = (x: Float64Array) => (k === 0 ? x : x.slice());
        const points = p.points && new PointMoments(plane, own(p.points.count), own(p.points.mean), own(p.points.m2));
        months.set(p.month, { global: p.global, points });
      } else if (!acc.points || !p.points) {
        // A month its task wrote itself belongs to that task alone: another task with it means a damaged build.
        throw new StoreError(
          statsPath(job.buildDir, t.id),
          `month ${
            job.months[p.month]
          } of ${job.label.field} appears in more than one task, one of which finished it alone`,
        );
      } else {
        acc.global = mergeMoments(acc.global, p.global);
        acc.points.merge(new PointMoments(plane, p.points.count, p.points.mean, p.points.m2));
      }
    }
  }
  // NaN values (sst over land, gaps) are allowed and counted per field.
  const values = job.tasks.reduce((a, t) => a + t.values, 0);
  const finite = [...months.values()].reduce((a, acc) => a + acc.global.count, 0);
  const sorted = [...months].sort((a, b) => a[0] - b[0]);
  for (const [m, acc] of sorted) if (acc.points) writeMonthStatistics(job, m, acc.global, acc.points);
  return {
    id: job.id,
    rawBytes,
    storedBytes,
    nanCount: values - finite,
    months: sorted.map(([m, a]) => [m, a.global]),
  };
}
