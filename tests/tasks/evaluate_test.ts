/**
 * `deno task evaluate`: AtmoRep's checkpoint of the bundled sample's field t
 * (tests/fixtures/atmorep/sample_t, written by AtmoRep's own code) evaluated
 * on the converted sample in every mode; zarr-python opens the results as
 * AtmoRep's analysis does, and the values are physical (K), the target
 * equals the store's truth and the prediction is finite. temporal_interpolation
 * masks AtmoRep's slabs (the middle one, or `--time-tokens`); fixed_location
 * keeps every sample at the given place. global_forecast's blended store,
 * read by xarray, equals each tile's prediction wherever one tile alone
 * covers a point, and its scores mark in-sample dates from the checkpoint's
 * time ranges.
 *
 * @module
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { convertEra5 } from "../../converters/era5/convert.ts";
import { expandInputs } from "../../cli/inputs.ts";
import { checkTrainConfig, type TrainConfig } from "../../training/config.ts";
import { train } from "../../training/train.ts";
import { MultifieldSampler } from "../../samplers/sampler.ts";
import type { GridDataset } from "../../datasets/grid.ts";
import { PYTHON, python, ROOT, run, runTask, SAMPLE, tempDir } from "../_helpers/common.ts";
import { sampleTConfig } from "../_helpers/atmorep_sample.ts";

const MOD = join(ROOT, "tests", "fixtures", "atmorep", "sample_t", "AtmoRep_idgold0007.mod");

type Item = {
  shape: number[];
  sum: number;
  first: number;
  values: number[];
  ml: unknown;
  datetime: string[];
  lat: number[];
  lon: number[];
};
type Read = Record<string, Record<string, Item>>;
type GlobalRead = {
  fields: string[];
  levels: number[];
  leads_hours: number[];
  init: string;
  valid: string[];
  tile_datetimes: string[];
  covered: number;
  points: number;
  single: number;
  max_diff_single: number;
  finite: boolean;
};

async function setup(): Promise<{ dir: string; cfg: string }> {
  const dir = await tempDir();
  const s = await convertEra5({
    inputs: expandInputs([SAMPLE.legacy, SAMPLE.new]),
    out: join(dir, "era5.zarr"),
    workers: 0,
  });
  const c = await sampleTConfig(s.out);
  const cfg = join(dir, "run.json");
  await Deno.writeTextFile(cfg, JSON.stringify(c));
  return { dir, cfg };
}

Deno.test("deno task evaluate --mode forecast / BERT on AtmoRep's .mod: AtmoRep's results layout, read by zarr-python; target = truth, pred finite, in K", async () => {
  const { dir, cfg } = await setup();
  const out = join(dir, "results");
  const common = ["--checkpoint", MOD, "--config", cfg, "--date", "2020-02-01T04:00", "--center", "50,10", "--out"];
  const f = await runTask("evaluate", [...common, join(out, "f"), "--mode", "forecast", "--forecast-num-tokens", "2"]);
  assert.equal(f.code, 0, f.stderr);
  assert.match(f.stdout, /results_idgold0007_epoch00000_ens\.zarr/);
  const rf = await python<Read>("atmorep_results_read.py", [join(out, "f"), "gold0007", "0"]);
  const src = rf.source["t/sample=00000"], tgt = rf.target["t/sample=00000"], pred = rf.pred["t/sample=00000"];
  // the window: 2 levels, 2·3 steps, 2·9 × 4·9 points; forecast_num_tokens 2 = the last 2 slabs of 3 steps
  assert.deepEqual(src.shape, [2, 6, 18, 36]);
  assert.deepEqual(src.ml, [500, 850]);
  assert.deepEqual(tgt.shape, [2, 6, 18, 36]);
  assert.deepEqual(rf.ens["t/sample=00000"].shape, [4, 2, 6, 18, 36]);
  assert.equal(src.datetime.at(-1), "2020-02-01T04:00:00.000000000");
  assert.deepEqual(tgt.datetime, src.datetime);
  assert.ok(src.first > 180 && src.first < 330, `temperature in K: ${src.first}`);
  // all slabs masked: the source (the network's input) is the zeroed tokens, i.e. the normalization's mean, not the truth
  assert.ok(Math.abs(tgt.sum - src.sum) > 1e-6 * Math.abs(src.sum), "source = the masked input, not the truth");
  assert.ok(Number.isFinite(pred.sum) && pred.sum !== tgt.sum);
  assert.ok(Math.abs(pred.sum / tgt.sum - 1) < 0.2, `prediction near the truth's scale: ${pred.sum} vs ${tgt.sum}`);

  // AtmoRep's evaluator's default, forecast_num_tokens 1: the last slab, its 3 steps and datetimes; the first slab is
  // no target
  const f1 = await runTask("evaluate", [...common, join(out, "f1"), "--mode", "forecast"]);
  assert.equal(f1.code, 0, f1.stderr);
  const r1 = await python<Read>("atmorep_results_read.py", [join(out, "f1"), "gold0007", "0"]);
  const t1 = r1.target["t/sample=00000"];
  assert.deepEqual([t1.shape, r1.pred["t/sample=00000"].shape], [[2, 3, 18, 36], [2, 3, 18, 36]]);
  assert.deepEqual(t1.datetime, src.datetime.slice(3));
  assert.deepEqual(r1.ens["t/sample=00000"].shape, [4, 2, 3, 18, 36]);
  // the truth: with every slab masked the target is the whole window; with one, the target is its last slab and the
  // source's first slab (visible) is the truth
  const plane = 18 * 36, truth = tgt.values, src1 = r1.source["t/sample=00000"].values;
  for (let l = 0; l < 2; l++) {
    const lvl = truth.slice(l * 6 * plane, (l + 1) * 6 * plane);
    assert.deepEqual(t1.values.slice(l * 3 * plane, (l + 1) * 3 * plane), lvl.slice(3 * plane), `level ${l}`);
    assert.deepEqual(src1.slice(l * 6 * plane, l * 6 * plane + 3 * plane), lvl.slice(0, 3 * plane), `level ${l}`);
  }
  // the mean of the members is the prediction
  const ens1 = r1.ens["t/sample=00000"].values, p1 = r1.pred["t/sample=00000"].values, n1 = p1.length;
  for (const i of [0, 777, n1 - 1]) {
    const mean = [0, 1, 2, 3].reduce((a, e) => a + ens1[e * n1 + i], 0) / 4;
    assert.ok(Math.abs(mean - p1[i]) < 1e-3, `${mean} vs ${p1[i]}`);
  }

  const b = await runTask("evaluate", [...common, join(out, "b"), "--mode", "BERT", "--rate", "0.9", "--seed", "3"]);
  assert.equal(b.code, 0, b.stderr);
  const rb = await python<Read>("atmorep_results_read.py", [join(out, "b"), "gold0007", "0"]);
  assert.deepEqual(Object.keys(rb.source), ["t/sample=00000"]);
  const keys = Object.keys(rb.target);
  assert.ok(keys.every((k) => /^t\/sample=00000\/ml=00(500|850)$/.test(k)), keys.join());
  const t = rb.target[keys[0]];
  assert.equal(t.shape.slice(1).join(), "3,9,9");
  assert.ok(t.shape[0] >= 1);
  assert.deepEqual(rb.ens[keys[0]].shape, [t.shape[0], 4, 3, 9, 9]);
  assert.equal(t.datetime.length, t.shape[0] * 3);
  assert.equal(t.lat.length, t.shape[0] * 9);
  // another run under the same id and epoch is refused, naming the results store, and leaves the first run's results
  const first = Deno.readFileSync(join(out, "b", "results_idgold0007_epoch00000_target.zarr"));
  const rerun = await runTask("evaluate", [...common, join(out, "b"), "--mode", "BERT", "--rate", "0.5"]);
  assert.notEqual(rerun.code, 0);
  assert.match(rerun.stderr, /results_idgold0007_epoch00000_source\.zarr: already exists; pass --overwrite/);
  assert.deepEqual(Deno.readFileSync(join(out, "b", "results_idgold0007_epoch00000_target.zarr")), first);
  const replaced = await runTask("evaluate", [
    ...common,
    join(out, "b"),
    "--mode",
    "BERT",
    "--rate",
    "0.5",
    "--overwrite",
  ]);
  assert.equal(replaced.code, 0, replaced.stderr);
  assert.notDeepEqual(Deno.readFileSync(join(out, "b", "results_idgold0007_epoch00000_target.zarr")), first);

  // global_forecast: the sampler's tiling of the globe, one sample per tile, the last slab predicted (the AtmoRep
  // json's forecast_num_tokens, 1)
  const g = await runTask("evaluate", [...common, join(out, "g"), "--mode", "global_forecast"]);
  assert.equal(g.code, 0, g.stderr);
  const rg = await python<Read>("atmorep_results_read.py", [join(out, "g"), "gold0007", "0"]);
  const tiles = Object.keys(rg.pred);
  assert.ok(tiles.length >= 2, tiles.join());
  assert.deepEqual(Object.keys(rg.source), tiles);
  for (const k of tiles) assert.deepEqual(rg.pred[k].shape, [2, 3, 18, 36], k);
  const lats = tiles.flatMap((k) => rg.source[k].lat), lons = tiles.flatMap((k) => rg.source[k].lon);
  const byLat = new Set(lats), byLon = new Set(lons);
  // the tiles are the sampler's tiling and cover every grid point of the store
  const c = JSON.parse(await Deno.readTextFile(cfg)) as TrainConfig;
  const sampler = new MultifieldSampler({ ...c.sampler, timeRange: undefined });
  const grid = sampler.datasets[0] as GridDataset;
  assert.equal(tiles.length, sampler.tiles("2020-02-01T04:00").length);
  assert.equal(byLat.size * byLon.size, grid.colat.length * grid.lons.length);

  // the blended global forecast: xarray reads it; where one tile alone covers a point it is that tile's prediction
  const gl = join(out, "g", "global_forecast_idgold0007_epoch00000.zarr");
  const rgl = await python<GlobalRead>("global_forecast_read.py", [gl, join(out, "g"), "gold0007", "0", "t", "850"]);
  assert.deepEqual(rgl.fields, ["t"]);
  assert.deepEqual(rgl.levels, [500, 850]);
  // forecast_num_tokens 1 of 3-step tokens: 3 hourly leads from the last unmasked step, 3 h before the date
  assert.deepEqual(rgl.leads_hours, [1, 2, 3]);
  assert.equal(rgl.init.slice(0, 19), "2020-02-01T01:00:00");
  assert.equal(rgl.valid.at(-1)!.slice(0, 19), "2020-02-01T04:00:00");
  assert.deepEqual(rgl.tile_datetimes.map((t) => t.slice(0, 19)), rgl.valid.map((t) => t.slice(0, 19)));
  assert.equal(rgl.covered, rgl.points);
  assert.ok(rgl.single > rgl.points / 2, `${rgl.single} of ${rgl.points} points in one tile only`);
  assert.ok(rgl.max_diff_single < 1e-3, `blended ≠ tile by ${rgl.max_diff_single} K`);
  assert.ok(rgl.finite);
  assert.match(g.stdout, /t\/850 {2}RMSE in K, 1 initial time\(s\)/);
  const scores = JSON.parse(
    await Deno.readTextFile(join(out, "g", "global_forecast_idgold0007_epoch00000.eval", "scores.json")),
  );
  assert.deepEqual(scores.scores.map((x: { level: number }) => x.level), [500, 850]);
  assert.deepEqual(scores.scores[0].leads, [1, 2, 3]);
  assert.ok(scores.scores[0].rmse.forecast.every((x: number) => x > 0 && x < 50), scores.scores[0].rmse.forecast);
  assert.ok(scores.scores[0].crps.every(Number.isFinite));
  // AtmoRep's json names no training years: the scores may be in-sample, and the run says so
  assert.equal(scores.trained_ranges, null);
  assert.match(g.stderr, /does not record the time ranges/);
  // a second run does not replace the forecast store without --overwrite, and writes nothing
  const before = Deno.statSync(join(out, "g", "results_idgold0007_epoch00000_pred.zarr")).mtime;
  const again = await runTask("evaluate", [...common, join(out, "g"), "--mode", "global_forecast"]);
  assert.notEqual(again.code, 0);
  assert.match(again.stderr, /global_forecast_idgold0007_epoch00000\.zarr: already exists; pass --overwrite/);
  assert.deepEqual(Deno.statSync(join(out, "g", "results_idgold0007_epoch00000_pred.zarr")).mtime, before);
  const over = await runTask("evaluate", [...common, join(out, "g"), "--mode", "global_forecast", "--overwrite"]);
  assert.equal(over.code, 0, over.stderr);

  const bad = await runTask("evaluate", [...common, join(out, "x"), "--mode", "interpolation"]);
  assert.notEqual(bad.code, 0);
  assert.match(bad.stderr, /interpolation is not an AtmoRep evaluation mode: BERT, forecast, temporal_interpolation/);
});

Deno.test("deno task evaluate --mode temporal_interpolation / fixed_location: AtmoRep's slabs masked, BERT's results layout; one place at every date", async () => {
  const { dir, cfg } = await setup();
  const out = join(dir, "results");
  const common = ["--checkpoint", MOD, "--config", cfg, "--date", "2020-02-01T04:00", "--center", "50,10", "--out"];
  // the truth of the window: the target of a forecast of every slab
  const f = await runTask("evaluate", [...common, join(out, "f"), "--mode", "forecast", "--forecast-num-tokens", "2"]);
  assert.equal(f.code, 0, f.stderr);
  const src =
    (await python<Read>("atmorep_results_read.py", [join(out, "f"), "gold0007", "0"])).target["t/sample=00000"];
  const [H, W] = [18, 36];
  for (const [args, slab] of [[[], 1], [["--time-tokens", "0"], 0]] as const) {
    const ti = await runTask("evaluate", [
      ...common,
      join(out, `ti${slab}`),
      "--mode",
      "temporal_interpolation",
      ...args,
    ]);
    assert.equal(ti.code, 0, ti.stderr);
    const r = await python<Read>("atmorep_results_read.py", [join(out, `ti${slab}`), "gold0007", "0"]);
    assert.deepEqual(Object.keys(r.target), ["t/sample=00000/ml=00500", "t/sample=00000/ml=00850"]);
    const t = r.target["t/sample=00000/ml=00500"];
    // every spatial token (2 × 4) of the masked slab, with that slab's datetimes
    assert.deepEqual(t.shape, [8, 3, 9, 9]);
    assert.deepEqual(r.ens["t/sample=00000/ml=00500"].shape, [8, 4, 3, 9, 9]);
    const slabTimes = src.datetime.slice(slab * 3, slab * 3 + 3);
    for (let k = 0; k < 8; k++) assert.deepEqual(t.datetime.slice(k * 3, k * 3 + 3), slabTimes);
    // the masked slab is zeroed in the source (the mean), the other is the truth
    const s = r.source["t/sample=00000"].values, truth = src.values;
    const slabOf = (v: number[], sl: number) => v.slice(sl * 3 * H * W, (sl + 1) * 3 * H * W);
    assert.deepEqual(slabOf(s, 1 - slab), slabOf(truth, 1 - slab));
    assert.notDeepEqual(slabOf(s, slab), slabOf(truth, slab));
    if (slab === 0) {
      // the first token's truth is the forecast run's visible source at that token's place
      const row = src.lat.indexOf(t.lat[0]), col = src.lon.indexOf(t.lon[0]);
      for (let tt = 0; tt < 3; tt++) {
        for (let y = 0; y < 9; y++) {
          for (let x = 0; x < 9; x++) {
            assert.equal(t.values[(tt * 9 + y) * 9 + x], truth[(tt * H + row + y) * W + col + x]);
          }
        }
      }
    }
  }
  const bad = await runTask("evaluate", [
    ...common,
    join(out, "bad"),
    "--mode",
    "temporal_interpolation",
    "--time-tokens",
    "2",
  ]);
  assert.notEqual(bad.code, 0);
  assert.match(bad.stderr, /masking\.slabs.*slab 2 is outside 0\.\.1/);

  // fixed_location: BERT at one place, one sample per date
  const fl = await runTask("evaluate", [
    ...common,
    join(out, "fl"),
    "--mode",
    "fixed_location",
    "--date",
    "2020-02-01T07:00",
    "--rate",
    "0.9",
  ]);
  assert.equal(fl.code, 0, fl.stderr);
  const rl = await python<Read>("atmorep_results_read.py", [join(out, "fl"), "gold0007", "0"]);
  const s0 = rl.source["t/sample=00000"], s1 = rl.source["t/sample=00001"];
  assert.deepEqual([s0.lat, s0.lon], [s1.lat, s1.lon]);
  assert.deepEqual([s0.datetime.at(-1), s1.datetime.at(-1)], [
    "2020-02-01T04:00:00.000000000",
    "2020-02-01T07:00:00.000000000",
  ]);
  assert.ok(s0.lat.includes(50) || s0.lat.some((v) => Math.abs(v - 50) <= 1.5), `${s0.lat}`);
  assert.ok(Object.keys(rl.target).every((k) => /^t\/sample=0000[01]\/ml=00(500|850)$/.test(k)));
  const noPlace = await runTask("evaluate", [
    "--checkpoint",
    MOD,
    "--config",
    cfg,
    "--date",
    "2020-02-01T04:00",
    "--out",
    join(out, "np"),
    "--mode",
    "fixed_location",
  ]);
  assert.notEqual(noPlace.code, 0);
  assert.match(noPlace.stderr, /--center.*fixed_location needs the place/);
  // dates drawn per month must be in the store (the sample holds one day)
  const drawn = await runTask("evaluate", [
    "--checkpoint",
    MOD,
    "--config",
    cfg,
    "--center",
    "50,10",
    "--months",
    "2019-07",
    "--out",
    join(out, "dr"),
    "--mode",
    "fixed_location",
  ]);
  assert.notEqual(drawn.code, 0);
  assert.match(drawn.stderr, /no time step at 2019-07-/);
});

Deno.test("deno task evaluate --checkpoint run.ckpt: this project's checkpoint with its recorded configuration; id = the file's name", async () => {
  const { dir, cfg } = await setup();
  const c = JSON.parse(await Deno.readTextFile(cfg)) as TrainConfig;
  c.checkpoints = { dir: join(dir, "ck"), every: 1, keep: 1 };
  c.schedule.steps = 1;
  delete c.validation;
  const r = await train(c, checkTrainConfig(c).layouts, {});
  const ck = r.checkpoint!;
  const id = ck.split("/").at(-1)!.replace(/\.ckpt$/, "");
  const out = join(dir, "res");
  const e = await runTask("evaluate", [
    "--checkpoint",
    ck,
    "--mode",
    "forecast",
    "--date",
    "2020-02-01T04:00",
    "--out",
    out,
    "--epoch",
    "3",
  ]);
  assert.equal(e.code, 0, e.stderr);
  const rf = await python<Read>("atmorep_results_read.py", [out, id, "3"]);
  assert.deepEqual(rf.pred["t/sample=00000"].shape, [2, 3, 18, 36]);
  assert.ok(Number.isFinite(rf.pred["t/sample=00000"].sum));
  // global_forecast scores: the date inside the checkpoint's training range is in-sample, the later one is not
  const g = await runTask("evaluate", [
    "--checkpoint",
    ck,
    "--mode",
    "global_forecast",
    "--date",
    "2020-02-01T04:00",
    "--date",
    "2020-02-01T11:00",
    "--forecast-num-tokens",
    "1",
    "--out",
    join(dir, "g"),
  ]);
  assert.equal(g.code, 0, g.stderr);
  const scores = JSON.parse(
    await Deno.readTextFile(join(dir, "g", `global_forecast_id${id}_epoch00000.eval`, "scores.json")),
  );
  assert.equal(scores.trained_ranges.length, 1);
  assert.deepEqual(scores.inits, ["2020-02-01T01:00:00.000Z", "2020-02-01T08:00:00.000Z"]);
  for (const s of scores.scores) {
    assert.deepEqual([s.leads, s.inits, s.inSample], [[1, 2, 3], 2, [1, 1, 1]]);
  }
  assert.match(g.stdout, /\* 1\/2/);
  assert.match(g.stderr, /warning: 6 of 6 scores \(field level × lead\) are in-sample/);
  // an AtmoRep checkpoint needs the run configuration (its stores)
  const noConfig = await runTask("evaluate", [
    "--checkpoint",
    MOD,
    "--mode",
    "BERT",
    "--date",
    "2020-02-01T04:00",
    "--out",
    out,
  ]);
  assert.notEqual(noConfig.code, 0);
  assert.match(noConfig.stderr, /--config/);
});

Deno.test("deno task evaluate --mode global_forecast: fields of different token grids on the same tiles each blend with their own tokens", async () => {
  const { dir, cfg } = await setup();
  const c = JSON.parse(await Deno.readTextFile(cfg)) as TrainConfig;
  // t: 2×2×4 tokens of 3×9×9; u: 2×1×2 tokens of 3×18×18 — the same 6×18×36 window (as AtmoRep's train_multi.py)
  c.sampler.datasets[0].fields.push({
    name: "u",
    levels: [850],
    tokens: { numTokens: [2, 1, 2], tokenSize: [3, 18, 18] },
  });
  c.model.fields.push({ ...c.model.fields[0], field: "u" });
  c.model.fields[0].coupledWith = ["u"];
  c.checkpoints = { dir: join(dir, "ck"), every: 1, keep: 1 };
  c.schedule.steps = 1;
  delete c.validation;
  const ck = (await train(c, checkTrainConfig(c).layouts, {})).checkpoint!;
  const id = ck.split("/").at(-1)!.replace(/\.ckpt$/, "");
  const out = join(dir, "g");
  const g = await runTask("evaluate", [
    "--checkpoint",
    ck,
    "--mode",
    "global_forecast",
    "--date",
    "2020-02-01T07:00",
    "--forecast-num-tokens",
    "1",
    "--out",
    out,
  ]);
  assert.equal(g.code, 0, g.stderr);
  const store = join(out, `global_forecast_id${id}_epoch00000.zarr`);
  for (const [field, level] of [["t", "500"], ["u", "850"]]) {
    const r = await python<GlobalRead>("global_forecast_read.py", [store, out, id, "0", field, level]);
    assert.deepEqual(r.fields, ["t", "u"]);
    assert.deepEqual(r.leads_hours, [1, 2, 3]);
    assert.equal(r.covered, r.points, field);
    assert.ok(r.single > r.points / 2, `${field}: ${r.single} of ${r.points} points in one tile only`);
    assert.ok(r.max_diff_single < 1e-3, `${field}: blended ≠ tile by ${r.max_diff_single}`);
    assert.ok(r.finite, field);
  }
  // --layout wb2: the same blended forecast under WeatherBench 2's names and dims; u (850 only) gets its own level dim.
  const w = await runTask("evaluate", [
    "--checkpoint",
    ck,
    "--mode",
    "global_forecast",
    "--date",
    "2020-02-01T07:00",
    "--forecast-num-tokens",
    "1",
    "--layout",
    "wb2",
    "--out",
    join(dir, "wb2"),
  ]);
  assert.equal(w.code, 0, w.stderr);
  const wb2 = join(dir, "wb2", `global_forecast_id${id}_epoch00000.zarr`);
  const py = await run(PYTHON, [
    "-c",
    `import sys, json, numpy as np, xarray as xr
a, w = xr.open_zarr(sys.argv[1]), xr.open_zarr(sys.argv[2])
n = a.t.sel(level=500).isel(init_time=0).values
b = w.temperature.sel(level=500).isel(time=0).sortby("latitude", ascending=False).transpose("prediction_timedelta", "latitude", "longitude").values
print(json.dumps({"vars": sorted(w.data_vars), "t": list(w.temperature.dims), "u": list(w.u_component_of_wind.dims),
  "same": bool(np.array_equal(n, b, equal_nan=True))}))`,
    store,
    wb2,
  ]);
  assert.equal(py.code, 0, py.stderr);
  const j = JSON.parse(py.stdout);
  assert.deepEqual(j.vars, ["temperature", "temperature_spread", "u_component_of_wind", "u_component_of_wind_spread"]);
  assert.deepEqual(j.t, ["time", "prediction_timedelta", "level", "longitude", "latitude"]);
  assert.deepEqual(j.u, ["time", "prediction_timedelta", "level_u_component_of_wind", "longitude", "latitude"]);
  assert.ok(j.same, "the wb2 store holds the native store's t at 500 hPa");
});
