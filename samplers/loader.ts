/**
 * Batch loader: Deno Workers make the units of a batch (a field level for
 * every sample) straight into shared memory while the consumer runs, and
 * batches are delivered in index order. A batch is a pure function of
 * (seed, index), so any number of workers gives the same batches.
 *
 * Memory is bounded: field buffers come from a pool of at most
 * `bufferBytes` (default two batches: one held by the consumer, one being
 * made) and are reused. A delivered batch stays valid until the next
 * {@link BatchLoader.nextBatch} call, which hands its buffers back.
 *
 * @module
 */
import { MultifieldSampler, type SamplerConfig, type Unit, type UnitResult } from "./sampler.ts";
import type { Batch, BatchTimings, FieldBatch } from "./batch.ts";
import { fieldBytes } from "./batch.ts";
import { ConfigError, type ErrorKind, PipelineError } from "../errors.ts";
import { openRemoteSampler, runPrepared } from "./remote.ts";
import { remoteState, trimUrlCache, type UrlCacheOptions } from "../zarr/url_store.ts";

/** One unit as run by a thread. */
export interface UnitTrace {
  /** The unit. */
  unit: Unit;
  /** Worker (−1: the main thread). */
  worker: number;
  /** Start and end, absolute ms (timeOrigin + now: comparable across threads). */
  span: [number, number];
  /** Stage times. */
  timings: BatchTimings;
}

/** A delivered batch with where and when it was made. */
export interface LoadedBatch {
  /** The batch (valid until the next `nextBatch`). */
  batch: Batch;
  /** Its units. */
  units: UnitTrace[];
  /** First unit start and last unit end (absolute ms). */
  made: [number, number];
  /** How long the consumer waited for it (ms). */
  wait: number;
}

/** Options of {@link BatchLoader}. */
export interface LoaderOptions {
  /** Worker count (0: make batches on the calling thread). */
  workers: number;
  /** Bytes of batch buffers the loader may hold (at least one batch). Default two batches. */
  bufferBytes?: number;
  /** Index of the first batch delivered (a resumed training run starts where it stopped). Default 0. */
  firstBatch?: number;
  /** The URL cache, for stores given by URL (samplers/remote.ts). */
  cache?: UrlCacheOptions;
}

interface Pending {
  fields: (FieldBatch | undefined)[];
  results: (UnitResult | undefined)[];
  traces: UnitTrace[];
  left: number;
  resolve?: (b: LoadedBatch) => void;
  done?: LoadedBatch;
}

/** Loads batches 0, 1, 2, … (or from `firstBatch` on) of a sampler configuration. */
export class BatchLoader {
  private config: SamplerConfig;
  private readonly options: LoaderOptions;
  private sampler?: MultifieldSampler;
  private units: Unit[] = [];
  private pool: Worker[] = [];
  private busy: number[] = [];
  private readonly pending = new Map<number, Pending>();
  private readonly free: FieldBatch[][] = [];
  private fieldSizes: number[] = [];
  private held = 0;
  private limit = 0;
  /** Next unit to dispatch: batch and unit index. */
  private cursor = { batch: 0, unit: 0 };
  private next = 0;
  private delivered?: number;
  private failure?: Error;

  constructor(config: SamplerConfig, options: LoaderOptions) {
    const first = options.firstBatch ?? 0;
    if (!Number.isInteger(first) || first < 0) {
      throw new ConfigError("loader.firstBatch", `must be a non-negative integer (got ${first})`);
    }
    if (!Number.isInteger(options.workers) || options.workers < 0) {
      throw new ConfigError("loader.workers", `must be a non-negative integer (got ${options.workers})`);
    }
    this.cursor = { batch: first, unit: 0 };
    this.next = first;
    this.config = config;
    this.options = options;
  }

  /** Open the stores and start the workers. */
  async start(): Promise<void> {
    // Stores given by URL: their mirrors in the URL cache, whose chunks each unit downloads before it runs.
    this.config = await openRemoteSampler(this.config, this.options.cache);
    this.sampler = await runPrepared(() => new MultifieldSampler(this.config));
    this.units = this.sampler.units();
    const s = this.sampler;
    this.fieldSizes = s.slots.map((f) => fieldBytes(f.layout, f.tokenizer, f.levels.length, this.config.batchSize));
    const batchBytes = this.fieldSizes.reduce((a, b) => a + b, 0);
    this.limit = Math.max(batchBytes, this.options.bufferBytes ?? 2 * batchBytes);
    this.free.push(...s.slots.map(() => []));
    if (this.options.workers <= 0) return;
    this.pool = Array.from(
      { length: this.options.workers },
      () => new Worker(new URL("./worker.ts", import.meta.url).href, { type: "module" }),
    );
    this.busy = this.pool.map(() => 0);
    await Promise.all(this.pool.map((w, wi) =>
      new Promise<void>((resolve, reject) => {
        w.onmessage = (e: MessageEvent) => {
          const m = e.data;
          if (m.type === "ready") return resolve();
          if (m.type === "error") {
            this.fail(m.tagged ? pipelineError(m.tagged) : new Error(m.message));
            return reject(this.failure);
          }
          this.busy[wi]--;
          this.finished(m.batch, m.unit, wi, m.span, m.result);
          this.dispatch();
        };
        w.onerror = (e) => {
          e.preventDefault();
          this.fail(new Error(`loader worker failed: ${e.message}`));
          reject(this.failure);
        };
        w.postMessage({ type: "init", config: this.config, remote: remoteState() });
      })
    ));
    this.dispatch();
  }

