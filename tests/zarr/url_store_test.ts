/**
 * Stores opened by URL (zarr/url_store.ts): the sample converted (zarr v2,
 * and v3 sharded) and served by the loopback server
 * (tests/_helpers/remote_server.ts) gives the same `inspect` report and
 * the same batches (same seed, byte for byte, loader workers) as the
 * store on disk; a 404 or a truncated body for a chunk of a complete array
 * is an error naming its URL; the cache stays within `--cache-max` after a
 * run that downloads more than that; a second run on a warm cache sends
 * no chunk requests.
 *
 * @module
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { convertEra5 } from "../../converters/era5/convert.ts";
import { expandInputs } from "../../cli/inputs.ts";
import { formatSummary, inspectStore } from "../../stores/inspect.ts";
import type { SamplerConfig } from "../../samplers/sampler.ts";
import type { TokenGrid } from "../../tokenizers/patches.ts";
import { exists, ROOT, run, type RunResult, SAMPLE, tempDir } from "../_helpers/common.ts";
import { serveStoreDir, type StoreServer } from "../_helpers/store_server.ts";
import { loadBatches } from "../_helpers/url_batches.ts";

const BACKOFF = { ATMOREP_HTTP_BACKOFF_MS: "10", ATMOREP_HTTP_TRIES: "3" };

let served: Promise<string> | undefined;
/** The sample converted twice, as `v2/era5.zarr` and (sharded) `v3/era5.zarr`, each with its coefficient set. */
function storesDir(): Promise<string> {
  served ??= (async () => {
    const dir = await tempDir();
    const inputs = expandInputs([SAMPLE.legacy, SAMPLE.new]);
    const chunks = { time: 4, lat: 16, lon: 32 };
    await convertEra5({ inputs, out: join(dir, "v2", "era5.zarr"), chunks, workers: 0 });
    await convertEra5({ inputs, out: join(dir, "v3", "era5.zarr"), chunks, workers: 0, zarrFormat: 3, shard: true });
    return dir;
  })();
  return served;
}

/** A script of ours run with network for the server's host only, the URL cache in `cacheDir`. */
function runWithNet(host: string, cacheDir: string, script: string, args: string[]): Promise<RunResult> {
  return run(Deno.execPath(), [
    "run",
    "--allow-read",
    `--allow-write`,
    "--allow-env",
    `--allow-net=${host}`,
    `${ROOT}${script}`,
    ...args,
    "--cache-dir",
    cacheDir,
  ], { env: BACKOFF });
}

const GRID: TokenGrid = { numTokens: [4, 2, 4], tokenSize: [3, 9, 9] };

function samplerConfig(store: string, batchSize = 4): SamplerConfig {
  return {
    datasets: [{
      store,
      fields: [
        { name: "t", levels: [500, 850], tokens: GRID, normalization: "local" },
        { name: "u", levels: [850], tokens: GRID },
        { name: "t2m", levels: [0], tokens: GRID },
      ],
    }],
    batchSize,
    masking: { strategy: "bert", rate: 0.5 },
    seed: 11,
  };
}

/** Batches loaded from a URL in a process with network permission. */
async function urlBatches(
  server: StoreServer,
  cacheDir: string,
  config: SamplerConfig,
  o: { batches: number; workers: number; cacheMax?: string },
): Promise<{ r: RunResult; bytes?: Uint8Array }> {
  const dir = await tempDir();
  const configPath = join(dir, "config.json"), out = join(dir, "batches.bin");
  Deno.writeTextFileSync(configPath, JSON.stringify(config));
  const r = await runWithNet(server.host, cacheDir, "tests/_helpers/url_batches.ts", [
    configPath,
    out,
    "--batches",
    String(o.batches),
    "--workers",
    String(o.workers),
    ...(o.cacheMax ? ["--cache-max", o.cacheMax] : []),
  ]);
  return { r, bytes: r.code === 0 ? Deno.readFileSync(out) : undefined };
}

/** GET requests for chunk (or shard) files: every path but the metadata documents. */
function chunkRequests(requests: Record<string, number>): number {
  return Object.entries(requests)
    .filter(([p]) => !p.startsWith("HEAD ") && !/(\.zarray|\.zattrs|\.zgroup|\.zmetadata|zarr\.json)$/.test(p))
    .reduce((a, [, n]) => a + n, 0);
}

/** Paths of the files below a directory. */
function filesBelow(dir: string): string[] {
  return [...Deno.readDirSync(dir)].flatMap((e) =>
    e.isDirectory ? filesBelow(join(dir, e.name)).map((f) => `${e.name}/${f}`) : [e.name]
  );
}

/** Bytes of every file below a directory. */
function treeBytes(dir: string): number {
  let total = 0;
  for (const e of Deno.readDirSync(dir)) {
    const p = join(dir, e.name);
    total += e.isDirectory ? treeBytes(p) : Deno.statSync(p).size;
  }
  return total;
}

