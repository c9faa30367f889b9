/**
 * The configurations of `deno task train`, one JSON file per run, checked
 * once before anything runs with the helpers of validate.ts, so every
 * error names the key (`optimizer.lrMax`, `model.fields[1].heads`,
 * `phases[0].steps`): {@link TrainConfig} for the Multiformer's
 * masked-token training (sections sampler, loader, model, optimizer,
 * schedule, validation, checkpoints) and {@link ForecastTrainConfig} for
 * the forecast engine's rollout training (`--stage forecast`).
 *
 * @module
 */
import type { DatasetConfig, FieldConfig, SamplerConfig } from "../samplers/sampler.ts";
import type { MaskingConfig } from "../samplers/masking.ts";
import type { TokenGrid } from "../tokenizers/patches.ts";
import type { PointTokens } from "../tokenizers/healpix_points.ts";
import {
  type FieldLayout,
  fieldLayouts,
  type FieldModelConfig,
  type MultiformerConfig,
  type NetworkOptions,
  resolveConfig,
} from "../models/config.ts";
import { type ForecastEngineConfig, resolveEngineConfig } from "../models/forecast_engine.ts";
import { parseTimePair } from "../time.ts";
import type { OptimizerConfig } from "./adamw.ts";
import { LOSSES, type LossName } from "./losses.ts";
import { checkBackendName } from "../ops/backend.ts";
import {
  isIntegerFrom as isInt,
  isObject,
  isPositive as isPos,
  type KeySchema,
  need,
  needKnownKeys,
  needSchemaKeys,
  readConfigFile,
} from "./validate.ts";

/** Training schedule. */
export interface ScheduleConfig {
  /** Optimizer steps in total (a resumed run continues up to this). */
  steps: number;
  /** Loss terms, averaged. Default ["mse_ensemble", "stats"] (AtmoRep's default). */
  losses?: LossName[];
  /** Seed of initialization and dropout. Default 1. */
  seed?: number;
}

/** Validation on a held-out time range. */
export interface ValidationConfig {
  /** Window ends are drawn from this range (ISO dates, inclusive); keep it apart from `sampler.timeRange`. */
  timeRange: [string, string];
  /** Batches per validation. Default 2. */
  batches?: number;
  /** Validate every this many steps (and at the end). Default 50. */
  every?: number;
}

/** Checkpoints. */
export interface CheckpointConfig {
  /** Directory (checkpoints, metrics.jsonl, loss.png). */
  dir: string;
  /** Write one every this many steps (and at the end). Default 100. */
  every?: number;
  /** Keep this many most recent. Default 2. */
  keep?: number;
}

/** Backends: `cpu`, `cuda`, `webgpu`, or `auto` (cuda when it starts, webgpu on a real GPU adapter, else cpu); ops/backend.ts. */
export type Backend = "cpu" | "cuda" | "webgpu" | "auto";

/** The whole training configuration. */
export interface TrainConfig {
  /** The sampler (datasets, fields and their token layouts, batch size, masking, seed, training time range). */
  sampler: SamplerConfig;
  /** Data loader. */
  loader?: { workers?: number };
  /** The network. */
  model: MultiformerConfig;
  /** AdamW and its schedule. */
  optimizer: OptimizerConfig;
  /** Steps, losses, seed. */
  schedule: ScheduleConfig;
  /** Validation. */
  validation?: ValidationConfig;
  /** Checkpoints. */
  checkpoints: CheckpointConfig;
  /** Compute backend. Default "auto": webgpu on a real GPU adapter, else cpu (own kernels, OpenBLAS when --allow-ffi permits). */
  backend?: Backend;
  /** BLAS threads. Default 1. */
  threads?: number;
}

/**
 * The keys of `T`, each once: a schema typed `KeysOf<T>` fails to compile
 * when the interface gains or loses a key, so the lists below cannot drift
 * from the types they check.
 */
type KeysOf<T> = { [K in keyof Required<T>]: KeySchema[string] };

const MASKING_KEYS = {
  strategy: true,
  rate: true,
  fracMasked: true,
  fracNoised: true,
  fracMultires: true,
  noiseStd: true,
  forecastSlabs: true,
  slabs: true,
  corruption: true,
  synced: true,
} satisfies KeysOf<MaskingConfig>;

/** A space-time grid (numTokens, tokenSize) or point tokens (the rest). */
const TOKEN_KEYS = {
  numTokens: true,
  tokenSize: true,
  pointsPerToken: true,
  healpixOrder: true,
  maxTokens: true,
  timeSteps: true,
} satisfies KeysOf<TokenGrid & PointTokens>;

const FIELD_KEYS = {
  name: true,
  levels: true,
  tokens: TOKEN_KEYS,
  tokenizer: true,
  surface: true,
  normalization: true,
  masking: MASKING_KEYS,
} satisfies KeysOf<FieldConfig>;

