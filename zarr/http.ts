/**
 * Reading the objects of a zarr store: over HTTP(S) with retries (429, 5xx
 * and dropped connections are retried with exponential backoff, other
 * statuses are final), or from a local directory. A bounded pool caps the
 * requests in flight; counters say how many bytes and objects came in.
 * Used by the ERA5 converter's cloud inputs and by stores opened by URL
 * (zarr/url_store.ts). `gs://` and `s3://` URLs map to their public HTTPS
 * endpoints ({@link publicUrl}).
 *
 * @module
 */
import { join } from "node:path";
import { ConfigError, InputError } from "../errors.ts";

/** How often and how patiently a request is retried. */
export interface RetryPolicy {
  /** Attempts in all (≥ 1). */
  tries: number;
  /** First backoff in milliseconds; doubled per retry (with jitter), at most {@link RetryPolicy.maxMs}. */
  baseMs: number;
  /** Longest backoff in milliseconds. */
  maxMs: number;
}

/** Default policy: 6 tries over about 15 s. Tests shorten it with ATMOREP_HTTP_BACKOFF_MS. */
export function defaultRetryPolicy(): RetryPolicy {
  const env = (name: string) =>
    Deno.permissions.querySync({ name: "env", variable: name }).state === "granted" ? Deno.env.get(name) : undefined;
  const base = Number(env("ATMOREP_HTTP_BACKOFF_MS") ?? 500);
  const tries = Number(env("ATMOREP_HTTP_TRIES") ?? 6);
  return { tries: Math.max(1, tries), baseMs: base, maxMs: Math.max(base, 8000) };
}

/** Counters of what a store reader fetched. */
export interface FetchCounters {
  /** Bytes received (stored, compressed). */
  bytes: number;
  /** Objects received. */
  objects: number;
  /** Requests retried. */
  retries: number;
}

let listener: ((bytes: number) => void) | undefined;

/**
 * Call `fn` with the stored size of every data chunk this thread downloads
 * from now on (undefined: stop): live progress while a task downloads.
 */
export function onObjectFetched(fn: ((bytes: number) => void) | undefined): void {
  listener = fn;
}

/** Report a data chunk that came in (see {@link onObjectFetched}). */
export function chunkFetched(bytes: number): void {
  listener?.(bytes);
}

/** A bounded pool: at most `size` functions run at once, the rest wait in order. */
export class Limiter {
  private active = 0;
  private readonly waiting: (() => void)[] = [];
  constructor(readonly size: number) {}

  /** Run `fn` when a slot is free. */
  async run<T>(fn: () => Promise<T>): Promise<T> {
    if (this.active >= this.size) await new Promise<void>((r) => this.waiting.push(r));
    this.active++;
    try {
      return await fn();
    } finally {
      this.active--;
      this.waiting.shift()?.();
    }
  }
}

/** The objects of a zarr store, by key relative to its root. */
export interface ObjectStore {
  /** Where the store is (URL or directory), for messages. */
  readonly location: string;
  /** Counters of what was read. */
  readonly counters: FetchCounters;
  /** The full name of an object, for messages. */
  urlOf(key: string): string;
  /** An object's bytes; undefined when the store has no such object (HTTP 404, no such file). */
  get(key: string): Promise<Uint8Array | undefined>;
}

