/**
 * Training the forecast engine (`deno task train --stage forecast --from
 * CHECKPOINT --config forecast.json`) as a task of the training loop: the
 * Multiformer of the base checkpoint is frozen and only the engine's
 * parameters train; each optimizer step rolls the whole globe out k steps
 * from a random initial time of the training range and minimizes the
 * latitude-weighted, per-field-weighted MSE of every step's tiles against
 * the truth cut the same way. A step's input is the previous step's own
 * blended prediction (no gradient flows through the re-encoding: the
 * "pushforward" form of multi-step training, which is what the rollout does
 * at inference). The configuration's phases give the rollout length and a
 * constant learning rate (e.g. 2 steps, then 4 at a lower rate, as
 * WeatherGenerator found stable); optional Gaussian latent noise.
 * Checkpoints hold the engine's weights and record the frozen base
 * checkpoint (path, SHA-256), the coefficient sets and the stores.
 *
 * @module
 */
import { gemm, Random, type Tensor } from "../../ops/mod.ts";
import { fieldLoss, weightedSum } from "../losses.ts";
import {
  absolute,
  assertParameters,
  assertSameCoefficientSets,
  type Checkpoint,
  type CheckpointRecord,
  type ForecastHeader,
  isEngineCheckpoint,
} from "../../models/checkpoint.ts";
import type { FieldBatch } from "../../samplers/batch.ts";
import { parseTimePair } from "../../time.ts";
import type { CoefficientSetIdentity } from "../../normalization/identity.ts";
import { ForecastEngine, NEW_ENGINE_DEFAULTS } from "../../models/forecast_engine.ts";
import { CheckpointError, ConfigError } from "../../errors.ts";
import { GlobalRollout, type RolloutState } from "../../forecast/rollout.ts";
import { baseSampler, engineFields, EngineStepper, type FrozenBase, loadFrozenBase } from "../../forecast/stepper.ts";
import type { ForecastTrainConfig } from "../config.ts";
import type { GradientStep } from "../step.ts";
import { runTraining, type TrainingPhase, type TrainingTask } from "../loop.ts";
import type { TrainedRange } from "../../models/checkpoint.ts";
import { isoMinutes, uniqueRanges } from "../../models/time_ranges.ts";

/** What a forecast training run produced. */
export interface ForecastTrainSummary {
  /** Checkpoint written. */
  checkpoint: string;
  /** Loss of every step of this run. */
  losses: number[];
  /** Engine parameters. */
  parameters: number;
  /** Metrics file (JSON lines). */
  metrics: string;
  /** Steps done in total. */
  steps: number;
}

/** Options of {@link trainForecastEngine}. */
export interface ForecastTrainOptions {
  /** Resume: a checkpoint file, or true for the newest in the checkpoint directory. */
  resume?: string | boolean;
  /** Start afresh over another run's checkpoints and metrics in the directory, removing them (see `RunOptions`). */
  startOver?: boolean;
  /** Stop after this many steps of this run (tests: interrupt a run). */
  stopAfter?: number;
  /** Called after every step. */
  onStep?: (step: number, total: number, loss: number, rollout: number) => void;
}

/** One line of the engine's metrics.jsonl. */
export interface RolloutMetricsLine {
  /** Steps done. */
  step: number;
  /** Loss. */
  loss: number;
  /** Rollout steps per sample (k) of the phase. */
  rollout: number;
  /** Learning rate of the phase. */
  lr: number;
}

/** Rollout training of the forecast engine on a frozen Multiformer. */
export class EngineRolloutTask implements TrainingTask<number, RolloutMetricsLine> {
  readonly dir: string;
  readonly params: Map<string, Tensor>;
  readonly rng: Random;
  readonly phases: TrainingPhase[];
  readonly checkpointEvery?: number;
  readonly keep: number;
  /** The engine network that trains. */
  readonly engine: ForecastEngine;
  private readonly rollout: GlobalRollout;
  private readonly stepper: EngineStepper;
  private readonly initTimes: number[];
  private readonly weights: Map<string, number>;
  private readonly weightSum: number;
  private readonly forecast: ForecastHeader;
  /** The ranges of the base, then the engine's own. */
  private readonly timeRanges: TrainedRange[];

