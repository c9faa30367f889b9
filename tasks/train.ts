/**
 * `deno task train --config run.json [--resume [CHECKPOINT]] [--steps N] [--threads N] [--backend cpu|webgpu|auto]`:
 * train the Multiformer as the configuration says; a progress bar with
 * loss and samples/s on stderr; metrics, checkpoints and the loss curve in
 * the checkpoint directory, listed on exit.
 *
 * `deno task train --config run.json --from CHECKPOINT`: fine-tune — the
 * same training, its weights starting from a Multiformer checkpoint
 * (training/tasks/fine_tune.ts).
 *
 * `deno task train --stage forecast --from CHECKPOINT --config forecast.json`:
 * train the forecast engine on top of the frozen Multiformer of CHECKPOINT
 * (training/tasks/engine_rollout.ts).
 *
 * @module
 */
import { Command } from "@commander-js/extra-typings";
import { COMMAND_OUTPUT, parsePositive, runMain } from "../cli/run.ts";
import { progressDisplay } from "../cli/progress.ts";
import { type Backend, readForecastTrainConfig, readTrainConfig, type TrainConfig } from "../training/config.ts";
import { train } from "../training/train.ts";
import { checkBackendName, selectBackend } from "../ops/mod.ts";
import { ConfigError } from "../errors.ts";
import { trainForecastEngine } from "../training/tasks/engine_rollout.ts";
import { openRemoteSampler } from "../samplers/remote.ts";
import { checkUrlAccess, isUrl, parseByteSize, type UrlCacheOptions } from "../zarr/url_store.ts";

/** The options of the command line. */
interface TrainCommandOptions {
  config: string;
  stage?: string;
  from?: string;
  resume?: string | true;
  startOver?: true;
  steps?: number;
  threads?: number;
  backend?: string;
  checkpointDir?: string;
  quiet?: true;
  cacheDir?: string;
  cacheMax?: string;
}

/**
 * Open the stores and coefficient sets the configuration gives by URL
 * (into the URL cache; zarr/url_store.ts): the sampler then reads their
 * mirrors, and the loader downloads what each batch reads.
 */
async function openUrlStores(config: TrainConfig, o: TrainCommandOptions): Promise<void> {
  const cache: UrlCacheOptions = { dir: o.cacheDir, maxBytes: o.cacheMax ? parseByteSize(o.cacheMax) : undefined };
  const urls = config.sampler.datasets.flatMap((d) => [d.store, ...(d.norm ? [d.norm] : [])]).filter(isUrl);
  for (const url of urls) {
    await checkUrlAccess(url, cache, {
      flags: "--allow-read --allow-write --allow-ffi --allow-env",
      script: "tasks/train.ts",
    });
  }
  config.sampler = await openRemoteSampler(config.sampler, cache);
}

/** `--stage forecast`: train the forecast engine on the frozen Multiformer of `--from`. */
async function trainEngineStage(o: TrainCommandOptions): Promise<void> {
  if (!o.from) throw new ConfigError("--from", "--stage forecast needs the pre-trained checkpoint");
  const fc = await readForecastTrainConfig(o.config);
  if (o.threads !== undefined) fc.threads = o.threads;
  if (o.checkpointDir !== undefined) fc.checkpoints.dir = o.checkpointDir;
  if (o.steps !== undefined) fc.phases = fc.phases.map((p) => ({ ...p, steps: o.steps! }));
  const progress = progressDisplay(o.quiet);
  const t0 = performance.now();
  const r = await trainForecastEngine(o.from, fc, {
    resume: o.resume,
    startOver: o.startOver,
    onStep: (step, total, loss, k) =>
      progress.update("train forecast", step, total, `loss ${loss.toFixed(4)} · ${k} steps`),
  }).finally(() => progress.stop());
  console.log(
    `trained the forecast engine ${r.steps} steps (${r.losses.length} in this run) in ${
      ((performance.now() - t0) / 1000).toFixed(1)
    } s`,
  );
  console.log(`parameters ${r.parameters.toLocaleString("en")} · last loss ${r.losses.at(-1)?.toFixed(5)}`);
  console.log(`checkpoint ${r.checkpoint}`);
  console.log(`metrics    ${r.metrics}`);
}

/** Refuse a configuration whose stores do not exist, naming the key (and how to make the demo's). */
function assertStoresExist(config: TrainConfig): void {
  for (const [i, d] of config.sampler.datasets.entries()) {
    try {
      Deno.statSync(d.store);
    } catch {
      const hint = d.store.endsWith("out/demo/era5_sample.zarr")
        ? " (`deno task demo` converts the bundled sample there)"
        : "";
      throw new ConfigError(`sampler.datasets[${i}].store`, `no store at ${d.store}${hint}`);
    }
  }
}

