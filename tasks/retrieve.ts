/**
 * `deno task retrieve era5 …`: download ERA5 from the Climate Data Store
 * (see converters/era5/remote/retrieve.ts).
 *
 * @module
 */
import { Command, Option } from "@commander-js/extra-typings";
import { parseCount, parseList, parseNumbers, parseSubcommands, runMain } from "../cli/run.ts";
import { CdsClient, readCdsConfig } from "../converters/era5/remote/cds.ts";
import { planRequests, runRequests } from "../converters/era5/remote/retrieve.ts";
import { parseArea, parseGridSpacing } from "../converters/era5/remote/spec.ts";
import { ConfigError } from "../errors.ts";

if (import.meta.main) {
  await runMain(async () => {
    const program = new Command("retrieve").description("download input data")
      .exitOverride();
    program.addCommand(
      new Command("era5")
        .description("ERA5 from the Climate Data Store: one request per month (and variable), files named predictably")
        .addOption(
          new Option("--dataset <name>", "pressure-levels or single-levels").makeOptionMandatory(),
        )
        .requiredOption("--variables <names>", "CDS variable names, e.g. temperature,geopotential", parseList)
        .option("--levels <hPa>", "pressure levels, e.g. 1000,850,500", parseNumbers("--levels"))
        .requiredOption("--months <from/to>", "months, e.g. 2020-01/2020-12 (or one month)")
        .option("--hours <list>", "hours of day, e.g. 0,6,12,18 (default all)", parseNumbers("--hours"))
        .option("--area <N/W/S/E>", "area in degrees", parseArea)
        .option("--grid <deg>", "grid spacing (the CDS interpolates)", parseGridSpacing)
        .addOption(new Option("--format <f>", "file format").choices(["netcdf", "grib"]).default("netcdf"))
        .addOption(new Option("--split <by>", "one request per").choices(["month", "variable"]).default("month"))
        .option("--jobs <n>", "requests in flight (default 2)", parseCount("--jobs"))
        .requiredOption("-o, --out <dir>", "directory of the files")
        .option("--dry-run", "print the requests, send nothing")
        .action(async (o) => {
          const [a, b] = o.months.includes("/") ? o.months.split("/") : [o.months, o.months];
          const plan = planRequests({
            dataset: o.dataset,
            variables: o.variables,
            levels: o.levels,
            months: [a, b],
            hours: o.hours,
            area: o.area,
            grid: o.grid,
            format: o.format as "netcdf" | "grib",
            split: o.split as "month" | "variable",
            out: o.out,
          });
          if (o.dryRun) {
            for (const p of plan) {
              console.log(JSON.stringify({ dataset: p.dataset, target: p.target, request: p.request }));
            }
            return;
          }
          const client = new CdsClient(readCdsConfig());
          Deno.mkdirSync(o.out, { recursive: true });
          if (o.jobs === 0) throw new ConfigError("--jobs", "must be at least 1");
          const r = await runRequests(client, plan, o.jobs ?? 2, { log: (line) => console.error(line) });
          console.log(`retrieved ${r.fetched} file(s) into ${o.out}, ${r.skipped} already there`);
        }),
    );
    await parseSubcommands(program);
  });
}
