/**
 * `convert era5` from cloud zarr stores: small stores written by
 * xarray/zarr-python in ARCO-ERA5's and WeatherBench 2's layouts (v2
 * consolidated and not, v3; tests/oracles/remote_stores.py), served by a
 * loopback HTTP server (tests/_helpers/remote_server.ts) or read from disk, convert
 * to the same store as the netCDF file of the same data; the selection
 * options pick what xarray picks; transient faults are retried, permanent
 * ones and bad requests are named errors that publish nothing; a failed
 * part resumes without downloading the finished tasks' chunks again.
 *
 * @module
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { convertEra5 } from "../../../converters/era5/convert.ts";
import {
  formatSelection,
  parseArea,
  parseEvery,
  parseTimeRange,
  storeLocation,
} from "../../../converters/era5/remote/spec.ts";
import { resolveFieldNames } from "../../../converters/era5/remote/names.ts";
import { slurmScripts } from "../../../converters/slurm/script.ts";
import { assertSameStore, exists, PYTHON, python, ROOT, run, type RunResult, tempDir } from "../../_helpers/common.ts";
import { serveStoreDir } from "../../_helpers/store_server.ts";

const FIELDS = ["t", "u", "t2m", "msl", "sst"];
const BACKOFF = { ATMOREP_HTTP_BACKOFF_MS: "10", ATMOREP_HTTP_TRIES: "4" };

let storesDir: Promise<string> | undefined;
/** The stores and the netCDF file, made once per run. */
function stores(): Promise<string> {
  storesDir ??= (async () => {
    const dir = await tempDir();
    const r = await run(PYTHON, [`${ROOT}tests/oracles/remote_stores.py`, dir]);
    if (r.code !== 0) throw new Error(`remote_stores.py failed:\n${r.stderr}`);
    return dir;
  })();
  return storesDir;
}

let reference: Promise<string> | undefined;
/** The netCDF file converted (the store every store conversion must equal). */
function netcdfStore(): Promise<string> {
  reference ??= (async () => {
    const out = join(await tempDir(), "nc.zarr");
    await convertEra5({ inputs: [join(await stores(), "cds.nc")], out, fields: FIELDS, workers: 0 });
    return out;
  })();
  return reference;
}

/** `deno task convert era5 …` as a user runs it for a host: network for that host only. */
function convertCli(host: string, args: string[], env: Record<string, string> = {}): Promise<RunResult> {
  return run(Deno.execPath(), [
    "run",
    "--allow-read",
    "--allow-write",
    "--allow-env",
    "--allow-ffi",
    `--allow-net=${host}`,
    `${ROOT}tasks/convert.ts`,
    "era5",
    ...args,
  ], { env: { ...BACKOFF, ...env } });
}

/** Requests for paths matching `re`. */
function count(requests: Record<string, number>, re: RegExp): number {
  return Object.entries(requests).filter(([p]) => re.test(p)).reduce((a, [, n]) => a + n, 0);
}

Deno.test("ARCO v2 and v3 stores over HTTP convert to the store the netCDF of the same data gives", async () => {
  const dir = await stores(), ref = await netcdfStore();
  const server = await serveStoreDir(dir);
  try {
    for (const name of ["arco_v2", "arco_v3"]) {
      const out = join(await tempDir(), `${name}.zarr`);
      const r = await convertCli(server.host, [
        `${server.url}/${name}.zarr`,
        "--out",
        out,
        "--fields",
        "temperature,u_component_of_wind,2m_temperature,mean_sea_level_pressure,sst",
        "--workers",
        "2",
      ]);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /2 fields × 3 levels \+ 3 single-level fields, 12 times, 61×120 grid/);
      assert.match(r.stderr, /downloaded .* in \d+ chunks/, "progress shows bytes and chunks");
      assertSameStore(ref, out);
      assertSameStore(ref.replace(".zarr", ".norm.zarr"), out.replace(".zarr", ".norm.zarr"));
    }
    // ARCO's chunks hold all levels of a time: each is downloaded once, not once per level.
    const reqs = await server.requests();
    assert.equal(count(reqs, /^\/arco_v2\.zarr\/temperature\/\d+\.0\.0\.0$/), 12);
    assert.equal(reqs["/arco_v2.zarr/temperature/0.0.0.0"], 1);
  } finally {
    await server.close();
  }
});

