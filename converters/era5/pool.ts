/**
 * Runs the jobs of a conversion in Deno Workers (or inline with 0
 * workers), two in flight per worker: conversion tasks (each writes its
 * chunks and its sealed statistics file, and reports sizes and the seal)
 * and finalize's merges (one per field level). The first failure is the
 * one reported: the pool stops feeding jobs, terminates every worker and
 * rejects with that error (its class kept: an input error stays an
 * {@link InputError}).
 *
 * @module
 */
import { ConfigError, PipelineError } from "../../errors.ts";
import { type ConvertTask, runTask, TaskContext } from "./task.ts";
import { onObjectFetched } from "../../zarr/http.ts";
import { type StatsSeal, writeTaskStats } from "./task_stats.ts";
import { type MergeJob, type MergeResult, mergeTarget, type StatisticsTarget, writeMonthStatistics } from "./merge.ts";
import { PointMoments } from "../../normalization/moments.ts";
import type { Plan } from "./inventory.ts";

/** A conversion task to run, and where its statistics file goes. */
export interface ConvertJob {
  /** Job kind. */
  kind: "convert";
  /** The task's id. */
  id: number;
  /** The task. */
  task: ConvertTask;
  /** Path of its statistics file (written durably before the result is posted). */
  statsFile: string;
  /**
   * The months of its (field, level) that lie in this task alone, and where
   * their statistics go: the task writes them itself (finalize then has
   * nothing to merge for them).
   */
  finishes?: StatisticsTarget & { ownMonths: number[] };
}

/** What a finished conversion task reports (its statistics are in its file). */
export interface ConvertJobResult {
  /** Task id. */
  id: number;
  /** Decoded bytes written. */
  rawBytes: number;
  /** Encoded bytes written. */
  storedBytes: number;
  /** Size and CRC-32C of its statistics file, for the done marker. */
  seal: StatsSeal;
}

/** A job of the pool. */
export type PoolJob = ConvertJob | ({ kind: "merge" } & MergeJob);

/** The result of a job of kind `J`. */
export type JobResult<J extends PoolJob> = J extends ConvertJob ? ConvertJobResult : MergeResult;

/** Run one job in this thread (a worker's or the caller's). */
export async function runJob(job: PoolJob, ctx: TaskContext): Promise<ConvertJobResult | MergeResult> {
  if (job.kind === "merge") return mergeTarget(job);
  try {
    const r = await runTask(job.task, ctx);
    const written = new Set<number>();
    for (const p of r.partials) {
      if (!job.finishes?.ownMonths.includes(p.month)) continue;
      const points = new PointMoments(p.count.length, p.count, p.mean, p.m2);
      writeMonthStatistics(job.finishes, p.month, p.global, points, p.coefficients);
      written.add(p.month);
    }
    const seal = writeTaskStats(job.statsFile, r, written);
    return { id: r.id, rawBytes: r.rawBytes, storedBytes: r.storedBytes, seal };
  } finally {
    ctx.returnSums(); // the result's arrays are written (or the task failed): the next task reuses them
  }
}

/** An error as a worker posts it (errors do not survive `postMessage` with their class). */
export interface PostedError {
  /** Error class name. */
  name: string;
  /** Full message. */
  message: string;
  /** Pipeline error kind, when one. */
  kind?: string;
  /** Path of a pipeline error. */
  path?: string;
  /** Bare problem of a pipeline error. */
  problem?: string;
  /** Field of a pipeline error. */
  field?: string;
}

/** Flatten an error for `postMessage`. */
export function postError(e: unknown): PostedError {
  if (e instanceof PipelineError) {
    return { name: e.name, message: e.message, kind: e.kind, path: e.path, problem: e.problem, field: e.field };
  }
  return { name: e instanceof Error ? e.name : "Error", message: e instanceof Error ? e.message : String(e) };
}

/** Rebuild a posted error with its pipeline class. */
export function revive(p: PostedError): Error {
  if (p.kind && p.path !== undefined && p.problem !== undefined) {
    const e = new PipelineError(p.kind as PipelineError["kind"], p.path, p.problem, { field: p.field });
    e.name = p.name;
    return e;
  }
  const e = new Error(p.message);
  e.name = p.name;
  return e;
}

