/**
 * `inspect` of a store opened by URL (zarr/url_store.ts): the same summary
 * as of a store on disk, with the remote store's chunk files found by HEAD
 * requests (no listing over HTTP) and the coefficient sets beside it found
 * by the names a conversion gives them (the store's `normalization`
 * attribute, `NAME.norm.zarr`); paths in it are URLs.
 *
 * @module
 */
import { IncompleteStoreError } from "../errors.ts";
import { readRootAttributes } from "../zarr/reader.ts";
import { namedByUrl, withUrls } from "../zarr/mirror.ts";
import { publicUrl } from "../zarr/http.ts";
import { listArrays, openStoreUrl, type UrlCacheOptions, withDownloads } from "../zarr/url_store.ts";
import { PLAUSIBLE_RANGES, type Range } from "../normalization/plausible.ts";
import { inspectStore, type StoreSummary, summarizedArrays } from "./inspect.ts";

/** The URLs where a conversion puts a store's coefficient sets, by the names it gives them. */
export function normSetUrls(url: string, attrs: Record<string, unknown>): string[] {
  const base = publicUrl(url);
  const dir = base.slice(0, base.lastIndexOf("/"));
  const named = typeof attrs.normalization === "string" && attrs.normalization ? [`${dir}/${attrs.normalization}`] : [];
  return [...new Set([...named, base.replace(/\.zarr$/, "") + ".norm.zarr"])];
}

/** Summarise a store given by URL (its chunks listed, the coefficient sets beside it opened). */
export async function inspectStoreUrl(
  url: string,
  ranges: Record<string, Range> = PLAUSIBLE_RANGES,
  cache: UrlCacheOptions = {},
): Promise<StoreSummary> {
  const root = await openStoreUrl(url, cache);
  const attrs = readRootAttributes(root);
  if (attrs.kind !== "normalization") {
    for (const set of normSetUrls(url, attrs)) {
      try {
        await openStoreUrl(set, cache);
      } catch (e) {
        if (!(e instanceof IncompleteStoreError)) throw e;
      }
    }
  }
  try {
    await listArrays(root, summarizedArrays(root));
    const summary = await withDownloads(() => inspectStore(root, ranges));
    return JSON.parse(withUrls(JSON.stringify(summary)));
  } catch (e) {
    throw namedByUrl(e);
  }
}