  private fail(e: Error): void {
    this.failure ??= e;
    for (const p of this.pending.values()) p.resolve?.(undefined as never);
  }

  private entry(batch: number): Pending {
    let p = this.pending.get(batch);
    if (!p) {
      p = {
        fields: this.fieldSizes.map(() => undefined),
        results: this.units.map(() => undefined),
        traces: [],
        left: this.units.length,
      };
      this.pending.set(batch, p);
    }
    return p;
  }

  /** The field buffer of a batch, from the pool; undefined when the memory bound is reached. */
  private buffer(batch: number, field: number): FieldBatch | undefined {
    const p = this.entry(batch);
    if (p.fields[field]) return p.fields[field];
    let fb = this.free[field].pop();
    if (!fb) {
      if (this.held + this.fieldSizes[field] > this.limit) return undefined;
      const shared = this.pool.length > 0;
      fb = this.sampler!.allocate((n) => shared ? new SharedArrayBuffer(n) : new ArrayBuffer(n))[field];
      this.held += this.fieldSizes[field];
    }
    p.fields[field] = fb;
    return fb;
  }

  /** Hand units to idle workers, in order, as far as the buffer pool allows. */
  private dispatch(): void {
    while (!this.failure) {
      const wi = this.busy.findIndex((n) => n < 2);
      if (wi < 0) return;
      const { batch, unit } = this.cursor;
      const u = this.units[unit];
      const fb = this.buffer(batch, u.field);
      if (!fb) return;
      this.cursor = unit + 1 < this.units.length ? { batch, unit: unit + 1 } : { batch: batch + 1, unit: 0 };
      this.busy[wi]++;
      this.pool[wi].postMessage({ type: "unit", batch, unit, field: fb });
    }
  }

  private finished(batch: number, unit: number, worker: number, span: [number, number], result: UnitResult): void {
    const p = this.entry(batch);
    p.results[unit] = result;
    p.traces.push({ unit: this.units[unit], worker, span, timings: result.timings });
    if (--p.left > 0) return;
    const spans = p.traces.map((t) => t.span);
    p.done = {
      batch: this.sampler!.assemble(batch, p.fields.map((fb) => fb!), p.results.map((r) => r!)),
      units: p.traces,
      made: [Math.min(...spans.map((s) => s[0])), Math.max(...spans.map((s) => s[1]))],
      wait: 0,
    };
    p.resolve?.(p.done);
  }

  /** The next batch in index order; the previous one's buffers go back to the pool. */
  async nextBatch(): Promise<LoadedBatch> {
    if (this.failure) throw this.failure;
    if (this.delivered !== undefined) {
      const p = this.pending.get(this.delivered)!;
      p.fields.forEach((fb, field) => fb && this.free[field].push(fb));
      this.pending.delete(this.delivered);
    }
    const index = this.next++;
    this.delivered = index;
    if (this.pool.length === 0) return await this.local(index);
    this.dispatch();
    const t = performance.now();
    const p = this.entry(index);
    const loaded = p.done ?? await new Promise<LoadedBatch>((resolve) => (p.resolve = resolve));
    if (this.failure) throw this.failure;
    loaded.wait = performance.now() - t;
    return loaded;
  }

  /** Make batch `index` on this thread, unit by unit. */
  private async local(index: number): Promise<LoadedBatch> {
    for (const [i, u] of this.units.entries()) {
      const fb = this.buffer(index, u.field)!;
      const start = performance.timeOrigin + performance.now();
      const result = await runPrepared(() => this.sampler!.runUnit(index, u, fb));
      this.finished(index, i, -1, [start, performance.timeOrigin + performance.now()], result);
    }
    const done = this.pending.get(index)!.done!;
    done.wait = done.made[1] - done.made[0];
    return done;
  }

  /** Stop the workers (and bring a URL cache back within its bound). */
  close(): void {
    for (const w of this.pool) w.terminate();
    this.pool = [];
    trimUrlCache();
  }
}

/** Re-create a tagged error sent by a worker as its parts. */
function pipelineError(t: { kind: ErrorKind; path: string; problem: string; field?: string }): PipelineError {
  return new PipelineError(t.kind, t.path, t.problem, t.field === undefined ? undefined : { field: t.field });
}
