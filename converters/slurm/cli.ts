/**
 * The `convert slurm` subcommand: writes SLURM scripts for a conversion.
 *
 * @module
 */
import { Command } from "@commander-js/extra-typings";
import type { ConverterPlugin } from "../registry.ts";
import { parseInteger } from "../../cli/run.ts";
import { slurmScripts } from "./script.ts";

function command() {
  return new Command("slurm")
    .description("write a SLURM job-array script (and a submit script) for a parallel conversion")
    .argument("<converter...>", "the converter and its arguments, e.g. era5 --out era5.zarr data/*.nc")
    .requiredOption("--parts <n>", "number of parts (array tasks)", parseInteger("--parts"))
    .option("--script <path>", "submit script to write (the array script goes next to it)", "convert.slurm.sh")
    .option("--name <name>", "job name", "convert")
    .option("--cpus-per-task <n>", "CPUs (worker threads) per part", parseInteger("--cpus-per-task"), 2)
    .option("--partition <name>", "SLURM partition")
    .option("--time <hh:mm:ss>", "time limit per job")
    .option("--mem <size>", "memory per job, e.g. 8G")
    .option("--log-dir <dir>", "directory for the jobs' logs", "slurm-logs")
    .passThroughOptions()
    .allowUnknownOption()
    .action((convertArgs, o) => {
      const { array, submit } = slurmScripts({
        convertArgs,
        parts: o.parts,
        name: o.name,
        cpusPerTask: o.cpusPerTask,
        partition: o.partition,
        time: o.time,
        mem: o.mem,
        logDir: o.logDir,
      });
      const arrayPath = o.script.replace(/(\.sh)?$/, ".array.sbatch");
      Deno.writeTextFileSync(arrayPath, array);
      Deno.writeTextFileSync(o.script, submit(arrayPath), { mode: 0o755 });
      console.log(`wrote ${o.script} (submit: bash ${o.script}) and ${arrayPath} (the job array of ${o.parts} parts)`);
    });
}

/** The `convert slurm` plug-in (listed in ../registry.ts). */
export const slurmConverter: ConverterPlugin = {
  name: "slurm",
  summary: "SLURM scripts for a parallel conversion",
  command: command as never,
};
