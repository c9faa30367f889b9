/**
 * The reduced Gaussian GRIB converter: the points store equals ecCodes'
 * decode and opens in xarray, a regular grid is refused, and the points are
 * sampled under ERA5 neighbourhoods and scattered back exactly.
 *
 * @module
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { convertEra5 } from "../../../converters/era5/convert.ts";
import { expandInputs } from "../../../cli/inputs.ts";
import { convertGaussian } from "../../../converters/gaussian/convert.ts";
import { MultifieldSampler } from "../../../samplers/sampler.ts";
import { scatterPoints } from "../../../tokenizers/healpix_points.ts";
import { ArrayReader } from "../../../zarr/reader.ts";
import { exists, gribFiles, python, run, runTask, SAMPLE, tempDir } from "../../_helpers/common.ts";

let stores: Promise<{ dir: string; gauss: string; grib: string }> | undefined;
function gaussianStore() {
  stores ??= (async () => {
    const grib = await gribFiles();
    const dir = await tempDir();
    const s = await convertGaussian({ inputs: [join(grib, "gaussian.grib2")], out: join(dir, "gauss.zarr") });
    return { dir, gauss: s.out, grib };
  })();
  return stores;
}

Deno.test("convert gaussian: reduced Gaussian GRIB → points store equal to ecCodes' decode, xarray opens it", async () => {
  const { gauss, grib } = await gaussianStore();
  const r = await python<Record<string, unknown>>("check_gaussian_store.py", [
    gauss,
    join(grib, "gaussian.grib2"),
    join(grib, "gaussian_values.npy"),
  ]);
  assert.ok((r.max_abs_diff as number) < 1e-4, `max |ours − ecCodes| ${r.max_abs_diff}`);
  assert.equal(r.lat_equal, true);
  assert.equal(r.lon_equal, true);
  assert.deepEqual(r.dims, ["time", "field", "level", "node"]);
  assert.match(String(r.time0), /^2020-01-31T12:00:00/);
  assert.deepEqual(r.months, [202001, 202002]);
  assert.ok((r.jan_mean_rel as number) < 1e-6 && (r.jan_std_rel as number) < 1e-5, JSON.stringify(r));
  assert.ok((r.feb_local_mean_err as number) < 1e-3, JSON.stringify(r));
});

Deno.test("convert gaussian refuses a regular grid, naming the file, and leaves no store", async () => {
  const grib = await gribFiles();
  const out = join(await tempDir(), "bad.zarr");
  const r = await runTask("convert", ["gaussian", join(grib, "pl.grib2"), "-o", out]);
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /pl\.grib2: regular_ll data: convert gaussian reads GRIB on a reduced Gaussian grid/);
  assert.ok(!exists(out) && !exists(`${out}.partial`) && !exists(out.replace(".zarr", ".norm.zarr")));
});

Deno.test("reduced Gaussian points under ERA5 neighborhoods: healpix-points tokens, normalized, scattered back exactly", async () => {
  const { dir, gauss } = await gaussianStore();
  const era5 = await convertEra5({
    inputs: expandInputs([SAMPLE.legacy, SAMPLE.new]),
    out: join(dir, "era5.zarr"),
    workers: 0,
  });
  const tokens = { pointsPerToken: 16, healpixOrder: 2, maxTokens: 96, timeSteps: 1 };
  const s = new MultifieldSampler({
    datasets: [
      {
        store: era5.out,
        fields: [{ name: "t2m", levels: [0], tokens: { numTokens: [4, 2, 4], tokenSize: [3, 9, 9] } }],
      },
      { store: gauss, fields: [{ name: "t", levels: [500, 850], tokens }] },
    ],
    batchSize: 4,
    masking: { strategy: "bert", rate: 0.5 },
    seed: 5,
  });
  assert.equal(s.slots[1].tokenizer.name, "healpix-points");
  const batch = s.batch(0);
  const f = batch.fields[1], pts = f.points!;
  const lat = new ArrayReader(gauss, "lat").read() as Float64Array;
  const raw = new ArrayReader(gauss, "data").read() as Float32Array; // (8, 1, 2, 6114)
  const gnorm = new ArrayReader(gauss.replace(".zarr", ".norm.zarr"), "global_norm").read() as Float32Array;
  const slots = 96 * 16;
  for (let b = 0; b < 4; b++) {
    const index = pts.index.subarray(b * slots, (b + 1) * slots);
    const used = [...index].filter((p) => p >= 0);
    assert.ok(used.length > 0 && pts.dropped[b] === 0, `sample ${b}: ${used.length} points, ${pts.dropped[b]} dropped`);
    const pos = batch.samples[b];
    const north = 90 - pos.i0 * 3 + 1.5, south = 90 - (pos.i0 + 17) * 3 - 1.5;
    assert.ok(used.every((p) => lat[p] >= south && lat[p] <= north));
    const t = pts.t0[b];
    // Month entry of the point's time (entry 0 = January 2020), global coefficients of t at each level.
    const entry = t < 4 ? 0 : 1;
    for (let l = 0; l < 2; l++) {
      const mean = gnorm[((entry * 2) * 1 + 0) * 2 + l], std = gnorm[((entry * 2 + 1) * 1 + 0) * 2 + l];
      const values = f.tokens.subarray((b * 2 + l) * slots, (b * 2 + l + 1) * slots);
      const back = new Float32Array(6114).fill(NaN);
      scatterPoints(values, { index, tokens: pts.tokens[b], dropped: 0 }, back);
      for (const p of used) {
        const want = (raw[(t * 2 + l) * 6114 + p] - mean) / std;
        assert.ok(Math.abs(back[p] - want) < 1e-5, `${back[p]} vs ${want}`);
      }
    }
  }
});

Deno.test("convert gaussian refuses finite but absurd coefficients (values scaled by 1e6), naming the set and publishing nothing; --allow-implausible keeps them", async () => {
  const grib = await gribFiles();
  const dir = await tempDir();
  const scaled = join(dir, "scaled.grib2");
  const set = await run("grib_set", ["-s", "scaleValuesBy=1000000", join(grib, "gaussian.grib2"), scaled]);
  assert.equal(set.code, 0, set.stderr);
  const out = join(dir, "absurd.zarr"), norm = join(dir, "absurd.norm.zarr");
  const r = await runTask("convert", ["gaussian", scaled, "-o", out]);
  assert.notEqual(r.code, 0);
  assert.match(
    r.stderr,
    /absurd\.norm\.zarr: \d+ coefficient\(s\) outside the plausible range of their field, e\.g\. .*t/,
  );
  assert.match(r.stderr, /--allow-implausible/);
  assert.ok(!exists(out) && !exists(norm) && !exists(`${out}.partial`), "nothing published, nothing left");
  const kept = await runTask("convert", ["gaussian", scaled, "-o", out, "--allow-implausible"]);
  assert.equal(kept.code, 0, kept.stderr);
  assert.ok(exists(out) && exists(norm));
});
