/**
 * `deno task evaluate --checkpoint C (.ckpt or AtmoRep_id<ID>.mod) --mode MODE --date T [--date …] --out DIR
 * [--months YYYY-MM,… --samples-per-month N]
 * [--config run.json] [--center LAT,LON] [--forecast-num-tokens N] [--time-tokens I,J] [--rate R]
 * [--token-overlap A,B] [--truth STORE] [--overwrite] [--layout native|wb2] [--epoch E] [--seed S]
 * [--backend cpu|cuda|webgpu|auto]`:
 * AtmoRep's evaluation modes (BERT, forecast, temporal_interpolation, fixed_location, global_forecast) on windows
 * ending at the given dates, written in AtmoRep's results layout (`results_id<ID>_epoch<E>_{source,target,pred,ens}.zarr`,
 * see forecast/atmorep_results.ts); `global_forecast` also writes the blended global forecast
 * (`global_forecast_id<ID>_epoch<E>.zarr`) and its scores (`….eval/`), as `deno task forecast --truth` does.
 *
 * @module
 */
import { basename, dirname, join } from "node:path";
import { Command } from "@commander-js/extra-typings";
import { COMMAND_OUTPUT, parseNumbers, parsePositive, parseTimes, runMain } from "../cli/run.ts";
import { evaluate, type EvaluateMode } from "../forecast/evaluate.ts";
import { scoreTable } from "../forecast/report.ts";
import { loadParameters, readCheckpoint, type TrainedRange } from "../models/checkpoint.ts";
import { atmorepTimeRanges, importAtmorep } from "../models/atmorep_import.ts";
import { Multiformer } from "../models/multiformer.ts";
import { checkTrainConfig, type TrainConfig } from "../training/config.ts";
import { readConfigFile } from "../training/validate.ts";
import { CheckpointError, ConfigError } from "../errors.ts";
import { checkLayout } from "../forecast/store.ts";
import { globalForecastName } from "../forecast/atmorep_results.ts";
import { checkBackendName, selectBackend } from "../ops/mod.ts";
import { parseMonth } from "../time.ts";

const MODES = ["BERT", "forecast", "temporal_interpolation", "fixed_location", "global_forecast"];

/** The mode, or a config error naming the modes. */
function parseMode(text: string): EvaluateMode {
  if (MODES.includes(text)) return text as EvaluateMode;
  throw new ConfigError("--mode", `${text} is not an AtmoRep evaluation mode: ${MODES.join(", ")}`);
}

/** `YYYY-MM` pairs, comma-separated. */
function parseMonths(text: string): [number, number][] {
  return text.split(",").map((m) => parseMonth(m, "--months"));
}

/** Integers ≥ 0, comma-separated. */
function parseIndices(key: string): (text: string) => number[] {
  return (text) => {
    const v = text.split(",").map(Number);
    if (!v.length || v.some((x) => !Number.isInteger(x) || x < 0)) {
      throw new ConfigError(key, `${text} is not a list of integers ≥ 0`);
    }
    return v;
  };
}

/** An integer ≥ 0 (AtmoRep's epoch; −2 names the last checkpoint as AtmoRep does). */
function parseEpoch(text: string): number {
  const x = Number(text);
  if (!Number.isInteger(x) || x < -2) throw new ConfigError("--epoch", `${text} is not an integer ≥ −2`);
  return x;
}

/** A number in (0, 1]. */
function parseRate(text: string): number {
  const x = Number(text);
  if (!(x > 0 && x <= 1)) throw new ConfigError("--rate", `${text} is not in (0, 1]`);
  return x;
}

