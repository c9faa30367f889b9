/**
 * `deno task normalize STORE --out SET.norm.zarr [--from YYYY-MM] [--to YYYY-MM] [--pool ...]`:
 * derive another coefficient set from the store's partial statistics.
 *
 * @module
 */
import { Command, Option } from "@commander-js/extra-typings";
import { deriveNormSet, type Pooling } from "../normalization/derive.ts";
import { runMain } from "../cli/run.ts";

if (import.meta.main) {
  await runMain(async () => {
    await new Command("normalize")
      .description("derive a normalization coefficient set from a store's statistics, without re-reading the data")
      .argument("<store>", "data store written by `deno task convert`")
      .requiredOption("-o, --out <store>", "output coefficient store, e.g. era5.1979-2017.norm.zarr")
      .option("--from <YYYY-MM>", "first month of the period (default: first month of the data)")
      .option("--to <YYYY-MM>", "last month of the period (default: last month of the data)")
      .addOption(
        new Option("--pool <rule>", "pool months: each year-month alone, per calendar month, or all together")
          .choices(["monthly", "calendar-month", "all"]).default("calendar-month"),
      )
      .option("--overwrite", "replace an existing output")
      .action((store, o) => {
        const r = deriveNormSet({
          store,
          out: o.out,
          from: o.from,
          to: o.to,
          pooling: o.pool as Pooling,
          overwrite: o.overwrite,
        });
        console.log(`wrote ${o.out}: ${r.months} month entries from ${r.used} months of statistics (${o.pool})`);
      })
      .parseAsync(Deno.args, { from: "user" });
  });
}
