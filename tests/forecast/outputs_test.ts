/**
 * Forecast outputs follow the rules of every output of the project:
 * `--overwrite` replaces only a forecast store this project wrote (never a
 * plain file, a user's folder, a data store, or a folder holding an
 * input); a user's folder named `OUT.partial` is refused, not deleted; one
 * writer per output; a killed forecast's `OUT.partial` is described as a
 * partial forecast; the truth store's grid, step and fields are checked by
 * value; file names built from data cannot leave their folder.
 *
 * @module
 */
import assert from "node:assert/strict";
import { join, relative } from "node:path";
import { type ForecastStoreOptions, ForecastStoreWriter } from "../../forecast/store.ts";
import { assertSameGrid, checkEvalDir, runForecast, safeFileName } from "../../forecast/run.ts";
import type { GlobalRollout } from "../../forecast/rollout.ts";
import { assertComplete } from "../../zarr/publish.ts";
import { isPipelineError } from "../../errors.ts";
import { exists, ROOT, tempDir } from "../_helpers/common.ts";

function options(out: string, more: Partial<ForecastStoreOptions> = {}): ForecastStoreOptions {
  return {
    out,
    inits: [0],
    leads: [6],
    fields: ["t"],
    levels: { t: [0] },
    lat: Float64Array.of(10, 0),
    lon: Float64Array.of(0, 90, 180),
    ...more,
  };
}

/** A finished forecast store at `out`. */
function forecastStore(out: string, more: Partial<ForecastStoreOptions> = {}): void {
  const w = new ForecastStoreWriter(options(out, more));
  w.write(0, 0, "t", 0, [new Float32Array(6).fill(1)]);
  w.finish();
}

function refused(f: () => unknown, message: RegExp): void {
  assert.throws(
    f,
    (e: Error) => (assert.ok(isPipelineError(e, "store"), String(e)), assert.match(e.message, message), true),
  );
}

Deno.test("forecast output: --overwrite replaces a forecast store it wrote, and nothing else", async () => {
  const dir = await tempDir();
  const out = join(dir, "f.zarr");
  forecastStore(out);
  refused(() => new ForecastStoreWriter(options(out)), /f\.zarr: already exists; pass --overwrite/);
  forecastStore(out, { overwrite: true, fields: ["t"], leads: [12] });
  assert.ok(exists(join(out, ".zattrs")));

  // A plain file, a folder of user files, a data store of the project: never replaced.
  const file = join(dir, "notes.txt");
  await Deno.writeTextFile(file, "mine");
  refused(
    () => new ForecastStoreWriter(options(file, { overwrite: true })),
    /is not a forecast store written by atmorep-ts/,
  );
  assert.equal(await Deno.readTextFile(file), "mine");
  const folder = join(dir, "results");
  await Deno.mkdir(folder);
  await Deno.writeTextFile(join(folder, "thesis.tex"), "mine");
  refused(() => new ForecastStoreWriter(options(folder, { overwrite: true })), /is not a forecast store/);
  assert.equal(await Deno.readTextFile(join(folder, "thesis.tex")), "mine");
  const data = join(dir, "era5.zarr");
  await Deno.mkdir(data);
  await Deno.writeTextFile(join(data, ".zgroup"), '{"zarr_format":2}');
  await Deno.writeTextFile(join(data, ".zattrs"), JSON.stringify({ provenance: { software: "atmorep-ts" } }));
  refused(() => new ForecastStoreWriter(options(data, { overwrite: true })), /is not a forecast store/);
  assert.ok(exists(join(data, ".zattrs")));
  // An output that is or contains an input (the store it reads, or a folder above it).
  refused(
    () => new ForecastStoreWriter(options(dir, { overwrite: true, inputs: [data] })),
    /holds the input .*era5\.zarr; an output must not be or contain an input/,
  );
  for (const p of [file, folder, data, out]) assert.ok(!exists(`${p}.partial`) && !exists(`${p}.lock`), p);
});

Deno.test("forecast output: a user's folder named OUT.partial is refused, not deleted", async () => {
  const dir = await tempDir();
  const out = join(dir, "f.zarr");
  await Deno.mkdir(`${out}.partial`);
  await Deno.writeTextFile(`${out}.partial/draft.txt`, "mine");
  refused(
    () => new ForecastStoreWriter(options(out)),
    /f\.zarr\.partial: exists and is not a staged store of atmorep-ts/,
  );
  assert.equal(await Deno.readTextFile(`${out}.partial/draft.txt`), "mine");
});

Deno.test("forecast output: one writer per output; the second names the first", async () => {
  const dir = await tempDir();
  const out = join(dir, "f.zarr");
  const first = new ForecastStoreWriter(options(out));
  refused(
    () => new ForecastStoreWriter(options(out)),
    new RegExp(`f\\.zarr: is being written by pid ${Deno.pid} .*forecast`),
  );
  first.write(0, 0, "t", 0, [new Float32Array(6)]);
  first.finish();
  assert.ok(!exists(`${out}.lock`));
  assert.equal(assertComplete(out), 2);
});

