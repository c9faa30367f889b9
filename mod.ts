/**
 * atmorep-ts: data pipeline for atmospheric and ocean foundation models.
 *
 * Public API: converters (ERA5 netCDF/GRIB, stratospheric levels, FESOM2 →
 * zarr), zarr store I/O with native codecs, normalization statistics and
 * coefficient sets, store inspection, the multifield sampler with its batch
 * loader and profiler, and the tokenizers (a registry of plug-ins).
 *
 * @module
 */
export { convertEra5, DEFAULT_CHUNKS, expandInputs } from "./converters/era5/convert.ts";
export type { ChunkShape, ConversionSummary, Era5Options, Progress } from "./converters/era5/convert.ts";
export { planConversion, scanFile } from "./converters/era5/inventory.ts";
export type { FieldPlan, FileEntry, Plan, PlanOptions } from "./converters/era5/inventory.ts";
export { converterRegistry, registerConverter } from "./converters/registry.ts";
export type { ConverterPlugin } from "./converters/registry.ts";
export { formatRegistry, openDataset, registerFormat } from "./converters/formats/dataset.ts";
export type { FormatReader, SourceDataset, SourceVariable } from "./converters/formats/dataset.ts";
export { netcdf3Reader } from "./converters/formats/netcdf3.ts";
export { hdf5Reader } from "./converters/formats/hdf5.ts";
export { decodeTimes, packingOf, parseTimeUnits, unpackInto } from "./converters/cf.ts";
export type { Packing, TimeUnits } from "./converters/cf.ts";
export { ArrayReader, ArrayWriter, assertComplete, finalizeStore, readRootAttributes } from "./zarr/store.ts";
export type { ArraySpec, DType, ZarrFormat } from "./zarr/store.ts";
export { codecRegistry, DEFAULT_CODEC, parseCodecSpec } from "./zarr/codecs.ts";
export { emptyMoments, mergeMoments, momentsOf, PointMoments, stdOf } from "./normalization/moments.ts";
export type { Moments } from "./normalization/moments.ts";
export { defaultNormPath } from "./normalization/sets.ts";
export { deriveNormSet } from "./normalization/derive.ts";
export type { DeriveOptions, Pooling } from "./normalization/derive.ts";
export { formatSummary, inspectStore } from "./stores/inspect.ts";
export type { StoreSummary } from "./stores/inspect.ts";
export { VERSION } from "./version.ts";
export { convertFesom, HEALPIX_ORDERS } from "./converters/fesom/convert.ts";
export type { FesomOptions, FesomSummary } from "./converters/fesom/convert.ts";
export { readAsciiMesh, readDiagMesh, readMesh } from "./converters/fesom/mesh.ts";
export type { FesomMesh } from "./converters/fesom/mesh.ts";
export { healpixIds, healpixNested } from "./geometry/healpix.ts";
export { eulerMatrix, rotateVectorsToGeo, triangleAreas, triangleCentroids } from "./geometry/sphere.ts";
export {
  finalizeConversion,
  initConversion,
  partTasks,
  runConversionPart,
  stagePath,
} from "./converters/era5/convert.ts";
export type { BuildState } from "./converters/era5/convert.ts";
export { fullLevelPressure, REFERENCE_SURFACE_PRESSURE, splitPv } from "./converters/era5/levels.ts";
export { convertStrato, levelsInRange, STRATO_FIELDS, STRATO_LOG } from "./converters/strato/convert.ts";
export type { StratoOptions } from "./converters/strato/convert.ts";
export { slurmScripts } from "./converters/slurm/script.ts";
export type { SlurmOptions } from "./converters/slurm/script.ts";
export { GribDataset, gribReader } from "./converters/formats/grib/dataset.ts";
export {
  decodeMessage,
  FileReader,
  gaussianLatitudes,
  gridPoints,
  scanGrib,
} from "./converters/formats/grib/message.ts";
export type { GribGrid, GribMessage } from "./converters/formats/grib/message.ts";
export { grib1Param, grib2Param } from "./converters/formats/grib/params.ts";
export { MultifieldSampler } from "./samplers/sampler.ts";
export type { DatasetConfig, FieldConfig, FieldSlot, SamplerConfig, Unit, UnitResult } from "./samplers/sampler.ts";
export { accumulate, allocateField, fieldBytes, MASK, maskedInput, tokenShape } from "./samplers/batch.ts";
export type { Batch, BatchTimings, FieldBatch, PointSlots, ReadStats, SampleInfo } from "./samplers/batch.ts";
export { gatherTokens } from "./samplers/gather.ts";
export type { GatherRequest } from "./samplers/gather.ts";
export { CachedArray, ChunkCache } from "./samplers/cache.ts";
export { NormSet, RegularDataset } from "./samplers/regular.ts";
export { MeshDataset, MeshNormSet } from "./samplers/unstructured.ts";
export { maskTokens } from "./samplers/masking.ts";
export type { MaskingConfig } from "./samplers/masking.ts";
export { Rng } from "./samplers/rng.ts";
export { BatchLoader } from "./samplers/loader.ts";
export type { LoadedBatch, LoaderOptions, UnitTrace } from "./samplers/loader.ts";
export { formatProfile, profileLoader } from "./samplers/profile.ts";
export type { Profile, ProfileOptions, ProfileRow } from "./samplers/profile.ts";
export { detokenize, extent, TOKEN_INFO, tokenize, tokenLength } from "./tokenizers/regular.ts";
export type { TokenGrid } from "./tokenizers/regular.ts";
export { gatherPoints, layoutPoints, pointsInBox, scatterPoints } from "./tokenizers/unstructured.ts";
export type { PointLayout, PointTokens } from "./tokenizers/unstructured.ts";
export {
  healpixPointsTokenizer,
  registerTokenizer,
  regularTokenizer,
  tokenizerFor,
  tokenizerRegistry,
} from "./tokenizers/registry.ts";
export type { TokenizerPlugin, TokenLayout } from "./tokenizers/registry.ts";
export { nativeZstd, nodeZstd, zstd } from "./zarr/zstd.ts";
export type { Zstd } from "./zarr/zstd.ts";
export { convertGaussian } from "./converters/gaussian/convert.ts";
export type { GaussianOptions, GaussianSummary } from "./converters/gaussian/convert.ts";
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

// Model and training (ops/, models/, training/).
export {
  add,
  addBroadcast,
  attention,
  concatLast,
  constant,
  dropout,
  gatherRows,
  gelu,
  gemm,
  layerNorm,
  linear,
  openblasGemm,
  parameter,
  Random,
  scale,
  scaleRows,
  Tensor,
  typescriptGemm,
  useGemm,
  valueAndGrad,
} from "./ops/mod.ts";
export type { AttentionInput, AttentionOptions, Gemm } from "./ops/mod.ts";
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
export { train } from "./training/loop.ts";
export type { MetricsLine, TrainOptions, TrainSummary } from "./training/loop.ts";
export { latestCheckpoint, readCheckpoint, writeCheckpoint } from "./training/checkpoint.ts";
export type { Checkpoint, CheckpointHeader } from "./training/checkpoint.ts";
export { lossCurvePng } from "./training/plot.ts";