Deno.test("WeatherBench-2-like stores from a local directory (not consolidated, several chunks per plane; lon-lat order, latitude ascending) convert the same", async () => {
  const dir = await stores(), ref = await netcdfStore();
  const out = join(await tempDir(), "wb2.zarr");
  const selection = formatSelection({
    location: storeLocation(join(dir, "wb2_v2.zarr")),
    fields: resolveFieldNames(["t", "u", "t2m", "msl", "sst"]),
  });
  await convertEra5({ inputs: [selection], out, fields: FIELDS, workers: 0 });
  assertSameStore(ref, out);
  // A time coordinate stored as datetime64[ns] (no CF units) in several chunks.
  const out3 = join(await tempDir(), "dt64.zarr");
  const selection3 = formatSelection({
    location: storeLocation(join(dir, "arco_dt64.zarr")),
    fields: resolveFieldNames(["t", "u", "t2m", "msl", "sst"]),
  });
  await convertEra5({ inputs: [selection3], out: out3, fields: FIELDS, workers: 0 });
  assertSameStore(ref, out3);
  // WeatherBench 2's regridded layout: longitude before latitude, latitude ascending.
  const out2 = join(await tempDir(), "wb2_lonlat.zarr");
  const selection2 = formatSelection({
    location: storeLocation(join(dir, "wb2_lonlat.zarr")),
    fields: resolveFieldNames(["t", "u", "t2m", "msl", "sst"]),
  });
  await convertEra5({ inputs: [selection2], out: out2, fields: FIELDS, workers: 2 });
  assertSameStore(ref, out2);
});

Deno.test("--time, --every, --area (across 0°) and --grid (striding) pick what xarray picks", async () => {
  const dir = await stores();
  const out = join(await tempDir(), "sel.zarr");
  const selection = formatSelection({
    location: storeLocation(join(dir, "wb2_v2.zarr")),
    fields: resolveFieldNames(["temperature", "2m_temperature"]),
    levels: [850],
    time: parseTimeRange("2020-01-31T20/2020-02-01T04"),
    every: 7200,
    area: [60, -30, -30, 60],
    grid: 6,
  });
  await convertEra5({ inputs: [selection], out, fields: ["t", "t2m"], levels: [850], workers: 0 });
  const check = await python<{ max_abs_diff: number; shape: number[]; lons: number[]; times: string[] }>(
    "check_remote_selection.py",
    [out, join(dir, "wb2_v2.zarr")],
  );
  assert.deepEqual(check.times, ["2020-01-31T20", "2020-01-31T22", "2020-02-01T00", "2020-02-01T02", "2020-02-01T04"]);
  assert.deepEqual(check.shape, [5, 1, 1, 16, 16]); // lat 60..-30, lon -30..60 every 6°
  assert.equal(check.lons[0], -30);
  assert.equal(check.max_abs_diff, 0);
});

Deno.test("429 and 503 answers and a dropped connection are retried; the store is the same", async () => {
  const dir = await stores(), ref = await netcdfStore();
  const server = await serveStoreDir(dir, [
    { path: "^/arco_v2\\.zarr/temperature/3\\.0\\.0\\.0$", kind: "status", status: 503, times: 2 },
    { path: "^/arco_v2\\.zarr/2m_temperature/5\\.0\\.0$", kind: "status", status: 429, times: 1 },
    { path: "^/arco_v2\\.zarr/u_component_of_wind/7\\.0\\.0\\.0$", kind: "drop", times: 1 },
    { path: "^/arco_v2\\.zarr/\\.zmetadata$", kind: "status", status: 500, times: 1 },
  ]);
  try {
    const out = join(await tempDir(), "retried.zarr");
    const r = await convertCli(server.host, [
      `${server.url}/arco_v2.zarr`,
      "--out",
      out,
      "--fields",
      FIELDS.join(","),
      "-q",
    ]);
    assert.equal(r.code, 0, r.stderr);
    assertSameStore(ref, out);
    const reqs = await server.requests();
    assert.equal(reqs["/arco_v2.zarr/temperature/3.0.0.0"], 3);
    assert.equal(reqs["/arco_v2.zarr/2m_temperature/5.0.0"], 2);
    assert.equal(reqs["/arco_v2.zarr/u_component_of_wind/7.0.0.0"], 2);
  } finally {
    await server.close();
  }
});

