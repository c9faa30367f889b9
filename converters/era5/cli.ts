/**
 * The `convert era5` subcommand.
 *
 * @module
 */
import { Command, Option } from "@commander-js/extra-typings";
import { formatBytes, InterruptedError, interruptSignal, parseCount, parseList, parseNumbers } from "../../cli/run.ts";
import { expandInputs } from "../../cli/inputs.ts";
import { ConfigError } from "../../errors.ts";
import { progressDisplay } from "../../cli/progress.ts";
import type { ConverterPlugin } from "../registry.ts";
import { DEFAULT_CODEC } from "../../zarr/codecs.ts";
import {
  type ChunkShape,
  convertEra5,
  DEFAULT_CHUNKS,
  finalizeConversion,
  initConversion,
  initializedAlready,
  type Progress,
  runConversionPart,
  stagePath,
} from "./convert.ts";
import { outputPaths } from "../output.ts";
import { storeInputs } from "./remote/cli.ts";
import { parseArea, parseEvery, parseGridSpacing, parseTimeRange } from "./remote/spec.ts";

/** Parse `time=6,lat=91,lon=180` (any subset). */
export function parseChunks(text: string): Partial<ChunkShape> {
  const out: Partial<ChunkShape> = {};
  for (const part of parseList(text)) {
    const [key, value] = part.split("=");
    const n = Number(value);
    if (!["time", "lat", "lon"].includes(key) || !Number.isInteger(n) || n < 1) {
      throw new ConfigError("--chunks", `"${part}" is not time=N, lat=N or lon=N with N ≥ 1`);
    }
    out[key as keyof ChunkShape] = n;
  }
  return out;
}

/** The subcommand with its arguments and options (the action added by {@link command}). */
function era5Command() {
  return new Command("era5")
    .description("convert ERA5 netCDF3/netCDF4/GRIB files, or a cloud zarr store, into an AtmoRep-layout zarr store")
    .argument(
      "[inputs...]",
      "input files, directories or globs, or one zarr store: https://…, gs://…, s3://… or a local directory " +
        "(not needed with --part or --finalize)",
    )
    .requiredOption("-o, --out <store>", "output zarr store")
    .option("--norm <store>", "normalization store (default: OUT with .zarr → .norm.zarr)")
    .option("--fields <names>", "fields to keep, e.g. t,u,v,t2m", parseList)
    .option("--levels <values>", "levels to keep, e.g. 1000,850,500", parseNumbers("--levels"))
    .option("--time <from/to>", "zarr store: time range, e.g. 2020-01 or 2020-01-01/2020-01-31T18", parseTimeRange)
    .option("--every <step>", "zarr store: keep times at multiples of this step, e.g. 6h", parseEvery)
    .option("--area <N/W/S/E>", "zarr store: area in degrees, e.g. 72/-25/34/45", parseArea)
    .option("--grid <deg>", "zarr store: coarser grid by striding (every k-th point), e.g. 1", parseGridSpacing)
    .addOption(new Option("--zarr-format <n>", "zarr format").choices(["2", "3"]).default("2"))
    .option("--codec <spec>", "chunk codec: shuffle,zstd:N | zstd:N | gzip:N | none", DEFAULT_CODEC)
    .option(
      "--chunks <spec>",
      `chunk extents (default time=${DEFAULT_CHUNKS.time},lat=${DEFAULT_CHUNKS.lat},lon=${DEFAULT_CHUNKS.lon})`,
      parseChunks,
    )
    .option("--allow-gaps", "fill missing time steps with NaN and list them in the store's attributes")
    .option("--shard", "zarr v3: one shard file per time chunk and field level (far fewer files)")
    .option("--embed-normalization", "also write AtmoRep's normalization/ group into the data store")
    .option("--overwrite", "replace existing output stores (only stores written by this project)")
    .option("--inf-to-nan", "store ±Inf input values as NaN (default: they are an error naming file and variable)")
    .option(
      "--allow-implausible",
      "publish coefficients outside their field's plausible range (default: an error; a corrupt input value?)",
    )
    .option("--workers <n>", "worker threads (0 = none)", parseCount("--workers"))
    .option("--init", "parallel step 1: plan and write the stores' metadata (OUT.partial) and the task list")
    .option("--part <i/n>", "parallel step 2: run part i of n (1-based); rerunning a part skips its finished tasks")
    .option("--finalize", "parallel step 3: merge statistics, consolidate and publish the stores")
    .option("-q, --quiet", "no progress output");
}

/** The options as parsed. */
type Era5Cli = ReturnType<ReturnType<typeof era5Command>["opts"]>;

/** A progress callback that shows conversion throughput since the start. */
function showProgress(progress: ReturnType<typeof progressDisplay>): (p: Progress) => void {
  const started = performance.now();
  return (p: Progress) => {
    const seconds = (performance.now() - started) / 1000;
    const detail = p.phase === "convert"
      ? `${formatBytes(p.bytes)} ${(p.bytes / 1e6 / seconds).toFixed(0)} MB/s` +
        (p.fetched ? `; downloaded ${formatBytes(p.fetched.bytes)} in ${p.fetched.chunks} chunks` : "")
      : "";
    progress.update(p.phase, p.done, p.total, detail);
  };
}

