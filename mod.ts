/**
 * atmorep-ts: data pipeline for atmospheric and ocean foundation models.
 *
 * The stable public API: converters (ERA5 netCDF/GRIB, stratospheric
 * levels, reduced Gaussian GRIB, FESOM2 → zarr) and their parallel protocol,
 * coefficient sets (derive, read, apply, invert, identify), store
 * inspection, the datasets and windows the sampler reads, tokenizer
 * plug-ins, the multifield sampler with its batch format, loader and
 * profiler, and the tagged errors. The model, its ops and training are the
 * `./model` entry (model.ts), forecast inference the `./forecast` entry
 * (forecast.ts); internals stay importable by path.
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
export { detectFormat, formatRegistry, registerFormat } from "./converters/formats/registry.ts";
export type { FormatMatch } from "./converters/formats/registry.ts";
export type {
  FileStamp,
  FormatReader,
  FormatRefusal,
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
export { logTransform } from "./normalization/transforms.ts";
export { transformFromSpec, transformRegistry } from "./normalization/registry.ts";
export type { TransformSpec, ValueTransform } from "./normalization/transforms.ts";

// Stores.
export { formatSummary, inspectStore } from "./stores/inspect.ts";
export type { StoreSummary } from "./stores/inspect.ts";

// Datasets and windows.
export { datasetRegistry, openSampleDataset } from "./datasets/registry.ts";
export type { DatasetOpener } from "./datasets/registry.ts";
export type { RandomSource, SampleDataset } from "./datasets/dataset.ts";
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
export { detokenize, patchTokenizer, TOKEN_INFO, tokenize } from "./tokenizers/patches.ts";
export type { TokenGrid } from "./tokenizers/patches.ts";
export { healpixPointsTokenizer } from "./tokenizers/healpix_points.ts";
export type { PointTokens } from "./tokenizers/healpix_points.ts";

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
