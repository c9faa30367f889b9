/**
 * `deno task bench:skill [--days N] [--inits N] [--base-steps N] [--engine-steps N] [--latent N] [--layers N]
 * [--query own|all] [--time-tokens N] [--input-time N] [--overlap LAT,LON] [--base CKPT] [--out DIR]`:
 * forecast skill on the barotropic testbed (testbed/): a year of
 * turbulent, Rossby-wave-dominated flow on a 2.8125° globe, 6-hourly
 * (u, v, z at 500 hPa and a passive tracer q), built once and cached. The
 * tiny Multiformer trains on the first two thirds of the year (2 Jan – 29
 * Aug; validated on the next month), the forecast engine on the same range;
 * forecasts start from 30 Sep to 25 Dec
 * (held out: the run checks that no score is in-sample) and run 20 steps of
 * 6 h (5 days). RMSE (latitude-weighted, WeatherBench 2's definitions) and
 * ACC of the engine against persistence and climatology (the coefficient
 * set's monthly mean) at 6 h, 12 h, 1 d, 3 d and 5 d, in WeatherBench 1's
 * table shape. Writes OUT/skill.json and the forecast's maps and RMSE plots.
 * `--base CKPT` skips the Multiformer's training and uses that checkpoint
 * (an earlier run's OUT/base/…, for experiments on the engine alone). The
 * other options set the experiment's keys: the engine's `queryFields`
 * (default own), the Multiformer's time tokens per window (default 2), the
 * engine's `inputTimeTokens` (default 0: all) and the tiles' `overlap`
 * (default 0,1).
 *
 * @module
 */
import { join } from "node:path";
import { testbedStore } from "../../testbed/store.ts";
import { checkForecastTrainConfig, checkTrainConfig } from "../../training/config.ts";
import { train } from "../../training/train.ts";
import { trainForecastEngine } from "../../training/tasks/engine_rollout.ts";
import { runForecast } from "../../forecast/run.ts";
import { gemm } from "../../ops/mod.ts";

const args = Deno.args;
const opt = (k: string, d: number) => {
  const i = args.indexOf(k);
  return i >= 0 ? Number(args[i + 1]) : d;
};
const text = (k: string) => {
  const i = args.indexOf(k);
  return i >= 0 ? args[i + 1] : undefined;
};
const outDir = text("--out") ?? "out/bench/skill", givenBase = text("--base");
const days = opt("--days", 365), nInits = opt("--inits", 16);
const baseSteps = opt("--base-steps", 1500), engineSteps = opt("--engine-steps", 1200);
const latentWidth = opt("--latent", 96), forecasterLayers = opt("--layers", 2);
const timeTokens = opt("--time-tokens", 2), inputTimeTokens = opt("--input-time", 0);
const queryFields = (text("--query") ?? "own") as "own" | "all";
const overlap = (text("--overlap") ?? "0,1").split(",").map(Number) as [number, number];
const seconds: Record<string, number> = {};
console.log(
  `bench:skill: ${days} days, ${nInits} inits, Multiformer ${baseSteps} steps, engine ${engineSteps} steps ` +
    `(latent ${latentWidth}, ${forecasterLayers} layers, query ${queryFields}, overlap ${overlap})`,
);
const t0 = performance.now();
gemm().setThreads(1);

// 1. The testbed.
const tb = await testbedStore({ days });
seconds.testbed = (performance.now() - t0) / 1000;
console.log(
  tb.built
    ? `testbed: simulated ${days} days in ${tb.simulateSeconds!.toFixed(1)} s, converted in ${
      tb.convertSeconds!.toFixed(1)
    } s: ${tb.store}`
    : `testbed: cached ${tb.store}`,
);

// Train on the first two thirds, validate on the next month, test on the rest.
const day = (d: number) => new Date(Date.parse("2021-01-01T00:00Z") + d * 86400e3).toISOString().slice(0, 16);
const trainEnd = Math.floor(days * 0.66), valEnd = Math.floor(days * 0.74);
const trainRange: [string, string] = [day(1), day(trainEnd)];
const tokens = { numTokens: [timeTokens, 3, 6], tokenSize: [1, 8, 8] };
const fields = ["u", "v", "z", "q"];
const { config, layouts } = checkTrainConfig({
  sampler: {
    datasets: [{
      store: tb.store,
      fields: fields.map((name) => ({ name, levels: [500], tokens, normalization: "local" })),
    }],
    batchSize: 4,
    timeRange: trainRange,
    masking: { strategy: "bert", rate: 0.5 },
    seed: 1,
  },
  loader: { workers: 1 },
  model: {
    dropout: 0.05,
    fields: fields.map((field) => ({
      field,
      width: 64,
      encoderLayers: 2,
      decoderLayers: 2,
      heads: 4,
      coupledWith: fields.filter((f) => f !== field),
      ensemble: 2,
    })),
  },
  optimizer: { lrMax: 1e-3, lrStart: 1e-4, lrMin: 2e-4, warmupSteps: 20, decayPerStep: 0.995, clipNorm: 1 },
  schedule: { steps: baseSteps, seed: 1 },
  validation: { timeRange: [day(trainEnd + 1), day(valEnd)], batches: 2, every: 100 },
  checkpoints: { dir: join(outDir, "base"), every: baseSteps },
});
const t1 = performance.now();
// A rerun replaces the bench's own checkpoints.
const base = givenBase ? { checkpoint: givenBase, steps: 0 } : await train(config, layouts, { startOver: true });
seconds.base = (performance.now() - t1) / 1000;
console.log(
  `Multiformer: ${givenBase ? "given" : `${base.steps} steps in ${seconds.base.toFixed(0)} s`}, ${base.checkpoint}`,
);

