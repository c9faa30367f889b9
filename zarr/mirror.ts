/**
 * Stores opened by URL as the synchronous readers see them. A mirror is a
 * local directory of the URL cache laid out as the remote store: its
 * metadata, and the chunk (or shard) files downloaded so far. A read of a
 * mirror's file that is not there yet is not an error: inside
 * {@link recordReads} it is recorded as a miss and read as absent, so that
 * zarr/url_store.ts can download every miss of a pass at once and run the
 * pass again. Directory listings do not exist over HTTP: an array's
 * listing (chunk files and sizes, for `inspect`) is set from HEAD requests.
 *
 * The state is per thread: a loader worker registers the mirrors its
 * parent opened.
 *
 * @module
 */
import { isPipelineError, PipelineError, StoreError } from "../errors.ts";

/** A remote store and its local mirror. */
export interface Mirror {
  /** Local directory (in the URL cache). */
  root: string;
  /** The store's HTTP(S) URL. */
  url: string;
}

const mirrors = new Map<string, Mirror>();
const listings = new Map<string, Map<string, number>>();
const absent = new Set<string>();

/** Reads of one pass: mirror files that were not downloaded, and those read. */
interface Scope {
  misses: Set<string>;
  used: Set<string>;
}
let scope: Scope | undefined;
let missTotal = 0;

/** Make a mirror known to this thread's readers. */
export function registerMirror(m: Mirror): void {
  mirrors.set(m.root, m);
}

/** The mirrors registered in this thread. */
export function registeredMirrors(): Mirror[] {
  return [...mirrors.values()];
}

/** True when `path` is the root of a registered mirror. */
export function isMirrorRoot(path: string): boolean {
  return mirrors.has(path.replace(/\/+$/, ""));
}

/** The mirror a local path lies in, and its key in the store; undefined outside every mirror. */
export function mirrorOf(path: string): { mirror: Mirror; key: string } | undefined {
  if (mirrors.size === 0) return undefined;
  for (const m of mirrors.values()) {
    if (path.startsWith(m.root + "/")) return { mirror: m, key: path.slice(m.root.length + 1) };
  }
  return undefined;
}

/** Every mirror root in `text` replaced by its URL: messages and reports name what the user gave. */
export function withUrls(text: string): string {
  for (const m of mirrors.values()) text = text.split(m.root).join(m.url);
  return text;
}

/** A tagged error with every mirror path in it replaced by its URL (other errors as they are). */
export function namedByUrl(e: unknown): unknown {
  if (!isPipelineError(e) || mirrors.size === 0) return e;
  const path = withUrls(e.path), problem = withUrls(e.problem);
  if (path === e.path && problem === e.problem) return e;
  return new PipelineError(e.kind, path, problem, { field: e.field, cause: e });
}

/** Set the listing of an array directory of a mirror: keys relative to it and sizes (from HEAD requests). */
export function setListing(dir: string, files: Map<string, number>): void {
  listings.set(dir, files);
}

/** The files below an array directory of a mirror (keys relative to it, sizes), when a listing was set. */
export function listedFiles(dir: string): Map<string, number> | undefined {
  return listings.get(dir);
}

/** A file the remote store does not have (404) and may lack: read as absent from now on. */
export function markAbsent(path: string): void {
  absent.add(path);
}

/** Files recorded as missed by all passes of this thread so far (a pass that missed some gives no result worth keeping). */
export function missesSoFar(): number {
  return missTotal;
}

/**
 * Called by a reader when a file is not on disk: true when it belongs to a
 * mirror and was not downloaded yet (recorded as a miss: read it as absent
 * for now). Outside {@link recordReads} that is an error naming the URL.
 */
export function notDownloaded(path: string): boolean {
  const at = mirrorOf(path);
  if (!at || absent.has(path)) return false;
  if (!scope) {
    throw new StoreError(
      `${at.mirror.url}/${at.key}`,
      `not in the local cache (${path}): this read was not prepared by a download (zarr/url_store.ts withDownloads)`,
    );
  }
  scope.misses.add(path);
  missTotal++;
  return true;
}

/** Called by a reader for every chunk or shard file it reads (LRU order and pinning of the cache). */
export function fileRead(path: string): void {
  if (scope && mirrors.size && mirrorOf(path)) scope.used.add(path);
}

/** What one pass of {@link recordReads} gave. */
export interface RecordedPass<T> {
  /** The value (when the pass did not throw). */
  value?: T;
  /** What the pass threw, if it did. */
  error?: unknown;
  /** Whether it threw. */
  failed: boolean;
  /** Mirror files it needed that are not downloaded (local paths). */
  misses: string[];
  /** Mirror files it read. */
  used: string[];
}

/** Run `fn` (synchronous) recording the mirror files it misses and reads. */
export function recordReads<T>(fn: () => T): RecordedPass<T> {
  const outer = scope;
  const mine: Scope = { misses: new Set(), used: new Set() };
  scope = mine;
  try {
    const value = fn();
    return { value, failed: false, misses: [...mine.misses], used: [...mine.used] };
  } catch (error) {
    return { error, failed: true, misses: [...mine.misses], used: [...mine.used] };
  } finally {
    scope = outer;
    if (outer) {
      for (const p of mine.misses) outer.misses.add(p);
      for (const p of mine.used) outer.used.add(p);
    }
  }
}
