/**
 * `deno task inspect STORE`: fields, levels, shape, time axis, gaps, chunks,
 * codec, sizes and the normalization sets next to the store.
 *
 * @module
 */
import { Command } from "@commander-js/extra-typings";
import { formatSummary, inspectStore } from "../stores/inspect.ts";
import { COMMAND_OUTPUT, runMain } from "../cli/run.ts";
import { PLAUSIBLE_RANGES, type Range } from "../normalization/plausible.ts";
import { ConfigError } from "../errors.ts";

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
      .argument("<stores...>", "zarr stores")
      .option("--json", "print JSON")
      .option(
        "--ranges <file>",
        'plausible value ranges per field, JSON {"t2m": [170, 345], …}, over the built-in ERA5 table',
      )
      .action((stores, o) => {
        const ranges = o.ranges ? { ...PLAUSIBLE_RANGES, ...readRanges(o.ranges) } : PLAUSIBLE_RANGES;
        for (const s of stores) {
          const summary = inspectStore(s, ranges);
          console.log(o.json ? JSON.stringify(summary, null, 2) : formatSummary(summary));
        }
      })
      .parseAsync(Deno.args, { from: "user" });
  });
}
