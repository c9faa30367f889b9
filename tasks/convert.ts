/**
 * `deno task convert <converter> ...`: one subcommand per registered converter.
 *
 * @module
 */
import { Command } from "@commander-js/extra-typings";
import { converterRegistry } from "../converters/registry.ts";
import { parseSubcommands, runMain } from "../cli/run.ts";

if (import.meta.main) {
  await runMain(async () => {
    const program = new Command("convert").description(
      "convert input data into zarr stores",
    ).enablePositionalOptions()
      .exitOverride();
    for (const plugin of converterRegistry.values()) program.addCommand(plugin.command() as never);
    await parseSubcommands(program);
  });
}