/** Resolve the worker count: default one per core, at most 16; never more than the tasks. */
export function workerCount(workers: number | undefined, tasks: number): number {
  if (workers !== undefined && !(Number.isInteger(workers) && workers >= 0)) {
    throw new ConfigError("--workers", `must be a whole number ≥ 0 (got ${workers})`);
  }
  return Math.min(workers ?? Math.min(16, navigator.hardwareConcurrency || 1), tasks);
}

/**
 * Claim a job right before it runs: returns its release function, or
 * undefined to skip it (another run finished it). May throw (held elsewhere).
 */
export type ClaimJob<J extends PoolJob> = (j: J) => (() => void) | undefined;

/** Conversion workers started before their jobs are known, so that loading their modules overlaps the scan. */
export class StartedWorkers {
  private readonly workers: Worker[];
  /** The first error a worker reported before it was handed out. */
  private error: string | undefined;

  /** Start `n` workers (none when `n` ≤ 0). */
  constructor(n: number) {
    this.workers = Array.from({ length: Math.max(0, n) }, () => {
      const w = newWorker();
      // Until runPool takes over: an error here (a worker that cannot load) is kept for it, not thrown at the event loop.
      w.onerror = (e) => {
        e.preventDefault();
        this.error ??= e.message;
      };
      return w;
    });
  }

  /** Hand out up to `n` of the workers (those not handed out are terminated); throws the error one reported. */
  take(n: number): Worker[] {
    const taken = this.workers.splice(0, Math.max(0, n));
    this.close();
    if (this.error !== undefined) {
      for (const w of taken) w.terminate();
      throw new Error(`conversion worker failed: ${this.error}`);
    }
    return taken;
  }

  /** Terminate the workers not handed out. */
  close(): void {
    for (const w of this.workers.splice(0)) w.terminate();
  }
}

function newWorker(): Worker {
  return new Worker(new URL("./worker.ts", import.meta.url).href, { type: "module" });
}

/** Options of {@link runPool}. */
export interface PoolOptions<J extends PoolJob> {
  /** Stop feeding jobs (SIGINT); the jobs in flight finish or are terminated. */
  signal?: AbortSignal;
  /**
   * Called before a job is started; its release after its result was
   * handled, or when the pool stops.
   */
  claim?: ClaimJob<J>;
  /** Workers started ahead (used first; more are started if the run needs them). */
  started?: StartedWorkers;
  /** Called as cloud-store objects come in (bytes, objects), from any worker. */
  onFetched?: (bytes: number, objects: number) => void;
}

/** The jobs claimed and not yet released (see {@link PoolOptions.claim}). */
class Claims<J extends PoolJob> {
  private readonly held = new Map<number, () => void>();
  constructor(private readonly claim: ClaimJob<J> | undefined) {}

  /** Claim `t`; false when it is to be skipped. */
  take(t: J): boolean {
    if (!this.claim) return true;
    const r = this.claim(t);
    if (r) this.held.set(t.id, r);
    return r !== undefined;
  }

  /** Release the claim of job `id`. */
  release(id: number): void {
    this.held.get(id)?.();
    this.held.delete(id);
  }

  /** Release every claim still held. */
  releaseAll(): void {
    for (const id of [...this.held.keys()]) this.release(id);
  }
}

/**
 * Run `tasks` (jobs), handing each result to `onResult` on this thread, in
 * completion order.
 */
