/**
 * `deno task normalize STORE --out SET.norm.zarr [--from YYYY-MM] [--to YYYY-MM] [--pool ...]`:
 * derive another coefficient set from the store's partial statistics.
 *
 * @module
 */
import { Command, Option } from "@commander-js/extra-typings";
import { deriveNormSet, parseMonth, type Pooling } from "../normalization/derive.ts";
import { COMMAND_OUTPUT, runMain } from "../cli/run.ts";
import { resolve } from "node:path";
import { ConfigError, StoreError } from "../errors.ts";
import { isOwnStore } from "../converters/output.ts";
import { readRootAttributes } from "../zarr/reader.ts";
import { pathExists } from "../zarr/publish.ts";

/** The first and last month (YYYY-MM) of a data store's time axis. */
function dataMonths(store: string): [string, string] {
  const a = readRootAttributes(store);
  return [String(a.time_start ?? "").slice(0, 7), String(a.time_end ?? "").slice(0, 7)];
}

/**
 * Check what `normalize` is about to write: never the data store itself or
 * a path inside it, and with --overwrite only a coefficient set.
 */
function checkOutput(store: string, out: string, overwrite?: boolean): void {
  const [s, o] = [resolve(store), resolve(out)];
  if (o === s || o.startsWith(`${s}/`) || s.startsWith(`${o}/`)) {
    throw new StoreError(out, `is the data store ${store} (or holds it); write the coefficient set elsewhere`);
  }
  if (pathExists(out) && overwrite && !isOwnStore(out, "normalization")) {
    throw new StoreError(
      out,
      "is not a coefficient set; --overwrite replaces only coefficient sets, so it is left as it is",
    );
  }
}

if (import.meta.main) {
  await runMain(async () => {
    await new Command("normalize").configureOutput(COMMAND_OUTPUT)
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
        checkOutput(store, o.out, o.overwrite);
        // One end of the period alone: the other is the data's own end, named in any error.
        let { from, to } = o;
        if (from !== undefined) parseMonth(from, "--from");
        if (to !== undefined) parseMonth(to, "--to");
        if ((from === undefined) !== (to === undefined)) {
          const [first, last] = dataMonths(store);
          from ??= first;
          to ??= last;
          if (parseMonth(from, "--from") > parseMonth(to, "--to")) {
            throw new ConfigError(
              o.from ? "--from" : "--to",
              o.from
                ? `${from} is after the last month of ${store} (${last}); give --to as well, or an earlier --from`
                : `${to} is before the first month of ${store} (${first}); give --from as well, or a later --to`,
            );
          }
        }
        const r = deriveNormSet({
          store,
          out: o.out,
          from,
          to,
          pooling: o.pool as Pooling,
          overwrite: o.overwrite,
        });
        console.log(`wrote ${o.out}: ${r.months} month entries from ${r.used} months of statistics (${o.pool})`);
      })
      .parseAsync(Deno.args, { from: "user" });
  });
}
