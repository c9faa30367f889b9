/**
 * `deno task evaluate --checkpoint C (.ckpt or AtmoRep_id<ID>.mod) --mode BERT|forecast|global_forecast --date T [--date …]
 * --out DIR [--config run.json] [--center LAT,LON] [--forecast-num-tokens N] [--rate R] [--epoch E] [--seed S]`:
 * AtmoRep's evaluation modes on windows ending at the given dates, written in AtmoRep's results layout
 * (`results_id<ID>_epoch<E>_{source,target,pred,ens}.zarr`, see forecast/atmorep_results.ts).
 *
 * @module
 */
import { basename, dirname, join } from "node:path";
import { Command } from "@commander-js/extra-typings";
import { COMMAND_OUTPUT, parseNumbers, parsePositive, runMain } from "../cli/run.ts";
import { evaluate, type EvaluateMode } from "../forecast/evaluate.ts";
import { loadParameters, readCheckpoint } from "../models/checkpoint.ts";
import { importAtmorep } from "../models/atmorep_import.ts";
import { Multiformer } from "../models/multiformer.ts";
import { checkTrainConfig, type TrainConfig } from "../training/config.ts";
import { readConfigFile } from "../training/validate.ts";
import { CheckpointError, ConfigError } from "../errors.ts";

const MODES = ["BERT", "forecast", "global_forecast"];
const LATER = ["temporal_interpolation", "fixed_location"];

/** The mode, or a config error saying which modes work. */
function parseMode(text: string): EvaluateMode {
  if (MODES.includes(text)) return text as EvaluateMode;
  const why = LATER.includes(text) ? "is not done yet" : "is not an AtmoRep evaluation mode";
  throw new ConfigError("--mode", `${text} ${why}; done: ${MODES.join(", ")}`);
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
      .description("AtmoRep's evaluation modes (BERT, forecast, global_forecast) written in AtmoRep's results layout")
      .requiredOption("--checkpoint <path>", "a checkpoint (.ckpt) or AtmoRep's AtmoRep_id<ID>[_epoch<E>].mod")
      .requiredOption(
        "--mode <mode>",
        `BERT, forecast or global_forecast (${LATER.join(", ")}: not done yet)`,
        parseMode,
      )
      .requiredOption("--date <time...>", "the windows' last time steps, ISO (one sample each)")
      .requiredOption("--out <dir>", "folder for results_id<ID>_epoch<E>_{source,target,pred,ens}.zarr")
      .option("--config <file>", "run configuration (stores, fields, masking); default the checkpoint's (.ckpt)")
      .option("--center <lat,lon>", "window centre in degrees (default 0,0)", parseNumbers("--center"))
      .option(
        "--forecast-num-tokens <n>",
        "forecast: time slabs masked (default 2)",
        parsePositive("--forecast-num-tokens"),
      )
      .option("--rate <r>", "BERT: masking rate (default the configuration's)", parseRate)
      .option("--epoch <e>", "epoch in the file names (default 0)", parseEpoch)
      .option("--seed <s>", "masking seed (default 0)", parseEpoch)
      .action(async (o) => {
        let config: TrainConfig, model: Multiformer, id: string;
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
          model = importAtmorep(o.checkpoint, join(dirname(o.checkpoint), `model_id${id}.json`)).model;
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
        }
        if (o.center && o.center.length !== 2) throw new ConfigError("--center", "is LAT,LON");
        await Deno.mkdir(o.out, { recursive: true });
        const t0 = performance.now();
        const paths = evaluate({
          config,
          model,
          mode: o.mode,
          dates: o.date,
          center: o.center as [number, number] | undefined,
          forecastTokens: o.forecastNumTokens,
          rate: o.rate,
          out: o.out,
          id,
          epoch: o.epoch ?? 0,
          seed: o.seed,
        });
        console.log(
          `evaluate  ${o.mode}, ${o.date.length} date(s) (${((performance.now() - t0) / 1000).toFixed(1)} s)`,
        );
        for (const p of paths) console.log(`results   ${p}`);
      })
      .parseAsync(Deno.args, { from: "user" });
  });
}
