/**
 * Strict configurations: every unknown key at every level of a training or
 * forecast training configuration is an error naming the full key and the
 * nearest known one (a typo'd optional key is never silently ignored).
 *
 * @module
 */
import assert from "node:assert/strict";
import { checkForecastTrainConfig, checkTrainConfig, type TrainConfig } from "../../training/config.ts";
import { isPipelineError } from "../../errors.ts";
import { nearest } from "../../training/validate.ts";
import { ROOT } from "../_helpers/common.ts";

// deno-lint-ignore no-explicit-any
type Json = any;

const tiny = () => JSON.parse(Deno.readTextFileSync(`${ROOT}configs/tiny.json`)) as TrainConfig;
const forecast = () => JSON.parse(Deno.readTextFileSync(`${ROOT}configs/tiny_forecast.json`));

function refused(f: () => unknown, key: string, near: string): void {
  assert.throws(f, (e: Error) => {
    assert.ok(isPipelineError(e, "config"), String(e));
    assert.equal(e.path, key);
    assert.match(
      e.message,
      new RegExp(`unknown (key|section) \\(did you mean ${near.replace(/[.[\]]/g, "\\$&")}\\?\\)`),
    );
    return true;
  });
}

Deno.test("config: a typo'd key at any level of a training configuration names the key and the nearest known one", () => {
  const cases: [(c: Json) => void, string, string][] = [
    [(c) => c.sampler.timerange = ["2020-02-01", "2020-02-02"], "sampler.timerange", "sampler.timeRange"],
    [(c) => c.model.fields[0].coupledwith = ["t2m"], "model.fields[0].coupledwith", "model.fields[0].coupledWith"],
    [(c) => c.checkpoints.kepp = 3, "checkpoints.kepp", "checkpoints.keep"],
    [(c) => c.optimizer.weightdecay = 0.1, "optimizer.weightdecay", "optimizer.weightDecay"],
    [(c) => c.sampler.masking.fracmasked = 0.5, "sampler.masking.fracmasked", "sampler.masking.fracMasked"],
    [
      (c) => c.sampler.datasets[0].fields[0].levl = [0],
      "sampler.datasets[0].fields[0].levl",
      "sampler.datasets[0].fields[0].levels",
    ],
    [
      (c) => c.sampler.datasets[0].fields[0].tokens.tokenSise = [1, 1, 1],
      "sampler.datasets[0].fields[0].tokens.tokenSise",
      "sampler.datasets[0].fields[0].tokens.tokenSize",
    ],
    [(c) => c.sampler.datasets[0].stor = "x", "sampler.datasets[0].stor", "sampler.datasets[0].store"],
    [(c) => c.schedule.step = 5, "schedule.step", "schedule.steps"],
    [(c) => c.loader = { worker: 2 }, "loader.worker", "loader.workers"],
    [(c) => c.model.dropot = 0.1, "model.dropot", "model.dropout"],
    [(c) => c.checkpoint = { dir: "x" }, "checkpoint", "checkpoints"],
  ];
  for (const [edit, key, near] of cases) {
    const c = tiny() as unknown as Json;
    edit(c);
    refused(() => checkTrainConfig(c), key, near);
  }
  assert.doesNotThrow(() => checkTrainConfig(tiny()));
});

Deno.test("config: a typo'd key in a forecast training configuration (engine, phases, checkpoints) names the nearest known one", () => {
  const cases: [(c: Json) => void, string, string][] = [
    [(c) => c.engine = { ...c.engine, neighbors: 7 }, "engine.neighbors", "engine.neighbours"],
    [(c) => c.phases[0].rolout = 2, "phases[0].rolout", "phases[0].rollout"],
    [(c) => c.checkpoints.evry = 2, "checkpoints.evry", "checkpoints.every"],
    [(c) => c.membernoise = 0.1, "membernoise", "memberNoise"],
  ];
  for (const [edit, key, near] of cases) {
    const c = forecast();
    edit(c);
    refused(() => checkForecastTrainConfig(c), key, near);
  }
  assert.doesNotThrow(() => checkForecastTrainConfig(forecast()));
});

Deno.test("config: a forecast training configuration's fieldWeights are numbers ≥ 0 per field, named in the error", () => {
  const cases: [unknown, string][] = [[{ t: -1 }, "fieldWeights.t"], [{ t: "2" }, "fieldWeights.t"], [
    [1],
    "fieldWeights",
  ]];
  for (const [weights, key] of cases) {
    const c = forecast();
    c.fieldWeights = weights;
    assert.throws(() => checkForecastTrainConfig(c), (e: Error) => isPipelineError(e, "config") && e.path === key);
  }
  assert.doesNotThrow(() => checkForecastTrainConfig({ ...forecast(), fieldWeights: { t: 2, t2m: 0 } }));
});

Deno.test("config: the nearest known key prefers a case difference over other edits", () => {
  assert.equal(nearest("timerange", ["timeStride", "timeRange", "latRange"]), "timeRange");
  assert.equal(nearest("kepp", ["dir", "every", "keep"]), "keep");
});
