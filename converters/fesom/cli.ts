/**
 * The `convert fesom` subcommand.
 *
 * @module
 */
import { Command, Option } from "@commander-js/extra-typings";
import type { ConverterPlugin } from "../registry.ts";
import { parseInteger } from "../../cli/run.ts";
import { DEFAULT_CODEC } from "../../zarr/codecs.ts";
import { expandInputs } from "../../cli/inputs.ts";
import { convertFesom } from "./convert.ts";
import { progressDisplay } from "../../cli/progress.ts";

function command() {
  return new Command("fesom")
    .description("convert FESOM2 output on its unstructured mesh (no regridding) into zarr")
    .argument("<inputs...>", "FESOM output files (<var>.<runid>.<year>.nc), directories or globs")
    .requiredOption("--mesh <path>", "mesh directory (nod2d.out, elem2d.out, aux3d.out, …) or fesom.mesh.diag.nc")
    .requiredOption("-o, --out <store>", "output zarr store")
    .option("--norm <store>", "normalization store (default: OUT with .zarr → .norm.zarr)")
    .option(
      "--model-step <seconds>",
      "model time step: period end = stamp + step (default: next whole hour)",
      parseInteger("--model-step"),
    )
    .option("--rotate-to-geo", "rotate vector fields written in the rotated model frame back to geographic")
    .addOption(new Option("--zarr-format <n>", "zarr format").choices(["2", "3"]).default("2"))
    .option("--codec <spec>", "chunk codec", DEFAULT_CODEC)
    .option("--overwrite", "replace existing output stores")
    .option("-q, --quiet", "no progress display")
    .action(async (inputs, o) => {
      const progress = progressDisplay(o.quiet);
      const s = await convertFesom({
        mesh: o.mesh,
        inputs: expandInputs(inputs),
        out: o.out,
        norm: o.norm,
        rotateToGeo: o.rotateToGeo,
        modelStep: o.modelStep,
        zarrFormat: Number(o.zarrFormat) as 2 | 3,
        codec: o.codec,
        overwrite: o.overwrite,
        command: ["deno task convert fesom", ...Deno.args.slice(1)].join(" "),
        onProgress: (done, total) => progress.update("convert", done, total, "time steps of the input files"),
      }).finally(() => progress.stop());
      const arrays = Object.entries(s.arrays).map(([k, v]) => `${k}: ${v.join(", ")}`).join("; ");
      console.log(`wrote ${s.out}: ${s.times} time steps; ${arrays}; vectors ${s.vectorFrame}`);
      console.log(`wrote ${s.norm}: monthly normalization coefficients over wet cells`);
    });
}

/** The `convert fesom` plug-in (listed in ../registry.ts). */
export const fesomConverter: ConverterPlugin = {
  name: "fesom",
  summary: "FESOM2 unstructured ocean output → zarr with its mesh",
  command: command as never,
};