/** The default stage: masked-token training of the Multiformer. */
async function pretrainStage(o: TrainCommandOptions): Promise<void> {
  const { config, layouts } = await readTrainConfig(o.config);
  if (o.steps !== undefined) config.schedule.steps = o.steps;
  if (o.threads !== undefined) config.threads = o.threads;
  if (o.checkpointDir !== undefined) config.checkpoints.dir = o.checkpointDir;
  if (o.backend !== undefined) config.backend = checkBackendName(o.backend, "--backend") as Backend;
  await openUrlStores(config, o);
  assertStoresExist(config);
  const backend = await selectBackend(
    config.backend ?? "auto",
    o.backend !== undefined ? "--backend" : "backend",
    { device: true },
  );
  console.error(
    `${backend.description} · ${config.threads ?? 1} thread(s) · ` +
      `loader workers ${config.loader?.workers ?? 1}`,
  );
  const progress = progressDisplay(o.quiet);
  const t0 = performance.now();
  if (o.from) console.error(`fine-tuning from ${o.from}`);
  const summary = await train(config, layouts, {
    resume: o.resume,
    startOver: o.startOver,
    from: o.from,
    device: backend.device,
    onStep: (step, total, m) =>
      progress.update(
        "train",
        step,
        total,
        `loss ${m.loss.toFixed(4)} · ${m.samplesPerSecond!.toFixed(1)} samples/s`,
      ),
  }).finally(() => {
    progress.stop();
    backend.close();
  });
  const s = (performance.now() - t0) / 1000;
  const last = summary.losses.at(-1);
  console.log(`trained ${summary.steps} steps (${summary.losses.length} in this run) in ${s.toFixed(1)} s`);
  console.log(`parameters ${summary.parameters.toLocaleString("en")} · last loss ${last?.toFixed(5) ?? "–"}`);
  if (summary.validation) {
    const v = Object.entries(summary.validation).map(([k, x]) => `${k} ${x.toFixed(4)}`).join(", ");
    console.log(`validation MSE of the ensemble mean: ${v}`);
  }
  console.log(`checkpoint ${summary.checkpoint ?? "(none written)"}`);
  console.log(`metrics    ${summary.metrics}`);
  console.log(`loss curve ${summary.plot}`);
}

if (import.meta.main) {
  await runMain(async () => {
    await new Command("train").configureOutput(COMMAND_OUTPUT)
      .description("train the Multiformer (masked-token pre-training) from a JSON configuration")
      .requiredOption("--config <path>", "training configuration (JSON; see configs/)")
      .option("--stage <stage>", "pretrain (the Multiformer, default) or forecast (the engine on a frozen one)")
      .option(
        "--from <checkpoint>",
        "a Multiformer checkpoint, or AtmoRep's AtmoRep_id<ID>.mod with its model_id<ID>.json beside it: " +
          "pretrain fine-tunes its weights; --stage forecast freezes it under the engine",
      )
      .option("--resume [checkpoint]", "continue from a checkpoint (default: the newest in checkpoints.dir)")
      .option(
        "--start-over",
        "train afresh in a checkpoint directory holding another run: delete its checkpoints, metrics.jsonl and loss.png",
      )
      .option("--steps <n>", "override schedule.steps", parsePositive("--steps"))
      .option("--threads <n>", "override threads (BLAS threads)", parsePositive("--threads"))
      .option(
        "--backend <name>",
        "override backend: cpu, cuda, webgpu or auto (cuda, then webgpu on a real GPU, else cpu)",
      )
      .option("--checkpoint-dir <dir>", "override checkpoints.dir")
      .option("--quiet", "no progress bar")
      .option("--cache-dir <dir>", "URL cache directory, for stores given by URL (default ~/.cache/atmorep-ts/stores)")
      .option("--cache-max <size>", "bound of the URL cache, e.g. 500MB, 20GB (default 20GB)")
      .action(async (o) => {
        const stage = o.stage ?? "pretrain";
        if (stage !== "pretrain" && stage !== "forecast") {
          throw new ConfigError("--stage", `unknown stage "${stage}" (pretrain, forecast)`);
        }
        if (o.startOver && o.resume) throw new ConfigError("--start-over", "not with --resume (one or the other)");
        if (stage === "forecast") return await trainEngineStage(o);
        await pretrainStage(o);
      })
      .parseAsync(Deno.args, { from: "user" });
  });
}
