/**
 * The Multiformer's masked-token training (`deno task train`) as a task of
 * the training loop: the BatchLoader's workers make the next batches while
 * the model steps (batch i of the sampler's seed feeds step i, so a resumed
 * run sees the batches the uninterrupted one would); the loss is the
 * configured losses on the masked tokens, weighted per field; every
 * parameter trains, with one AdamW schedule; validation on a held-out time
 * range (fixed batches, MSE of the ensemble mean per field); checkpoints
 * record the configuration, token layouts, coefficient sets and stores,
 * and a resume is refused against any of them changed.
 *
 * @module
 */
import { runPrepared } from "../../samplers/remote.ts";
import { remoteState } from "../../zarr/url_store.ts";
import { BatchLoader, type LoadedBatch } from "../../samplers/loader.ts";
import { type Batch, MultifieldSampler } from "../../samplers/sampler.ts";
import { CheckpointError, ConfigError, isPipelineError } from "../../errors.ts";
import { Random, type Tensor } from "../../ops/mod.ts";
import { Multiformer } from "../../models/multiformer.ts";
import type { FieldLayout } from "../../models/config.ts";
import type { FieldInput } from "../../models/inputs.ts";
import { absolute, assertCompatible, type Checkpoint, type CheckpointRecord } from "../../models/checkpoint.ts";
import type { CoefficientSetIdentity } from "../../normalization/identity.ts";
import type { TrainConfig } from "../config.ts";
import type { LossName } from "../losses.ts";
import { evalStep, type GradientStep, modelLoss } from "../step.ts";
import { modelInputs } from "../../models/inputs.ts";
import type { TrainOptions } from "../train.ts";
import type { TrainingPhase, TrainingTask, ValidationLine } from "../loop.ts";
import type { TrainedRange } from "../../models/checkpoint.ts";
import { samplerRange, uniqueRanges } from "../../models/time_ranges.ts";

/** One train line of metrics.jsonl (validation lines are {@link ValidationLine}s). */
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

/** A step's inputs: the loaded batch and the model inputs made of it. */
interface MaskedTokenInputs {
  /** The batch and the time spent waiting for it. */
  loaded: LoadedBatch;
  /** Model inputs by field. */
  fields: Map<string, FieldInput>;
  /** Milliseconds making the model inputs. */
  ms: number;
}

/** Masked-token training of the Multiformer. */
export class MaskedTokenTask implements TrainingTask<MaskedTokenInputs, MetricsLine> {
  readonly dir: string;
  readonly params: Map<string, Tensor>;
  readonly rng: Random;
  readonly phases: TrainingPhase[];
  readonly checkpointEvery: number;
  readonly keep: number;
  readonly lossCurve = true;
  readonly lossTitle = "Multiformer masked-token training loss";
  readonly validation?: { every: number; run(step: number): ValidationLine };
  readonly model: Multiformer;
  private readonly losses: LossName[];
  private loader?: BatchLoader;
  /** The time ranges this run trains and validates on (its checkpoints record them). */
  protected readonly ranges: TrainedRange[];
  /** Ranges of the checkpoint the weights came from (fine-tuning). */
  protected inheritedRanges: TrainedRange[] = [];
  /** The validation sampler and its batch count. */
  private readonly held?: { sampler: MultifieldSampler; batches: number };
  /**
   * The validation batches, made once by {@link open} when stores are read
   * by URL: validation runs synchronously between steps, and its chunks
   * may have left the URL cache by then (samplers/remote.ts).
   */
  private validationBatches?: Batch[];

  protected constructor(
    readonly config: TrainConfig,
    readonly layouts: FieldLayout[],
    protected readonly sets: CoefficientSetIdentity[],
    validationSampler: MultifieldSampler | undefined,
    private readonly onBatch?: TrainOptions["onBatch"],
  ) {
    const seed = config.schedule.seed ?? 1;
    this.losses = config.schedule.losses ?? ["mse_ensemble", "stats"];
    this.dir = config.checkpoints.dir;
    this.model = new Multiformer(config.model, layouts, seed);
    this.params = this.model.params.map;
    this.rng = new Random(seed ^ 0x5bd1e995);
    this.phases = [{ steps: config.schedule.steps, optimizer: config.optimizer }];
    this.checkpointEvery = config.checkpoints.every ?? 100;
    this.keep = config.checkpoints.keep ?? 2;
    this.ranges = [samplerRange(new MultifieldSampler(config.sampler), "train")];
    if (validationSampler) this.ranges.push(samplerRange(validationSampler, "validation"));
    if (validationSampler) {
      const batches = config.validation!.batches ?? 2;
      this.held = { sampler: validationSampler, batches };
      this.validation = {
        every: config.validation!.every ?? 50,
        run: (step) => this.validate(validationSampler, batches, step),
      };
    }
  }