const t2 = performance.now();
const third = Math.round(engineSteps / 3);
const engine = await trainForecastEngine(
  base.checkpoint!,
  checkForecastTrainConfig({
    engine: { latentWidth, forecasterLayers, heads: 4, neighbours: 5, inputTimeTokens, queryFields },
    overlap,
    timeRange: trainRange,
    phases: [
      { steps: engineSteps - 2 * third, rollout: 1, lr: 1e-3 },
      { steps: third, rollout: 2, lr: 5e-4 },
      { steps: third, rollout: 4, lr: 2e-4 },
    ],
    latentNoise: 1e-4,
    seed: 1,
    threads: 1,
    checkpoints: { dir: join(outDir, "engine") },
  }),
  { startOver: true },
);
seconds.engine = (performance.now() - t2) / 1000;
console.log(
  `engine: ${engine.steps} steps in ${seconds.engine.toFixed(0)} s, loss ${engine.losses[0].toFixed(4)} → ${
    engine.losses.at(-1)!.toFixed(4)
  }`,
);

// Held-out initial times: evenly over the test months, leaving 5 days of truth after the last.
const testFirst = valEnd + 2, testLast = days - 6;
const inits = Array.from(
  { length: nInits },
  (_, k) => `${day(testFirst + Math.floor(k * (testLast - testFirst) / Math.max(1, nInits - 1)))}`.slice(0, 10) + "T12",
);
const t3 = performance.now();
const fc = await runForecast({
  checkpoint: engine.checkpoint,
  inits,
  steps: 20,
  out: join(outDir, "forecast.zarr"),
  overwrite: true,
  truth: tb.store,
  mapSteps: [4, 12],
  command: "deno task bench:skill",
});
seconds.forecast = (performance.now() - t3) / 1000;
const inSample = fc.scores!.some((s) => s.inSample.some((n) => n > 0));

// WeatherBench 1's table shape: rows baselines and model, columns RMSE and ACC at chosen leads.
const show = [6, 12, 24, 72, 120];
const table: string[] = [];
const rows: Record<string, unknown>[] = [];
for (const s of fc.scores!) {
  const at = (v: number[]) => show.map((h) => v[s.leads.indexOf(h)]);
  const fmt = (v: number[], p = 3) => v.map((x) => x.toPrecision(p)).join(" / ");
  table.push(
    `| ${s.field}${s.level} RMSE [${s.units}] | ${fmt(at(s.rmse.persistence))} | ${fmt(at(s.rmse.climatology))} | ${
      fmt(at(s.rmse.forecast))
    } | ${fmt(at(s.rmse.forecast).map((f, i) => f / at(s.rmse.persistence)[i]), 2)} |`,
  );
  table.push(`| ${s.field}${s.level} ACC | ${fmt(at(s.acc.persistence), 2)} | 0 | ${fmt(at(s.acc.forecast), 2)} | |`);
  rows.push({ field: s.field, level: s.level, units: s.units, leads: s.leads, rmse: s.rmse, acc: s.acc });
}
const head =
  `| ${fields.length} fields, ${inits.length} held-out inits, leads ${show.map((h) => `${h} h`).join(" / ")} ` +
  "| persistence | climatology | engine | engine / persistence |";
console.log(
  [head, "| --- | --- | --- | --- | --- |", ...table].join("\n"),
);
console.log(`in-sample scores: ${inSample ? "YES (not held out)" : "none (all held out)"}`);
console.log(
  `seconds: testbed ${seconds.testbed.toFixed(0)}, Multiformer ${seconds.base.toFixed(0)}, engine ${
    seconds.engine.toFixed(0)
  }, forecast ${seconds.forecast.toFixed(0)}`,
);
await Deno.mkdir(outDir, { recursive: true });
await Deno.writeTextFile(
  join(outDir, "skill.json"),
  JSON.stringify(
    { store: tb.store, trainRange, inits, inSample, seconds, scores: rows, maps: fc.maps, plots: fc.plots },
    null,
    1,
  ),
);
for (const m of fc.maps) console.log(`map  ${m}`);
