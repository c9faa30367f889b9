/**
 * The `./model` entry: the networks (the Multiformer and the forecast
 * engine), the tensor type and backend choice a user of them needs, and
 * training (the masked-token loop, the engine's rollout training,
 * checkpoints, losses, optimizer, single steps). The kernels themselves
 * (sgemm, attention, layer norm, WebGPU) stay importable by path
 * (`ops/mod.ts`).
 *
 * @module
 */

// Models.
export { Multiformer } from "./models/multiformer.ts";
export type { FieldOutput, ForwardOptions } from "./models/multiformer.ts";
export { ATMOREP_NETWORK, fieldLayouts, resolveConfig } from "./models/config.ts";
export type {
  FieldLayout,
  FieldModelConfig,
  MultiformerConfig,
  NetworkOptions,
  ResolvedField,
} from "./models/config.ts";
// AtmoRep's checkpoints (`*.mod` + json) in and out.
export {
  assembleAtmorep,
  atmorepConfig,
  atmorepJson,
  describeAtmorep,
  importAtmorep,
  readAtmorepConfig,
  writeAtmorep,
} from "./models/atmorep_import.ts";
export type {
  AssembledAtmorep,
  AtmorepField,
  AtmorepFieldSpec,
  AtmorepModelConfig,
  ImportedAtmorep,
} from "./models/atmorep_import.ts";
export { readTorchStateDict, torchStateDictBytes } from "./models/torch_archive.ts";
export type { StateTensor } from "./models/torch_archive.ts";
export { fieldInput } from "./models/inputs.ts";
export type { FieldInput, FieldTargets } from "./models/inputs.ts";
export { ForecastEngine, resolveEngineConfig } from "./models/forecast_engine.ts";
export type {
  EngineField,
  EngineInput,
  EngineOutput,
  ForecastEngineConfig,
  ResolvedEngineConfig,
} from "./models/forecast_engine.ts";

// Tensors, random streams and the backend (cpu, cuda, webgpu, auto).
export { Tensor } from "./ops/tensor.ts";
export type { Gemm } from "./ops/blas.ts";
export { Random } from "./random.ts";
export * as backend from "./ops/backend.ts";

// Training: the loop and its config, the engine's rollout training, checkpoints.
export { checkTrainConfig, readTrainConfig } from "./training/config.ts";
export type { CheckpointConfig, ScheduleConfig, TrainConfig, ValidationConfig } from "./training/config.ts";
export { train } from "./training/train.ts";
export type { MetricsLine } from "./training/tasks/masked_token.ts";
export type { TrainOptions, TrainSummary } from "./training/train.ts";
export { checkForecastTrainConfig, readForecastTrainConfig } from "./training/config.ts";
export type { ForecastPhase, ForecastTrainConfig } from "./training/config.ts";
export { trainForecastEngine } from "./training/tasks/engine_rollout.ts";
export type { ForecastTrainOptions, ForecastTrainSummary } from "./training/tasks/engine_rollout.ts";
export { latestCheckpoint, readCheckpoint, writeCheckpoint } from "./models/checkpoint.ts";
export type { Checkpoint, CheckpointHeader } from "./models/checkpoint.ts";
export { lossCurvePng } from "./training/plot.ts";

// Training pieces for a loop of one's own: losses, optimizer, one step.
export { fieldLoss, LOSSES } from "./training/losses.ts";
export type { LossName } from "./training/losses.ts";
export { AdamW, learningRate } from "./training/adamw.ts";
export type { OptimizerConfig } from "./training/adamw.ts";
export { evalStep, modelLoss, trainStep } from "./training/step.ts";
export { modelInputs } from "./models/inputs.ts";
export type { StepResult } from "./training/step.ts";