  /** The task of `config`: its coefficient sets identified, its validation sampler made. */
  static async create(
    config: TrainConfig,
    layouts: FieldLayout[],
    onBatch?: TrainOptions["onBatch"],
  ): Promise<MaskedTokenTask> {
    return new MaskedTokenTask(config, layouts, await coefficientSets(config), validationSampler(config), onBatch);
  }

  verify(ck: Checkpoint): void {
    if (ck.header.task !== "masked-token") {
      throw new CheckpointError(
        ck.path,
        `is a forecast-engine checkpoint (written by train --stage forecast): masked-token training resumes ` +
          `only from its own checkpoints (resume the engine with --stage forecast --from BASE --resume)`,
      );
    }
    assertCompatible(ck, this.layouts, this.sets, new Map([...this.params].map(([k, t]) => [k, t.shape])));
  }

  async open(first: number): Promise<void> {
    if (this.held && remoteState()) {
      const { sampler, batches } = this.held;
      this.validationBatches = await runPrepared(() => Array.from({ length: batches }, (_, i) => sampler.batch(i)));
    }
    this.loader = new BatchLoader(this.config.sampler, {
      workers: this.config.loader?.workers ?? 1,
      firstBatch: first,
    });
    await this.loader.start();
  }

  close(): void {
    this.loader?.close();
  }

  async inputs(step: number): Promise<MaskedTokenInputs> {
    const loaded = await this.loader!.nextBatch();
    this.onBatch?.(step, loaded.batch, loaded.wait);
    const t0 = performance.now();
    const fields = modelInputs(this.model, loaded.batch);
    return { loaded, fields, ms: performance.now() - t0 };
  }

  loss(inputs: MaskedTokenInputs): { loss: Tensor; mse: Record<string, number> } {
    return modelLoss(this.model, inputs.fields, this.losses, this.rng);
  }

  metrics(
    done: number,
    inputs: MaskedTokenInputs,
    g: GradientStep<{ mse?: Record<string, number> }>,
    _phase: number,
    seconds: number,
  ): MetricsLine {
    return {
      kind: "train",
      step: done,
      loss: g.loss,
      mse: g.result.mse!,
      lr: g.lr,
      gradNorm: g.gradNorm,
      samplesPerSecond: this.config.sampler.batchSize / seconds,
      ms: { wait: inputs.loaded.wait, inputs: inputs.ms, ...g.timings },
    };
  }

  header(step: number): CheckpointRecord {
    return {
      task: "masked-token",
      step,
      rng: this.rng.state,
      config: this.config,
      layouts: this.layouts,
      coefficientSets: this.sets,
      stores: this.config.sampler.datasets.map((d) => absolute(d.store)),
      timeRanges: uniqueRanges([...this.inheritedRanges, ...this.ranges]),
    };
  }

  diverged(loss: number): Error {
    return new Error(`loss is ${loss}`);
  }

  /** The loss and per-field MSE averaged over `batches` fixed held-out batches, without dropout. */
  private validate(sampler: MultifieldSampler, batches: number, step: number): ValidationLine {
    const mse: Record<string, number> = {};
    let loss = 0;
    for (let i = 0; i < batches; i++) {
      const r = evalStep(this.model, this.validationBatches?.[i] ?? sampler.batch(i), this.losses);
      loss += r.loss / batches;
      for (const [k, v] of Object.entries(r.mse)) mse[k] = (mse[k] ?? 0) + v / batches;
    }
    return { kind: "validation", step, loss, mse };
  }
}

/** The identities of the coefficient sets the sampler of `config` normalizes with, in dataset order. */
export function coefficientSets(config: TrainConfig): Promise<CoefficientSetIdentity[]> {
  const probe = new MultifieldSampler(config.sampler);
  return Promise.all(probe.coefficients.map((c) => c.identity()));
}

/** The sampler of the validation range (seed + 1), or undefined without validation. */
export function validationSampler(config: TrainConfig): MultifieldSampler | undefined {
  if (!config.validation) return undefined;
  try {
    return new MultifieldSampler({
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
