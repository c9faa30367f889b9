/**
 * Finalize's work for one (field, level): merge its tasks' partial
 * statistics month by month (in task order, so any split of the tasks
 * gives the same bytes), check them, and write the per-point statistics
 * and local coefficients of that field level. Targets are independent, so
 * finalize runs them in the worker pool; what comes back is small (global
 * moments per month, counts).
 *
 * @module
 */
import { StoreError } from "../../errors.ts";
import { ArrayWriter, type ZarrFormat } from "../../zarr/store.ts";
import { mergeMoments, type Moments, PointMoments } from "../../normalization/moments.ts";
import { writeLocalCoefficientChunk } from "../../normalization/sets.ts";
import { cleanupAfter } from "../output.ts";
import { readDone, statsPath, undoTask, type WriterSpec } from "./build.ts";
import { type ReadBuffer, readTaskStats } from "./task_stats.ts";
import type { TaskResult } from "./task.ts";

/** One (field, level) to merge: everything a worker needs, as plain data. */
export interface MergeJob {
  /** Job id (the target's index). */
  id: number;
  /** Build directory holding the tasks' statistics and done markers. */
  buildDir: string;
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
  /** The target's tasks, in task order, with the number of values each covers. */
  tasks: { id: number; values: number }[];
  /** Writers of the per-point count, mean and M2 arrays. */
  pointStats: WriterSpec[];
  /** Local coefficient arrays of every coefficient set: store root and its two arrays. */
  localSets: { root: string; norm: WriterSpec; normSfc: WriterSpec }[];
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

/** Statistics of a task after checking them against its done marker; a bad task is undone and named. */
function readVerified(dir: string, id: number, plane: number, into: ReadBuffer): TaskResult {
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
 * Buffers of this thread, reused by every merge: the first task's file (its
 * arrays become the accumulators), each later one's, the coefficient chunk.
 */
let coefficients = new Float32Array(0);
const firstRead: ReadBuffer = { bytes: new Uint8Array(0) }, laterRead: ReadBuffer = { bytes: new Uint8Array(0) };

/** Merge one target's statistics and write its per-point statistics and local coefficients. */
export function mergeTarget(job: MergeJob): MergeResult {
  const { plane } = job;
  let rawBytes = 0, storedBytes = 0;
  const months = new Map<number, { global: Moments; points: PointMoments }>();
  for (const [k, t] of job.tasks.entries()) {
    const r = readVerified(job.buildDir, t.id, plane, k === 0 ? firstRead : laterRead);
    rawBytes += r.rawBytes;
    storedBytes += r.storedBytes;
    for (const p of r.partials) {
      // Merge into the first read's arrays; a month first seen later is copied out of the reused buffer.
      const own = (x: Float64Array) => (k === 0 ? x : x.slice());
      const acc = months.get(p.month);
      if (!acc) {
        months.set(p.month, {
          global: p.global,
          points: new PointMoments(plane, own(p.count), own(p.mean), own(p.m2)),
        });
      } else {
        const pm = new PointMoments(plane, p.count, p.mean, p.m2);
        acc.global = mergeMoments(acc.global, p.global);
        acc.points.merge(pm);
      }
    }
  }
  // NaN values (sst over land, gaps) are allowed and counted per field.
  const values = job.tasks.reduce((a, t) => a + t.values, 0);
  const finite = [...months.values()].reduce((a, acc) => a + acc.global.count, 0);
  const writer = (root: string, w: WriterSpec) => new ArrayWriter(root, w.path, job.format, w.spec);
  const pointStats = job.pointStats.map((w) => writer(job.stageOut, w));
  const sets = job.localSets.map((s) => ({ norm: writer(s.root, s.norm), normSfc: writer(s.root, s.normSfc) }));
  const sorted = [...months].sort((a, b) => a[0] - b[0]);
  for (const [m, acc] of sorted) {
    const g = acc.global;
    if (g.count > 0 && ![g.mean, g.m2, g.min, g.max].every(Number.isFinite)) {
      const where = job.label.level === undefined ? "" : ` level ${job.label.level}`;
      throw new StoreError(
        job.stageOut,
        `statistics of ${job.label.field}${where} in month ${
          job.months[m]
        } are not finite (mean ${g.mean}, min ${g.min}, max ${g.max}): values too large for float64 statistics`,
        { field: job.label.field },
      );
    }
    const coords = job.sfc ? [m, job.field, 0, 0] : [m, job.field, job.level, 0, 0];
    pointStats[0].writeChunk(coords, acc.points.count);
    pointStats[1].writeChunk(coords, acc.points.mean);
    pointStats[2].writeChunk(coords, acc.points.m2);
    if (coefficients.length < 2 * plane) coefficients = new Float32Array(2 * plane);
    const both = acc.points.coefficientsInto(coefficients);
    for (const set of sets) writeLocalCoefficientChunk(set, job.sfc, m, job.field, job.level, both);
  }
  return {
    id: job.id,
    rawBytes,
    storedBytes,
    nanCount: values - finite,
    months: sorted.map(([m, a]) => [m, a.global]),
  };
}
