/**
 * atmorep-ts: data pipeline for atmospheric and ocean foundation models.
 *
 * The stable public API: converters (ERA5 netCDF/GRIB, stratospheric
 * levels, reduced Gaussian GRIB, FESOM2 → zarr) and their parallel protocol,
 * coefficient sets (derive, read, apply, invert, identify), store
 * inspection, the datasets and windows the sampler reads, tokenizer
 * plug-ins, the multifield sampler with its batch format, loader and
 * profiler, and the tagged errors. Internals stay importable by path.
 *
 * @module
 */

// Errors.
export {
  CheckpointError,
  ConfigError,
  IncompleteStoreError,
  InputError,
  isPipelineError,
  NormalizationError,
  PipelineError,
  StoreError,
} from "./errors.ts";
export type { ErrorKind, ErrorOptions } from "./errors.ts";
export { VERSION } from "./version.ts";

// Converters.
export {
  convertEra5,
  DEFAULT_CHUNKS,
  finalizeConversion,
  initConversion,
  runConversionPart,
} from "./converters/era5/convert.ts";
export type { ChunkShape, ConversionSummary, Era5Options, Progress } from "./converters/era5/convert.ts";
export { convertStrato, STRATO_FIELDS, STRATO_LOG } from "./converters/strato/convert.ts";
export type { StratoOptions } from "./converters/strato/convert.ts";
export { convertFesom, HEALPIX_ORDERS } from "./converters/fesom/convert.ts";
export type { FesomOptions, FesomSummary } from "./converters/fesom/convert.ts";
export { readMesh } from "./converters/fesom/mesh.ts";
export type { FesomMesh } from "./converters/fesom/mesh.ts";
export { convertGaussian } from "./converters/gaussian/convert.ts";
export type { GaussianOptions, GaussianSummary } from "./converters/gaussian/convert.ts";
export { slurmScripts } from "./converters/slurm/script.ts";
export type { SlurmOptions } from "./converters/slurm/script.ts";
export { converterRegistry, registerConverter } from "./converters/registry.ts";
export type { ConverterPlugin } from "./converters/registry.ts";
export { formatRegistry, registerFormat } from "./converters/formats/dataset.ts";
export type {
  FileStamp,
  FormatReader,
  LocatedFile,
  LocatedVariable,
  SourceDataset,
  SourceVariable,
} from "./converters/formats/dataset.ts";

// Coefficient sets.
export { defaultNormPath } from "./normalization/sets.ts";
export { deriveNormSet } from "./normalization/derive.ts";
export type { DeriveOptions, Pooling } from "./normalization/derive.ts";
export { CoefficientSet, denormalizeInPlace, normalizeInPlace } from "./normalization/coefficients.ts";
export type { GridRegion, Scaling } from "./normalization/coefficients.ts";
export { assertSameCoefficientSet, coefficientSetIdentity } from "./normalization/identity.ts";
export type { CoefficientSetIdentity } from "./normalization/identity.ts";
export { logTransform, transformFromSpec, transformRegistry } from "./normalization/transforms.ts";
export type { TransformSpec, ValueTransform } from "./normalization/transforms.ts";

// Stores.
export { formatSummary, inspectStore } from "./stores/inspect.ts";
export type { StoreSummary } from "./stores/inspect.ts";

// Datasets and windows.
export { datasetRegistry, openSampleDataset } from "./datasets/dataset.ts";
export type { DatasetOpener, RandomSource, SampleDataset } from "./datasets/dataset.ts";
export { GridDataset } from "./datasets/grid.ts";
export { MeshDataset } from "./datasets/mesh.ts";
export { ChunkCache } from "./datasets/cache.ts";
export { toSeconds } from "./datasets/window.ts";
export type { Window, WindowRequest, WindowShape } from "./datasets/window.ts";
export { tileGrid } from "./datasets/tiling.ts";
export type { TilingGrid, TilingOptions } from "./datasets/tiling.ts";

// Tokenizers.
export { registerTokenizer, tokenizerFor, tokenizerRegistry } from "./tokenizers/registry.ts";
export type {
  CutRequest,
  PointSlots,
  Restored,
  RestoreRequest,
  TokenArrays,
  TokenField,
  TokenizerPlugin,
} from "./tokenizers/plugin.ts";
export { detokenize, extent, patchTokenizer, TOKEN_INFO, tokenize } from "./tokenizers/patches.ts";
export type { TokenGrid } from "./tokenizers/patches.ts";
export { healpixPointsTokenizer, layoutPoints, scatterPoints } from "./tokenizers/healpix_points.ts";
export type { PointLayout, PointTokens } from "./tokenizers/healpix_points.ts";

