/**
 * The `convert gaussian` subcommand.
 *
 * @module
 */
import { Command, Option } from "@commander-js/extra-typings";
import type { ConverterPlugin } from "../registry.ts";
import { DEFAULT_CODEC } from "../../zarr/codecs.ts";
import { expandInputs } from "../../cli/inputs.ts";
import { convertGaussian } from "./convert.ts";

function command() {
  return new Command("gaussian")
    .description("convert GRIB on a reduced Gaussian grid into a points store (no regridding)")
    .argument("<inputs...>", "GRIB files, directories or globs")
    .requiredOption("-o, --out <store>", "output zarr store")
    .option("--norm <store>", "normalization store (default: OUT with .zarr → .norm.zarr)")
    .addOption(new Option("--zarr-format <n>", "zarr format").choices(["2", "3"]).default("2"))
    .option("--codec <spec>", "chunk codec", DEFAULT_CODEC)
    .option("--overwrite", "replace existing output stores")
    .option("--allow-implausible", "publish coefficients outside their field's plausible range instead of refusing")
    .action(async (inputs, o) => {
      const s = await convertGaussian({
        inputs: expandInputs(inputs),
        out: o.out,
        norm: o.norm,
        zarrFormat: Number(o.zarrFormat) as 2 | 3,
        codec: o.codec,
        overwrite: o.overwrite,
        allowImplausible: o.allowImplausible,
        command: ["deno task convert gaussian", ...Deno.args.slice(1)].join(" "),
      });
      console.log(
        `wrote ${s.out}: ${s.points} points, ${s.times} time steps; fields ${s.fields.join(", ") || "none"} on ${
          s.levels.join(", ") || "no"
        } levels; single-level ${s.fieldsSfc.join(", ") || "none"}`,
      );
      console.log(`wrote ${s.norm}: monthly normalization coefficients`);
    });
}

/** The `convert gaussian` plug-in (listed in ../registry.ts). */
export const gaussianConverter: ConverterPlugin = {
  name: "gaussian",
  summary: "GRIB on a reduced Gaussian grid → zarr points store (unstructured)",
  command: command as never,
};
