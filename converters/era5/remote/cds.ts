/**
 * A client of the Climate Data Store's retrieve API (the protocol the
 * current `cdsapi` and `ecmwf-datastores-client` speak): a request is
 * posted as a job to `URL/retrieve/v1/processes/DATASET/execution` with
 * the user's key in the `PRIVATE-TOKEN` header, the job is polled at
 * `URL/retrieve/v1/jobs/ID` with a growing interval until it is
 * `successful` (or `failed`, `rejected`, `dismissed`), its results at
 * `…/jobs/ID/results` name the asset, and the asset is downloaded into
 * `TARGET.partial` (resumed with a Range request when a partial file is
 * there), checked against the size the CDS announced, and renamed into
 * place. The CDS's own error text (title, detail, traceback) is what the
 * user sees.
 *
 * The key and URL come from `CDSAPI_URL`/`CDSAPI_KEY` or from `~/.cdsapirc`
 * (`url: …` and `key: …` lines).
 *
 * @module
 */
import { join } from "node:path";
import { ConfigError, InputError } from "../../../errors.ts";

/** Where the CDS is and who asks. */
export interface CdsConfig {
  /** API root, e.g. `https://cds.climate.copernicus.eu/api`. */
  url: string;
  /** Personal access token. */
  key: string;
  /** Where they came from, for messages. */
  source: string;
}

/** The CDS's public API root (used when a `.cdsapirc` has a key but no URL). */
export const CDS_URL = "https://cds.climate.copernicus.eu/api";

/**
 * Read the URL and key: `CDSAPI_URL`/`CDSAPI_KEY` when `CDSAPI_KEY` is set,
 * else `rcPath` (default `~/.cdsapirc`). A file without a key, or no key
 * at all, is a {@link ConfigError} saying how to set one.
 */
export function readCdsConfig(
  env: Record<string, string | undefined> = cdsEnv(),
  rcPath = join(env.HOME ?? env.USERPROFILE ?? ".", ".cdsapirc"),
): CdsConfig {
  const how =
    `put "url: ${CDS_URL}" and "key: YOUR-PERSONAL-ACCESS-TOKEN" (from your CDS profile page) in ${rcPath}, ` +
    "or set CDSAPI_KEY";
  if (env.CDSAPI_KEY) {
    return { url: (env.CDSAPI_URL ?? CDS_URL).replace(/\/+$/, ""), key: env.CDSAPI_KEY.trim(), source: "CDSAPI_KEY" };
  }
  let text: string;
  try {
    text = Deno.readTextFileSync(rcPath);
  } catch {
    throw new ConfigError("~/.cdsapirc", `no CDS key: ${rcPath} does not exist and CDSAPI_KEY is not set; ${how}`);
  }
  const values: Record<string, string> = {};
  for (const line of text.split(/\r?\n/)) {
    const m = /^\s*([A-Za-z_]+)\s*:\s*(.*?)\s*$/.exec(line);
    if (m) values[m[1].toLowerCase()] = m[2];
  }
  if (!values.key) throw new ConfigError("~/.cdsapirc", `${rcPath} has no "key:" line; ${how}`);
  // The old CDS's keys were UID:APIKEY; the current CDS takes the token alone.
  if (/^\d+:[0-9a-f-]{36}$/i.test(values.key)) {
    throw new ConfigError(
      "~/.cdsapirc",
      `${rcPath} holds a key of the old CDS (UID:KEY); the current CDS needs your personal access token; ${how}`,
    );
  }
  return { url: (values.url ?? CDS_URL).replace(/\/+$/, ""), key: values.key, source: rcPath };
}

/** The environment variables the client reads (each only if the process may). */
function cdsEnv(): Record<string, string | undefined> {
  const out: Record<string, string | undefined> = {};
  for (const name of ["HOME", "USERPROFILE", "CDSAPI_URL", "CDSAPI_KEY"]) {
    if (Deno.permissions.querySync({ name: "env", variable: name }).state === "granted") out[name] = Deno.env.get(name);
  }
  return out;
}

/** A job the CDS ran and failed (or rejected): asking again the same way fails again. */
export class JobFailedError extends InputError {}

/** A job's state as the CDS reports it. */
export type JobStatus = "accepted" | "running" | "successful" | "failed" | "rejected" | "dismissed" | "deleted";

