/**
 * The tokenizer plug-in interface. A plug-in owns everything that depends
 * on how a kind of store is cut into tokens: the layout check, the token
 * shape, how a field's levels split into units of work, cutting windows
 * into tokens with normalization fused into the copy, token info, what is
 * padding, and the exact inverse (tokens back to the grid or the points,
 * in physical units). The sampler calls these and knows no store kind.
 *
 * @module
 */
import type { SampleDataset } from "../datasets/dataset.ts";
import type { Window, WindowShape } from "../datasets/window.ts";
import type { BatchTimings, ReadStats } from "../datasets/counters.ts";
import type { CoefficientSet } from "../normalization/coefficients.ts";

/** Where the points of a points field's token slots come from, per sample. */
export interface PointSlots {
  /** (batch, maxTokens·pointsPerToken) point index, −1 for padding. */
  index: Int32Array;
  /** (batch, maxTokens·pointsPerToken, 2) latitude and longitude of each slot (0 for padding). */
  coords: Float32Array;
  /** (batch) tokens holding points. */
  tokens: Int32Array;
  /** (batch) points of the neighborhood beyond maxTokens tokens. */
  dropped: Int32Array;
  /** (batch) store time index of the first step. */
  t0: Int32Array;
}

/** The arrays a field's tokens are cut into: (batch, L, N, V) tokens, (batch, L, N, 8) token info. */
export interface TokenArrays {
  /** Normalized token values. */
  tokens: Float32Array;
  /** Token info. */
  tokenInfo: Float32Array;
  /** Points tokenizers: slot → point. */
  points?: PointSlots;
}

/** A field as a tokenizer sees it. */
export interface TokenField {
  /** Field name in the store. */
  name: string;
  /** Levels (a single-level field takes [0]). */
  levels: number[];
  /** A single-level field of the same store that provides level 0. */
  surface?: string;
  /** Per-point coefficients (else per level). */
  local: boolean;
}

/** Cut one unit (some levels of one field, every sample of a batch) into tokens. */
export interface CutRequest<L> {
  /** The store. */
  dataset: SampleDataset;
  /** Its coefficient set. */
  coefficients: CoefficientSet;
  /** The field. */
  field: TokenField;
  /** Token layout (checked). */
  layout: L;
  /** Level indices of this unit. */
  levels: number[];
  /** One window per sample (in the first dataset's coordinates). */
  windows: Window[];
  /** Output arrays of the whole field. */
  out: TokenArrays;
  /** Stage times, added to. */
  timings: BatchTimings;
  /** Read counters, added to. */
  stats: ReadStats;
}

/** Turn one sample's tokens of one level back into physical values. */
export interface RestoreRequest<L> {
  /** The store. */
  dataset: SampleDataset;
  /** Its coefficient set. */
  coefficients: CoefficientSet;
  /** The field. */
  field: TokenField;
  /** Token layout. */
  layout: L;
  /** Level index. */
  level: number;
  /** The sample's window. */
  window: Window;
  /** N·V normalized token values of this sample and level. */
  tokens: Float32Array;
  /** Points tokenizers: the slots of this sample (index and t0 of `PointSlots` for this sample). */
  points?: { index: Int32Array; t0: number };
}

/** Physical values restored from tokens. */
export interface Restored {
  /** Values, C order of `shape`. */
  values: Float32Array;
  /** (T, H, W) on a grid; (T, P) on points. */
  shape: number[];
  /** Points: the store's point index of each of the P columns. */
  points?: Int32Array;
  /** Store time index of the first step. */
  t0: number;
}

/** A tokenizer plug-in. */
export interface TokenizerPlugin<L = unknown> {
  /** Registry name. */
  readonly name: string;
  /** The store grid it reads (a store's `grid` attribute). */
  readonly grid: string;
  /** Check the layout of a field config; throws naming `where` and the problem. */
  check(layout: unknown, where: string): L;
  /** Tokens per level and values per token. */
  shape(layout: L): { tokens: number; values: number };
  /** The window this layout covers when its store places the samples (time steps; rows × columns on a grid). */
  windowShape(layout: L): WindowShape;
  /** How the levels of a field split into independent units of work (lists of level indices). */
  units(levels: number): number[][];
  /** Token grid and token size that masking works on (coarsening and slabs follow it). */
  maskGeometry(layout: L): [[number, number, number], [number, number, number]];
  /** Padding tokens of sample `s` (never masking targets), or undefined when there are none. */
  padding(layout: L, out: TokenArrays, sample: number): ((token: number) => boolean) | undefined;
  /** Extra per-sample arrays of the batch (points slots), allocated on `alloc`. */
  allocate(layout: L, batchSize: number, alloc: (bytes: number) => ArrayBufferLike): PointSlots | undefined;
  /** Bytes of {@link allocate}'s arrays. */
  extraBytes(layout: L, batchSize: number): number;
  /** Cut windows into normalized tokens and token info. */
  cut(req: CutRequest<L>): void;
  /** The exact inverse of {@link cut} for one sample and level, in physical units. */
  restore(req: RestoreRequest<L>): Restored;
}

/** The store field and level behind level `level` of a field: its `surface` field for level 0 when set. */
export function levelSource(field: TokenField, level: number): { name: string; level: number } {
  return field.surface !== undefined && level === 0 ? { name: field.surface, level: 0 } : { name: field.name, level };
}