Deno.test("forecast output: a killed forecast's OUT.partial is described as a partial forecast that a rerun replaces", async () => {
  const dir = await tempDir();
  const out = join(dir, "f.zarr");
  const w = new ForecastStoreWriter(options(out));
  w.write(0, 0, "t", 0, [new Float32Array(6)]);
  // Killed here: neither finish nor abort ran (the lock's flock goes with the process; here, released by hand).
  (w as unknown as { lock: { release(): void } }).lock.release();
  assert.throws(() => assertComplete(`${out}.partial`), (e: Error) => {
    assert.match(
      e.message,
      /f\.zarr\.partial: incomplete forecast store: the staged output of a run that did not finish/,
    );
    assert.match(e.message, /rerun the forecast command .*it replaces this partial store/);
    assert.doesNotMatch(e.message, /--part|--finalize/);
    return true;
  });
  // `inspect` says the same.
  const p = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-read", `${ROOT}tasks/inspect.ts`, `${out}.partial`],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(p.stdout) + new TextDecoder().decode(p.stderr);
  assert.match(text, /incomplete forecast store/);
  // The rerun replaces it.
  forecastStore(out);
  assert.ok(!exists(`${out}.partial`));
  assert.equal(assertComplete(out), 2);
  // `inspect` describes the finished store.
  const done = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-read", `${ROOT}tasks/inspect.ts`, out],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const shown = new TextDecoder().decode(done.stdout) + new TextDecoder().decode(done.stderr);
  assert.equal(done.code, 0, shown);
  assert.match(shown, /fields +t\n/);
  assert.match(shown, /levels +0\n/);
});

function fakeRollout(lat: number[], lon: number[], stepHours = 6, planes = ["t/850"]): GlobalRollout {
  return {
    dataset: { colat: Float64Array.from(lat, (v) => 90 - v), lons: Float64Array.from(lon) },
    stepHours,
    planes: planes.map((p) => ({ field: p.split("/")[0], level: Number(p.split("/")[1]) })),
  } as unknown as GlobalRollout;
}

Deno.test("forecast --truth: another grid with the same number of points, another step or other fields is refused naming both stores", () => {
  const lat = (n: number) => Array.from({ length: n }, (_, i) => 90 - (180 * i) / (n - 1));
  const lon = (n: number) => Array.from({ length: n }, (_, j) => (360 * j) / n);
  const input = fakeRollout(lat(61), lon(120));
  assert.doesNotThrow(() => assertSameGrid(input, fakeRollout(lat(61), lon(120)), "/in.zarr", "/truth.zarr"));
  // 60×122 against 61×120: the same 7320 points.
  refused(
    () => assertSameGrid(input, fakeRollout(lat(60), lon(122)), "/in.zarr", "/truth.zarr"),
    /\/truth\.zarr: the truth store has another grid than the forecast's input \/in\.zarr: latitudes 60 values/,
  );
  const shifted = lon(120).map((v) => v + 1.5);
  refused(
    () => assertSameGrid(input, fakeRollout(lat(61), shifted), "/in.zarr", "/truth.zarr"),
    /longitudes .*column 0: 1\.5/,
  );
  refused(
    () => assertSameGrid(input, fakeRollout(lat(61), lon(120), 1), "/in.zarr", "/truth.zarr"),
    /time step .*1 h against 6 h/,
  );
  refused(
    () => assertSameGrid(input, fakeRollout(lat(61), lon(120), 6, ["q/850"]), "/in.zarr", "/truth.zarr"),
    /set of fields .*q\/850 against t\/850/,
  );
});

Deno.test("file names built from data stay inside their folder", () => {
  for (const evil of ["../../tmp/x", "/etc/passwd", "..", ".hidden", "a/b\\c", "t 850", ""]) {
    const name = safeFileName(evil);
    assert.doesNotMatch(name, /[/\\]/);
    assert.ok(!name.startsWith("."), name);
    const rel = relative("/out/f.eval", join("/out/f.eval", `map_${name}.png`));
    assert.ok(!rel.startsWith("..") && !rel.includes("/"), rel);
  }
  assert.equal(safeFileName("map_t850_2020-01-02T12_+6h.png"), "map_t850_2020-01-02T12_+6h.png");
});

Deno.test("runForecast refuses steps or members < 1 and no initial time before loading anything, naming the option", async () => {
  const base = { checkpoint: "/nonexistent.ckpt", inits: ["2020-01-01T00"], steps: 1, out: "/nonexistent/f.zarr" };
  for (
    const [o, key] of [
      [{ steps: 0 }, "--steps"],
      [{ steps: -2 }, "--steps"],
      [{ members: 0 }, "--members"],
      [{ inits: [] }, "--init"],
    ] as const
  ) {
    await assert.rejects(
      () => runForecast({ ...base, ...o } as Parameters<typeof runForecast>[0]),
      (
        e: Error,
      ) => (assert.ok(isPipelineError(e, "config"), String(e)), assert.equal((e as { path?: string }).path, key), true),
    );
  }
});

Deno.test("the evaluation folder: a previous evaluation replaced only with --overwrite; a file or a user's folder never", async () => {
  const dir = await tempDir();
  const ev = join(dir, "f.eval");
  assert.doesNotThrow(() => checkEvalDir(ev, false));
  await Deno.mkdir(ev);
  for (const f of ["scores.json", "rmse_t850.png", "map_t850_2020-01-02T12_+6h.png"]) {
    await Deno.writeTextFile(join(ev, f), "");
  }
  refused(() => checkEvalDir(ev, false), /f\.eval: already exists; pass --overwrite/);
  assert.doesNotThrow(() => checkEvalDir(ev, true));
  await Deno.writeTextFile(join(ev, "notes.md"), "mine");
  refused(
    () => checkEvalDir(ev, true),
    /f\.eval: holds notes\.md, so it is not an evaluation folder written by atmorep-ts/,
  );
  const file = join(dir, "plain");
  await Deno.writeTextFile(file, "mine");
  refused(() => checkEvalDir(file, true), /plain: is a file, not an evaluation folder/);
});