/** Options of {@link CdsClient.retrieve}. */
export interface RetrieveOptions {
  /** First poll interval in ms (default 1000), ×1.5 per poll up to {@link RetrieveOptions.maxPollMs}. */
  pollMs?: number;
  /** Longest poll interval in ms (default 60 000). */
  maxPollMs?: number;
  /** Give up waiting after this many ms (default: never). */
  timeoutMs?: number;
  /** Called when the job's status changes. */
  onStatus?: (status: string, jobId: string) => void;
  /** Called as the download advances. */
  onBytes?: (done: number, total: number) => void;
  /** Stop waiting or downloading. */
  signal?: AbortSignal;
}

/** What a retrieval produced. */
export interface Retrieved {
  /** The job id. */
  jobId: string;
  /** The file written. */
  target: string;
  /** Its size. */
  bytes: number;
  /** True when the download continued a partial file. */
  resumed: boolean;
}

/** The CDS's error JSON (RFC 7807 problem details) as one message: title, detail, traceback. */
function problemText(body: string): string {
  try {
    const j = JSON.parse(body) as Record<string, unknown>;
    const parts = ["title", "detail", "traceback"].map((k) => j[k]).filter((v) => v !== undefined && v !== null);
    if (parts.length) return parts.map(String).join("\n");
  } catch { /* not JSON */ }
  return body.slice(0, 500).trim();
}

const sleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve, reject) => {
    const t = setTimeout(resolve, ms);
    signal?.addEventListener("abort", () => (clearTimeout(t), reject(signal.reason)), { once: true });
  });

/** A client of the CDS retrieve API. */
export class CdsClient {
  constructor(readonly config: CdsConfig) {}

  private get base(): string {
    return `${this.config.url}/retrieve/v1`;
  }

  private async call(method: string, url: string, body?: unknown): Promise<Record<string, unknown>> {
    let res: Response;
    try {
      res = await fetch(url, {
        method,
        headers: { "PRIVATE-TOKEN": this.config.key, ...(body ? { "content-type": "application/json" } : {}) },
        body: body ? JSON.stringify(body) : undefined,
      });
    } catch (e) {
      const cause = (e as Error).cause as Error | undefined;
      throw new InputError(
        url,
        `could not reach the CDS: ${(e as Error).message}${cause ? ` (${cause.message})` : ""}`,
      );
    }
    const text = await res.text();
    if (!res.ok) {
      const hint = res.status === 401 ? ` (the key from ${this.config.source} was refused)` : "";
      throw new InputError(url, `CDS answered ${res.status} ${res.statusText}${hint}: ${problemText(text)}`);
    }
    try {
      return JSON.parse(text);
    } catch {
      throw new InputError(url, `CDS answered ${res.status} with something that is not JSON: ${text.slice(0, 200)}`);
    }
  }

  /** Post a request for `dataset`; the job id and its monitor URL. */
  async submit(dataset: string, request: Record<string, unknown>): Promise<{ jobId: string; monitor: string }> {
    const url = `${this.base}/processes/${encodeURIComponent(dataset)}/execution`;
    const job = await this.call("POST", url, { inputs: request });
    const jobId = String(job.jobID ?? "");
    const links = (job.links as { rel: string; href: string }[] | undefined) ?? [];
    const monitor = links.find((l) => l.rel === "monitor")?.href ?? `${this.base}/jobs/${jobId}`;
    if (!jobId) throw new InputError(url, `the CDS accepted the request but named no job: ${JSON.stringify(job)}`);
    return { jobId, monitor };
  }

