/**
 * The `convert strato` subcommand.
 *
 * @module
 */
import { Command } from "@commander-js/extra-typings";
import type { ConverterPlugin } from "../registry.ts";
import { parseList, parseNumbers } from "../../cli/run.ts";
import { progressDisplay } from "../../cli/progress.ts";
import { expandInputs } from "../../cli/inputs.ts";
import { convertStrato, STRATO_FIELDS, STRATO_LOG } from "./convert.ts";
import { ConfigError } from "../../errors.ts";

/** Parse `o3:1e-9,q` (eps defaults to the preset's, else 1e-9). */
export function parseLog(text: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const part of parseList(text)) {
    const [name, eps] = part.split(":");
    const value = eps === undefined ? STRATO_LOG[name] ?? 1e-9 : Number(eps);
    if (!(value > 0)) throw new ConfigError("--log", `eps of ${name} must be a positive number (got "${eps}")`);
    out[name] = value;
  }
  return out;
}

function command() {
  return new Command("strato")
    .description("stratospheric preset: model levels up to level 1 or pressure levels up to 1 hPa, with ozone")
    .argument("<inputs...>", "GRIB or netCDF files, directories or globs")
    .requiredOption("-o, --out <store>", "output zarr store")
    .option(
      "--pressure-range <top,bottom>",
      "keep levels between these pressures in hPa",
      parseNumbers("--pressure-range"),
      [
        0.01,
        100,
      ],
    )
    .option("--fields <names>", `fields (default ${STRATO_FIELDS.join(",")})`, parseList)
    .option(
      "--log <fields>",
      "log-transform these fields for normalization, name[:eps] (default o3:1e-9,q:1e-7)",
      parseLog,
    )
    .option("--norm <store>", "normalization store")
    .option("--overwrite", "replace existing output stores")
    .option("-q, --quiet", "no progress output")
    .action(async (inputs, o) => {
      if (o.pressureRange.length !== 2) {
        throw new ConfigError("--pressure-range", "takes two numbers: top,bottom in hPa");
      }
      const progress = progressDisplay(o.quiet);
      const s = await convertStrato({
        inputs: expandInputs(inputs),
        out: o.out,
        norm: o.norm,
        fields: o.fields,
        logTransform: o.log,
        pressureRange: [o.pressureRange[0], o.pressureRange[1]],
        overwrite: o.overwrite,
        command: ["deno task convert strato", ...Deno.args.slice(1)].join(" "),
        onProgress: (p) => progress.update(p.phase, p.done, p.total),
      }).finally(() => progress.stop());
      console.log(
        `wrote ${s.out}: ${s.plan.fields.map((f) => f.name).join(", ")} on ${s.plan.levelType} levels ${
          s.plan.levels.join(", ")
        }`,
      );
      console.log(`wrote ${s.norm}`);
    });
}

/** The `convert strato` plug-in (listed in ../registry.ts). */
export const stratoConverter: ConverterPlugin = {
  name: "strato",
  summary: "stratospheric ERA5 preset",
  command: command as never,
};
