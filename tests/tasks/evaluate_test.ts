/**
 * `deno task evaluate`: AtmoRep's checkpoint of the bundled sample's field t
 * (tests/fixtures/atmorep/sample_t, written by AtmoRep's own code) evaluated
 * on the converted sample in modes forecast and BERT; zarr-python opens the
 * results as AtmoRep's analysis does, and the values are physical (K), the
 * target equals the store's truth and the prediction is finite.
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
import { ATMOREP_NETWORK } from "../../models/config.ts";
import { python, ROOT, runTask, SAMPLE, tempDir } from "../_helpers/common.ts";

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

async function setup(): Promise<{ dir: string; cfg: string }> {
  const dir = await tempDir();
  const s = await convertEra5({
    inputs: expandInputs([SAMPLE.legacy, SAMPLE.new]),
    out: join(dir, "era5.zarr"),
    workers: 0,
  });
  const c = JSON.parse(await Deno.readTextFile(`${ROOT}configs/tiny.json`)) as TrainConfig;
  c.sampler.datasets[0].store = s.out;
  c.sampler.datasets[0].fields = c.sampler.datasets[0].fields.filter((f) => f.name === "t");
  c.sampler.masking = {
    strategy: "bert",
    rate: 0.5,
    fracMasked: 0.9,
    fracNoised: 0.2,
    fracMultires: 0.05,
    corruption: "atmorep",
  };
  c.model = {
    dropout: 0,
    tokenInfoWidth: 16,
    network: { ...ATMOREP_NETWORK },
    fields: [{ field: "t", width: 32, encoderLayers: 1, decoderLayers: 1, heads: 4, ensemble: 4, lossWeight: 1 }],
  };
  const cfg = join(dir, "run.json");
  await Deno.writeTextFile(cfg, JSON.stringify(c));
  return { dir, cfg };
}

Deno.test("deno task evaluate --mode forecast / BERT on AtmoRep's .mod: AtmoRep's results layout, read by zarr-python; target = truth, pred finite, in K", async () => {
  const { dir, cfg } = await setup();
  const out = join(dir, "results");
  const common = ["--checkpoint", MOD, "--config", cfg, "--date", "2020-02-01T04:00", "--center", "50,10", "--out"];
  const f = await runTask("evaluate", [...common, join(out, "f"), "--mode", "forecast"]);
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

  // forecast_num_tokens 1: the last slab, its 3 steps and datetimes; the first slab is no target
  const f1 = await runTask("evaluate", [
    ...common,
    join(out, "f1"),
    "--mode",
    "forecast",
    "--forecast-num-tokens",
    "1",
  ]);
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

  // global_forecast: the sampler's tiling of the globe, one sample per tile, the last 2 slabs predicted
  const g = await runTask("evaluate", [...common, join(out, "g"), "--mode", "global_forecast"]);
  assert.equal(g.code, 0, g.stderr);
  const rg = await python<Read>("atmorep_results_read.py", [join(out, "g"), "gold0007", "0"]);
  const tiles = Object.keys(rg.pred);
  assert.ok(tiles.length >= 2, tiles.join());
  assert.deepEqual(Object.keys(rg.source), tiles);
  for (const k of tiles) assert.deepEqual(rg.pred[k].shape, [2, 6, 18, 36], k);
  const lats = tiles.flatMap((k) => rg.source[k].lat), lons = tiles.flatMap((k) => rg.source[k].lon);
  const byLat = new Set(lats), byLon = new Set(lons);
  // the tiles are the sampler's tiling and cover every grid point of the store
  const c = JSON.parse(await Deno.readTextFile(cfg)) as TrainConfig;
  const sampler = new MultifieldSampler({ ...c.sampler, timeRange: undefined });
  const grid = sampler.datasets[0] as GridDataset;
  assert.equal(tiles.length, sampler.tiles("2020-02-01T04:00").length);
  assert.equal(byLat.size * byLon.size, grid.colat.length * grid.lons.length);

  const bad = await runTask("evaluate", [...common, join(out, "x"), "--mode", "temporal_interpolation"]);
  assert.notEqual(bad.code, 0);
  assert.match(bad.stderr, /temporal_interpolation is not done yet; done: BERT, forecast, global_forecast/);
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
  assert.deepEqual(rf.pred["t/sample=00000"].shape, [2, 6, 18, 36]);
  assert.ok(Number.isFinite(rf.pred["t/sample=00000"].sum));
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
