/**
 * `deno task inspect STORE`: fields, levels, shape, time axis, gaps, chunks,
 * codec, sizes and the normalization sets next to the store.
 *
 * @module
 */
import { Command } from "@commander-js/extra-typings";
import { formatSummary, inspectStore } from "../stores/inspect.ts";
import { COMMAND_OUTPUT, runMain } from "../cli/run.ts";

if (import.meta.main) {
  await runMain(async () => {
    await new Command("inspect").configureOutput(COMMAND_OUTPUT)
      .description("describe a store written by this project")
      .argument("<stores...>", "zarr stores")
      .option("--json", "print JSON")
      .action((stores, o) => {
        for (const s of stores) {
          const summary = inspectStore(s);
          console.log(o.json ? JSON.stringify(summary, null, 2) : formatSummary(summary));
        }
      })
      .parseAsync(Deno.args, { from: "user" });
  });
}
