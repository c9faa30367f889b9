/**
 * Stores opened by URL (read-only): `https://…`, `gs://…` and `s3://…`
 * (their public HTTPS endpoints, zarr/http.ts). Opening fetches the
 * store's root metadata and the metadata documents of every node it
 * lists (byte for byte) into a mirror directory of the URL cache
 * (zarr/mirror.ts); the synchronous readers then read the mirror.
 * {@link withDownloads} runs a synchronous read (a sampler unit, an
 * inspection) as passes: the chunk files a pass misses are downloaded
 * (concurrently, a bounded pool, with zarr/http.ts's retries) and the pass
 * runs again, until one misses nothing.
 *
 * Every download is verified before it enters the cache: a chunk is
 * decoded to its exact size, a shard's index must pass its CRC-32C and
 * each inner chunk must decode; a failure, or a 404 for a chunk of an array
 * whose metadata says every chunk was written, is a {@link StoreError}
 * naming the URL. Files are written under a temporary name and renamed,
 * so a reader never sees part of one. Nothing is ever written to the
 * remote store.
 *
 * The cache and its bound are zarr/url_cache.ts's. A store whose root
 * metadata changed since it was cached is cached again from scratch.
 *
 * @module
 */
import { join } from "node:path";
import { ConfigError, IncompleteStoreError, StoreError } from "../errors.ts";
import { HttpStore, isUrl, publicUrl, requireNetPermission } from "./http.ts";
import { pathExists } from "./publish.ts";
import {
  markAbsent,
  type Mirror,
  mirrorOf,
  recordReads,
  registeredMirrors,
  registerMirror,
  setListing,
} from "./mirror.ts";
import { ArrayReader } from "./reader.ts";
import { decodeChunk } from "./codecs.ts";
import { chunkKey, DTYPE_BYTES } from "./metadata.ts";
import { gridIndices, gridShape } from "./chunk_grid.ts";
import { checkShardIndex, chunksPerShard, EMPTY_ENTRY, indexBytes } from "./shard.ts";
import {
  DEFAULT_CACHE_MAX,
  defaultCacheDir,
  evict,
  parseByteSize,
  touch,
  trimAfterRun,
  type UrlCacheOptions,
  writeAtomically,
} from "./url_cache.ts";

export { DEFAULT_CACHE_MAX, defaultCacheDir, isUrl, parseByteSize, type UrlCacheOptions };

/** The settings a loader hands its workers, so they read the same mirrors through the same cache. */
export interface RemoteState {
  /** The mirrors opened. */
  mirrors: Mirror[];
  /** The cache. */
  cache: Required<UrlCacheOptions>;
}

let settings: Required<UrlCacheOptions> | undefined;
const stores = new Map<string, HttpStore>();
const readers = new Map<string, ArrayReader>();

/**
 * Fail, naming the flags to run with instead, when this process may not
 * connect to the store's host or write the cache directory.
 */
export async function checkUrlAccess(
  input: string,
  options: UrlCacheOptions,
  rerun: { flags: string; script: string },
): Promise<void> {
  const host = await requireNetPermission(publicUrl(input), rerun);
  const dir = options.dir ?? settings?.dir ?? defaultCacheDir();
  if ((await Deno.permissions.query({ name: "write", path: dir })).state !== "granted") {
    throw new ConfigError(
      "--cache-dir",
      `this process may not write the URL cache ${dir}: give a --cache-dir it may write, or run ` +
        `\`deno run ${rerun.flags} --allow-net=${host} ${rerun.script} …\``,
    );
  }
}

function cacheSettings(o: UrlCacheOptions = {}): Required<UrlCacheOptions> {
  settings ??= {
    dir: o.dir ?? defaultCacheDir(),
    maxBytes: o.maxBytes ?? DEFAULT_CACHE_MAX,
    connections: o.connections ?? 8,
  };
  return settings;
}

