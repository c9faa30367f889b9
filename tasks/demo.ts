/**
 * `deno task demo [OUT_DIR]`: the whole chain on the bundled sample —
 * convert the ERA5 sample (both CDS layouts, 48 h), train the `tiny`
 * Multiformer (configs/tiny.json) and the tiny forecast engine
 * (configs/tiny_forecast.json) on its first day, forecast a few steps from
 * initial times in its second day (held out: the demo refuses to report
 * in-sample scores) with scores against persistence and climatology, and
 * print where everything is. A previous demo store is replaced; anything
 * else in OUT_DIR is left alone.
 *
 * @module
 */
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { Command } from "@commander-js/extra-typings";
import { convertEra5 } from "../converters/era5/convert.ts";
import { expandInputs } from "../cli/inputs.ts";
import { formatSummary, inspectStore } from "../stores/inspect.ts";
import { COMMAND_OUTPUT, runMain } from "../cli/run.ts";
import { progressDisplay } from "../cli/progress.ts";
import { readForecastTrainConfig, readTrainConfig } from "../training/config.ts";
import { train } from "../training/train.ts";
import { trainForecastEngine } from "../training/tasks/engine_rollout.ts";
import { runForecast } from "../forecast/run.ts";
import { scoreTable } from "../forecast/report.ts";
import { describeRange } from "../models/time_ranges.ts";
import { matmulLine } from "../ops/mod.ts";

/**
 * The demo's initial times: in the sample's held-out day (samples/era5/heldout,
 * from 2020-02-01T12), late enough that their 6-hour input windows are held out
 * too, 3 h apart, the last one's 9-hour forecast ending with the sample.
 */
export const DEMO_INITS = ["2020-02-01T17", "2020-02-01T20", "2020-02-01T23", "2020-02-02T02"];

/** 1. Convert the bundled ERA5 sample (both CDS layouts, and the held-out day) into `dir`; print its summary. */
async function convertSample(root: string, dir: string): Promise<string> {
  const sample = join(root, "samples/era5");
  const progress = progressDisplay();
  const summary = await convertEra5({
    inputs: expandInputs([`${sample}/legacy`, `${sample}/new`, `${sample}/heldout`]),
    out: join(dir, "era5_sample.zarr"),
    overwrite: true,
    command: "deno task demo",
    onProgress: (p) => progress.update(p.phase, p.done, p.total),
  }).finally(() => progress.stop());
  console.log(
    `1. converted ${summary.plan.files.length} files (netCDF3 packed + netCDF4) in ${summary.seconds.toFixed(1)} s`,
  );
  console.log(formatSummary(inspectStore(summary.out)).split("\n").map((l) => `   ${l}`).join("\n"));
  return summary.out;
}

/** 2. Train the tiny Multiformer (configs/tiny.json) on `store`; its last checkpoint. */
async function trainTiny(root: string, dir: string, store: string): Promise<string> {
  const { config, layouts } = await readTrainConfig(join(root, "configs/tiny.json"));
  config.sampler.datasets[0].store = store;
  config.checkpoints.dir = join(dir, "train/tiny");
  const progress = progressDisplay();
  const t1 = performance.now();
  const pre = await train(config, layouts, {
    startOver: true, // the demo replaces its own runs
    onStep: (step, total, m) => progress.update("train tiny", step, total, `loss ${m.loss.toFixed(4)}`),
  }).finally(() => progress.stop());
  console.log(
    `2. trained the tiny Multiformer (${pre.parameters.toLocaleString("en")} parameters) ${pre.steps} steps in ${
      ((performance.now() - t1) / 1000).toFixed(1)
    } s: ${pre.checkpoint}`,
  );
  return pre.checkpoint!;
}

