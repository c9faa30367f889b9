/**
 * Data-loader profiling: where each batch's time goes (reading, decoding,
 * normalizing, tokenizing, masking in the workers, summed over its units;
 * waiting, hand-over and the consumer on the main thread), with totals,
 * and a Chrome trace-event file (Perfetto, chrome://tracing) with one
 * track per worker and one slice per unit (a field level of the batch).
 *
 * @module
 */
import { BatchLoader } from "./loader.ts";
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
  const events: Record<string, unknown>[] = [];
  const rows: ProfileRow[] = [];
  const now = () => performance.timeOrigin + performance.now();
  const ev = (name: string, tid: number, start: number, dur: number, args: Record<string, unknown> = {}) =>
    events.push({
      name,
      ph: "X",
      pid: 1,
      tid,
      ts: Math.round(start * 1000),
      dur: Math.max(1, Math.round(dur * 1000)),
      args,
    });
  const t0 = now();
  await loader.start();
  let decoded = 0, delivered = 0;
  try {
    for (let i = 0; i < opts.batches; i++) {
      const askedAt = now();
      const loaded = await loader.nextBatch();
      const got = now();
      const { timings, stats } = loaded.batch;
      for (const u of loaded.units) {
        const tid = u.worker + 1;
        ev(`unit ${u.unit.field}:${u.unit.levels.join(",")}`, tid, u.span[0], u.span[1] - u.span[0], { batch: i });
        let t = u.span[0];
        for (const stage of STAGES) {
          ev(stage, tid, t, u.timings[stage], { batch: i });
          t += u.timings[stage];
        }
      }
      const local = loaded.units.every((u) => u.worker < 0);
      // Time from a finished batch to the consumer holding it, not counting time it sat ready while the consumer was busy.
      const handover = local ? 0 : Math.max(0, got - Math.max(loaded.made[1], askedAt));
      ev("wait", 0, askedAt, got - askedAt, { batch: i });
      const c0 = now();
      let model: Record<string, number> | undefined;
      if (opts.consumer) model = (await opts.consumer(loaded.batch, i)) ?? undefined;
      else if (opts.consumerMs) await consume(opts.consumerMs, opts.consumerCpu ?? false);
      const consumer = now() - c0;
      ev("consumer", 0, c0, consumer, { batch: i });
      let m0 = c0;
      for (const [phase, ms] of Object.entries(model ?? {})) (ev(phase, MODEL_TRACK, m0, ms, { batch: i }), m0 += ms);
      decoded += stats.bytesDecoded;
      delivered += stats.bytesDelivered;
      rows.push({
        batch: i,
        workers: [...new Set(loaded.units.map((u) => u.worker))].sort(),
        wait: local ? 0 : got - askedAt,
        ...timings,
        handover,
        consumer,
        ...(model ? { model } : {}),
      });
    }
  } finally {
    loader.close();
  }
  const wall = now() - t0;
  const totals = Object.fromEntries(KEYS.map((k) => [k, rows.reduce((a, r) => a + r[k], 0)])) as Profile["totals"];
  events.push(
    { name: "thread_name", ph: "M", pid: 1, tid: 0, args: { name: "consumer (main)" } },
    ...(opts.consumer ? [{ name: "thread_name", ph: "M", pid: 1, tid: MODEL_TRACK, args: { name: "model" } }] : []),
    ...Array.from({ length: Math.max(1, opts.workers) }, (_, w) => ({
      name: "thread_name",
      ph: "M",
      pid: 1,
      tid: w + 1,
      args: { name: `loader worker ${w}` },
    })),
  );
  return {
    rows,
    totals,
    wall,
    samplesPerSecond: (opts.batches * config.batchSize) / (wall / 1000),
    readAmplification: delivered ? decoded / delivered : 0,
    trace: { traceEvents: events },
  };
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
