/**
 * Tokenizers by name. Each kind of store grid has its own tokenizer; a field
 * config names one (`tokenizer`) or gets the first registered for its
 * store's grid. A plug-in (plugin.ts) owns its cutting and its inverse, so a
 * new kind of store is a new plug-in registered here, not a sampler edit.
 *
 * @module
 */
import { ConfigError } from "../errors.ts";
import { healpixPointsTokenizer } from "./healpix_points.ts";
import { patchTokenizer } from "./patches.ts";
import type { TokenizerPlugin } from "./plugin.ts";

/** Registered tokenizers by name. */
export const tokenizerRegistry: Map<string, TokenizerPlugin> = new Map(
  ([patchTokenizer, healpixPointsTokenizer] as TokenizerPlugin[]).map((t) => [t.name, t]),
);

/** Register a tokenizer plug-in under its name. */
export function registerTokenizer(t: TokenizerPlugin): void {
  tokenizerRegistry.set(t.name, t);
}

/** The tokenizer named `name`, or the first registered for `grid`; it must read `grid`. */
export function tokenizerFor(grid: string, name: string | undefined, where: string): TokenizerPlugin {
  const t = name ? tokenizerRegistry.get(name) : [...tokenizerRegistry.values()].find((t) => t.grid === grid);
  if (!t) {
    throw new ConfigError(
      where,
      `${name ? `no tokenizer "${name}"` : `no tokenizer for grid "${grid}"`} (registered: ${
        [...tokenizerRegistry.keys()].join(", ")
      })`,
    );
  }
  if (t.grid !== grid) {
    throw new ConfigError(where, `tokenizer "${t.name}" reads ${t.grid} grids, the store is ${grid}`);
  }
  return t;
}
