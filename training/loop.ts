/**
 * The training loop of `deno task train`: the BatchLoader's workers make
 * the next batches while the model steps; validation on a held-out time
 * range (fixed batches, MSE of the ensemble mean per field); metrics as
 * JSON lines; checkpoints; the loss curve as PNG; resuming from a
 * checkpoint continues exactly where the run stopped (same weights,
 * moments, dropout stream and batch sequence: batch i of the sampler's
 * seed is a pure function of i).
 *
 * @module
 */
import { join } from "node:path";
import { BatchLoader } from "../samplers/loader.ts";
import { MultifieldSampler } from "../samplers/sampler.ts";
import type { Batch } from "../samplers/batch.ts";
import { ConfigError, isPipelineError } from "../errors.ts";
import { gemm, Random } from "../ops/mod.ts";
import { Multiformer } from "../models/multiformer.ts";
import type { FieldLayout } from "../models/config.ts";
import { AdamW } from "./adamw.ts";
import type { TrainConfig } from "./config.ts";
import type { LossName } from "./losses.ts";
import { evalStep, type StepResult, trainStep } from "./step.ts";
import {
  absolute,
  assertCompatible,
  latestCheckpoint,
  pruneCheckpoints,
  readCheckpoint,
  writeCheckpoint,
} from "./checkpoint.ts";
import { type CurvePoint, lossCurvePng } from "./plot.ts";

/** One line of metrics.jsonl. */
export interface MetricsLine {
  /** `train` or `validation`. */
  kind: "train" | "validation";
  /** Step after which it was measured (1-based count of updates done). */
  step: number;
  /** Loss. */
  loss: number;
  /** MSE of the ensemble mean per field. */
  mse: Record<string, number>;
  /** Train: learning rate. */
  lr?: number;
  /** Train: gradient norm before clipping. */
  gradNorm?: number;
  /** Train: samples per second over the step (including waiting for data). */
  samplesPerSecond?: number;
  /** Train: ms waiting for data, making inputs, forward, backward, optimizer. */
  ms?: { wait: number; inputs: number; forward: number; backward: number; optimizer: number };
}

/** Options of {@link train}. */
export interface TrainOptions {
  /** Resume: a checkpoint file, or true for the newest in the checkpoint directory. */
  resume?: string | boolean;
  /** Stop after this many steps of this run (tests: interrupt a run). */
  stopAfter?: number;
  /** Called after every step. */
  onStep?: (step: number, total: number, line: MetricsLine) => void;
  /** Called after the batch is loaded and before the step (profiling). */
  onBatch?: (step: number, batch: Batch, wait: number) => void;
}

/** What a run produced. */
export interface TrainSummary {
  /** Checkpoint directory. */
  dir: string;
  /** Last checkpoint written. */
  checkpoint?: string;
  /** Metrics file. */
  metrics: string;
  /** Loss curve. */
  plot: string;
  /** Steps done in total. */
  steps: number;
  /** Loss of each step of this run. */
  losses: number[];
  /** Last validation, per field. */
  validation?: Record<string, number>;
  /** Parameter count. */
  parameters: number;
  /** Matmul kernel used. */
  kernel: string;
}

