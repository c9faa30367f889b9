/**
 * `deno task profile-loader CONFIG.json [--batches N] [--workers N] [--consumer-ms M [--consumer-cpu]] [--trace trace.json]`:
 * run the data loader and report per batch where the time goes; write a
 * Chrome trace-event file (open it in Perfetto or chrome://tracing). With a
 * training configuration (`deno task train`'s, with `sampler` and `model`
 * sections) the consumer is the real training step, and its phases
 * (inputs, forward, backward, optimizer) are reported per batch and drawn
 * on the trace's model track.
 *
 * @module
 */
import { Command } from "@commander-js/extra-typings";
import { formatProfile, profileLoader, type ProfileOptions } from "../samplers/profile.ts";
import { checkTrainConfig } from "../training/config.ts";
import { Multiformer } from "../models/multiformer.ts";
import { AdamW } from "../training/adamw.ts";
import { trainStep } from "../training/step.ts";
import { gemm, Random } from "../ops/mod.ts";
import type { SamplerConfig } from "../samplers/sampler.ts";
import { COMMAND_OUTPUT, parseInteger, runMain } from "../cli/run.ts";
import { ConfigError } from "../errors.ts";
import { openRemoteSampler, usesUrls } from "../samplers/remote.ts";
import { checkUrlAccess, isUrl, parseByteSize } from "../zarr/url_store.ts";

if (import.meta.main) {
  await runMain(async () => {
    await new Command("profile-loader").configureOutput(COMMAND_OUTPUT)
      .description("profile the data loader: I/O, decode, normalize, tokenize, mask, hand-over and consumer time")
      .argument("<config>", "sampler configuration (JSON, the SamplerConfig of samplers/sampler.ts), or a training one")
      .option("--batches <n>", "batches to load", parseInteger("--batches"), 10)
      .option("--workers <n>", "loader workers (0 = main thread)", parseInteger("--workers"), 2)
      .option(
        "--consumer-ms <ms>",
        "stand-in training step per batch (waits, as on a GPU)",
        parseInteger("--consumer-ms"),
        0,
      )
      .option("--consumer-cpu", "the stand-in step keeps a CPU core busy (a CPU backend)")
      .option("--trace <path>", "Chrome trace-event JSON to write", "loader-trace.json")
      .option("--cache-dir <dir>", "URL cache directory, for stores given by URL (default ~/.cache/atmorep-ts/stores)")
      .option("--cache-max <size>", "bound of the URL cache, e.g. 500MB, 20GB (default 20GB)")
      .action(async (configPath, o) => {
        let raw: Record<string, unknown>;
        try {
          raw = JSON.parse(await Deno.readTextFile(configPath));
        } catch (e) {
          throw new ConfigError(configPath, (e as Error).message);
        }
        let config = raw as unknown as SamplerConfig;
        let consumer: ProfileOptions["consumer"];
        if ("sampler" in raw && "model" in raw) {
          const t = checkTrainConfig(raw, configPath);
          config = t.config.sampler;
          gemm().setThreads(t.config.threads ?? 1);
          const model = new Multiformer(t.config.model, t.layouts, t.config.schedule.seed ?? 1);
          const optimizer = new AdamW(model.params.map, t.config.optimizer);
          const rng = new Random(t.config.schedule.seed ?? 1);
          const losses = t.config.schedule.losses ?? ["mse_ensemble", "stats"];
          consumer = (batch) => trainStep(model, optimizer, batch, losses, rng).timings;
          console.error(`consumer: the training step (${model.params.count()} parameters, matmul ${gemm().name})`);
        }
        if (usesUrls(config)) {
          const cache = { dir: o.cacheDir, maxBytes: o.cacheMax ? parseByteSize(o.cacheMax) : undefined };
          const urls = config.datasets.flatMap((d) => [d.store, ...(d.norm ? [d.norm] : [])]).filter(isUrl);
          for (const url of urls) {
            await checkUrlAccess(
              url,
              cache,
              { flags: "--allow-read --allow-write --allow-ffi --allow-env", script: "tasks/profile-loader.ts" },
            );
          }
          config = await openRemoteSampler(config, cache);
        }
        const p = await profileLoader(config, {
          batches: o.batches,
          workers: o.workers,
          consumerMs: o.consumerMs,
          consumerCpu: o.consumerCpu,
          consumer,
        });
        console.log(formatProfile(p));
        await Deno.writeTextFile(o.trace, JSON.stringify(p.trace));
        console.log(`wrote ${o.trace} (open in https://ui.perfetto.dev or chrome://tracing)`);
      })
      .parseAsync(Deno.args, { from: "user" });
  });
}