const SAMPLER_KEYS = {
  datasets: [{ store: true, norm: true, fields: [FIELD_KEYS] } satisfies KeysOf<DatasetConfig>],
  batchSize: true,
  timeRange: true,
  timeStride: true,
  latRange: true,
  centers: true,
  sharedTimeWindow: true,
  masking: MASKING_KEYS,
  seed: true,
  cacheBytes: true,
  box: true,
} satisfies KeysOf<SamplerConfig>;

const FIELD_MODEL_KEYS = {
  field: true,
  width: true,
  encoderLayers: true,
  decoderLayers: true,
  heads: true,
  coupledWith: true,
  couplingHeads: true,
  ensemble: true,
  predict: true,
  lossWeight: true,
  mlpRatio: true,
  decoderHeads: true,
} satisfies KeysOf<FieldModelConfig>;

const NETWORK_KEYS = {
  projectionBias: true,
  encoderQkNorm: true,
  decoderQkNorm: true,
  mlpLayers: true,
  decoderMlpLayers: true,
  mlpFinalGelu: true,
  gelu: true,
  decoderCrossRatio: true,
  decoderCrossRate: true,
  tailLayers: true,
  tailNorm: true,
  tokenInfo: true,
  validityFlags: true,
  harmonic: true,
  embeddingDropout: true,
} satisfies KeysOf<NetworkOptions>;

const OPTIMIZER_KEYS = {
  lrMax: true,
  lrStart: true,
  lrMin: true,
  warmupSteps: true,
  decayPerStep: true,
  weightDecay: true,
  betas: true,
  eps: true,
  clipNorm: true,
} satisfies KeysOf<OptimizerConfig>;

const CHECKPOINT_KEYS = { dir: true, every: true, keep: true } satisfies KeysOf<CheckpointConfig>;

/** Every key a training configuration may have, at every level (unknown ones are errors). */
const TRAIN_KEYS = {
  sampler: SAMPLER_KEYS,
  loader: { workers: true } satisfies KeysOf<NonNullable<TrainConfig["loader"]>>,
  model: {
    fields: [FIELD_MODEL_KEYS],
    dropout: true,
    tokenInfoWidth: true,
    network: NETWORK_KEYS,
  } satisfies KeysOf<MultiformerConfig>,
  optimizer: OPTIMIZER_KEYS,
  schedule: { steps: true, losses: true, seed: true } satisfies KeysOf<TrainConfig["schedule"]>,
  validation: { timeRange: true, batches: true, every: true } satisfies KeysOf<NonNullable<TrainConfig["validation"]>>,
  checkpoints: CHECKPOINT_KEYS,
  backend: true,
  threads: true,
} satisfies KeysOf<TrainConfig>;

/** Every key of a forecast training configuration, at every level. */
const FORECAST_TRAIN_KEYS = {
  engine: {
    latentWidth: true,
    forecasterLayers: true,
    heads: true,
    neighbours: true,
    inputTimeTokens: true,
    queryFields: true,
    adapterValues: true,
    stencilRadius: true,
    stencilWidth: true,
  } satisfies KeysOf<ForecastEngineConfig>,
  overlap: true,
  timeRange: true,
  phases: [{ steps: true, rollout: true, lr: true } satisfies KeysOf<ForecastPhase>],
  latentNoise: true,
  memberNoise: true,
  // Names of fields, chosen by the user.
  fieldWeights: true,
  seed: true,
  threads: true,
  checkpoints: CHECKPOINT_KEYS,
} satisfies KeysOf<ForecastTrainConfig>;

