/**
 * Data-loader profiling: where each batch's time goes (reading, decoding,
 * normalizing, tokenizing, masking in the workers, summed over its units;
 * waiting, hand-over and the consumer on the main thread), with totals,
 * and a Chrome trace-event file (Perfetto, chrome://tracing) with one
 * track per worker and one slice per unit (a field level of the batch).
 *
 * @module
 */
import { BatchLoader, type LoadedBatch } from "./loader.ts";
import type { Batch, SamplerConfig } from "./sampler.ts";

/** Options of {@link profileLoader}. */
export interface ProfileOptions {
  /** Batches to load. */
  batches: number;
  /** Loader workers. */
  workers: number;
  /** A stand-in consumer (a training step) taking this many ms per batch. Default 0. */
  consumerMs?: number;
  /** The stand-in keeps a CPU core busy (a CPU backend) instead of waiting (a GPU step). Default false. */
  consumerCpu?: boolean;
  /**
   * A real consumer (a training step) run on each batch instead of the
   * stand-in; it may return the ms of its phases (forward, backward, …),
   * which go into the row's `model` and onto the trace's model track.
   */
  consumer?: (batch: Batch, index: number) => Promise<Record<string, number> | void> | Record<string, number> | void;
}

/** One batch's row of the report (ms). */
export interface ProfileRow {
  /** Batch index. */
  batch: number;
  /** Workers that made it (−1 = main thread). */
  workers: number[];
  /** The consumer waited this long for the batch. */
  wait: number;
  /** Reading stored chunk bytes. */
  read: number;
  /** Decompressing and unshuffling chunks. */
  decode: number;
  /** Normalizing. */
  normalize: number;
  /** Tokenizing. */
  tokenize: number;
  /** Masking. */
  mask: number;
  /** From the worker finishing to the consumer holding the batch. */
  handover: number;
  /** The consumer. */
  consumer: number;
  /** The real consumer's phases (ms), when it reports them. */
  model?: Record<string, number>;
}

/** The profile. */
export interface Profile {
  /** Per batch. */
  rows: ProfileRow[];
  /** Sums over batches. */
  totals: Omit<ProfileRow, "batch" | "workers" | "model">;
  /** Wall time, ms. */
  wall: number;
  /** Samples per second delivered. */
  samplesPerSecond: number;
  /** Bytes decoded / bytes delivered over all workers. */
  readAmplification: number;
  /** Chrome trace events. */
  trace: { traceEvents: Record<string, unknown>[] };
}

/** Trace track of the real consumer's phases. */
const MODEL_TRACK = 1000;

/** Worker stages, in the order a unit runs them. */
const STAGES = ["read", "decode", "tokenize", "normalize", "mask"] as const;
/** Report columns. */
const KEYS = ["wait", ...STAGES, "handover", "consumer"] as const;

/** A stand-in training step: sleeps, as a thread waiting on its GPU does; `cpu` spins instead (a CPU backend). */
async function consume(ms: number, cpu: boolean): Promise<void> {
  if (!cpu) {
    await new Promise((r) => setTimeout(r, ms));
    return;
  }
  const end = performance.now() + ms;
  while (performance.now() < end) { /* busy, as a CPU training step */ }
}

/** Run the loader for `batches` batches and report where the time went. */
export async function profileLoader(config: SamplerConfig, opts: ProfileOptions): Promise<Profile> {
  const loader = new BatchLoader(config, { workers: opts.workers });
  const events: TraceEvent[] = [];
  const rows: ProfileRow[] = [];
  const t0 = now();
  await loader.start();
  let decoded = 0, delivered = 0;
  try {
    for (let i = 0; i < opts.batches; i++) {
      const row = await profileBatch(loader, opts, i, events);
      decoded += row.bytesDecoded;
      delivered += row.bytesDelivered;
      rows.push(row.row);
    }
  } finally {
    loader.close();
  }
  const wall = now() - t0;
  const totals = Object.fromEntries(KEYS.map((k) => [k, rows.reduce((a, r) => a + r[k], 0)])) as Profile["totals"];
  events.push(...threadNames(opts));
  return {
    rows,
    totals,
    wall,
    samplesPerSecond: (opts.batches * config.batchSize) / (wall / 1000),
    readAmplification: delivered ? decoded / delivered : 0,
    trace: { traceEvents: events },
  };
}

/** A Chrome trace event. */
type TraceEvent = Record<string, unknown>;

/** Absolute ms, comparable across threads (as the loader's unit spans). */
function now(): number {
  return performance.timeOrigin + performance.now();
}

/** A complete ("X") trace slice on track `tid`, from `start` for `dur` ms (at least 1 µs). */
function slice(name: string, tid: number, start: number, dur: number, args: Record<string, unknown> = {}): TraceEvent {
  return {
    name,
    ph: "X",
    pid: 1,
    tid,
    ts: Math.round(start * 1000),
    dur: Math.max(1, Math.round(dur * 1000)),
    args,
  };
}