Deno.test("a truncated chunk and a missing chunk are errors naming their URL; nothing is published", async () => {
  const dir = await stores();
  const server = await serveStoreDir(dir, [{ path: "^/arco_v2\\.zarr/temperature/4\\.0\\.0\\.0$", kind: "truncate" }]);
  try {
    const out = join(await tempDir(), "cut.zarr");
    const r = await convertCli(server.host, [`${server.url}/arco_v2.zarr`, "--out", out, "--fields", "t", "-q"]);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, new RegExp(`${server.url}/arco_v2\\.zarr/temperature/4\\.0\\.0\\.0`));
    assert.match(r.stderr, /truncated or corrupt/);
    assert.ok(!exists(out) && !exists(`${out}.partial`) && !exists(out.replace(".zarr", ".norm.zarr")));
  } finally {
    await server.close();
  }
  // A chunk the store should have (404): named, never filled with NaN.
  const copy = join(await tempDir(), "holey.zarr");
  await run("cp", ["-r", join(dir, "arco_v3.zarr"), copy]);
  await Deno.remove(join(copy, "2m_temperature", "c", "9", "0", "0"));
  const sel = formatSelection({ location: copy, fields: resolveFieldNames(["t2m"]) });
  const out = join(await tempDir(), "holey-out.zarr");
  await assert.rejects(
    convertEra5({ inputs: [sel], out, fields: ["t2m"], workers: 0 }),
    (e: Error) => e.message.includes(join(copy, "2m_temperature/c/9/0/0")) && /missing/.test(e.message),
  );
  assert.ok(!exists(out));
});

Deno.test("a variable, level or time range the store lacks, or a URL that is no store: named errors", async () => {
  const dir = await stores();
  const cases: [Partial<Parameters<typeof formatSelection>[0]>, RegExp][] = [
    [
      { fields: resolveFieldNames(["geopotential"]) },
      /variable "geopotential" \(z\) is not in .*it has: 2m_temperature/,
    ],
    [{ levels: [700] }, /level 700 is not in .* \(it has 500, 850, 1000\)/],
    [
      { time: parseTimeRange("2020-01-31/2020-02-03") },
      /is not inside the store's times, 2020-01-31T18:00:00 to 2020-02-01T05:00:00/,
    ],
  ];
  for (const [sel, message] of cases) {
    const out = join(await tempDir(), "bad.zarr");
    const selection = formatSelection({
      location: join(dir, "arco_v2.zarr"),
      fields: resolveFieldNames(["t"]),
      ...sel,
    });
    await assert.rejects(convertEra5({ inputs: [selection], out, workers: 0 }), message);
    assert.ok(!exists(out) && !exists(`${out}.partial`));
  }
  assert.throws(
    () => resolveFieldNames(["temprature"]),
    /"temprature" is neither .* known: geopotential \(z\), temperature \(t\)/,
  );
  // Through the CLI: exit ≠ 0, the error on stderr, nothing written.
  const out = join(await tempDir(), "x.zarr");
  const r = await convertCli("127.0.0.1", [
    join(dir, "arco_v2.zarr"),
    "--out",
    out,
    "--fields",
    "t",
    "--levels",
    "700",
  ]);
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /level 700 is not in/);
  const server = await serveStoreDir(dir);
  try {
    const r2 = await convertCli(server.host, [`${server.url}/nothing.zarr`, "--out", out, "--fields", "t"]);
    assert.notEqual(r2.code, 0);
    assert.match(r2.stderr, /not a zarr store: it has none of \.zmetadata, zarr\.json or \.zgroup/);
  } finally {
    await server.close();
  }
  assert.ok(!exists(out) && !exists(`${out}.partial`));
});

Deno.test("an unreachable host is an error naming the host and the tries", async () => {
  // A port nobody listens on any more: the server's, after it stopped.
  const gone = await serveStoreDir(await stores());
  const port = gone.host.split(":")[1];
  await gone.close();
  const out = join(await tempDir(), "x.zarr");
  const r = await convertCli(
    `127.0.0.1:${port}`,
    [`http://127.0.0.1:${port}/arco.zarr`, "--out", out, "--fields", "t"],
    {
      ATMOREP_HTTP_TRIES: "3",
    },
  );
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, new RegExp(`could not reach 127\\.0\\.0\\.1:${port}: 3 tries`));
  assert.ok(!exists(out));
});