Deno.test("inspect of a store served over HTTP prints what inspect of it on disk prints (v2, sharded v3)", async () => {
  const dir = await storesDir();
  const server = await serveStoreDir(dir);
  try {
    for (const v of ["v2", "v3"]) {
      const cache = await tempDir();
      const r = await runWithNet(server.host, cache, "tasks/inspect.ts", [`${server.url}/${v}/era5.zarr`]);
      assert.equal(r.code, 0, r.stderr);
      const disk = formatSummary(inspectStore(join(dir, v, "era5.zarr")));
      assert.equal(r.stdout.trim().split(server.url).join(dir), disk);
      assert.match(r.stdout, new RegExp(`norm set   ${server.url}/${v}/era5.norm.zarr: monthly`));
      // The metadata is mirrored byte for byte (a coefficient set's identity hashes it).
      for (const store of ["era5.zarr", "era5.norm.zarr"]) {
        const mirror = join(cache, "http", server.host.replace(":", "_"), v, store);
        const docs = filesBelow(join(dir, v, store)).filter((f) =>
          /(\.zarray|\.zattrs|\.zgroup|\.zmetadata|zarr\.json)$/.test(f)
        );
        assert.ok(docs.length > 5);
        for (const f of docs) {
          assert.deepEqual(Deno.readFileSync(join(mirror, f)), Deno.readFileSync(join(dir, v, store, f)), f);
        }
      }
    }
  } finally {
    await server.close();
  }
});

Deno.test("the loader draws the same batches from a store URL as from disk (same seed; v2 and sharded v3; workers)", async () => {
  const dir = await storesDir();
  const server = await serveStoreDir(dir);
  try {
    for (const [v, workers] of [["v2", 2], ["v3", 0]] as const) {
      const disk = await loadBatches(samplerConfig(join(dir, v, "era5.zarr")), 3, 0);
      const cache = await tempDir();
      const first = await urlBatches(server, cache, samplerConfig(`${server.url}/${v}/era5.zarr`), {
        batches: 3,
        workers,
      });
      assert.equal(first.r.code, 0, first.r.stderr);
      assert.ok(disk.length > 100_000);
      assert.deepEqual(first.bytes, disk, `${v}: batches from the URL differ from those on disk`);
      // Warm cache: the same batches again download no chunk (on the calling thread: workers make batches ahead,
      // and those of the first run were cut short when it closed).
      const before = chunkRequests(await server.requests());
      assert.ok(before > 0);
      const again = await urlBatches(server, cache, samplerConfig(`${server.url}/${v}/era5.zarr`), {
        batches: 3,
        workers: 0,
      });
      assert.equal(again.r.code, 0, again.r.stderr);
      assert.deepEqual(again.bytes, disk);
      assert.equal(chunkRequests(await server.requests()), before, `${v}: a warm cache sent chunk requests`);
    }
  } finally {
    await server.close();
  }
});

Deno.test("the URL cache stays within --cache-max after a run that downloads more than that (v2 chunks, v3 shards, 0)", async () => {
  const dir = await storesDir();
  const server = await serveStoreDir(dir);
  try {
    // --cache-max 0: nothing kept between units, the same batches.
    for (const [v, limit] of [["v2", 300_000], ["v3", 500_000], ["v3", 0]] as const) {
      const cache = await tempDir();
      const before = await server.requests();
      // One sample a batch, no per-point coefficients: what a unit reads (and keeps while it runs) is well below
      // the bound, which then holds after every unit.
      const config = (store: string): SamplerConfig => ({
        ...samplerConfig(store, 1),
        datasets: [{
          store,
          fields: [{ name: "u", levels: [850], tokens: GRID }, { name: "t2m", levels: [0], tokens: GRID }],
        }],
      });
      const r = await urlBatches(server, cache, config(`${server.url}/${v}/era5.zarr`), {
        batches: 24,
        workers: 2,
        cacheMax: `${limit}`,
      });
      assert.equal(r.r.code, 0, r.r.stderr);
      const disk = await loadBatches(config(join(dir, v, "era5.zarr")), 24, 0);
      assert.deepEqual(r.bytes, disk, `${v}: evictions changed the batches`);
      const downloaded = Object.entries(await server.requests())
        .filter(([p]) => !p.startsWith("HEAD ") && exists(join(dir, p)))
        .reduce((a, [p, n]) => a + (n - (before[p] ?? 0)) * Deno.statSync(join(dir, p)).size, 0);
      if (limit === 0) continue;
      assert.ok(downloaded > 1.5 * limit, `${v}: the run downloaded ${downloaded} bytes, not well over the bound`);
      const kept = treeBytes(cache);
      assert.ok(
        kept <= limit,
        `${v}: the cache holds ${kept} bytes, over its bound of ${limit} (${downloaded} downloaded)`,
      );
      console.log(`${v}: downloaded ${downloaded} bytes, the cache holds ${kept} (bound ${limit})`);
    }
  } finally {
    await server.close();
  }
});