/** A status worth retrying: rate limits and server-side failures. */
function transientStatus(status: number): boolean {
  return status === 429 || status === 408 || (status >= 500 && status <= 599);
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Objects under an HTTP(S) base URL, read with GET and retried per {@link RetryPolicy}. */
export class HttpStore implements ObjectStore {
  readonly counters: FetchCounters = { bytes: 0, objects: 0, retries: 0 };
  private readonly limiter: Limiter;
  readonly location: string;

  constructor(base: string, connections: number, readonly policy: RetryPolicy = defaultRetryPolicy()) {
    this.location = base.replace(/\/+$/, "");
    this.limiter = new Limiter(Math.max(1, connections));
  }

  urlOf(key: string): string {
    return `${this.location}/${key}`;
  }

  get(key: string): Promise<Uint8Array | undefined> {
    return this.limiter.run(() => this.withRetries(this.urlOf(key), "GET", (res) => this.body(res)));
  }

  /** An object's size in bytes (HEAD, Content-Length); undefined when the store has no such object. */
  size(key: string): Promise<number | undefined> {
    const url = this.urlOf(key);
    return this.limiter.run(() =>
      this.withRetries(url, "HEAD", (res) => {
        const length = res.headers.get("content-length");
        if (length === null) throw new InputError(url, "HEAD gave no Content-Length");
        return Promise.resolve(Number(length));
      })
    );
  }

  /** A whole body, checked against its Content-Length. */
  private async body(res: Response): Promise<Uint8Array> {
    const expected = res.headers.get("content-length");
    let body: Uint8Array;
    try {
      body = new Uint8Array(await res.arrayBuffer());
    } catch (e) {
      throw new Error(`connection dropped while reading the body (${(e as Error).message})`);
    }
    if (expected !== null && Number(expected) !== body.length) {
      throw new Error(`body of ${body.length} bytes, Content-Length said ${expected}`);
    }
    this.counters.bytes += body.length;
    this.counters.objects++;
    return body;
  }

  /** One request, retried per the policy; `ok` reads a successful response (a 404 gives undefined). */
  private async withRetries<T>(
    url: string,
    method: "GET" | "HEAD",
    ok: (res: Response) => Promise<T>,
  ): Promise<T | undefined> {
    const { tries } = this.policy;
    let last = "";
    let unreachable = true;
    for (let attempt = 1; attempt <= tries; attempt++) {
      let wait: number | undefined;
      try {
        const res = await fetch(url, { method });
        unreachable = false;
        if (res.status === 404) {
          await res.body?.cancel();
          return undefined;
        }
        if (res.ok) return await ok(res);
        const text = (await res.text().catch(() => "")).slice(0, 200).replace(/\s+/g, " ").trim();
        const status = `HTTP ${res.status} ${res.statusText}${text ? `: ${text}` : ""}`;
        if (!transientStatus(res.status)) throw new InputError(url, status);
        last = status;
        const after = Number(res.headers.get("retry-after"));
        if (Number.isFinite(after) && after > 0) wait = Math.min(after * 1000, 60_000);
      } catch (e) {
        if (e instanceof InputError) throw e;
        const cause = (e as Error).cause as Error | undefined;
        last = (e as Error).message + (cause ? ` (${cause.message ?? cause})` : "");
      }
      if (attempt < tries) {
        this.counters.retries++;
        const backoff = Math.min(this.policy.maxMs, this.policy.baseMs * 2 ** (attempt - 1));
        await sleep(wait ?? backoff * (0.5 + Math.random() / 2));
      }
    }
    const host = new URL(url).host;
    throw new InputError(
      url,
      unreachable
        ? `could not reach ${host}: ${tries} tries (${method}, backoff from ${this.policy.baseMs} ms) all failed; last: ${last}`
        : `gave up after ${tries} tries (${method} ${host}); last: ${last}`,
    );
  }
}

/** Objects of a store in a local directory. */
export class FileStore implements ObjectStore {
  readonly counters: FetchCounters = { bytes: 0, objects: 0, retries: 0 };
  constructor(readonly location: string) {}

  urlOf(key: string): string {
    return join(this.location, key);
  }

  async get(key: string): Promise<Uint8Array | undefined> {
    try {
      const b = await Deno.readFile(this.urlOf(key));
      this.counters.bytes += b.length;
      this.counters.objects++;
      return b;
    } catch (e) {
      if (e instanceof Deno.errors.NotFound) return undefined;
      throw new InputError(this.urlOf(key), (e as Error).message);
    }
  }
}

/** True when `input` is a store URL: `https://`, `http://`, `gs://` or `s3://`. */
export function isUrl(input: string): boolean {
  return /^(https?|gs|s3):\/\//i.test(input);
}

/**
 * The HTTP(S) URL of a store URL: `gs://bucket/path` →
 * `https://storage.googleapis.com/bucket/path`, `s3://bucket/path` →
 * `https://bucket.s3.amazonaws.com/path` (their public endpoints, read
 * anonymously), `http(s)://` as given; without a trailing slash.
 */
export function publicUrl(input: string): string {
  const gs = /^gs:\/\/([^/]+)\/?(.*)$/i.exec(input);
  if (gs) return `https://storage.googleapis.com/${gs[1]}${gs[2] ? "/" + gs[2] : ""}`.replace(/\/+$/, "");
  const s3 = /^s3:\/\/([^/]+)\/?(.*)$/i.exec(input);
  if (s3) return `https://${s3[1]}.s3.amazonaws.com${s3[2] ? "/" + s3[2] : ""}`.replace(/\/+$/, "");
  return input.replace(/\/+$/, "");
}

/** A store reader for an HTTP(S) URL or a local directory. */
export function openObjectStore(location: string, connections: number): ObjectStore {
  return /^https?:\/\//.test(location) ? new HttpStore(location, connections) : new FileStore(location);
}

/** Hosts the tasks that read stores by URL may reach (deno.json): the public endpoints of Google Cloud Storage and AWS S3. */
export const TASK_HOSTS = "storage.googleapis.com,*.amazonaws.com";

/**
 * Fail, naming the command to run instead (`deno run FLAGS --allow-net=HOST
 * SCRIPT …`), when this process may not connect to `location`'s host; asks
 * on a terminal where Deno would prompt. Local paths pass. Returns the host.
 */
export async function requireNetPermission(
  location: string,
  rerun: { flags: string; script: string },
): Promise<string | undefined> {
  if (!/^https?:\/\//.test(location)) return undefined;
  const url = new URL(location);
  const host = url.port ? url.host : url.hostname;
  let state = (await Deno.permissions.query({ name: "net", host })).state;
  if (state === "prompt" && Deno.stdin.isTerminal()) {
    state = (await Deno.permissions.request({ name: "net", host })).state;
  }
  if (state !== "granted") {
    throw new ConfigError(
      "--allow-net",
      `this process may not connect to ${host} (the tasks may reach ${TASK_HOSTS} only); run ` +
        `\`deno run ${rerun.flags} --allow-net=${host} ${rerun.script} …\``,
    );
  }
  return host;
}
