/**
 * What the sampler needs of an opened store, whatever its grid: its time
 * axis, field checks, and how a window is placed on it. Stores are opened
 * by their `grid` attribute through a registry, so a new kind of store is a
 * new entry here, not an edit of the sampler.
 *
 * @module
 */
import { readRootAttributes } from "../zarr/reader.ts";
import { StoreError } from "../errors.ts";
import type { ChunkCache } from "./cache.ts";
import type { Window, WindowShape } from "./window.ts";
import { GridDataset } from "./grid.ts";
import { MeshDataset } from "./mesh.ts";

/** Random numbers for placement (samplers/rng.ts implements it). */
export interface RandomSource {
  /** Uniform in [0, 1). */
  next(): number;
  /** Uniform integer in [0, n). */
  int(n: number): number;
}

/** An opened store that windows can be placed on and read from. */
export interface SampleDataset {
  /** Store path. */
  readonly root: string;
  /** The store's `grid` attribute (what tokenizers read). */
  readonly grid: string;
  /** Times, seconds since 1970. */
  readonly times: Float64Array;
  /** Equal for stores whose windows are placed alike (same grid points, in the same order). */
  readonly gridKey: string;
  /** Shape of one field level's points ([lat, lon] on a grid, [points] on a mesh). */
  pointShape(field: string): number[];
  /** Throw a clear error when a field config does not fit the store (unknown field, level or surface field). */
  checkField(field: string, levels: number[], surface?: string): void;
  /** Throw when windows of `shape` cannot be placed on this store as the first dataset. */
  checkShape(shape: WindowShape): void;
  /** A random window ending at time index `end` with centre latitude `lat` (placement draws the rest). */
  randomWindow(rng: RandomSource, end: number, lat: number, shape: WindowShape): Window;
  /** The window ending at time index `end` centred (as near as the grid allows) at `lat`, `lon`. */
  windowAt(end: number, lat: number, lon: number, shape: WindowShape): Window;
  /**
   * Windows ending at time index `end` that cover every point of the store
   * (datasets/tiling.ts), neighbours overlapping by `overlap` tokens of `token` points.
   */
  tiles(end: number, shape: WindowShape, token: [number, number], overlap: [number, number]): Window[];
}

/** Opens a store of one grid kind. */
export type DatasetOpener = (root: string, cache: ChunkCache) => SampleDataset;

/** Openers by the store's `grid` attribute. */
export const datasetRegistry: Map<string, DatasetOpener> = new Map<string, DatasetOpener>([
  ["regular_ll", (root, cache) => new GridDataset(root, cache)],
  ["unstructured", (root, cache) => new MeshDataset(root, cache)],
]);

/** Open a store by its `grid` attribute. */
export function openSampleDataset(root: string, cache: ChunkCache): SampleDataset {
  const grid = String(readRootAttributes(root).grid ?? "regular_ll");
  const open = datasetRegistry.get(grid);
  if (!open) {
    throw new StoreError(root, `no reader for grid "${grid}" (known: ${[...datasetRegistry.keys()].join(", ")})`);
  }
  return open(root, cache);
}