Deno.test("a chunk of a complete array that answers 404, or comes truncated, is an error naming its URL", async () => {
  const dir = await storesDir();
  const cases = [
    { v: "v2", kind: "status", status: 404, message: /missing \(HTTP 404\)/ },
    { v: "v2", kind: "truncate", message: /cannot be decoded|decodes to/ },
    { v: "v3", kind: "truncate", message: /shard|cannot be decoded/ },
  ];
  for (const c of cases) {
    const chunk = c.v === "v2" ? "/data/1\\.0\\.0\\.\\d+\\.\\d+$" : "/data/c/";
    const faulty = new RegExp(`^/${c.v}/era5\\.zarr${chunk}`);
    const server = await serveStoreDir(dir, [{ path: faulty.source, kind: c.kind, status: c.status }]);
    try {
      const config = samplerConfig(`${server.url}/${c.v}/era5.zarr`);
      const cache = await tempDir();
      const { r } = await urlBatches(server, cache, config, { batches: 3, workers: 1 });
      assert.notEqual(r.code, 0, `${c.v} ${c.kind}: the run succeeded`);
      const url = new RegExp(`${server.url}/${c.v}/era5.zarr/data/`.replaceAll(".", "\\."));
      assert.match(r.stderr, url, r.stderr);
      assert.match(r.stderr, c.message, r.stderr);
      assert.ok(!r.stderr.includes(cache), "the error names the cache, not the URL");
      if (c.kind === "truncate") {
        // Verified before it is cached: no truncated chunk entered the cache.
        const mirror = join(cache, "http", server.host.replace(":", "_"), c.v, "era5.zarr", "data");
        const cached = filesBelow(mirror).filter((f) => faulty.test(`/${c.v}/era5.zarr/data/${f}`));
        assert.deepEqual(cached, [], `${c.v}: damaged chunks were cached`);
      }
    } finally {
      await server.close();
    }
  }
});

Deno.test("train reads a store given by URL in its configuration: the same losses and validation as from disk", async () => {
  const dir = await storesDir();
  const server = await serveStoreDir(dir);
  try {
    const tiny = JSON.parse(Deno.readTextFileSync(`${ROOT}configs/tiny.json`));
    const work = await tempDir();
    const trainWith = async (store: string, name: string, net: boolean) => {
      tiny.sampler.datasets[0].store = store;
      const config = join(work, `${name}.json`);
      Deno.writeTextFileSync(config, JSON.stringify(tiny));
      const args = ["--config", config, "--steps", "2", "--checkpoint-dir", join(work, name), "--quiet"];
      const r = net
        ? await runWithNet(server.host, join(work, "cache"), "tasks/train.ts", args)
        : await run(Deno.execPath(), ["run", "-A", `${ROOT}tasks/train.ts`, ...args]);
      assert.equal(r.code, 0, r.stderr);
      return r.stdout.split("\n").filter((l) => /last loss|validation MSE/.test(l));
    };
    const disk = await trainWith(join(dir, "v3", "era5.zarr"), "disk", false);
    const url = await trainWith(`${server.url}/v3/era5.zarr`, "url", true);
    assert.equal(disk.length, 2);
    assert.deepEqual(url, disk);
  } finally {
    await server.close();
  }
});

Deno.test("inspect with deno.json's permissions refuses a host outside the public endpoints, naming the flag, before any request", async () => {
  const dir = await storesDir();
  const server = await serveStoreDir(dir);
  try {
    const task = JSON.parse(Deno.readTextFileSync(`${ROOT}deno.json`)).tasks.inspect as string;
    const flags = task.split(/\s+/).filter((w) => w.startsWith("--allow"));
    assert.ok(flags.some((f) => f.startsWith("--allow-net=")), "inspect may reach the public endpoints");
    const r = await run(Deno.execPath(), ["run", ...flags, `${ROOT}tasks/inspect.ts`, `${server.url}/v2/era5.zarr`]);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, new RegExp(`--allow-net: .*${server.host}.*--allow-net=${server.host}`));
    assert.deepEqual(await server.requests(), {});
  } finally {
    await server.close();
  }
});

Deno.test("a URL that is not a store, or an unreachable host, is a named error", async () => {
  const dir = await storesDir();
  const server = await serveStoreDir(dir);
  try {
    const cache = await tempDir();
    const none = await runWithNet(server.host, cache, "tasks/inspect.ts", [`${server.url}/v2/nothing.zarr`]);
    assert.notEqual(none.code, 0);
    assert.ok(none.stderr.includes(`${server.url}/v2/nothing.zarr: not a zarr store`), none.stderr);
    // A port nothing listens on (the server's, once it is closed).
    await server.close();
    const gone = await runWithNet(server.host, cache, "tasks/inspect.ts", [`${server.url}/v2/era5.zarr`]);
    assert.notEqual(gone.code, 0);
    assert.match(gone.stderr, new RegExp(`could not reach ${server.host}: 3 tries`));
  } finally {
    await server.close().catch(() => {});
  }
});
