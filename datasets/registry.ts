/**
 * The kinds of store the sampler reads, in one map built here: an opener
 * per value of a store's `grid` attribute (`regular_ll`: GridDataset,
 * `unstructured`: MeshDataset). A new kind of store is a new entry here.
 *
 * @module
 */
import { readRootAttributes } from "../zarr/reader.ts";
import { StoreError } from "../errors.ts";
import type { ChunkCache } from "./cache.ts";
import type { SampleDataset } from "./dataset.ts";
import { GridDataset } from "./grid.ts";
import { MeshDataset } from "./mesh.ts";

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
