/**
 * The converters, in one list built here: each input kind (era5, fesom,
 * gaussian, strato, and the slurm script writer) is one subcommand of
 * `deno task convert`, by name. The subcommand modules export their
 * plug-in and register nothing when imported.
 *
 * @module
 */
import type { Command } from "@commander-js/extra-typings";
import { era5Converter } from "./era5/cli.ts";
import { fesomConverter } from "./fesom/cli.ts";
import { gaussianConverter } from "./gaussian/cli.ts";
import { stratoConverter } from "./strato/cli.ts";
import { slurmConverter } from "./slurm/cli.ts";

/** A converter plug-in. */
export interface ConverterPlugin {
  /** Subcommand name, e.g. `era5`. */
  readonly name: string;
  /** One-line description. */
  readonly summary: string;
  /** Build the subcommand (options and action). */
  command(): Command<[string[]], Record<string, unknown>>;
}

/** The converters by name, in the order `deno task convert --help` lists them. */
export const converterRegistry: Map<string, ConverterPlugin> = new Map(
  [era5Converter, fesomConverter, gaussianConverter, stratoConverter, slurmConverter].map((c) => [c.name, c]),
);

/** Add (or replace) a converter plug-in by its name. */
export function registerConverter(plugin: ConverterPlugin): void {
  converterRegistry.set(plugin.name, plugin);
}
