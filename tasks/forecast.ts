/**
 * `deno task forecast --checkpoint C --init 2020-02-01T00 [--init …] --steps N --out F.zarr [--truth STORE]
 * [--layout native|wb2] [--backend cpu|cuda|webgpu|auto]`:
 * roll the globe out from each initial time with a trained forecast
 * engine, write the forecast store (published at the end), and with a
 * truth store score it against persistence and climatology and draw maps.
 *
 * @module
 */
import { Command } from "@commander-js/extra-typings";
import { COMMAND_OUTPUT, parseNumbers, parsePositive, parseTimes, runMain } from "../cli/run.ts";
import { progressDisplay } from "../cli/progress.ts";
import { runForecast } from "../forecast/run.ts";
import { scoreTable } from "../forecast/report.ts";
import { checkLayout } from "../forecast/store.ts";
import { checkBackendName, gemm, selectBackend } from "../ops/mod.ts";
import { ConfigError } from "../errors.ts";

/** A number ≥ 0 from the command line. */
function parseNumber(text: string): number {
  const x = Number(text);
  if (!Number.isFinite(x) || x < 0) throw new ConfigError("option", `${text} is not a number ≥ 0`);
  return x;
}

if (import.meta.main) {
  await runMain(async () => {
    await new Command("forecast").configureOutput(COMMAND_OUTPUT)
      .description("auto-regressive global rollout with a trained forecast engine")
      .requiredOption("--checkpoint <path>", "forecast engine checkpoint (train --stage forecast)")
      .requiredOption("--init <time...>", "initial time(s), UTC, e.g. 2020-02-01T00", parseTimes("--init"))
      .requiredOption("--steps <n>", "rollout steps", parsePositive("--steps"))
      .requiredOption("--out <store>", "output zarr store")
      .option("--truth <store>", "store with the truth: scores against persistence and climatology, maps")
      .option("--norm <set>", "coefficient set (must be the one the checkpoint was trained on)")
      .option(
        "--members <n>",
        "ensemble members (the Multiformer's tail ensemble + latent noise)",
        parsePositive("--members"),
      )
      .option(
        "--tail-scale <x>",
        "scale of the tail-ensemble perturbation (0: latent noise only; default 1)",
        parseNumber,
      )
      .option("--member-noise <x>", "latent noise of members > 0 (× latent RMS; default the checkpoint's)", parseNumber)
      .option("--keep-members", "write the members, not only mean and spread")
      .option(
        "--layout <name>",
        "store layout: native (one variable per field, short names; default) or wb2 (WeatherBench 2's schema)",
        (v) => checkLayout(v, "--layout"),
      )
      .option(
        "--shifted-tiling",
        "also step a tiling shifted by half a token and blend both (no token-edge seams; 2× cost)",
      )
      .option("--maps <steps>", "steps to draw maps of (comma-separated, default the last)", parseNumbers("--maps"))
      .option("--eval-dir <dir>", "where scores and maps go (default OUT.eval)")
      .option("--threads <n>", "BLAS threads", parsePositive("--threads"))
      .option(
        "--backend <name>",
        "cpu (default), cuda, webgpu (the networks on the device) or auto (cuda, then webgpu on a real GPU, else cpu)",
      )
      .option("--overwrite", "replace an existing output store")
      .option("--quiet", "no progress bar")
      .action(async (o) => {
        const backend = await selectBackend(checkBackendName(o.backend ?? "cpu", "--backend"), "--backend", {
          device: true,
        });
        console.error(backend.description);
        gemm().setThreads(o.threads ?? 1);
        const progress = progressDisplay(o.quiet);
        const t0 = performance.now();
        const r = await runForecast({
          checkpoint: o.checkpoint,
          inits: o.init,
          steps: o.steps,
          out: o.out,
          truth: o.truth,
          norm: o.norm,
          members: o.members,
          tailScale: o.tailScale,
          memberNoise: o.memberNoise,
          keepMembers: o.keepMembers,
          layout: o.layout,
          shiftedTiling: o.shiftedTiling,
          mapSteps: o.maps,
          evalDir: o.evalDir,
          overwrite: o.overwrite,
          device: backend.device,
          command: `deno task forecast ${Deno.args.join(" ")}`,
          onStep: (done, total) => progress.update("forecast", done, total),
        }).finally(() => {
          progress.stop();
          backend.close();
        });
        console.log(`forecast  ${r.out} (${((performance.now() - t0) / 1000).toFixed(1)} s)`);
        for (const line of scoreTable(r.scores ?? [])) console.log(line);
        if (r.inSample?.warning) console.error(r.inSample.warning);
        if (r.scoresPath) console.log(`scores    ${r.scoresPath}`);
        for (const p of r.plots) console.log(`plot      ${p}`);
        for (const m of r.maps) console.log(`map       ${m}`);
      })
      .parseAsync(Deno.args, { from: "user" });
  });
}