/** The mirror directory of a URL: scheme, host and path below the cache directory. */
function mirrorDir(dir: string, url: string): string {
  const u = new URL(url);
  const parts = u.pathname.split("/").filter((p) => p.length > 0).map(decodeURIComponent);
  if (parts.some((p) => p === ".." || p === "." || p.includes("\0"))) {
    throw new ConfigError(url, "a store URL may not contain . or .. segments");
  }
  return join(dir, u.protocol.replace(":", ""), u.host.replace(":", "_"), ...parts);
}

/**
 * Open a store by URL: fetch its root metadata, write the metadata of
 * every node into its mirror, and register it. Returns the mirror's
 * directory, which every reader of this thread can then open as a store.
 */
export async function openStoreUrl(input: string, options: UrlCacheOptions = {}): Promise<string> {
  const url = publicUrl(input);
  const cache = cacheSettings(options);
  const root = mirrorDir(cache.dir, url);
  if (stores.has(root)) return root;
  const http = new HttpStore(url, cache.connections);
  const [v2, v3] = await Promise.all([http.get(".zmetadata"), http.get("zarr.json")]);
  const layout = v2 ? await v2Layout(http, v2) : v3 ? v3Layout(v3, url) : undefined;
  if (!layout) {
    throw new IncompleteStoreError(
      url,
      "not a zarr store (no .zmetadata or zarr.json): a conversion that did not finish, or not a store this project wrote",
    );
  }
  await syncMirror(root, http, layout);
  stores.set(root, http);
  registerMirror({ root, url });
  return root;
}

/** The metadata of a store: its root document, the documents fetched with it, and the nodes' documents. */
interface MetadataLayout {
  /** Name of the root document (`.zmetadata`, `zarr.json`): written last, compared with the cached one. */
  rootDoc: string;
  /** Its bytes. */
  rootBytes: Uint8Array;
  /** Other documents already fetched. */
  fetched: Map<string, Uint8Array>;
  /** Keys of the nodes' documents, fetched as they are (byte for byte: a coefficient set's identity hashes them). */
  nodeDocs: string[];
}

/** A v2 store: its consolidated metadata lists the documents; `.zgroup` (written last by a conversion) must be there. */
async function v2Layout(http: HttpStore, zmetadata: Uint8Array): Promise<MetadataLayout> {
  const group = await http.get(".zgroup");
  if (!group) {
    throw new IncompleteStoreError(
      http.location,
      "incomplete store: .zgroup is missing, so its conversion did not finish",
    );
  }
  const meta = parseJson(zmetadata, http.urlOf(".zmetadata")) as { metadata?: Record<string, unknown> };
  if (typeof meta?.metadata !== "object") throw new StoreError(http.urlOf(".zmetadata"), "no consolidated metadata");
  const nodeDocs = Object.keys(meta.metadata).filter((k) => k !== ".zgroup");
  return { rootDoc: ".zmetadata", rootBytes: zmetadata, fetched: new Map([[".zgroup", group]]), nodeDocs };
}

/** A v3 store: each node of the root's consolidated metadata has its `zarr.json`. */
function v3Layout(root: Uint8Array, url: string): MetadataLayout {
  const doc = parseJson(root, `${url}/zarr.json`) as { consolidated_metadata?: { metadata?: Record<string, unknown> } };
  const nodes = doc?.consolidated_metadata?.metadata;
  if (typeof nodes !== "object") throw new StoreError(`${url}/zarr.json`, "no consolidated metadata");
  return {
    rootDoc: "zarr.json",
    rootBytes: root,
    fetched: new Map(),
    nodeDocs: Object.keys(nodes).map((n) => `${n}/zarr.json`),
  };
}

function parseJson(bytes: Uint8Array, url: string): unknown {
  try {
    return JSON.parse(new TextDecoder().decode(bytes));
  } catch (e) {
    throw new StoreError(url, `metadata is not JSON (${(e as Error).message})`);
  }
}

