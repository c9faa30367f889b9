/**
 * `runForecast` with a device (what `deno task forecast --backend
 * webgpu|cuda` passes): a forecast engine briefly trained on advected waves
 * (tests/oracles/advected_waves.py) forecasts two steps on each device of
 * tests/_helpers/devices.ts, scored against the store, and its scores agree
 * with the CPU run's; perturbed ensemble members are refused there, naming
 * `--backend`.
 *
 * @module
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { convertEra5 } from "../../converters/era5/convert.ts";
import { expandInputs } from "../../cli/inputs.ts";
import { train } from "../../training/train.ts";
import { checkTrainConfig } from "../../training/config.ts";
import { trainForecastEngine } from "../../training/tasks/engine_rollout.ts";
import { type ForecastRunOptions, runForecast } from "../../forecast/run.ts";
import { ConfigError } from "../../errors.ts";
import { deviceTests } from "../_helpers/devices.ts";
import { PYTHON, run, tempDir } from "../_helpers/common.ts";

/** The waves converted, a tiny Multiformer trained 4 steps on them, an engine trained 6 steps on that. */
async function trained(): Promise<{ dir: string; store: string; checkpoint: string }> {
  const dir = await tempDir();
  const r = await run(PYTHON, ["tests/oracles/advected_waves.py", dir, "60"]);
  assert.equal(r.code, 0, r.stderr);
  const store = (await convertEra5({
    inputs: expandInputs([join(dir, "waves_pl.nc"), join(dir, "waves_sfc.nc")]),
    out: join(dir, "waves.zarr"),
    workers: 0,
  })).out;
  const tokens = { numTokens: [2, 2, 4], tokenSize: [3, 6, 6] };
  const field = (name: string, other: string) => ({
    field: name,
    width: 32,
    encoderLayers: 1,
    decoderLayers: 1,
    heads: 2,
    coupledWith: [other],
    ensemble: 2,
  });
  const { config, layouts } = checkTrainConfig({
    sampler: {
      datasets: [{
        store,
        fields: [
          { name: "t", levels: [850], tokens, normalization: "local" },
          { name: "t2m", levels: [0], tokens, normalization: "local" },
        ],
      }],
      batchSize: 2,
      timeRange: ["2020-01-01T05", "2020-01-02T11"],
      masking: { strategy: "bert", rate: 0.5 },
      seed: 3,
    },
    loader: { workers: 0 },
    model: { dropout: 0, fields: [field("t", "t2m"), field("t2m", "t")] },
    optimizer: { lrMax: 1e-3, warmupSteps: 0 },
    schedule: { steps: 4, seed: 3 },
    checkpoints: { dir: join(dir, "base"), every: 4 },
  });
  const base = (await train(config, layouts)).checkpoint!;
  const { checkpoint } = await trainForecastEngine(base, {
    engine: { latentWidth: 16, forecasterLayers: 1, heads: 2, neighbours: 3 },
    overlap: [0, 1],
    timeRange: ["2020-01-01T05", "2020-01-01T23"],
    phases: [{ steps: 6, rollout: 1, lr: 3e-3 }],
    seed: 5,
    checkpoints: { dir: join(dir, "engine") },
  });
  return { dir, store, checkpoint };
}

// Set up here, outside the tests' leak checks (the conversion and training load libraries).
const setup = await trained();
const options = (out: string): ForecastRunOptions => ({
  checkpoint: setup.checkpoint,
  inits: ["2020-01-02T12"],
  steps: 2,
  out: join(setup.dir, out),
  truth: setup.store,
  mapSteps: [],
});
const cpu = await runForecast(options("cpu.zarr"));

deviceTests("forecast run", "runForecast on the device scores as on cpu", async (d, kind) => {
  let reads = 0;
  const read = d.read.bind(d);
  d.read = (...a) => (reads++, read(...a));
  const r = await runForecast({ ...options(`${kind}.zarr`), device: d });
  assert.equal(reads, 2, "one read per step");
  assert.equal(r.scores!.length, cpu.scores!.length);
  let worst = 0;
  for (const [i, want] of cpu.scores!.entries()) {
    const got = r.scores![i];
    assert.equal(`${got.field}/${got.level}`, `${want.field}/${want.level}`);
    for (const [k, w] of want.rmse.forecast.entries()) {
      worst = Math.max(worst, Math.abs(got.rmse.forecast[k] - w) / w);
      // 1e-4 relative: the RMSE of a physical field (K), through the device's float32 sums.
      assert.ok(
        Math.abs(got.rmse.forecast[k] - w) <= 1e-4 * w,
        `${kind} ${want.field} +${want.leads[k]} h: RMSE ${got.rmse.forecast[k]} vs cpu ${w}`,
      );
    }
    // The forecast is not persistence: the comparison sees the engine.
    assert.notDeepEqual(want.rmse.forecast, want.rmse.persistence);
  }
  console.log(`${kind}: RMSE relative to cpu's within ${worst.toExponential(1)}; seconds ${JSON.stringify(r.seconds)}`);
});

deviceTests("forecast run", "perturbed members are refused on the device, naming --backend", async (d) => {
  await assert.rejects(
    runForecast({ ...options("members.zarr"), members: 2, device: d }),
    (e) => e instanceof ConfigError && /--backend/.test(e.message) && /--member-noise 0 --tail-scale 0/.test(e.message),
  );
});