/** Check a parsed configuration; returns it typed, with the model's field layouts. */
export function checkTrainConfig(raw: unknown, source = "config"): { config: TrainConfig; layouts: FieldLayout[] } {
  need(isObject(raw), source, "must be a JSON object");
  const c = raw as TrainConfig;
  const sections = [
    "sampler",
    "loader",
    "model",
    "optimizer",
    "schedule",
    "validation",
    "checkpoints",
    "backend",
    "threads",
  ];
  needKnownKeys(c, sections, "section");
  needSchemaKeys(c, TRAIN_KEYS);
  for (const k of ["sampler", "model", "optimizer", "schedule", "checkpoints"] as const) {
    need(typeof c[k] === "object" && c[k] !== null, k, "missing section");
  }
  const s = c.sampler;
  need(Array.isArray(s.datasets) && s.datasets.length > 0, "sampler.datasets", "needs at least one dataset");
  s.datasets.forEach((d, i) => {
    need(typeof d.store === "string", `sampler.datasets[${i}].store`, "must be a path");
    need(Array.isArray(d.fields) && d.fields.length > 0, `sampler.datasets[${i}].fields`, "needs fields");
  });
  need(isInt(s.batchSize, 1), "sampler.batchSize", "must be a positive integer");
  need(Number.isInteger(s.seed), "sampler.seed", "must be an integer");
  need(typeof s.masking === "object" && s.masking !== null, "sampler.masking", "missing");
  if (s.timeRange !== undefined) parseTimePair(s.timeRange, "sampler.timeRange");
  const fields = s.datasets.flatMap((d) => d.fields);
  const names = fields.map((f) => f.name);
  need(new Set(names).size === names.length, "sampler.datasets", "field names must be unique across datasets");
  const layouts = fieldLayouts(fields);
  resolveConfig(c.model, layouts, "model");
  const o = c.optimizer;
  need(isPos(o.lrMax), "optimizer.lrMax", "must be a positive number");
  for (const k of ["lrStart", "lrMin", "weightDecay", "eps", "clipNorm"] as const) {
    need(o[k] === undefined || (typeof o[k] === "number" && o[k]! >= 0), `optimizer.${k}`, "must be a number ≥ 0");
  }
  need(o.warmupSteps === undefined || isInt(o.warmupSteps, 0), "optimizer.warmupSteps", "must be an integer ≥ 0");
  need(
    o.decayPerStep === undefined || (o.decayPerStep > 0 && o.decayPerStep <= 1),
    "optimizer.decayPerStep",
    "must be in (0, 1]",
  );
  need(isInt(c.schedule.steps, 1), "schedule.steps", "must be a positive integer");
  for (const [i, l] of (c.schedule.losses ?? []).entries()) {
    need(LOSSES.includes(l), `schedule.losses[${i}]`, `unknown loss "${l}" (known: ${LOSSES.join(", ")})`);
  }
  need(
    c.schedule.seed === undefined || Number.isInteger(c.schedule.seed),
    "schedule.seed",
    "must be an integer",
  );
  if (c.validation) {
    const v = c.validation;
    parseTimePair(v.timeRange, "validation.timeRange");
    need(v.batches === undefined || isInt(v.batches, 1), "validation.batches", "must be a positive integer");
    need(v.every === undefined || isInt(v.every, 1), "validation.every", "must be a positive integer");
  }
  need(typeof c.checkpoints.dir === "string" && c.checkpoints.dir !== "", "checkpoints.dir", "must be a path");
  need(c.checkpoints.every === undefined || isInt(c.checkpoints.every, 1), "checkpoints.every", "must be ≥ 1");
  need(c.checkpoints.keep === undefined || isInt(c.checkpoints.keep, 1), "checkpoints.keep", "must be ≥ 1");
  if (c.backend !== undefined) checkBackendName(c.backend, "backend");
  need(c.threads === undefined || isInt(c.threads, 1), "threads", "must be a positive integer");
  need(
    c.loader?.workers === undefined || isInt(c.loader.workers, 0),
    "loader.workers",
    "must be an integer ≥ 0",
  );
  return { config: c, layouts };
}

/** Read and check a configuration file; errors name the file or the key. */
export function readTrainConfig(path: string): Promise<{ config: TrainConfig; layouts: FieldLayout[] }> {
  return readConfigFile(path, checkTrainConfig);
}

/** One phase of the forecast engine's step schedule. */
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

/** Check a parsed forecast training configuration; errors name the key. */
export function checkForecastTrainConfig(raw: unknown, source = "config"): ForecastTrainConfig {
  need(isObject(raw), source, "must be a JSON object");
  const c = raw as ForecastTrainConfig;
  const keys = [
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
  needKnownKeys(c, keys, "key");
  needSchemaKeys(c, FORECAST_TRAIN_KEYS);
  resolveEngineConfig(c.engine, "engine");
  need(
    c.overlap === undefined ||
      (Array.isArray(c.overlap) && c.overlap.length === 2 && c.overlap.every((v) => isInt(v, 0))),
    "overlap",
    "must be [lat, lon] whole tokens ≥ 0",
  );
  if (c.timeRange !== undefined) parseTimePair(c.timeRange, "timeRange");
  need(Array.isArray(c.phases) && c.phases.length > 0, "phases", "needs at least one {steps, rollout, lr}");
  c.phases.forEach((p, i) => {
    need(isInt(p.steps, 1), `phases[${i}].steps`, "must be a positive integer");
    need(isInt(p.rollout, 1), `phases[${i}].rollout`, "must be a positive integer");
    need(typeof p.lr === "number" && p.lr > 0, `phases[${i}].lr`, "must be a positive number");
  });
  for (const k of ["latentNoise", "memberNoise"] as const) {
    need(c[k] === undefined || (typeof c[k] === "number" && c[k]! >= 0), k, "must be a number ≥ 0");
  }
  need(c.fieldWeights === undefined || isObject(c.fieldWeights), "fieldWeights", "must map field names to weights");
  for (const [field, w] of Object.entries(c.fieldWeights ?? {})) {
    need(typeof w === "number" && Number.isFinite(w) && w >= 0, `fieldWeights.${field}`, "must be a number ≥ 0");
  }
  need(typeof c.checkpoints?.dir === "string" && c.checkpoints.dir !== "", "checkpoints.dir", "must be a path");
  for (const k of ["every", "keep"] as const) {
    const v = c.checkpoints[k];
    need(v === undefined || isInt(v, 1), `checkpoints.${k}`, "must be a positive integer");
  }
  return c;
}

/** Read and check a forecast training configuration file. */
export function readForecastTrainConfig(path: string): Promise<ForecastTrainConfig> {
  return readConfigFile(path, checkForecastTrainConfig);
}