/**
 * Bring the mirror's metadata up to date, the root document last: a mirror
 * whose root document differs (the remote store was converted again) is
 * emptied first, chunks included; node documents already cached under
 * the same root document are not fetched again.
 */
async function syncMirror(root: string, http: HttpStore, layout: MetadataLayout): Promise<void> {
  let cached: Uint8Array | undefined;
  try {
    cached = Deno.readFileSync(join(root, layout.rootDoc));
  } catch { /* not cached yet */ }
  const same = cached !== undefined && sameBytes(cached, layout.rootBytes);
  if (cached && !same) Deno.removeSync(root, { recursive: true });
  const wanted = layout.nodeDocs.filter((k) => !same || !pathExists(join(root, k)));
  await Promise.all(wanted.map(async (key) => {
    const bytes = await http.get(key);
    if (!bytes) {
      throw new StoreError(
        http.urlOf(key),
        "listed in the consolidated metadata but missing (HTTP 404): the store is damaged",
      );
    }
    writeAtomically(join(root, key), bytes);
  }));
  for (const [key, bytes] of layout.fetched) writeAtomically(join(root, key), bytes);
  writeAtomically(join(root, layout.rootDoc), layout.rootBytes);
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

/** What a loader hands its workers (undefined when no store was opened by URL in this thread). */
export function remoteState(): RemoteState | undefined {
  const mirrors = registeredMirrors();
  return mirrors.length && settings ? { mirrors, cache: settings } : undefined;
}

/**
 * After a loader's workers are stopped: the cache within its bound again
 * (a worker stopped mid-download leaves a partial file, and the last
 * pass's files were kept while it ran). Nothing without stores opened by URL.
 */
export function trimUrlCache(): void {
  if (settings && registeredMirrors().length) trimAfterRun(settings.dir, settings.maxBytes);
}

/** Read the mirrors a parent thread opened (a loader worker). */
export function attachRemote(state: RemoteState): void {
  settings = state.cache;
  for (const m of state.mirrors) {
    if (stores.has(m.root)) continue;
    stores.set(m.root, new HttpStore(m.url, state.cache.connections));
    registerMirror(m);
  }
}

/** Passes of one {@link withDownloads} whose misses had all been downloaded before (evicted meanwhile) at most. */
const MAX_REPEATS = 8;

/** Files the reads in progress on this thread need (path → reads), kept by every eviction of this thread. */
const inProgress = new Map<string, number>();

/**
 * Run `fn` (a synchronous read of stores, some opened by URL) until a pass
 * misses no file: the files a pass misses are downloaded, verified, before
 * the next. Its value or error is that of the last pass. What it needs is
 * kept from eviction while it runs (also by the other reads of this
 * thread: a loader worker has two units in flight).
 */
export async function withDownloads<T>(fn: () => T): Promise<T> {
  const needed = new Set<string>(), downloaded = new Set<string>();
  let repeats = 0;
  try {
    for (;;) {
      const pass = recordReads(fn);
      for (const p of [...pass.used, ...pass.misses]) {
        if (!needed.has(p)) (needed.add(p), inProgress.set(p, (inProgress.get(p) ?? 0) + 1));
      }
      if (pass.misses.length === 0) {
        touch(pass.used);
        if (pass.failed) throw pass.error;
        return pass.value as T;
      }
      if (pass.misses.every((p) => downloaded.has(p)) && ++repeats > MAX_REPEATS) {
        throw new StoreError(
          settings?.dir ?? "cache",
          `files downloaded for this read were evicted again before it ran (${pass.misses.length}, e.g. ${
            pass.misses[0]
          }): the URL cache bound is smaller than what the readers need at once; raise --cache-max`,
        );
      }
      await download(pass.misses);
      for (const p of pass.misses) downloaded.add(p);
    }
  } finally {
    for (const p of needed) {
      const n = inProgress.get(p)! - 1;
      if (n > 0) inProgress.set(p, n);
      else inProgress.delete(p);
    }
  }
}

/** Download mirror files (concurrently, verified), then bring the cache back within its bound. */
async function download(paths: string[]): Promise<void> {
  await Promise.all(paths.map(async (path) => {
    const at = mirrorOf(path)!;
    const http = stores.get(at.mirror.root)!;
    const bytes = await http.get(at.key);
    const url = http.urlOf(at.key);
    const array = arrayOf(at.mirror.root, at.key);
    if (!bytes) {
      if (array.complete) {
        throw new StoreError(
          url,
          "chunk is missing (HTTP 404), but the array's metadata says every chunk was written: " +
            "the remote store is damaged",
        );
      }
      return markAbsent(path);
    }
    verify(array, bytes, url);
    writeAtomically(path, bytes);
  }));
  evict(settings!.dir, settings!.maxBytes, inProgress);
}

/** The reader of the array a mirror key belongs to (`data/c/0/1/2`, `data/0.1.2`). */
function arrayOf(root: string, key: string): ArrayReader {
  const v3 = key.lastIndexOf("/c/");
  const path = v3 >= 0 ? key.slice(0, v3) : key.slice(0, key.lastIndexOf("/"));
  const id = `${root}\0${path}`;
  let r = readers.get(id);
  if (!r) readers.set(id, r = new ArrayReader(root, path));
  return r;
}

/** Check that downloaded chunk or shard bytes decode, naming the URL when they do not. */
function verify(array: ArrayReader, bytes: Uint8Array, url: string): void {
  const size = array.chunks.reduce((a, b) => a * b, 1) * DTYPE_BYTES[array.dtype];
  const decode = (stored: Uint8Array, what: string) => {
    let raw: Uint8Array;
    try {
      raw = decodeChunk(array.pipeline, stored, size);
    } catch (e) {
      throw new StoreError(url, `${what} cannot be decoded (${(e as Error).message}): truncated or damaged download`);
    }
    if (raw.length !== size) {
      throw new StoreError(url, `${what} decodes to ${raw.length} bytes, not ${size}: truncated or damaged download`);
    }
  };
  if (!array.shards) return decode(bytes, "chunk");
  const count = chunksPerShard(array.shards, array.chunks).reduce((a, b) => a * b, 1);
  const tail = indexBytes(count);
  if (bytes.length < tail) throw new StoreError(url, `shard of ${bytes.length} bytes is shorter than its index`);
  const index = checkShardIndex(bytes.slice(bytes.length - tail), bytes.length, url, count);
  for (let k = 0; k < count; k++) {
    if (index[2 * k] === EMPTY_ENTRY) continue;
    const at = Number(index[2 * k]);
    decode(bytes.subarray(at, at + Number(index[2 * k + 1])), `inner chunk ${k} of the shard`);
  }
}

/**
 * List the chunk (or shard) files of arrays of a store opened by URL, with
 * HEAD requests for every key the metadata implies (there is no listing
 * over HTTP), so that the missing-chunk check and the stored sizes of
 * `inspect` see the remote store.
 */
export async function listArrays(root: string, arrays: string[]): Promise<void> {
  const http = stores.get(root);
  if (!http) throw new StoreError(root, "not a store opened by URL");
  await Promise.all(arrays.map(async (path) => {
    const a = new ArrayReader(root, path);
    // The array's own metadata files count in its stored size, as on disk.
    const meta = a.format === 2 ? [".zarray", ".zattrs"] : ["zarr.json"];
    const keys = [...gridIndices(gridShape(a.shape, a.shards ?? a.chunks))].map((c) => chunkKey(a.format, c))
      .concat(meta);
    const sizes = await Promise.all(keys.map((k) => http.size(`${path}/${k}`)));
    const files = new Map<string, number>();
    keys.forEach((k, i) => sizes[i] !== undefined && files.set(k, sizes[i]!));
    setListing(join(root, path), files);
  }));
}