// Sampler, batches, loader, profiler.
export { MultifieldSampler } from "./samplers/sampler.ts";
export type {
  BatchAtOptions,
  DatasetConfig,
  FieldConfig,
  FieldSlot,
  SamplerConfig,
  Unit,
  UnitResult,
} from "./samplers/sampler.ts";
export { fieldBytes, MASK, maskedInput } from "./samplers/batch.ts";
export type { Batch, BatchTimings, FieldBatch, ReadStats } from "./samplers/batch.ts";
export type { MaskingConfig } from "./samplers/masking.ts";
export { BatchLoader } from "./samplers/loader.ts";
export type { LoadedBatch, LoaderOptions, UnitTrace } from "./samplers/loader.ts";
export { formatProfile, profileLoader } from "./samplers/profile.ts";
export type { Profile, ProfileOptions, ProfileRow } from "./samplers/profile.ts";

// Model and training (ops/, models/, training/).
export { gemm, openblasGemm, Tensor, typescriptGemm, useGemm } from "./ops/mod.ts";
export type { Gemm } from "./ops/mod.ts";
export { Multiformer } from "./models/multiformer.ts";
export type { FieldOutput, ForwardOptions } from "./models/multiformer.ts";
export { fieldLayouts, resolveConfig } from "./models/config.ts";
export type { FieldLayout, FieldModelConfig, MultiformerConfig, ResolvedField } from "./models/config.ts";
export { fieldInput } from "./models/inputs.ts";
export type { FieldInput, FieldTargets } from "./models/inputs.ts";
export { ensembleMeanMse, fieldLoss, LOSSES } from "./training/losses.ts";
export type { LossName } from "./training/losses.ts";
export { AdamW, learningRate } from "./training/adamw.ts";
export type { OptimizerConfig } from "./training/adamw.ts";
export { evalStep, modelInputs, modelLoss, trainStep } from "./training/step.ts";
export type { StepResult } from "./training/step.ts";
export { checkTrainConfig, readTrainConfig } from "./training/config.ts";
export type { CheckpointConfig, ScheduleConfig, TrainConfig, ValidationConfig } from "./training/config.ts";
export { train } from "./training/tasks/masked_token.ts";
export type { MetricsLine, TrainOptions, TrainSummary } from "./training/tasks/masked_token.ts";
export { latestCheckpoint, readCheckpoint, writeCheckpoint } from "./models/checkpoint.ts";
export type { Checkpoint, CheckpointHeader } from "./models/checkpoint.ts";
export { lossCurvePng } from "./training/plot.ts";

// Forecast engine: tiling + blending, global rollout, engine stepper, training, forecast store, scores, maps.
export { cutTile, taper1d, TileBlender } from "./forecast/blend.ts";
export type { BlendGrid, BlendOptions, TilePlace } from "./forecast/blend.ts";
export { GlobalRollout } from "./forecast/rollout.ts";
export type { Plane, RolloutState, StepContext, Stepper } from "./forecast/rollout.ts";
export { MeshRollout, MeshTimeAxis } from "./forecast/mesh.ts";
export type { MeshPlane, MeshWindow } from "./forecast/mesh.ts";
export { baseSampler, engineFields, EngineStepper, loadFrozenBase } from "./forecast/stepper.ts";
export type { EngineStepperOptions, FrozenBase } from "./forecast/stepper.ts";
export type { ForecastHeader } from "./models/checkpoint.ts";
export { checkForecastTrainConfig, readForecastTrainConfig } from "./training/config.ts";
export type { ForecastPhase, ForecastTrainConfig } from "./training/config.ts";
export { rolloutLoss, trainForecastEngine } from "./training/tasks/engine_rollout.ts";
export type { ForecastTrainOptions, ForecastTrainSummary } from "./training/tasks/engine_rollout.ts";
export { runForecast } from "./forecast/run.ts";
export type { ForecastRunOptions, ForecastRunSummary } from "./forecast/run.ts";
export { ForecastStoreWriter } from "./forecast/store.ts";
export type { ForecastStoreOptions, MeshStoreOptions } from "./forecast/store.ts";
export { anomalyCorrelation, ensembleCrps, latitudeWeights, ScoreBoard, weightedMse } from "./forecast/scores.ts";
export type { PlaneScores, ScoreSample } from "./forecast/scores.ts";
export { forecastMapPng, scorePlotPng } from "./forecast/maps.ts";
export type { GridField, MapOptions, ScoreLine } from "./forecast/maps.ts";
export { ForecastEngine, resolveEngineConfig } from "./models/forecast_engine.ts";
export type {
  EngineField,
  EngineInput,
  EngineOutput,
  ForecastEngineConfig,
  ResolvedEngineConfig,
} from "./models/forecast_engine.ts";