/** Train (or resume) as `config` says. */
export async function train(
  config: TrainConfig,
  layouts: FieldLayout[],
  opt: TrainOptions = {},
): Promise<TrainSummary> {
  const g = gemm();
  g.setThreads(config.threads ?? 1);
  const seed = config.schedule.seed ?? 1;
  const losses: LossName[] = config.schedule.losses ?? ["mse_ensemble", "stats"];
  const dir = config.checkpoints.dir;
  const metricsPath = join(dir, "metrics.jsonl"), plotPath = join(dir, "loss.png");
  await Deno.mkdir(dir, { recursive: true });

  const probe = new MultifieldSampler(config.sampler);
  const sets = await Promise.all(probe.coefficients.map((c) => c.identity()));
  const stores = config.sampler.datasets.map((d) => absolute(d.store));
  let valSampler: MultifieldSampler | undefined;
  if (config.validation) {
    try {
      valSampler = new MultifieldSampler({
        ...config.sampler,
        timeRange: config.validation.timeRange,
        seed: config.sampler.seed + 1,
      });
    } catch (e) {
      // The sampler names its own key (timeRange); here it is the validation's.
      if (isPipelineError(e, "config") && e.path === "timeRange") {
        throw new ConfigError("validation.timeRange", e.problem, { cause: e });
      }
      throw e;
    }
  }

  const model = new Multiformer(config.model, layouts, seed);
  const optimizer = new AdamW(model.params.map, config.optimizer);
  const rng = new Random(seed ^ 0x5bd1e995);
  let start = 0;
  const resumeFrom = opt.resume === true ? latestCheckpoint(dir) : opt.resume || undefined;
  if (opt.resume === true && !resumeFrom) console.error(`no checkpoint in ${dir}: starting from step 0`);
  if (resumeFrom) {
    const ck = await readCheckpoint(resumeFrom);
    assertCompatible(ck, layouts, sets, new Map([...model.params.map].map(([k, t]) => [k, t.shape])));
    for (const [k, t] of model.params.map) {
      t.data.set(ck.tensors.get(`param:${k}`)!);
      const m = optimizer.moments.get(k)!;
      m.m.set(ck.tensors.get(`m:${k}`)!);
      m.v.set(ck.tensors.get(`v:${k}`)!);
    }
    optimizer.step = start = ck.header.step;
    rng.state = ck.header.rng;
  }
  // Metrics of a run that went beyond the checkpoint are dropped: the resumed run rewrites them.
  const history: MetricsLine[] = [];
  if (start > 0) {
    try {
      for (const l of (await Deno.readTextFile(metricsPath)).split("\n")) {
        if (!l.trim()) continue;
        const m = JSON.parse(l) as MetricsLine;
        if (m.step <= start) history.push(m);
      }
    } catch { /* no metrics yet */ }
  }
  await Deno.writeTextFile(metricsPath, history.map((m) => JSON.stringify(m) + "\n").join(""));
  const log = async (m: MetricsLine) => {
    history.push(m);
    await Deno.writeTextFile(metricsPath, JSON.stringify(m) + "\n", { append: true });
  };

  const validate = async (step: number): Promise<Record<string, number> | undefined> => {
    if (!valSampler) return undefined;
    const n = config.validation!.batches ?? 2;
    const sums: Record<string, number> = {};
    let loss = 0;
    for (let i = 0; i < n; i++) {
      const r = evalStep(model, valSampler.batch(i), losses);
      loss += r.loss / n;
      for (const [k, v] of Object.entries(r.mse)) sums[k] = (sums[k] ?? 0) + v / n;
    }
    await log({ kind: "validation", step, loss, mse: sums });
    return sums;
  };
  let lastCheckpoint: string | undefined;
  const checkpoint = async (step: number) => {
    const tensors = [...model.params.map].flatMap(([name, t]) => {
      const m = optimizer.moments.get(name)!;
      return [
        { name, kind: "param" as const, shape: [...t.shape], data: t.data },
        { name, kind: "m" as const, shape: [...t.shape], data: m.m },
        { name, kind: "v" as const, shape: [...t.shape], data: m.v },
      ];
    });
    lastCheckpoint = await writeCheckpoint(
      dir,
      { step, rng: rng.state, config, layouts, coefficientSets: sets, stores },
      tensors,
    );
    await pruneCheckpoints(dir, config.checkpoints.keep ?? 2);
  };
  const plot = () =>
    Deno.writeFile(
      plotPath,
      lossCurvePng(
        history.filter((m) => m.kind === "train").map((m): CurvePoint => ({ step: m.step, loss: m.loss })),
        history.filter((m) => m.kind === "validation").map((m): CurvePoint => ({ step: m.step, loss: m.loss })),
      ),
    );

  // Batch i feeds step i: a resumed run starts at its step's batch.
  const loader = new BatchLoader(config.sampler, { workers: config.loader?.workers ?? 1, firstBatch: start });
  await loader.start();
  const total = config.schedule.steps;
  const end = Math.min(total, start + (opt.stopAfter ?? Infinity));
  const stepLosses: number[] = [];
  let validation: Record<string, number> | undefined;
  try {
    for (let step = start; step < end; step++) {
      const t0 = performance.now();
      const loaded = await loader.nextBatch();
      opt.onBatch?.(step, loaded.batch, loaded.wait);
      const r: StepResult = trainStep(model, optimizer, loaded.batch, losses, rng);
      const wall = (performance.now() - t0) / 1000;
      stepLosses.push(r.loss);
      const line: MetricsLine = {
        kind: "train",
        step: step + 1,
        loss: r.loss,
        mse: r.mse,
        lr: r.lr,
        gradNorm: r.gradNorm,
        samplesPerSecond: config.sampler.batchSize / wall,
        ms: { wait: loaded.wait, ...r.timings },
      };
      await log(line);
      opt.onStep?.(step + 1, total, line);
      const done = step + 1;
      if (config.validation && (done % (config.validation.every ?? 50) === 0 || done === total)) {
        validation = await validate(done);
      }
      if (done % (config.checkpoints.every ?? 100) === 0 || done === end) {
        await checkpoint(done);
        await plot();
      }
    }
  } finally {
    loader.close();
  }
  if (end === start) await plot();
  return {
    dir,
    checkpoint: lastCheckpoint,
    metrics: metricsPath,
    plot: plotPath,
    steps: end,
    losses: stepLosses,
    validation,
    parameters: model.params.count(),
    kernel: g.name,
  };
}
