/**
 * Training the forecast engine (`deno task train --stage forecast --from
 * CHECKPOINT --config forecast.json`): the Multiformer of the base
 * checkpoint is frozen; each optimizer step rolls the whole globe out k
 * steps from a random initial time of the training range and minimizes the
 * latitude-weighted, per-field-weighted MSE of every step's tiles against
 * the truth cut the same way. A step's input is the previous step's own
 * blended prediction (no gradient flows through the re-encoding: the
 * "pushforward" form of multi-step training, which is what the rollout does
 * at inference). A schedule of phases gives the rollout length and
 * learning rate (e.g. 2 steps, then 4 at a lower rate, as WeatherGenerator
 * found stable); optional Gaussian latent noise. Checkpoints hold the
 * engine's weights and record the frozen base checkpoint (path, SHA-256),
 * the coefficient sets and the stores.
 *
 * @module
 */
import { join } from "node:path";
import { gemm, Random, type Tensor, valueAndGrad } from "../ops/mod.ts";
import { AdamW } from "../training/adamw.ts";
import { fieldLoss, weightedSum } from "../training/losses.ts";
import {
  absolute,
  type Checkpoint,
  latestCheckpoint,
  pruneCheckpoints,
  readCheckpoint,
  writeCheckpoint,
} from "../training/checkpoint.ts";
import { MultifieldSampler, type SamplerConfig } from "../samplers/sampler.ts";
import type { FieldBatch } from "../samplers/batch.ts";
import { toSeconds } from "../datasets/window.ts";
import { ForecastEngine, type ForecastEngineConfig, resolveEngineConfig } from "../models/forecast_engine.ts";
import { assertSameCoefficientSet } from "../normalization/identity.ts";
import { CheckpointError, ConfigError, isPipelineError } from "../errors.ts";
import { GlobalRollout, type RolloutState } from "./rollout.ts";
import { engineFields, EngineStepper, type ForecastHeader, loadFrozenBase } from "./engine.ts";

/** One phase of the step schedule. */
export interface ForecastPhase {
  /** Optimizer steps. */
  steps: number;
  /** Rollout steps per sample (k). */
  rollout: number;
  /** Learning rate. */
  lr: number;
}

/** Configuration of `train --stage forecast`. */
export interface ForecastTrainConfig {
  /** Engine network (latent size, forecaster layers, heads, neighbours). */
  engine?: ForecastEngineConfig;
  /** Overlap of tiles in tokens [lat, lon]. Default [0, 1]. */
  overlap?: [number, number];
  /** Initial times are drawn from this range (ISO, inclusive). Default the whole store. */
  timeRange?: [string, string];
  /** Step schedule. */
  phases: ForecastPhase[];
  /** Standard deviation of Gaussian noise added to the latent in training, relative to the latent's RMS. Default 0. */
  latentNoise?: number;
  /** Relative standard deviation of the latent noise that makes ensemble members at inference. Default 0.05. */
  memberNoise?: number;
  /** Loss weight per field. Default 1 each. */
  fieldWeights?: Record<string, number>;
  /** Seed. Default 1. */
  seed?: number;
  /** BLAS threads. Default 1. */
  threads?: number;
  /** Checkpoint directory; a checkpoint every `every` steps (and at the end of each phase); keep the newest `keep` (2). */
  checkpoints: { dir: string; every?: number; keep?: number };
}

/** Check a parsed configuration; errors name the key. */
export function checkForecastTrainConfig(raw: unknown, source = "config"): ForecastTrainConfig {
  const need = (ok: boolean, key: string, problem: string) => {
    if (!ok) throw new ConfigError(key, problem);
  };
  need(typeof raw === "object" && raw !== null && !Array.isArray(raw), source, "must be a JSON object");
  const c = raw as ForecastTrainConfig;
  const known = [
    "engine",
    "overlap",
    "timeRange",
    "phases",
    "latentNoise",
    "memberNoise",
    "fieldWeights",
    "seed",
    "threads",
    "checkpoints",
  ];
  for (const k of Object.keys(c)) need(known.includes(k), k, `unknown key (known: ${known.join(", ")})`);
  resolveEngineConfig(c.engine, "engine");
  need(
    c.overlap === undefined ||
      (Array.isArray(c.overlap) && c.overlap.length === 2 && c.overlap.every((v) => Number.isInteger(v) && v >= 0)),
    "overlap",
    "must be [lat, lon] whole tokens ≥ 0",
  );
  need(
    c.timeRange === undefined ||
      (Array.isArray(c.timeRange) && c.timeRange.length === 2 && c.timeRange.every((d) => !isNaN(toSeconds(d)))),
    "timeRange",
    "must be two ISO dates",
  );
  need(Array.isArray(c.phases) && c.phases.length > 0, "phases", "needs at least one {steps, rollout, lr}");
  c.phases.forEach((p, i) => {
    need(Number.isInteger(p.steps) && p.steps >= 1, `phases[${i}].steps`, "must be a positive integer");
    need(Number.isInteger(p.rollout) && p.rollout >= 1, `phases[${i}].rollout`, "must be a positive integer");
    need(typeof p.lr === "number" && p.lr > 0, `phases[${i}].lr`, "must be a positive number");
  });
  for (const k of ["latentNoise", "memberNoise"] as const) {
    need(c[k] === undefined || (typeof c[k] === "number" && c[k]! >= 0), k, "must be a number ≥ 0");
  }
  need(typeof c.checkpoints?.dir === "string" && c.checkpoints.dir !== "", "checkpoints.dir", "must be a path");
  for (const k of ["every", "keep"] as const) {
    const v = c.checkpoints[k];
    need(v === undefined || (Number.isInteger(v) && v >= 1), `checkpoints.${k}`, "must be a positive integer");
  }
  return c;
}