  private constructor(
    private readonly base: FrozenBase,
    private readonly sets: CoefficientSetIdentity[],
    rollout: GlobalRollout,
    readonly config: ForecastTrainConfig,
    from: string,
  ) {
    const seed = config.seed ?? 1;
    this.rollout = rollout;
    const engine = { ...NEW_ENGINE_DEFAULTS, ...config.engine };
    this.engine = new ForecastEngine(engineFields(base.model, rollout.tokens), engine, seed);
    this.params = this.engine.params.map;
    this.rng = new Random(seed ^ 0x2545f491);
    this.stepper = new EngineStepper(base.model, this.engine, rollout, {
      noise: config.latentNoise ? { std: config.latentNoise, rng: this.rng } : undefined,
    });
    this.initTimes = initialTimes(rollout, config);
    this.timeRanges = uniqueRanges([
      ...base.checkpoint.header.timeRanges ?? [],
      engineRange(rollout, config, this.initTimes),
    ]);
    const names = rollout.sampler.slots.map((s) => s.field);
    for (const field of Object.keys(config.fieldWeights ?? {})) {
      if (!names.includes(field)) {
        throw new ConfigError(`fieldWeights.${field}`, `is not a field of the base checkpoint (${names.join(", ")})`);
      }
    }
    this.weights = new Map(names.map((field) => [field, config.fieldWeights?.[field] ?? 1]));
    this.weightSum = [...this.weights.values()].reduce((a, b) => a + b, 0);
    if (!(this.weightSum > 0)) throw new ConfigError("fieldWeights", "at least one field needs a weight > 0");
    this.dir = config.checkpoints.dir;
    this.checkpointEvery = config.checkpoints.every;
    this.keep = config.checkpoints.keep ?? 2;
    this.phases = config.phases.map((p) => ({
      steps: p.steps,
      optimizer: { lrMax: p.lr, lrStart: p.lr, lrMin: p.lr, warmupSteps: 0, weightDecay: 0, clipNorm: 1 },
    }));
    this.forecast = {
      base: { path: absolute(from), sha256: base.sha256, step: base.checkpoint.header.step },
      engine: this.engine.config,
      overlap: rollout.overlap,
      memberNoise: config.memberNoise ?? 0.05,
      stepHours: rollout.stepHours,
      training: config,
    };
  }

  /** The task on the frozen base checkpoint `from`, refused when its coefficient sets changed since. */
  static async create(from: string, config: ForecastTrainConfig): Promise<EngineRolloutTask> {
    const base = await loadFrozenBase(from);
    const sampler = baseSampler(base.checkpoint.header.config);
    const sets = await Promise.all(sampler.coefficients.map((c) => c.identity()));
    assertSameCoefficientSets(base.checkpoint, sets, (i) => `coefficient set of dataset ${i} differs`);
    const rollout = new GlobalRollout(sampler, config.overlap ?? [0, 1]);
    return new EngineRolloutTask(base, sets, rollout, config, from);
  }

  verify(ck: Checkpoint): void {
    if (!isEngineCheckpoint(ck)) throw new CheckpointError(ck.path, "is not a forecast engine checkpoint");
    if (ck.header.forecast.base.sha256 !== this.base.sha256) {
      throw new CheckpointError(ck.path, `was trained on another base checkpoint than ${this.base.checkpoint.path}`);
    }
    assertParameters(ck, this.params, ": another engine configuration");
  }

  /** A random initial time of the training range. */
  inputs(): Promise<number> {
    return Promise.resolve(this.initTimes[Math.floor(this.rng.next() * this.initTimes.length)]);
  }

