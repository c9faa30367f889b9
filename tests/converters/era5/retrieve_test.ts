/**
 * `retrieve era5` and its CDS client against a loopback stand-in for the
 * CDS (tests/_helpers/fake_cds.ts): requests split per month (and
 * variable) with predictable file names, jobs polled to success and
 * downloaded, the CDS's errors shown as it gives them (bad key, licence
 * not accepted, failed job), a cut download resumed from the same job,
 * and a `~/.cdsapirc` without a key refused by name.
 *
 * @module
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { readCdsConfig } from "../../../converters/era5/remote/cds.ts";
import { planRequests } from "../../../converters/era5/remote/retrieve.ts";
import { exists, ROOT, run, type RunResult, tempDir } from "../../_helpers/common.ts";
import { startLoopbackServer } from "../../_helpers/loopback.ts";

interface FakeCds {
  host: string;
  url: string;
  log(): string[];
  close(): Promise<void>;
}

async function fakeCds(flags: string[] = []): Promise<FakeCds> {
  const log = join(await tempDir(), "cds.log");
  Deno.writeTextFileSync(log, "");
  const server = await startLoopbackServer(
    ["--allow-net=127.0.0.1", `--allow-write=${log}`, `${ROOT}tests/_helpers/fake_cds.ts`, log, ...flags],
  );
  const { port } = server;
  return {
    host: `127.0.0.1:${port}`,
    url: `http://127.0.0.1:${port}/api`,
    log: () => Deno.readTextFileSync(log).trim().split("\n").filter(Boolean),
    close: server.close,
  };
}

/** A home directory whose `.cdsapirc` holds `lines`. */
async function home(lines: string): Promise<string> {
  const dir = await tempDir();
  Deno.writeTextFileSync(join(dir, ".cdsapirc"), lines);
  return dir;
}

function retrieve(host: string, homeDir: string, args: string[]): Promise<RunResult> {
  return run(Deno.execPath(), [
    "run",
    "--allow-read",
    "--allow-write",
    "--allow-env=HOME,USERPROFILE,CDSAPI_URL,CDSAPI_KEY",
    `--allow-net=${host}`,
    `${ROOT}tasks/retrieve.ts`,
    "era5",
    ...args,
  ], { env: { HOME: homeDir, CDSAPI_KEY: "", CDSAPI_URL: "" } });
}

const PL = ["--dataset", "pressure-levels", "--variables", "temperature,geopotential", "--levels", "500,850"];

Deno.test("requests are split per month (and per variable) with predictable file names", () => {
  const plan = planRequests({
    dataset: "pressure-levels",
    variables: ["temperature", "geopotential"],
    levels: [500, 850],
    months: ["2019-12", "2020-02"],
    hours: [0, 6, 12, 18],
    area: [72, -25, 34, 45],
    grid: 1,
    out: "era5",
  });
  assert.deepEqual(plan.map((p) => p.target), [
    "era5/era5-pl-2019-12.nc",
    "era5/era5-pl-2020-01.nc",
    "era5/era5-pl-2020-02.nc",
  ]);
  assert.equal(plan[0].dataset, "reanalysis-era5-pressure-levels");
  assert.deepEqual(plan[2].request.day, Array.from({ length: 29 }, (_, d) => String(d + 1).padStart(2, "0")));
  assert.deepEqual(plan[1].request.time, ["00:00", "06:00", "12:00", "18:00"]);
  assert.deepEqual(plan[1].request.pressure_level, ["500", "850"]);
  assert.deepEqual(plan[1].request.grid, [1, 1]);
  const byVar = planRequests({
    dataset: "single-levels",
    variables: ["2m_temperature", "mean_sea_level_pressure"],
    months: ["2020-01", "2020-01"],
    format: "grib",
    split: "variable",
    out: "d",
  });
  assert.deepEqual(byVar.map((p) => p.target), [
    "d/era5-sl-2020-01-2m_temperature.grib",
    "d/era5-sl-2020-01-mean_sea_level_pressure.grib",
  ]);
  assert.equal(byVar[0].request.data_format, "grib");
  assert.throws(
    () => planRequests({ dataset: "pressure-levels", variables: ["t"], months: ["2020-01", "2020-01"], out: "x" }),
    /--levels/,
  );
});

Deno.test("a ~/.cdsapirc without a key, or with an old-CDS key, is a named error", async () => {
  const noKey = await home("url: https://cds.climate.copernicus.eu/api\n");
  assert.throws(
    () => readCdsConfig({ HOME: noKey }),
    /\.cdsapirc has no "key:" line; put "url: .*" and "key: YOUR-PERSONAL-ACCESS-TOKEN"/,
  );
  const old = await home(
    "url: https://cds.climate.copernicus.eu/api/v2\nkey: 12345:0c1a2b3c-4d5e-6f70-8192-a3b4c5d6e7f8\n",
  );
  assert.throws(() => readCdsConfig({ HOME: old }), /old CDS \(UID:KEY\)/);
  const empty = await tempDir();
  assert.throws(() => readCdsConfig({ HOME: empty }), /does not exist and CDSAPI_KEY is not set/);
  assert.deepEqual(readCdsConfig({ HOME: noKey, CDSAPI_KEY: "abc", CDSAPI_URL: "http://x/api/" }), {
    url: "http://x/api",
    key: "abc",
    source: "CDSAPI_KEY",
  });
  // Through the CLI: exit ≠ 0, nothing asked.
  const out = join(await tempDir(), "era5");
  const r = await retrieve("127.0.0.1", noKey, [...PL, "--months", "2020-01", "--out", out]);
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /has no "key:" line/);
});

