/**
 * Where the ERA5 converter meets cloud stores: inputs open as files or as
 * store selections, and a task's store reads are downloaded before it runs.
 *
 * @module
 */
import { join } from "node:path";
import { openDataset, type SourceDataset } from "../../formats/registry.ts";
import { isSelection } from "./spec.ts";
import { type FetchedCount, StoreSource } from "./source.ts";

/** Open an input: a store selection (see spec.ts) or a file of any registered format. */
export function openInput(path: string): Promise<SourceDataset> {
  return isSelection(path) ? StoreSource.open(path) : openDataset(path);
}

/** The reads of a task, as far as prefetching needs them. */
interface PrefetchRun {
  file: string;
  variable: string;
  levelIndex: number;
  localT: number;
  count: number;
}

/**
 * Download, concurrently, every store plane the runs of a task will read
 * (no-op for file inputs); `root` is the staged store the task writes, whose
 * build directory holds the planes. Returns what came in.
 */
export async function prefetchRuns(
  runs: PrefetchRun[],
  root: string,
  dataset: (path: string) => Promise<SourceDataset>,
): Promise<FetchedCount | undefined> {
  const stores = runs.filter((r) => isSelection(r.file));
  if (stores.length === 0) return undefined;
  const scratch = join(root, ".build", "fetched");
  const counts = await Promise.all(stores.map(async (r) => {
    const ds = await dataset(r.file) as StoreSource;
    ds.scratch = scratch;
    return ds.prefetch(r.variable, r.localT, r.count, r.levelIndex, scratch);
  }));
  return counts.reduce((a, b) => ({ bytes: a.bytes + b.bytes, chunks: a.chunks + b.chunks }), { bytes: 0, chunks: 0 });
}
