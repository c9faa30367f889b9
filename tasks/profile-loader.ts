/**
 * `deno task profile-loader CONFIG.json [--batches N] [--workers N] [--consumer-ms M [--consumer-cpu]] [--trace trace.json]`:
 * run the data loader and report per batch where the time goes; write a
 * Chrome trace-event file (open it in Perfetto or chrome://tracing).
 *
 * @module
 */
import { Command } from "@commander-js/extra-typings";
import { formatProfile, profileLoader } from "../samplers/profile.ts";
import type { SamplerConfig } from "../samplers/sampler.ts";
import { parseInteger, runMain } from "../cli/run.ts";
import { ConfigError } from "../errors.ts";

if (import.meta.main) {
  await runMain(async () => {
    await new Command("profile-loader")
      .description("profile the data loader: I/O, decode, normalize, tokenize, mask, hand-over and consumer time")
      .argument("<config>", "sampler configuration (JSON, the SamplerConfig of samplers/sampler.ts)")
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
      .action(async (configPath, o) => {
        let config: SamplerConfig;
        try {
          config = JSON.parse(await Deno.readTextFile(configPath));
        } catch (e) {
          throw new ConfigError(configPath, (e as Error).message);
        }
        const p = await profileLoader(config, {
          batches: o.batches,
          workers: o.workers,
          consumerMs: o.consumerMs,
          consumerCpu: o.consumerCpu,
        });
        console.log(formatProfile(p));
        await Deno.writeTextFile(o.trace, JSON.stringify(p.trace));
        console.log(`wrote ${o.trace} (open in https://ui.perfetto.dev or chrome://tracing)`);
      })
      .parseAsync(Deno.args, { from: "user" });
  });
}