Deno.test("jobs are posted, polled and downloaded; two months, two jobs in flight; a second run skips them", async () => {
  const cds = await fakeCds();
  try {
    const h = await home(`url: ${cds.url}\nkey: good-key\n`);
    const out = join(await tempDir(), "era5");
    const r = await retrieve(cds.host, h, [...PL, "--months", "2020-01/2020-02", "--hours", "0,12", "--out", out]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /retrieved 2 file\(s\)/);
    for (const [month, days] of [["01", 31], ["02", 29]] as const) {
      const bytes = Deno.readFileSync(join(out, `era5-pl-2020-${month}.nc`));
      assert.equal(bytes.length, 200_000);
      const req = JSON.parse(new TextDecoder().decode(bytes).trim());
      assert.deepEqual(req.variable, ["temperature", "geopotential"]);
      assert.deepEqual(req.month, [month]);
      assert.equal(req.day.length, days);
      assert.deepEqual(req.time, ["00:00", "12:00"]);
    }
    const log = cds.log();
    assert.equal(
      log.filter((l) => l.startsWith("POST /api/retrieve/v1/processes/reanalysis-era5-pressure-levels/execution"))
        .length,
      2,
    );
    assert.ok(
      log.filter((l) => /^GET \/api\/retrieve\/v1\/jobs\/\w+ $/.test(l)).length >= 6,
      "polled until successful",
    );
    assert.ok(!exists(join(out, "era5-pl-2020-01.nc.job")) && !exists(join(out, "era5-pl-2020-01.nc.partial")));
    const again = await retrieve(cds.host, h, [...PL, "--months", "2020-01/2020-02", "--hours", "0,12", "--out", out]);
    assert.match(again.stdout, /retrieved 0 file\(s\) into .*, 2 already there/);
  } finally {
    await cds.close();
  }
});

Deno.test("the CDS's errors are shown as it gives them: bad key, licence not accepted, failed job", async () => {
  const cds = await fakeCds();
  try {
    const out = join(await tempDir(), "era5");
    const bad = await retrieve(cds.host, await home(`url: ${cds.url}\nkey: wrong\n`), [
      ...PL,
      "--months",
      "2020-01",
      "--out",
      out,
    ]);
    assert.notEqual(bad.code, 0);
    assert.match(
      bad.stderr,
      /CDS answered 401 .*refused.*Authentication failed\nThe provided authentication token is not valid/s,
    );
    const h = await home(`url: ${cds.url}\nkey: good-key\n`);
    const lic = await retrieve(cds.host, h, [
      "--dataset",
      "single-levels",
      "--variables",
      "unlicensed",
      "--months",
      "2020-01",
      "--out",
      out,
    ]);
    assert.notEqual(lic.code, 0);
    assert.match(lic.stderr, /403 .*required licences not accepted\nrequired licences not accepted; please accept/s);
    const failed = await retrieve(cds.host, h, [
      "--dataset",
      "single-levels",
      "--variables",
      "broken",
      "--months",
      "2020-01",
      "--out",
      out,
    ]);
    assert.notEqual(failed.code, 0);
    assert.match(
      failed.stderr,
      /the CDS job \w+ failed: The job has failed\nMARS returned no data\nTraceback: mars - ERROR - no data/,
    );
    assert.ok(!exists(join(out, "era5-sl-2020-01.nc")) && !exists(join(out, "era5-sl-2020-01.nc.job")));
  } finally {
    await cds.close();
  }
});

Deno.test("a cut download resumes from the same job with a Range request", async () => {
  const cds = await fakeCds(["--drop-first"]);
  try {
    const h = await home(`url: ${cds.url}\nkey: good-key\n`);
    const out = join(await tempDir(), "era5");
    const args = [...PL, "--months", "2020-03", "--out", out];
    const first = await retrieve(cds.host, h, args);
    assert.notEqual(first.code, 0);
    assert.match(first.stderr, /download cut at \d+ bytes .*run again to resume it/);
    const target = join(out, "era5-pl-2020-03.nc");
    assert.ok(exists(`${target}.partial`) && exists(`${target}.job`) && !exists(target));
    const have = Deno.statSync(`${target}.partial`).size;
    const second = await retrieve(cds.host, h, args);
    assert.equal(second.code, 0, second.stderr);
    assert.match(second.stderr, /resumed/);
    assert.equal(Deno.statSync(target).size, 200_000);
    const log = cds.log();
    assert.equal(log.filter((l) => l.startsWith("POST")).length, 1, "the job was asked for once");
    assert.ok(log.some((l) => l.startsWith("GET /download/") && l.endsWith(`bytes=${have}-`)), log.join("\n"));
    assert.deepEqual(JSON.parse(new TextDecoder().decode(Deno.readFileSync(target)).trim()).month, ["03"]);
  } finally {
    await cds.close();
  }
});