/** Wait for batch `i`, run the consumer on it, trace both; its row and byte counters. */
async function profileBatch(
  loader: BatchLoader,
  opts: ProfileOptions,
  i: number,
  events: TraceEvent[],
): Promise<{ row: ProfileRow; bytesDecoded: number; bytesDelivered: number }> {
  const askedAt = now();
  const loaded = await loader.nextBatch();
  const got = now();
  const { timings, stats } = loaded.batch;
  events.push(...unitSlices(loaded, i));
  const local = loaded.units.every((u) => u.worker < 0);
  // Time from a finished batch to the consumer holding it, not counting time it sat ready while the consumer was busy.
  const handover = local ? 0 : Math.max(0, got - Math.max(loaded.made[1], askedAt));
  events.push(slice("wait", 0, askedAt, got - askedAt, { batch: i }));
  const c0 = now();
  let model: Record<string, number> | undefined;
  if (opts.consumer) model = (await opts.consumer(loaded.batch, i)) ?? undefined;
  else if (opts.consumerMs) await consume(opts.consumerMs, opts.consumerCpu ?? false);
  const consumer = now() - c0;
  events.push(slice("consumer", 0, c0, consumer, { batch: i }));
  // The consumer's phases one after another on the model track, from the consumer's start.
  let m0 = c0;
  for (const [phase, ms] of Object.entries(model ?? {})) {
    (events.push(slice(phase, MODEL_TRACK, m0, ms, { batch: i })), m0 += ms);
  }
  const row: ProfileRow = {
    batch: i,
    workers: [...new Set(loaded.units.map((u) => u.worker))].sort(),
    wait: local ? 0 : got - askedAt,
    ...timings,
    handover,
    consumer,
    ...(model ? { model } : {}),
  };
  return { row, bytesDecoded: stats.bytesDecoded, bytesDelivered: stats.bytesDelivered };
}

/** Per unit of batch `i`: a slice for the unit on its worker's track, then one per stage in the order they ran. */
function unitSlices(loaded: LoadedBatch, i: number): TraceEvent[] {
  const events: TraceEvent[] = [];
  for (const u of loaded.units) {
    const tid = u.worker + 1;
    events.push(
      slice(`unit ${u.unit.field}:${u.unit.levels.join(",")}`, tid, u.span[0], u.span[1] - u.span[0], { batch: i }),
    );
    let t = u.span[0];
    for (const stage of STAGES) {
      events.push(slice(stage, tid, t, u.timings[stage], { batch: i }));
      t += u.timings[stage];
    }
  }
  return events;
}

/** The tracks' names: the consumer, the model's phases (with a real consumer), one per loader worker. */
function threadNames(opts: ProfileOptions): TraceEvent[] {
  return [
    { name: "thread_name", ph: "M", pid: 1, tid: 0, args: { name: "consumer (main)" } },
    ...(opts.consumer ? [{ name: "thread_name", ph: "M", pid: 1, tid: MODEL_TRACK, args: { name: "model" } }] : []),
    ...Array.from({ length: Math.max(1, opts.workers) }, (_, w) => ({
      name: "thread_name",
      ph: "M",
      pid: 1,
      tid: w + 1,
      args: { name: `loader worker ${w}` },
    })),
  ];
}

/** The report as text: one row per batch, totals and percentages. */
export function formatProfile(p: Profile): string {
  const keys = KEYS;
  const lines = [`batch workers ${keys.map((k) => k.padStart(10)).join("")}   (ms)`];
  for (const r of p.rows) {
    lines.push(
      `${String(r.batch).padStart(5)} ${r.workers.join(",").padStart(7)} ${
        keys.map((k) => r[k].toFixed(1).padStart(10)).join("")
      }`,
    );
  }
  const sum = keys.reduce((a, k) => a + p.totals[k], 0);
  lines.push(`total         ${keys.map((k) => p.totals[k].toFixed(0).padStart(10)).join("")}`);
  lines.push(
    `share         ${
      keys.map((k) => `${((100 * p.totals[k]) / Math.max(sum, 1e-9)).toFixed(1)}%`.padStart(10)).join("")
    }`,
  );
  const phases = [...new Set(p.rows.flatMap((r) => Object.keys(r.model ?? {})))];
  if (phases.length) {
    lines.push(`model   ${phases.map((k) => k.padStart(10)).join("")}   (ms per batch, inside consumer)`);
    for (const r of p.rows) {
      lines.push(
        `${String(r.batch).padStart(5)}   ${phases.map((k) => (r.model?.[k] ?? 0).toFixed(1).padStart(10)).join("")}`,
      );
    }
  }
  lines.push(
    `wall ${(p.wall / 1000).toFixed(2)} s, ${p.samplesPerSecond.toFixed(1)} samples/s, read amplification ${
      p.readAmplification.toFixed(2)
    } (bytes decoded / delivered); stage times are summed over the workers`,
  );
  return lines.join("\n");
}