if (import.meta.main) {
  await runMain(async () => {
    await new Command("evaluate").configureOutput(COMMAND_OUTPUT)
      .description("AtmoRep's evaluation modes written in AtmoRep's results layout")
      .requiredOption("--checkpoint <path>", "a checkpoint (.ckpt) or AtmoRep's AtmoRep_id<ID>[_epoch<E>].mod")
      .requiredOption("--mode <mode>", MODES.join(", "), parseMode)
      .option("--date <time...>", "the windows' last time steps, UTC (one sample each)", parseTimes("--date"))
      .requiredOption("--out <dir>", "folder for results_id<ID>_epoch<E>_{source,target,pred,ens}.zarr")
      .option("--config <file>", "run configuration (stores, fields, masking); default the checkpoint's (.ckpt)")
      .option(
        "--center <lat,lon>",
        "window centre in degrees (default 0,0; fixed_location: required)",
        parseNumbers("--center"),
      )
      .option(
        "--forecast-num-tokens <n>",
        "forecast, global_forecast: time slabs masked (default: forecast 1, global_forecast the AtmoRep json's or 2)",
        parsePositive("--forecast-num-tokens"),
      )
      .option(
        "--time-tokens <i,j>",
        "temporal_interpolation: the masked time slabs, AtmoRep's idx_time_mask (default the middle one)",
        parseIndices("--time-tokens"),
      )
      .option(
        "--months <yyyy-mm,...>",
        "fixed_location: draw dates in these months as AtmoRep's set_location does",
        parseMonths,
      )
      .option(
        "--samples-per-month <n>",
        "fixed_location with --months: dates per month (default 2)",
        parsePositive("--samples-per-month"),
      )
      .option("--rate <r>", "BERT, fixed_location: masking rate (default the configuration's)", parseRate)
      .option(
        "--token-overlap <a,b>",
        "global_forecast: tile overlap in tokens [lat, lon] (default 0,0)",
        parseIndices("--token-overlap"),
      )
      .option("--truth <store>", "global_forecast: store the blended forecast is scored against (default the run's)")
      .option(
        "--overwrite",
        "replace the results stores (global_forecast: and the forecast store and scores) of an earlier run",
      )
      .option(
        "--layout <name>",
        "global_forecast: store layout, native (default) or wb2 (WeatherBench 2's schema)",
        (v) => checkLayout(v, "--layout"),
      )
      .option("--epoch <e>", "epoch in the file names (default 0)", parseEpoch)
      .option("--seed <s>", "masking seed (default 0)", parseEpoch)
      .option(
        "--backend <name>",
        "cpu (default), cuda, webgpu (the network's forward on the device) or auto (cuda, then webgpu on a real GPU, else cpu)",
      )
      .action(async (o) => {
        let config: TrainConfig, model: Multiformer, id: string, ranges: TrainedRange[] | null;
        let runForecastTokens: number | undefined;
        if (o.checkpoint.endsWith(".mod")) {
          const m = /^AtmoRep_id(.+?)(_epoch-?\d+)?\.mod$/.exec(basename(o.checkpoint));
          if (!m) {
            throw new CheckpointError(o.checkpoint, "an AtmoRep checkpoint is named AtmoRep_id<ID>[_epoch<E>].mod");
          }
          if (!o.config) {
            throw new ConfigError("--config", "an AtmoRep checkpoint needs the run configuration (stores)");
          }
          config = (await readConfigFile(o.config, checkTrainConfig)).config;
          id = m[1];
          const imported = importAtmorep(o.checkpoint, join(dirname(o.checkpoint), `model_id${id}.json`));
          model = imported.model;
          ranges = atmorepTimeRanges(imported.raw);
          const k = imported.raw.forecast_num_tokens;
          if (k !== undefined && !(Number.isInteger(k) && (k as number) > 0)) {
            throw new ConfigError("forecast_num_tokens", `${k} in the AtmoRep json is not a whole number > 0`);
          }
          runForecastTokens = k as number | undefined;
        } else {
          const ck = await readCheckpoint(o.checkpoint);
          if (ck.header.task !== "masked-token") {
            throw new CheckpointError(o.checkpoint, "is a forecast-engine checkpoint; evaluate runs the Multiformer");
          }
          config = o.config
            ? (await readConfigFile(o.config, checkTrainConfig)).config
            : ck.header.config as TrainConfig;
          const { layouts } = checkTrainConfig(config);
          model = new Multiformer(config.model, layouts, 0);
          loadParameters(ck, model.params.map);
          id = basename(o.checkpoint).replace(/\.ckpt$/, "");
          ranges = ck.header.timeRanges ?? null;
        }
        if (o.center && o.center.length !== 2) throw new ConfigError("--center", "is LAT,LON");
        if (o.tokenOverlap && o.tokenOverlap.length !== 2) throw new ConfigError("--token-overlap", "is LAT,LON");
        await Deno.mkdir(o.out, { recursive: true });
        const backend = await selectBackend(checkBackendName(o.backend ?? "cpu", "--backend"), "--backend", {
          device: true,
        });
        console.error(backend.description);
        const t0 = performance.now();
        const epoch = o.epoch ?? 0, global = globalForecastName(id, epoch);
        const r = await evaluate({
          config,
          model,
          mode: o.mode,
          dates: o.date ?? [],
          draw: o.months ? { months: o.months, perMonth: o.samplesPerMonth ?? 2, seed: o.seed } : undefined,
          center: o.center as [number, number] | undefined,
          forecastTokens: o.forecastNumTokens,
          runForecastTokens,
          timeTokens: o.timeTokens,
          overlap: o.tokenOverlap as [number, number] | undefined,
          rate: o.rate,
          out: o.out,
          id,
          epoch,
          overwrite: o.overwrite,
          seed: o.seed,
          global: {
            out: join(o.out, `${global}.zarr`),
            evalDir: join(o.out, `${global}.eval`),
            truth: o.truth,
            overwrite: o.overwrite,
            layout: o.layout,
            ranges,
            checkpoint: o.checkpoint,
            command: `deno task evaluate ${Deno.args.join(" ")}`,
          },
          device: backend.device,
        }).finally(() => backend.close());
        const s = r.seconds;
        console.log(
          `evaluate  ${o.mode}, ${r.dates.length} date(s), ${r.samples} sample(s) (${
            ((performance.now() - t0) / 1000).toFixed(1)
          } s: batch ${s.batch.toFixed(2)} s, forward ${s.forward.toFixed(2)} s, results ${s.write.toFixed(2)} s)`,
        );
        if (o.months) console.log(`dates     ${r.dates.join(" ")}`);
        for (const p of r.paths) console.log(`results   ${p}`);
        if (r.global) {
          const g = r.global;
          console.log(
            `global    ${g.out} (blend ${g.seconds.blend.toFixed(2)} s, write and score ${
              g.seconds.score.toFixed(2)
            } s)`,
          );
          for (const line of scoreTable(g.scores)) console.log(line);
          if (g.warning) console.error(g.warning);
          console.log(`scores    ${g.scoresPath}`);
          for (const p of g.plots) console.log(`plot      ${p}`);
        }
      })
      .parseAsync(Deno.args, { from: "user" });
  });
}
