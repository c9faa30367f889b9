/**
 * `deno task inspect STORE`: fields, levels, shape, time axis, gaps, chunks,
 * codec, sizes and the normalization sets next to the store. Given an
 * AtmoRep checkpoint (`AtmoRep_id<ID>.mod`, its json beside it): the
 * `model` section and sampler fields a training configuration needs to
 * fine-tune it (`train --from`), as JSON. A store given by URL
 * (`https://`, `gs://`, `s3://`) is read through the URL cache
 * (zarr/url_store.ts), read-only.
 *
 * @module
 */
import { Command } from "@commander-js/extra-typings";
import { formatSummary, inspectStore } from "../stores/inspect.ts";
import { COMMAND_OUTPUT, runMain } from "../cli/run.ts";
import { PLAUSIBLE_RANGES, type Range } from "../normalization/plausible.ts";
import { ConfigError } from "../errors.ts";
import { describeAtmorep } from "../models/atmorep_import.ts";
import { inspectStoreUrl } from "../stores/inspect_url.ts";
import { checkUrlAccess, isUrl, parseByteSize } from "../zarr/url_store.ts";

/** A JSON file of ranges `{"field": [min, max]}`, each checked. */
function readRanges(path: string): Record<string, Range> {
  let raw: unknown;
  try {
    raw = JSON.parse(Deno.readTextFileSync(path));
  } catch (e) {
    throw new ConfigError(path, `cannot read the ranges: ${(e as Error).message}`);
  }
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) {
    throw new ConfigError(path, "must be a JSON object");
  }
  for (const [k, v] of Object.entries(raw)) {
    if (!Array.isArray(v) || v.length !== 2 || !v.every(Number.isFinite) || v[0] > v[1]) {
      throw new ConfigError(`${path}: ${k}`, "must be [min, max] with min ≤ max");
    }
  }
  return raw as Record<string, Range>;
}

if (import.meta.main) {
  await runMain(async () => {
    await new Command("inspect").configureOutput(COMMAND_OUTPUT)
      .description("describe a store written by this project")
      .argument("<stores...>", "zarr stores, paths or URLs (https://, gs://, s3://), or AtmoRep checkpoints (.mod)")
      .option("--json", "print JSON")
      .option("--cache-dir <dir>", "URL cache directory (default ~/.cache/atmorep-ts/stores)")
      .option("--cache-max <size>", "bound of the URL cache, e.g. 500MB, 20GB (default 20GB)")
      .option(
        "--ranges <file>",
        'plausible value ranges per field, JSON {"t2m": [170, 345], …}, over the built-in ERA5 table',
      )
      .action(async (stores, o) => {
        const ranges = o.ranges ? { ...PLAUSIBLE_RANGES, ...readRanges(o.ranges) } : PLAUSIBLE_RANGES;
        const cache = { dir: o.cacheDir, maxBytes: o.cacheMax ? parseByteSize(o.cacheMax) : undefined };
        for (const s of stores) {
          if (s.endsWith(".mod")) {
            console.log(JSON.stringify(describeAtmorep(s), null, 2));
            continue;
          }
          if (isUrl(s)) {
            await checkUrlAccess(s, cache, {
              flags: "--allow-read --allow-write --allow-env",
              script: "tasks/inspect.ts",
            });
          }
          const summary = isUrl(s) ? await inspectStoreUrl(s, ranges, cache) : inspectStore(s, ranges);
          console.log(o.json ? JSON.stringify(summary, null, 2) : formatSummary(summary));
        }
      })
      .parseAsync(Deno.args, { from: "user" });
  });
}