  loss(init: number, phase: number): { loss: Tensor } {
    const k = this.config.phases[phase].rollout;
    return { loss: rolloutLoss(this.rollout, this.stepper, init, k, this.weights, this.weightSum) };
  }

  metrics(done: number, _init: number, g: GradientStep<unknown>, phase: number): RolloutMetricsLine {
    const p = this.config.phases[phase];
    return { step: done, loss: g.loss, rollout: p.rollout, lr: p.lr };
  }

  header(step: number): CheckpointRecord {
    const h = this.base.checkpoint.header;
    return {
      task: "engine-rollout",
      step,
      rng: this.rng.state,
      config: h.config,
      layouts: h.layouts,
      coefficientSets: this.sets,
      stores: h.stores,
      timeRanges: this.timeRanges,
      forecast: this.forecast,
    };
  }

  diverged(loss: number, step: number): Error {
    return new Error(`forecast training: loss is ${loss} at step ${step}`);
  }
}

/** The initial times of the training range that leave room for the longest rollout of the phases. */
function initialTimes(rollout: GlobalRollout, config: ForecastTrainConfig): number[] {
  const times = rollout.dataset.times, T = rollout.window[0], tt = rollout.stepSteps;
  const [from, to] = config.timeRange ? parseTimePair(config.timeRange, "timeRange") : [-Infinity, Infinity];
  const maxK = Math.max(...config.phases.map((p) => p.rollout));
  const inits: number[] = [];
  for (let e = T - 1; e + maxK * tt < times.length; e++) if (times[e] >= from && times[e] <= to) inits.push(times[e]);
  if (!inits.length) {
    throw new ConfigError("timeRange", `no initial time leaves room for ${maxK} steps of ${rollout.stepHours} h`);
  }
  return inits;
}

/**
 * The engine's training range: its configured `timeRange` of initial times,
 * and the data it saw, from the first initial time's input window to the
 * target of the last initial time's longest rollout.
 */
function engineRange(rollout: GlobalRollout, config: ForecastTrainConfig, inits: number[]): TrainedRange {
  const times = rollout.dataset.times, T = rollout.window[0], tt = rollout.stepSteps;
  const maxK = Math.max(...config.phases.map((p) => p.rollout));
  const first = times.indexOf(inits[0]), last = times.indexOf(inits[inits.length - 1]);
  return {
    stage: "engine-rollout",
    use: "train",
    configured: config.timeRange ? [...config.timeRange] : null,
    data: [isoMinutes(times[first - T + 1]), isoMinutes(times[last + maxK * tt])],
    store: absolute(rollout.sampler.config.datasets[0].store),
  };
}

/** Train the forecast engine on top of the frozen base checkpoint `from`. */
export async function trainForecastEngine(
  from: string,
  config: ForecastTrainConfig,
  opt: ForecastTrainOptions = {},
): Promise<ForecastTrainSummary> {
  gemm().setThreads(config.threads ?? 1);
  const task = await EngineRolloutTask.create(from, config);
  const run = await runTraining(task, {
    resume: opt.resume,
    startOver: opt.startOver,
    purpose: "train --stage forecast",
    stopAfter: opt.stopAfter,
    onStep: (step, total, line) => opt.onStep?.(step, total, line.loss, line.rollout),
  });
  return {
    checkpoint: run.checkpoint ?? run.resumedFrom ?? "",
    losses: run.losses,
    parameters: task.engine.params.count(),
    metrics: run.metrics,
    steps: run.steps,
  };
}

