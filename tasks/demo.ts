/**
 * `deno task demo [OUT]`: convert the bundled ERA5 sample (both CDS layouts)
 * into OUT (default `out/demo/era5_sample.zarr`) and print what was made. A
 * previous demo store is replaced; anything else at OUT is left alone.
 *
 * @module
 */
import { fileURLToPath } from "node:url";
import { Command } from "@commander-js/extra-typings";
import { convertEra5 } from "../converters/era5/convert.ts";
import { expandInputs } from "../cli/inputs.ts";
import { formatSummary, inspectStore } from "../stores/inspect.ts";
import { runMain } from "../cli/run.ts";
import { progressDisplay } from "../cli/progress.ts";

if (import.meta.main) {
  await runMain(async () => {
    await new Command("demo")
      .description("convert the bundled ERA5 sample and print what was made")
      .argument(
        "[out]",
        "output store (replaced only if it is a store this project wrote)",
        "out/demo/era5_sample.zarr",
      )
      .action(async (out) => {
        const sample = fileURLToPath(new URL("../samples/era5", import.meta.url));
        const progress = progressDisplay();
        const summary = await convertEra5({
          inputs: expandInputs([`${sample}/legacy`, `${sample}/new`]),
          out,
          overwrite: true,
          command: "deno task demo",
          onProgress: (p) => progress.update(p.phase, p.done, p.total),
        }).finally(() => progress.stop());
        console.log(
          `converted ${summary.plan.files.length} files (netCDF3 packed + netCDF4) in ${
            summary.seconds.toFixed(1)
          } s\n`,
        );
        console.log(formatSummary(inspectStore(summary.out)));
        console.log();
        console.log(formatSummary(inspectStore(summary.norm)));
      })
      .parseAsync(Deno.args, { from: "user" });
  });
}
