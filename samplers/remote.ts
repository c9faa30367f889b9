/**
 * Sampler configurations that name stores by URL (`https://…`, `gs://…`,
 * `s3://…`; zarr/url_store.ts): each such store, and the coefficient set
 * it names or the one given by URL, is opened into the URL cache, and the
 * configuration is rewritten to read their mirrors. What opening a sampler
 * reads (time axis, coordinates) is downloaded then; what a batch reads is
 * downloaded by the loader before the batch is made ({@link runPrepared}).
 *
 * @module
 */
import { readRootAttributes } from "../zarr/reader.ts";
import { namedByUrl } from "../zarr/mirror.ts";
import { isUrl, openStoreUrl, remoteState, type UrlCacheOptions, withDownloads } from "../zarr/url_store.ts";
import { publicUrl } from "../zarr/http.ts";
import { type DatasetConfig, MultifieldSampler, type SamplerConfig } from "./sampler.ts";

/** True when a dataset of the configuration is given by URL. */
export function usesUrls(config: SamplerConfig): boolean {
  return config.datasets.some((d) => isUrl(d.store) || (d.norm !== undefined && isUrl(d.norm)));
}

/**
 * The configuration with every store and coefficient set given by URL
 * replaced by its opened mirror (unchanged without URLs); opening a
 * sampler on it has downloaded what opening reads.
 */
export async function openRemoteSampler(config: SamplerConfig, cache: UrlCacheOptions = {}): Promise<SamplerConfig> {
  if (!usesUrls(config)) return config;
  const datasets = await Promise.all(config.datasets.map((d) => openRemoteDataset(d, cache)));
  const opened = { ...config, datasets };
  await runPrepared(() => new MultifieldSampler(opened));
  return opened;
}

async function openRemoteDataset(d: DatasetConfig, cache: UrlCacheOptions): Promise<DatasetConfig> {
  if (!isUrl(d.store)) return d.norm && isUrl(d.norm) ? { ...d, norm: await openStoreUrl(d.norm, cache) } : d;
  const store = await openStoreUrl(d.store, cache);
  return { ...d, store, norm: await openStoreUrl(d.norm ?? defaultNormUrl(d.store, store), cache) };
}

/** The coefficient set a store opened by URL names (beside it), or `NAME.norm.zarr` (as the sampler's default). */
function defaultNormUrl(url: string, mirror: string): string {
  const base = publicUrl(url);
  const name = readRootAttributes(mirror).normalization;
  if (typeof name === "string" && name) return `${base.slice(0, base.lastIndexOf("/"))}/${name}`;
  return base.replace(/\.zarr$/, "") + ".norm.zarr";
}

/**
 * Run a synchronous read of the sampler (opening it, a unit): when stores
 * were opened by URL in this thread, after downloading what it reads
 * (errors naming URLs, not cache paths); else at once.
 */
export async function runPrepared<T>(fn: () => T): Promise<T> {
  if (!remoteState()) return fn();
  try {
    return await withDownloads(fn);
  } catch (e) {
    throw namedByUrl(e);
  }
}
