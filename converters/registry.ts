/**
 * Converter plug-ins: each input kind (era5, later grib-only, strato,
 * fesom) registers one subcommand of `deno task convert` by name.
 *
 * @module
 */
import type { Command } from "@commander-js/extra-typings";

/** A converter plug-in. */
export interface ConverterPlugin {
  /** Subcommand name, e.g. `era5`. */
  readonly name: string;
  /** One-line description. */
  readonly summary: string;
  /** Build the subcommand (options and action). */
  command(): Command<[string[]], Record<string, unknown>>;
}

/** Registered converters by name. */
export const converterRegistry: Map<string, ConverterPlugin> = new Map();

/** Register a converter plug-in. */
export function registerConverter(plugin: ConverterPlugin): void {
  converterRegistry.set(plugin.name, plugin);
}