/** Parallel steps 2 and 3: run one part (resumable after an interrupt), or finalize. */
async function partOrFinalize(o: Era5Cli, show: (p: Progress) => void, signal: AbortSignal): Promise<void> {
  if (o.part) {
    const m = /^(\d+)\/(\d+)$/.exec(o.part);
    if (!m) throw new ConfigError("--part", `"${o.part}" is not i/n`);
    const r = await runConversionPart(o.out, Number(m[1]), Number(m[2]), {
      workers: o.workers,
      onProgress: show,
      signal,
    }).catch((e) => {
      throw signal.aborted
        ? new InterruptedError(
          `interrupted (SIGINT): finished tasks are kept in ${stagePath(o.out)}; run the same --part again to resume`,
        )
        : e;
    });
    console.log(`part ${o.part}: ran ${r.ran} tasks, ${r.skipped} already done`);
  } else {
    const r = await finalizeConversion(o.out, {
      onProgress: show,
      workers: o.workers,
      allowImplausible: o.allowImplausible,
    });
    console.log(`finalized ${r.out} and ${r.norm}: ${formatBytes(r.rawBytes)} → ${formatBytes(r.storedBytes)}`);
  }
}

/** The conversion options of the command line. */
async function conversionOptions(inputs: string[], o: Era5Cli, show: (p: Progress) => void, signal: AbortSignal) {
  // One cloud zarr store: a selection of it is the input (see remote/spec.ts).
  const chosen = await storeInputs(inputs, o);
  return {
    inputs: chosen.store ? chosen.inputs : expandInputs(inputs),
    out: o.out,
    norm: o.norm,
    fields: chosen.fields,
    levels: o.levels,
    zarrFormat: Number(o.zarrFormat) as 2 | 3,
    codec: o.codec,
    chunks: o.chunks,
    allowGaps: o.allowGaps,
    shard: o.shard,
    embedNormalization: o.embedNormalization,
    overwrite: o.overwrite,
    workers: o.workers,
    infToNaN: o.infToNan,
    allowImplausible: o.allowImplausible,
    command: ["deno task convert era5", ...Deno.args.slice(1)].join(" "),
    onProgress: show,
    signal,
  };
}

/** A whole conversion in one process, and its summary. */
async function convertAll(
  o: Era5Cli,
  options: Awaited<ReturnType<typeof conversionOptions>>,
  signal: AbortSignal,
  progress: ReturnType<typeof progressDisplay>,
): Promise<void> {
  const summary = await convertEra5(options).catch((e) => {
    if (!signal.aborted) throw e;
    const p = outputPaths(o.out, o.norm);
    throw new InterruptedError(
      `interrupted (SIGINT): removed the partial stores ${p.stageOut} and ${p.stageNorm}; nothing was published`,
    );
  }).finally(() => progress.stop());
  const { plan } = summary;
  console.log(
    `wrote ${summary.out}: ${plan.fields.length} fields × ${plan.levels.length} levels + ${plan.fieldsSfc.length} single-level fields, ` +
      `${plan.times.length} times, ${plan.grid.lats.length}×${plan.grid.lons.length} grid; ` +
      `${formatBytes(summary.rawBytes)} → ${formatBytes(summary.storedBytes)} in ${summary.seconds.toFixed(1)} s ` +
      `(${(summary.rawBytes / 1e6 / summary.seconds).toFixed(0)} MB/s)`,
  );
  console.log(`wrote ${summary.norm}: monthly normalization coefficients`);
}

function command() {
  return era5Command()
    .action(async (inputs, o) => {
      const progress = progressDisplay(o.quiet);
      const show = showProgress(progress);
      const signal = interruptSignal();
      if (o.part || o.finalize) {
        if (inputs.length) {
          throw new ConfigError("inputs", "--part and --finalize take the inputs from --init; give only --out");
        }
        try {
          await partOrFinalize(o, show, signal);
        } finally {
          progress.stop();
        }
        return;
      }
      if (inputs.length === 0) throw new ConfigError("inputs", "no input files given");
      const options = await conversionOptions(inputs, o, show, signal);
      if (o.init) {
        if (!o.overwrite && initializedAlready(options)) {
          progress.stop();
          console.log(`${stagePath(o.out)} is already initialized; continuing it (rerun --part for the missing parts)`);
          return;
        }
        const b = await initConversion(options).finally(() => progress.stop());
        console.log(
          `initialized ${b.stageOut}: ${b.tasks.length} tasks; run --out ${b.out} --part i/n for every i, then --finalize`,
        );
        return;
      }
      await convertAll(o, options, signal, progress);
    });
}

/** The `convert era5` plug-in (listed in ../registry.ts). */
export const era5Converter: ConverterPlugin = {
  name: "era5",
  summary: "ERA5 netCDF3/netCDF4 → AtmoRep-layout zarr",
  command: command as never,
};