Deno.test("a part that failed midway resumes without downloading its finished tasks' chunks again", async () => {
  const dir = await stores(), ref = await netcdfStore();
  const out = join(await tempDir(), "resumed.zarr");
  // A cut chunk in the second time group of temperature: the part stops there.
  let server = await serveStoreDir(dir, [{ path: "^/arco_v2\\.zarr/temperature/9\\.0\\.0\\.0$", kind: "truncate" }]);
  const port = server.host.split(":")[1];
  try {
    const init = await convertCli(server.host, [
      `${server.url}/arco_v2.zarr`,
      "--out",
      out,
      "--fields",
      FIELDS.join(","),
      "--init",
      "-q",
    ]);
    assert.equal(init.code, 0, init.stderr);
    const part = await convertCli(server.host, ["--out", out, "--part", "1/1", "--workers", "0", "-q"]);
    assert.notEqual(part.code, 0);
    assert.match(part.stderr, /temperature\/9\.0\.0\.0/);
  } finally {
    await server.close();
  }
  // The bucket is healthy again (same address, as recorded at init): the part finishes.
  server = await serveStoreDir(dir, [], Number(port));
  try {
    const part = await convertCli(server.host, ["--out", out, "--part", "1/1", "--workers", "0", "-q"]);
    assert.equal(part.code, 0, part.stderr);
    assert.match(part.stdout, /part 1\/1: ran \d+ tasks, 1 already done/);
    const fin = await convertCli(server.host, ["--out", out, "--finalize", "-q"]);
    assert.equal(fin.code, 0, fin.stderr);
    assertSameStore(ref, out);
    // Temperature: the finished task's chunks (times 0–5, all levels in each) are not fetched again; the failed
    // task's (times 6–11) once each: the planes of its own level were in its memory, the other levels' on disk.
    const reqs = await server.requests();
    assert.deepEqual(
      Object.keys(reqs).filter((p) => p.startsWith("/arco_v2.zarr/temperature/")).sort(),
      [10, 11, 6, 7, 8, 9].map((t) => `/arco_v2.zarr/temperature/${t}.0.0.0`),
    );
    assert.ok(Object.keys(reqs).every((p) => reqs[p] === 1 || !p.includes("/temperature/")));
  } finally {
    await server.close();
  }
});

Deno.test("SLURM scripts keep a store URL as it is and grant the network for its host only", () => {
  const { array, submit } = slurmScripts({
    convertArgs: ["era5", "gs://bucket/era5.zarr", "--fields", "t", "--time", "2020-01", "--out", "o.zarr"],
    parts: 4,
    name: "era5",
    cpusPerTask: 4,
    logDir: "/tmp/logs",
  });
  const init = submit("/tmp/array.sh");
  assert.match(init, / gs:\/\/bucket\/era5\.zarr /);
  assert.doesNotMatch(init, /\/gs:\//);
  for (const script of [array, init]) assert.match(script, /--allow-ffi --allow-net=storage\.googleapis\.com /);
});

Deno.test("gs:// and s3:// map to their public HTTPS endpoints; --time, --every and --area parse as documented", () => {
  assert.equal(
    storeLocation("gs://gcp-public-data-arco-era5/ar/full_37-1h-0p25deg-chunk-1.zarr-v3/"),
    "https://storage.googleapis.com/gcp-public-data-arco-era5/ar/full_37-1h-0p25deg-chunk-1.zarr-v3",
  );
  assert.equal(storeLocation("s3://era5-pds/zarr/2020"), "https://era5-pds.s3.amazonaws.com/zarr/2020");
  assert.equal(storeLocation("https://example.org/a.zarr/"), "https://example.org/a.zarr");
  const iso = ([a, b]: [number, number]) => [a, b].map((t) => new Date(t * 1000).toISOString().slice(0, 19));
  assert.deepEqual(iso(parseTimeRange("2020-02")), ["2020-02-01T00:00:00", "2020-02-29T23:59:59"]);
  assert.deepEqual(iso(parseTimeRange("2020-01-01/2020-01-31T18")), ["2020-01-01T00:00:00", "2020-01-31T18:59:59"]);
  assert.deepEqual(iso(parseTimeRange("1979/1980")), ["1979-01-01T00:00:00", "1980-12-31T23:59:59"]);
  assert.throws(() => parseTimeRange("2020-02/2020-01"), /the end lies before the start/);
  assert.equal(parseEvery("6h"), 21600);
  assert.throws(() => parseEvery("6 hours"), /--every/);
  assert.deepEqual(parseArea("72/-25/34/45"), [72, -25, 34, 45]);
  assert.throws(() => parseArea("34/-25/72/45"), /S ≤ N/);
});
