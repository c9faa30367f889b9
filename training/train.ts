/**
 * `train`: masked-token training of the Multiformer as a configuration
 * says — from scratch (training/tasks/masked_token.ts), or fine-tuning the
 * weights of a checkpoint (training/tasks/fine_tune.ts) — run by the
 * training loop, resumable.
 *
 * @module
 */
import { type Device, gemm } from "../ops/mod.ts";
import type { Batch } from "../samplers/batch.ts";
import type { FieldLayout } from "../models/config.ts";
import type { TrainConfig } from "./config.ts";
import { runTraining } from "./loop.ts";
import { MaskedTokenTask, type MetricsLine } from "./tasks/masked_token.ts";
import { FineTuneTask } from "./tasks/fine_tune.ts";

export type { MetricsLine } from "./tasks/masked_token.ts";

/** Options of {@link train}. */
export interface TrainOptions {
  /** Resume: a checkpoint file, or true for the newest in the checkpoint directory. */
  resume?: string | boolean;
  /** Start afresh over another run's checkpoints and metrics in the directory, removing them (see `RunOptions`). */
  startOver?: boolean;
  /** Stop after this many steps of this run (tests: interrupt a run). */
  stopAfter?: number;
  /** Called after every step. */
  onStep?: (step: number, total: number, line: MetricsLine) => void;
  /** Called after the batch is loaded and before the step (profiling). */
  onBatch?: (step: number, batch: Batch, wait: number) => void;
  /** Fine-tune: start from the weights of this Multiformer checkpoint (training/tasks/fine_tune.ts). */
  from?: string;
  /** Train with the model's parameters, the optimizer and every step on this device (training/loop.ts). */
  device?: Device;
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

/** Train (or resume) the Multiformer as `config` says. */
export async function train(
  config: TrainConfig,
  layouts: FieldLayout[],
  opt: TrainOptions = {},
): Promise<TrainSummary> {
  const g = gemm();
  g.setThreads(config.threads ?? 1);
  const task = opt.from
    ? await FineTuneTask.startingFrom(opt.from, config, layouts, opt.onBatch)
    : await MaskedTokenTask.create(config, layouts, opt.onBatch);
  const device = opt.device && { device: opt.device, tensors: task.model.params.map.values() };
  const run = await runTraining(task, { ...opt, device });
  return {
    dir: run.dir,
    checkpoint: run.checkpoint,
    metrics: run.metrics,
    plot: run.plot,
    steps: run.steps,
    losses: run.losses,
    validation: run.validation,
    parameters: task.model.params.count(),
    kernel: g.name,
  };
}
