/**
 * The URL cache of stores read by URL (zarr/url_store.ts): where it is,
 * files written into it whole, and its bound.
 *
 * The cache is bounded: after each download, while the files of the cache
 * directory take more than `maxBytes`, chunk files are removed, least
 * recently read first (a pass that succeeds touches the mtime of what it
 * read), never one that the pass being served reads ({@link evict}'s
 * `pinned`), nor metadata or the chunks of arrays of fewer than three
 * dimensions (coordinates: what opening a store reads). A pass that needs
 * more than the bound keeps what it needs until the next download.
 *
 * @module
 */
import { join } from "node:path";
import { tmpdir } from "node:os";
import { ConfigError } from "../errors.ts";

/** Where the URL cache is and how large it may grow. */
export interface UrlCacheOptions {
  /** Cache directory (default: `$XDG_CACHE_HOME/atmorep-ts/stores`, `~/.cache/atmorep-ts/stores`, or a temp dir). */
  dir?: string;
  /** Bound of the whole cache directory in bytes (default {@link DEFAULT_CACHE_MAX}). */
  maxBytes?: number;
  /** Requests in flight per store and thread (default 8). */
  connections?: number;
}

/** Default bound of the cache: 20 GB. */
export const DEFAULT_CACHE_MAX = 20e9;

/** A partly written file (`NAME.tmp-PID-ID`) this old was left by a process that stopped while writing it. */
const STALE_PARTIAL_MS = 10 * 60_000;

/** Names of the metadata files of a zarr store: kept, never evicted. */
const METADATA = new Set([".zgroup", ".zattrs", ".zarray", ".zmetadata", "zarr.json"]);

/**
 * The user's cache directory for stores opened by URL:
 * `$XDG_CACHE_HOME/atmorep-ts/stores`, else `~/.cache/atmorep-ts/stores`,
 * else one in the temp directory: the first this process may write.
 */
export function defaultCacheDir(): string {
  const env = (name: string) =>
    Deno.permissions.querySync({ name: "env", variable: name }).state === "granted" ? Deno.env.get(name) : undefined;
  const candidates = [env("XDG_CACHE_HOME"), env("HOME") && join(env("HOME")!, ".cache"), tmpdir()]
    .filter((d): d is string => Boolean(d)).map((d) => join(d, "atmorep-ts", "stores"));
  return candidates.find((d) => Deno.permissions.querySync({ name: "write", path: d }).state === "granted") ??
    candidates[0];
}

/** A size such as `500MB`, `2GB`, `1.5G`, `800M` or a number of bytes. */
export function parseByteSize(text: string, key = "--cache-max"): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*(k|m|g|t)?i?b?\s*$/i.exec(text);
  if (!m) throw new ConfigError(key, `"${text}" is not a size (e.g. 500MB, 2GB)`);
  const unit = { k: 1e3, m: 1e6, g: 1e9, t: 1e12 }[(m[2] ?? "").toLowerCase() as "k"] ?? 1;
  return Number(m[1]) * unit;
}

/** Write a file under a temporary name and rename it into place (readers never see part of it). */
export function writeAtomically(path: string, bytes: Uint8Array): void {
  Deno.mkdirSync(join(path, ".."), { recursive: true });
  const tmp = `${path}.tmp-${Deno.pid}-${crypto.randomUUID().slice(0, 8)}`;
  Deno.writeFileSync(tmp, bytes);
  Deno.renameSync(tmp, path);
}

/** Mark files as just read (their mtime), for the LRU order of eviction. */
export function touch(paths: string[]): void {
  const now = new Date();
  for (const p of paths) {
    try {
      Deno.utimeSync(p, now, now);
    } catch { /* evicted meanwhile: nothing to order */ }
  }
}

/** A file of the cache: path, size, when it was last read, and whether it may be evicted. */
interface CachedFile {
  path: string;
  size: number;
  mtime: number;
  evictable: boolean;
}

/**
 * Bring the cache (all its files) within its bound by removing the least
 * recently read chunk files, never one in `pinned`.
 */
export function evict(dir: string, maxBytes: number, pinned: { has(path: string): boolean }): void {
  const files = cacheFiles(dir);
  let total = files.reduce((a, f) => a + f.size, 0);
  if (total <= maxBytes) return;
  const candidates = files.filter((f) => f.evictable && !pinned.has(f.path)).sort((a, b) => a.mtime - b.mtime);
  for (const f of candidates) {
    if (total <= maxBytes) break;
    try {
      Deno.removeSync(f.path);
      total -= f.size;
    } catch { /* removed by another thread */ }
  }
}

/**
 * Remove the partial files this process left in the cache (a loader's
 * workers stopped while writing a download), then bring the cache within
 * its bound with nothing pinned: what a run ends with. Other processes'
 * partial files are theirs (they are counted and removed once stale).
 */
export function trimAfterRun(dir: string, maxBytes: number): void {
  const own = `.tmp-${Deno.pid}-`;
  const walk = (d: string) => {
    let entries: Deno.DirEntry[];
    try {
      entries = [...Deno.readDirSync(d)];
    } catch {
      return;
    }
    for (const e of entries) {
      const p = join(d, e.name);
      if (e.isDirectory) walk(p);
      else if (e.name.includes(own)) {
        try {
          Deno.removeSync(p);
        } catch { /* renamed into place meanwhile */ }
      }
    }
  };
  walk(dir);
  evict(dir, maxBytes, new Set());
}

/**
 * The files below `dir`; evictable: the chunks of arrays of three or more
 * dimensions (metadata and coordinate arrays stay).
 */
function cacheFiles(dir: string, out: CachedFile[] = [], inArray?: boolean): CachedFile[] {
  let entries: Deno.DirEntry[];
  try {
    entries = [...Deno.readDirSync(dir)];
  } catch {
    return out;
  }
  if (inArray === undefined) {
    const meta = entries.find((e) => e.isFile && (e.name === ".zarray" || e.name === "zarr.json"));
    const doc = meta
      ? JSON.parse(Deno.readTextFileSync(join(dir, meta.name))) as { shape?: number[]; node_type?: string }
      : undefined;
    if (doc && (meta!.name === ".zarray" || doc.node_type === "array")) inArray = (doc.shape?.length ?? 0) >= 3;
  }
  for (const e of entries) {
    const p = join(dir, e.name);
    if (e.isDirectory) cacheFiles(p, out, inArray);
    else if (e.isFile) {
      let st: Deno.FileInfo;
      try {
        st = Deno.statSync(p);
      } catch {
        continue; // evicted by another thread meanwhile
      }
      const mtime = st.mtime?.getTime() ?? 0;
      // A file being written is not counted yet; one left by a process killed while writing it is counted and removed.
      const partial = e.name.includes(".tmp-");
      if (partial && Date.now() - mtime < STALE_PARTIAL_MS) continue;
      const evictable = partial || (inArray === true && !METADATA.has(e.name));
      out.push({ path: p, size: st.size, mtime, evictable });
    }
  }
  return out;
}