  /** Poll a job until it succeeds; a failed job is an error with the CDS's message. */
  async wait(jobId: string, monitor: string, opts: RetrieveOptions = {}): Promise<void> {
    let interval = opts.pollMs ?? 1000;
    const started = Date.now();
    let last = "";
    for (;;) {
      const job = await this.call("GET", monitor);
      const status = String(job.status) as JobStatus;
      if (status !== last) opts.onStatus?.(status, jobId);
      last = status;
      if (status === "successful") return;
      if (status === "failed") {
        const res = await fetch(`${monitor}/results`, { headers: { "PRIVATE-TOKEN": this.config.key } });
        throw new JobFailedError(monitor, `the CDS job ${jobId} failed: ${problemText(await res.text())}`);
      }
      if (status !== "accepted" && status !== "running") {
        throw new JobFailedError(monitor, `the CDS job ${jobId} ended as "${status}"`);
      }
      if (opts.timeoutMs !== undefined && Date.now() - started > opts.timeoutMs) {
        throw new InputError(monitor, `the CDS job ${jobId} is still ${status} after ${opts.timeoutMs / 1000} s`);
      }
      await sleep(interval, opts.signal);
      interval = Math.min(interval * 1.5, opts.maxPollMs ?? 60_000);
    }
  }

  /** The result of a finished job: the asset's URL, size and type. */
  async results(monitor: string): Promise<{ href: string; size: number; type: string }> {
    const url = `${monitor}/results`;
    const r = await this.call("GET", url);
    const asset = (r.asset as { value?: Record<string, unknown> } | undefined)?.value;
    if (!asset?.href) throw new InputError(url, `the job's results name no file: ${JSON.stringify(r)}`);
    return {
      href: new URL(String(asset.href), url).href,
      size: Number(asset["file:size"] ?? NaN),
      type: String(asset.type ?? ""),
    };
  }

  /**
   * Download `href` into `target` through `target.partial` (resumed where
   * a partial file is, when the server honours Range), checked against
   * `size`, then renamed into place.
   */
  async download(
    href: string,
    size: number,
    target: string,
    opts: RetrieveOptions = {},
  ): Promise<Retrieved & { jobId: "" }> {
    const partial = `${target}.partial`;
    let have = 0;
    try {
      have = Deno.statSync(partial).size;
    } catch { /* none */ }
    if (Number.isFinite(size) && have > size) have = 0;
    const res = await fetch(href, { headers: have > 0 ? { range: `bytes=${have}-` } : {}, signal: opts.signal });
    if (!res.ok) throw new InputError(href, `download failed: HTTP ${res.status} ${problemText(await res.text())}`);
    const resumed = have > 0 && res.status === 206;
    if (!resumed) have = 0;
    const file = await Deno.open(partial, { write: true, create: true, truncate: !resumed, append: resumed });
    let done = have;
    try {
      for await (const piece of res.body!) {
        await file.write(piece);
        done += piece.length;
        opts.onBytes?.(done, size);
      }
    } catch (e) {
      throw new InputError(href, `download cut at ${done} bytes (${(e as Error).message}); run again to resume it`);
    } finally {
      file.close();
    }
    if (Number.isFinite(size) && done !== size) {
      throw new InputError(href, `downloaded ${done} of ${size} bytes; run again to resume it`);
    }
    Deno.renameSync(partial, target);
    return { jobId: "", target, bytes: done, resumed };
  }

  /**
   * Submit, wait, and download the result of one request into `target`.
   * The job is remembered in `target.job` until the file is complete, so a
   * run that stopped (killed, network gone) takes up the same job again and
   * resumes its download instead of asking the CDS anew.
   */
  async retrieve(
    dataset: string,
    request: Record<string, unknown>,
    target: string,
    opts: RetrieveOptions = {},
  ): Promise<Retrieved> {
    const jobFile = `${target}.job`;
    const asked = JSON.stringify({ dataset, request });
    let job: { jobId: string; monitor: string } | undefined;
    try {
      const saved = JSON.parse(Deno.readTextFileSync(jobFile));
      if (saved.asked === asked) job = { jobId: saved.jobId, monitor: saved.monitor };
    } catch { /* none */ }
    if (job) opts.onStatus?.("resumed", job.jobId);
    else {
      job = await this.submit(dataset, request);
      Deno.writeTextFileSync(jobFile, JSON.stringify({ ...job, asked }));
      opts.onStatus?.("submitted", job.jobId);
    }
    try {
      await this.wait(job.jobId, job.monitor, opts);
    } catch (e) {
      if (e instanceof JobFailedError) Deno.removeSync(jobFile);
      throw e;
    }
    const asset = await this.results(job.monitor);
    const r = await this.download(asset.href, asset.size, target, opts);
    Deno.removeSync(jobFile);
    return { ...r, jobId: job.jobId };
  }
}