/** Read and check a forecast training configuration file. */
export async function readForecastTrainConfig(path: string): Promise<ForecastTrainConfig> {
  let raw: unknown;
  try {
    raw = JSON.parse(await Deno.readTextFile(path));
  } catch (e) {
    throw new ConfigError(path, `cannot read the configuration: ${(e as Error).message}`, { cause: e });
  }
  return checkForecastTrainConfig(raw, path);
}

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
  /** Stop after this many steps of this run (tests: interrupt a run). */
  stopAfter?: number;
  /** Called after every step. */
  onStep?: (step: number, total: number, loss: number, rollout: number) => void;
}

/** The sampler of a base checkpoint's data (one regular dataset), masking irrelevant. */
export function baseSampler(config: { sampler: SamplerConfig }, norm?: string): MultifieldSampler {
  const s = structuredClone(config.sampler);
  if (norm) s.datasets[0].norm = norm;
  return new MultifieldSampler({ ...s, batchSize: 1, masking: { strategy: "forecast" } });
}

/** Train the forecast engine on top of the frozen base checkpoint `from`. */
export async function trainForecastEngine(
  from: string,
  config: ForecastTrainConfig,
  opt: ForecastTrainOptions = {},
): Promise<ForecastTrainSummary> {
  gemm().setThreads(config.threads ?? 1);
  const base = await loadFrozenBase(from);
  const h = base.checkpoint.header;
  const sampler = baseSampler(h.config);
  const sets = await Promise.all(sampler.coefficients.map((c) => c.identity()));
  for (const [i, s] of sets.entries()) {
    try {
      assertSameCoefficientSet(h.coefficientSets[i], s);
    } catch (e) {
      if (!isPipelineError(e, "normalization")) throw e;
      throw new CheckpointError(from, `coefficient set of dataset ${i} differs: ${e.message}`, { cause: e });
    }
  }
  const overlap = config.overlap ?? [0, 1];
  const rollout = new GlobalRollout(sampler, overlap);
  const seed = config.seed ?? 1;
  const engine = new ForecastEngine(engineFields(base.model, rollout.tokens), config.engine ?? {}, seed);
  const rng = new Random(seed ^ 0x2545f491);
  const stepper = new EngineStepper(base.model, engine, rollout, {
    noise: config.latentNoise ? { std: config.latentNoise, rng } : undefined,
  });
  const times = rollout.dataset.times, T = rollout.window[0], tt = rollout.stepSteps;
  const [from0, to0] = config.timeRange?.map(toSeconds) ?? [-Infinity, Infinity];
  const maxK = Math.max(...config.phases.map((p) => p.rollout));
  const inits: number[] = [];
  for (let e = T - 1; e + maxK * tt < times.length; e++) if (times[e] >= from0 && times[e] <= to0) inits.push(times[e]);
  if (!inits.length) {
    throw new ConfigError("timeRange", `no initial time leaves room for ${maxK} steps of ${rollout.stepHours} h`);
  }
  const weights = new Map(sampler.slots.map((s) => [s.field, config.fieldWeights?.[s.field] ?? 1]));
  const wsum = [...weights.values()].reduce((a, b) => a + b, 0);
  const dir = config.checkpoints.dir;
  await Deno.mkdir(dir, { recursive: true });
  const metrics = join(dir, "metrics.jsonl");
  const total = config.phases.reduce((a, p) => a + p.steps, 0);
  const forecast: ForecastHeader = {
    base: { path: absolute(from), sha256: base.sha256, step: h.step },
    engine: engine.config,
    overlap,
    memberNoise: config.memberNoise ?? 0.05,
    stepHours: rollout.stepHours,
    training: config,
  };
  // Resume: weights, the current phase's AdamW moments and step, the random stream, the metrics so far.
  let start = 0;
  let resumed: Checkpoint | undefined;
  const resumeFrom = opt.resume === true ? latestCheckpoint(dir) : opt.resume || undefined;
  if (resumeFrom) {
    resumed = await readCheckpoint(resumeFrom);
    const fh = (resumed.header as unknown as { forecast?: ForecastHeader }).forecast;
    if (!fh) throw new CheckpointError(resumeFrom, "is not a forecast engine checkpoint");
    if (fh.base.sha256 !== base.sha256) {
      throw new CheckpointError(resumeFrom, `was trained on another base checkpoint than ${from}`);
    }
    for (const [name, t] of engine.params.map) {
      const v = resumed.tensors.get(`param:${name}`);
      if (!v || v.length !== t.size) {
        throw new CheckpointError(
          resumeFrom,
          `parameter ${name} missing or of another shape: another engine configuration`,
        );
      }
      t.data.set(v);
    }
    start = resumed.header.step;
    rng.state = resumed.header.rng;
  }
  const history: string[] = [];
  if (start > 0) {
    try {
      for (const l of (await Deno.readTextFile(metrics)).split("\n")) {
        if (l.trim() && (JSON.parse(l) as { step: number }).step <= start) history.push(l + "\n");
      }
    } catch { /* no metrics yet */ }
  }
  await Deno.writeTextFile(metrics, history.join(""));
  const losses: number[] = [];
  const end = Math.min(total, start + (opt.stopAfter ?? Infinity));
  let done = 0, checkpoint = resumeFrom ?? "";
  const save = async (optimizer: AdamW) => {
    const tensors = [...engine.params.map].flatMap(([name, t]) => {
      const m = optimizer.moments.get(name)!;
      return [
        { name, kind: "param" as const, shape: [...t.shape], data: t.data },
        { name, kind: "m" as const, shape: [...t.shape], data: m.m },
        { name, kind: "v" as const, shape: [...t.shape], data: m.v },
      ];
    });
    const header = {
      step: done,
      rng: rng.state,
      config: h.config,
      layouts: h.layouts,
      coefficientSets: sets,
      stores: h.stores,
      forecast,
    };
    checkpoint = await writeCheckpoint(dir, header, tensors);
    await pruneCheckpoints(dir, config.checkpoints.keep ?? 2);
  };
  for (const phase of config.phases) {
    const phaseStart = done;
    done += phase.steps;
    if (done <= start) continue; // a resumed run skips the phases it finished
    const optimizer = new AdamW(engine.params.map, {
      lrMax: phase.lr,
      lrStart: phase.lr,
      lrMin: phase.lr,
      warmupSteps: 0,
      weightDecay: 0,
      clipNorm: 1,
    });
    let s = 0;
    if (resumed && start > phaseStart) {
      s = start - phaseStart;
      optimizer.step = s;
      for (const [name, m] of optimizer.moments) {
        m.m.set(resumed.tensors.get(`m:${name}`)!);
        m.v.set(resumed.tensors.get(`v:${name}`)!);
      }
    }
    done = phaseStart + s;
    for (; s < phase.steps && done < end; s++) {
      const init = inits[Math.floor(rng.next() * inits.length)];
      optimizer.zeroGrad();
      const loss = valueAndGrad(() => rolloutLoss(rollout, stepper, init, phase.rollout, weights, wsum));
      if (!Number.isFinite(loss)) throw new Error(`forecast training: loss is ${loss} at step ${done + 1}`);
      optimizer.update();
      losses.push(loss);
      done++;
      await Deno.writeTextFile(
        metrics,
        JSON.stringify({ step: done, loss, rollout: phase.rollout, lr: phase.lr }) + "\n",
        { append: true },
      );
      opt.onStep?.(done, total, loss, phase.rollout);
      const every = config.checkpoints.every;
      if ((every && done % every === 0) || done === end || s + 1 === phase.steps) await save(optimizer);
    }
    if (done >= end) break;
  }
  return { checkpoint, losses, parameters: engine.params.count(), metrics, steps: done };
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
    const truthEnd = state.times[state.times.length - 1] + rollout.stepSteps * rollout.dt;
    const truth = rollout.fieldBatches(rollout.stateAt(truthEnd), tiles);
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