/** The k-step rollout loss from `init` (a scalar tensor); each step's input is the previous step's prediction. */
export function rolloutLoss(
  rollout: GlobalRollout,
  stepper: EngineStepper,
  init: number,
  k: number,
  weights: Map<string, number>,
  wsum: number,
): Tensor {
  const tiles = rollout.tiles(init);
  const [nt, nh, nw] = rollout.tokens.numTokens, P = nh * nw, N = nt * P;
  const Vs = rollout.tokens.tokenSize.reduce((a, b) => a * b, 1);
  const position = rollout.positions(tiles);
  let state: RolloutState = rollout.stateAt(init);
  const parts: { loss: Tensor; weight: number }[] = [];
  for (let n = 0; n < k; n++) {
    const fields = rollout.fieldBatches(state, tiles);
    const out = stepper.tensors(fields, { step: n, tiles, times: state.times });
    // The target in the units of the input's last step, as the engine predicts it (forecast/rollout.ts physicalSlab).
    const lastInput = state.times[state.times.length - 1];
    const truth = rollout.fieldBatches(rollout.stateAt(lastInput + rollout.stepSteps * rollout.dt), tiles, lastInput);
    for (const f of truth) {
      if (f.points) {
        parts.push({ loss: meshLoss(f, out.get(f.field)!, tiles.length), weight: weights.get(f.field)! / wsum / k });
        continue;
      }
      const L = f.levels.length, B = tiles.length, M = B * L * P;
      const values = new Float32Array(M * Vs), valid = new Float32Array(M * Vs), latWeight = new Float32Array(M);
      for (let b = 0; b < B; b++) {
        for (let l = 0; l < L; l++) {
          for (let p = 0; p < P; p++) {
            const row = (b * L + l) * P + p, src = ((b * L + l) * N + (nt - 1) * P + p) * Vs;
            for (let v = 0; v < Vs; v++) {
              const y = f.tokens[src + v], ok = y === y;
              values[row * Vs + v] = ok ? y : 0;
              valid[row * Vs + v] = ok ? 1 : 0;
            }
            latWeight[row] = position[(b * P + p) * 4 + 1];
          }
        }
      }
      const pred = out.get(f.field)!;
      const loss = fieldLoss("weighted_mse", pred.reshape([M, 1, Vs]), {
        rows: new Int32Array(0),
        values,
        valid,
        latWeight,
      });
      parts.push({ loss, weight: weights.get(f.field)! / wsum / k });
    }
    if (n + 1 < k) {
      const next = new Map([...out].map(([name, t]) => [name, t.data]));
      const { slab, times } = rollout.physicalSlab(state, next, tiles);
      state = rollout.advance(state, slab, times, { next, fields, tiles });
    }
  }
  return weightedSum(parts);
}

/**
 * A mesh field's loss: its point tokens of the last step (the mesh's step
 * under the next window; padding and missing values left out), weighted by
 * cos φ of each token's first point.
 */
function meshLoss(truth: FieldBatch, pred: Tensor, tiles: number): Tensor {
  const V = pred.last, L = truth.levels.length, slots = pred.shape[1] / L;
  // Tokens per (tile, level): timeSteps × maxTokens; the prediction is the last step's maxTokens (= slots).
  const N = truth.tokenInfo.length / 8 / tiles / L;
  const M = tiles * L * slots, values = new Float32Array(M * V), valid = new Float32Array(M * V);
  const latWeight = new Float32Array(M);
  for (let b = 0; b < tiles; b++) {
    for (let l = 0; l < L; l++) {
      for (let k = 0; k < slots; k++) {
        const tok = (b * L + l) * N + (N - slots) + k, row = (b * L + l) * slots + k;
        for (let v = 0; v < V; v++) {
          const y = truth.tokens[tok * V + v], ok = y === y && truth.points!.index[b * slots * V + k * V + v] >= 0;
          values[row * V + v] = ok ? y : 0;
          valid[row * V + v] = ok ? 1 : 0;
        }
        latWeight[row] = Math.max(0, Math.sin(truth.tokenInfo[tok * 8 + 4] * Math.PI / 180));
      }
    }
  }
  return fieldLoss("weighted_mse", pred.reshape([M, 1, V]), { rows: new Int32Array(0), values, valid, latWeight });
}
