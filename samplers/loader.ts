/**
 * Batch loader: prefetches batches in Deno Workers while the consumer
 * runs, and delivers them in index order. Batch i is a pure function of
 * (seed, i), so any number of workers gives the same batches.
 *
 * @module
 */
import { type Batch, MultifieldSampler, type SamplerConfig } from "./sampler.ts";
import type { ReadStats } from "./cache.ts";

/** A delivered batch with where and when it was made. */
export interface LoadedBatch {
  /** The batch. */
  batch: Batch;
  /** Worker that made it (−1: the main thread). */
  worker: number;
  /** When it was started and finished (absolute ms: timeOrigin + now, comparable across threads). */
  made: [number, number];
  /** How long the consumer waited for it (ms). */
  wait: number;
  /** That worker's read counters after the batch. */
  stats: ReadStats;
}

/** Options of {@link BatchLoader}. */
export interface LoaderOptions {
  /** Worker count (0: make batches on the calling thread). */
  workers: number;
  /** Batches requested ahead per worker. Default 2. */
  prefetch?: number;
}

/** Loads batches 0, 1, 2, … of a sampler configuration. */
export class BatchLoader {
  private readonly config: SamplerConfig;
  private readonly options: LoaderOptions;
  private pool: Worker[] = [];
  private local?: MultifieldSampler;
  private next = 0;
  private requested = 0;
  private readonly pending = new Map<number, Promise<LoadedBatch>>();
  private readonly resolvers = new Map<number, (b: LoadedBatch) => void>();
  private failure?: Error;

  constructor(config: SamplerConfig, options: LoaderOptions) {
    this.config = config;
    this.options = options;
  }

  /** Start the workers. */
  async start(): Promise<void> {
    if (this.options.workers <= 0) {
      this.local = new MultifieldSampler(this.config);
      return;
    }
    this.pool = Array.from(
      { length: this.options.workers },
      () => new Worker(new URL("./worker.ts", import.meta.url).href, { type: "module" }),
    );
    await Promise.all(this.pool.map((w, wi) =>
      new Promise<void>((resolve, reject) => {
        w.onmessage = (e: MessageEvent) => {
          const m = e.data;
          if (m.type === "ready") return resolve();
          if (m.type === "error") {
            this.failure = new Error(m.message);
            for (const r of this.resolvers.values()) r(undefined as never);
            return reject(this.failure);
          }
          this.resolvers.get(m.batch.index)?.({
            batch: m.batch,
            worker: wi,
            made: [m.start, m.end],
            wait: 0,
            stats: m.stats,
          });
        };
        w.onerror = (e) => {
          e.preventDefault();
          reject(new Error(`loader worker failed: ${e.message}`));
        };
        w.postMessage({ type: "init", config: this.config });
      })
    ));
    this.fill();
  }

  private fill(): void {
    const ahead = (this.options.prefetch ?? 2) * this.pool.length;
    while (this.requested < this.next + ahead) {
      const index = this.requested++;
      const w = this.pool[index % this.pool.length];
      this.pending.set(index, new Promise((resolve) => this.resolvers.set(index, resolve)));
      w.postMessage({ type: "batch", index });
    }
  }

  /** The next batch in index order. */
  async nextBatch(): Promise<LoadedBatch> {
    const index = this.next++;
    if (this.local) {
      const start = performance.timeOrigin + performance.now();
      const batch = this.local.batch(index);
      const end = performance.timeOrigin + performance.now();
      return { batch, worker: -1, made: [start, end], wait: end - start, stats: { ...this.local.cache.stats } };
    }
    this.fill();
    const t = performance.now();
    const loaded = await this.pending.get(index)!;
    if (this.failure) throw this.failure;
    this.pending.delete(index);
    this.resolvers.delete(index);
    loaded.wait = performance.now() - t;
    return loaded;
  }

  /** Stop the workers. */
  close(): void {
    for (const w of this.pool) w.terminate();
    this.pool = [];
  }
}