export async function runPool<J extends PoolJob>(
  tasks: J[],
  grid: Plan["grid"],
  workers: number | undefined,
  onResult: (j: J, r: JobResult<J>) => void,
  opts: PoolOptions<J> = {},
): Promise<void> {
  const { signal } = opts;
  const n = workerCount(workers, tasks.length);
  const claims = new Claims(opts.claim);
  const ahead = opts.started?.take(n) ?? [];
  if (n <= 0) return await runHere(tasks, grid, onResult, claims, signal, opts.onFetched);
  const pool = [...ahead, ...Array.from({ length: n - ahead.length }, newWorker)];
  for (const w of pool) w.postMessage({ type: "init", grid });
  const feed: Feed<J> = {
    tasks,
    next: 0,
    failed: false,
    byId: new Map(tasks.map((t) => [t.id, t])),
    claims,
    onResult,
    onFetched: opts.onFetched,
  };
  let onAbort: (() => void) | undefined;
  try {
    const aborted = new Promise<never>((_, reject) => {
      onAbort = () => reject(signal!.reason);
      signal?.addEventListener("abort", onAbort, { once: true });
    });
    aborted.catch(() => {});
    const work = Promise.all(pool.map((w) => driveWorker(w, feed)));
    await Promise.race([work, aborted]);
  } finally {
    if (onAbort) signal?.removeEventListener("abort", onAbort);
    for (const w of pool) w.terminate();
    claims.releaseAll();
    // Termination is carried out by this thread's event loop: give it a turn before any cleanup
    // removes the staged stores, or a worker's last write could make their directories again.
    if (feed.failed || signal?.aborted) await new Promise((r) => setTimeout(r, 250));
  }
}

/** The jobs on this thread, one after the other (no workers). */
async function runHere<J extends PoolJob>(
  tasks: J[],
  grid: Plan["grid"],
  onResult: (j: J, r: JobResult<J>) => void,
  claims: Claims<J>,
  signal: AbortSignal | undefined,
  onFetched?: (bytes: number, objects: number) => void,
): Promise<void> {
  const ctx = new TaskContext(grid);
  if (onFetched) onObjectFetched((bytes) => onFetched(bytes, 1));
  try {
    for (const t of tasks) {
      // A turn of the event loop between tasks, so that a SIGINT handler gets to run.
      if (signal) await new Promise((r) => setTimeout(r, 0));
      signal?.throwIfAborted();
      if (!claims.take(t)) continue;
      onResult(t, await runJob(t, ctx) as JobResult<J>);
      claims.release(t.id);
    }
  } finally {
    onObjectFetched(undefined);
    ctx.close();
    claims.releaseAll();
  }
}

/** What the workers of one pool run share: the job list, the next job to hand out, whether one failed. */
interface Feed<J extends PoolJob> {
  tasks: J[];
  /** Index of the next job to hand out. */
  next: number;
  /** A job failed: no worker is fed any more (the first error wins). */
  failed: boolean;
  byId: Map<number, J>;
  claims: Claims<J>;
  /** Cloud-store downloads a worker reported (see {@link PoolOptions.onFetched}). */
  onFetched?: (bytes: number, objects: number) => void;
  onResult: (j: J, r: JobResult<J>) => void;
}

/** Feed one worker jobs until none is left; rejects with the first error of any job it ran or handled. */
function driveWorker<J extends PoolJob>(w: Worker, feed: Feed<J>): Promise<void> {
  const { tasks, claims } = feed;
  return new Promise<void>((resolveAll, reject) => {
    const fail = (e: unknown) => {
      feed.failed = true; // stop feeding every worker: the first error wins
      reject(e);
    };
    // Two tasks in flight per worker: the next one is queued while the
    // main thread handles a result, so workers never wait for it.
    let inFlight = 0;
    const feedMore = () => {
      while (!feed.failed && inFlight < 2 && feed.next < tasks.length) {
        const t = tasks[feed.next++];
        try {
          if (!claims.take(t)) continue;
        } catch (e) {
          return fail(e);
        }
        w.postMessage({ type: "job", job: t });
        inFlight++;
      }
      if (inFlight === 0) resolveAll();
    };
    w.onmessage = (e: MessageEvent) => {
      const msg = e.data;
      if (msg.type === "error") return fail(revive(msg.error));
      if (msg.type === "fetched") return feed.onFetched?.(msg.bytes, msg.objects);
      inFlight--;
      if (feed.failed) return;
      feedMore();
      try {
        feed.onResult(feed.byId.get(msg.result.id)!, msg.result);
        claims.release(msg.result.id);
      } catch (err) {
        return fail(err);
      }
      if (inFlight === 0 && feed.next >= tasks.length) resolveAll();
    };
    w.onerror = (e) => {
      e.preventDefault();
      fail(new Error(`conversion worker failed: ${e.message}`));
    };
    feedMore();
  });
}
