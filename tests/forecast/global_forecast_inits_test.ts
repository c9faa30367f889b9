/**
 * `globalForecastAtInits` (the Multiformer's row of `bench:skill`): a
 * checkpoint's `global_forecast` from given initial times. Its leads are the
 * steps of the masked time tokens after each init, its in-sample marks come
 * from the checkpoint's training range, and its RMSE of the forecast and of
 * persistence equal an independent computation (xarray on the sample's
 * netCDF files and on the written forecast store, WeatherBench 2's area
 * weights: tests/oracles/demo_scores.py).
 *
 * @module
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { convertEra5 } from "../../converters/era5/convert.ts";
import { expandInputs } from "../../cli/inputs.ts";
import { checkTrainConfig, type TrainConfig } from "../../training/config.ts";
import { train } from "../../training/train.ts";
import { globalForecastAtInits } from "../../forecast/evaluate.ts";
import { ConfigError } from "../../errors.ts";
import { python, ROOT, tempDir } from "../_helpers/common.ts";

interface Oracle {
  inits: string[];
  leads: number[];
  scores: { field: string; level: number; rmse: { forecast: number[]; persistence: number[] } }[];
}

/** A Multiformer (t and u, windows of 2 time tokens of 3 hourly steps) trained one step on the sample's first day. */
async function trainedCheckpoint(dir: string): Promise<string> {
  const sample = `${ROOT}samples/era5`;
  const s = await convertEra5({
    inputs: expandInputs(["legacy", "new", "heldout"].map((f) => join(sample, f))),
    out: join(dir, "era5.zarr"),
    workers: 0,
  });
  const c = JSON.parse(await Deno.readTextFile(`${ROOT}configs/tiny.json`)) as TrainConfig;
  c.sampler.datasets[0].store = s.out;
  c.sampler.datasets[0].fields = c.sampler.datasets[0].fields.filter((f) => f.name !== "sst");
  c.sampler.timeRange = ["2020-01-31T17:00", "2020-02-01T05:00"];
  c.model.fields = c.model.fields.filter((f) => f.field !== "sst")
    .map((f) => ({ ...f, width: 32, encoderLayers: 1, decoderLayers: 1, coupledWith: [] }));
  c.schedule.steps = 1;
  c.checkpoints = { dir: join(dir, "ck"), every: 1, keep: 1 };
  delete c.validation;
  return (await train(c, checkTrainConfig(c).layouts, {})).checkpoint!;
}

Deno.test("globalForecastAtInits: leads after the given inits, in-sample marks, RMSE as numpy computes it from the store", async () => {
  const dir = await tempDir();
  const ck = await trainedCheckpoint(dir);
  // one init inside the training range (its windows' data), two held out in the sample's last day
  const inits = ["2020-02-01T01:00", "2020-02-01T18:00", "2020-02-02T03:00"];
  const g = await globalForecastAtInits({ checkpoint: ck, inits, out: join(dir, "mf"), overlap: [0, 1] });
  assert.deepEqual(g.scores.map((s) => `${s.field}${s.level}`), ["t500", "t850", "u850"]);
  const doc = JSON.parse(await Deno.readTextFile(g.scoresPath));
  assert.deepEqual(doc.inits.map((t: string) => t.slice(0, 16)), inits);
  for (const s of g.scores) {
    // the last of 2 time tokens of 3 hourly steps: +1, +2, +3 h; the first init's valid times are in-sample
    assert.deepEqual([s.leads, s.inits, s.inSample], [[1, 2, 3], 3, [1, 1, 1]]);
  }
  assert.match(g.warning ?? "", /9 of 9 scores/);

  const oracle = await python<Oracle>("demo_scores.py", [`${ROOT}samples/era5`, g.out]);
  assert.deepEqual(oracle.inits.map((t) => t.slice(0, 16)), inits);
  assert.deepEqual(oracle.leads, [1, 2, 3]);
  assert.equal(oracle.scores.length, 3);
  for (const o of oracle.scores) {
    const s = g.scores.find((x) => x.field === o.field && x.level === o.level)!;
    assert.ok(s, `${o.field}/${o.level}`);
    for (const k of ["forecast", "persistence"] as const) {
      for (const [j, want] of o.rmse[k].entries()) {
        const got = s.rmse[k][j];
        assert.ok(Math.abs(got - want) <= 1e-4 * want, `${o.field}${o.level} ${k} +${s.leads[j]} h: ${got} vs ${want}`);
      }
    }
    assert.ok(s.rmse.forecast.some((x, j) => Math.abs(x - s.rmse.persistence[j]) > 1e-3 * x), "not persistence");
  }

  // a window of 2 time tokens cannot forecast both
  await assert.rejects(
    globalForecastAtInits({ checkpoint: ck, inits, out: join(dir, "mf2"), forecastTokens: 2 }),
    (e) => e instanceof ConfigError && /forecasts 1 to 1 of them/.test(e.message),
  );
});