/** 3. Train the tiny forecast engine (configs/tiny_forecast.json) on the frozen `base`; its checkpoint. */
async function trainTinyEngine(root: string, dir: string, base: string): Promise<string> {
  const fc = await readForecastTrainConfig(join(root, "configs/tiny_forecast.json"));
  fc.checkpoints.dir = join(dir, "train/tiny_forecast");
  const progress = progressDisplay();
  const t2 = performance.now();
  const eng = await trainForecastEngine(base, fc, {
    startOver: true,
    onStep: (step, total, loss, k) =>
      progress.update("train forecast", step, total, `loss ${loss.toFixed(4)} · ${k} steps`),
  }).finally(() => progress.stop());
  console.log(
    `3. trained the forecast engine (${
      eng.parameters.toLocaleString("en")
    } parameters, encoder frozen) ${eng.losses.length} steps in ${
      ((performance.now() - t2) / 1000).toFixed(1)
    } s: loss ${eng.losses[0].toFixed(4)} → ${eng.losses.at(-1)!.toFixed(4)}, ${eng.checkpoint}`,
  );
  return eng.checkpoint;
}

/**
 * 4. Forecast 3 steps from the held-out {@link DEMO_INITS} with 3 members, scored
 * against `truth`; print the scores. A score inside a trained range is an error:
 * the demo says its scores are held out.
 */
async function forecastAndScore(dir: string, checkpoint: string, truth: string): Promise<void> {
  const progress = progressDisplay();
  const t3 = performance.now();
  const r = await runForecast({
    checkpoint,
    inits: DEMO_INITS,
    steps: 3,
    out: join(dir, "forecast.zarr"),
    overwrite: true,
    truth,
    members: 3,
    mapSteps: [1, 3],
    command: "deno task demo",
    onStep: (done, total) => progress.update("forecast", done, total),
  }).finally(() => progress.stop());
  console.log(
    `4. forecast ${DEMO_INITS.length} initial times × 3 steps × 3 members in ${
      ((performance.now() - t3) / 1000).toFixed(1)
    } s`,
  );
  console.log(
    `   held out: the initial times (${DEMO_INITS[0]} … ${DEMO_INITS.at(-1)}), their input windows and the valid` +
      " times lie after every range the checkpoints trained or validated on:",
  );
  for (const range of r.inSample?.ranges ?? []) console.log(`     ${describeRange(range)}`);
  const fields = [...new Set((r.scores ?? []).map((s) => s.field))];
  console.log(
    `   store  ${r.out}  (xarray.open_zarr: one variable per field with its own levels, ${fields.join(", ")}, ` +
      "and its _spread)",
  );
  console.log(`   scores ${r.scoresPath}`);
  for (const line of scoreTable(r.scores ?? [])) console.log(`   ${line}`);
  if (r.inSample?.warning) throw new Error(`the demo's scores must be held out, but:\n${r.inSample.warning}`);
  for (const p of r.plots) console.log(`   plot ${p}`);
  for (const m of r.maps) console.log(`   map  ${m}`);
}

if (import.meta.main) {
  await runMain(async () => {
    await new Command("demo").configureOutput(COMMAND_OUTPUT)
      .description(
        "the whole chain on the bundled sample: convert, train the tiny Multiformer and forecast engine, forecast, score",
      )
      .argument("[out_dir]", "output folder (its demo stores are replaced, nothing else)", "out/demo")
      .action(async (dir) => {
        const root = fileURLToPath(new URL("..", import.meta.url));
        const t00 = performance.now();
        console.log(
          "demo: convert the sample (48 h) → train the tiny Multiformer (200 steps) and the tiny forecast engine" +
            " (40 steps) on its first day → forecast 3 steps of 3 h from its second day, held out, with scores and" +
            " maps.\nIt takes about 20 s with OpenBLAS (18–20 s measured on a shared 2-core VM), several times longer" +
            " with the TypeScript matmul.\n",
        );
        console.log(`backend cpu · ${matmulLine()}\n`);
        const store = await convertSample(root, dir);
        const base = await trainTiny(root, dir, store);
        const engine = await trainTinyEngine(root, dir, base);
        await forecastAndScore(dir, engine, store);
        console.log(`\ndone in ${((performance.now() - t00) / 1000).toFixed(0)} s`);
      })
      .parseAsync(Deno.args, { from: "user" });
  });
}
