/**
 * Tokenizers by name. Each kind of grid has its own tokenizer; a field
 * config names one (`tokenizer`) or gets the default of its store's grid.
 * A plug-in checks the token layout of a config and says how many tokens
 * per level and values per token it makes, which is all the batch format
 * needs to know.
 *
 * @module
 */
import type { PointTokens } from "./unstructured.ts";
import type { TokenGrid } from "./regular.ts";

/** A token layout of any tokenizer. */
export type TokenLayout = TokenGrid | PointTokens;

/** A tokenizer plug-in. */
export interface TokenizerPlugin {
  /** Registry name. */
  readonly name: string;
  /** The store grid it reads (a store's `grid` attribute). */
  readonly grid: string;
  /** Check the layout of a field config; throws naming `where` and the problem. */
  check(layout: unknown, where: string): TokenLayout;
  /** Tokens per level and values per token. */
  shape(layout: TokenLayout): { tokens: number; values: number };
}

function positiveInts(v: unknown, n: number): boolean {
  return Array.isArray(v) && v.length === n && v.every((x) => Number.isInteger(x) && x > 0);
}

/** AtmoRep's space-time patches of a regular lat-lon grid (tokenizers/regular.ts). */
export const regularTokenizer: TokenizerPlugin = {
  name: "regular",
  grid: "regular_ll",
  check(layout, where) {
    const g = layout as TokenGrid;
    if (!positiveInts(g?.numTokens, 3) || !positiveInts(g?.tokenSize, 3)) {
      throw new Error(`${where}: a regular grid needs tokens {numTokens: [t, lat, lon], tokenSize: [t, lat, lon]}`);
    }
    return g;
  },
  shape(layout) {
    const { numTokens: [a, b, c], tokenSize: [x, y, z] } = layout as TokenGrid;
    return { tokens: a * b * c, values: x * y * z };
  },
};

/** Real mesh points bucketed by nested HEALPix cell (tokenizers/unstructured.ts). */
export const healpixPointsTokenizer: TokenizerPlugin = {
  name: "healpix-points",
  grid: "unstructured",
  check(layout, where) {
    const p = layout as PointTokens;
    const ok = [p?.pointsPerToken, p?.maxTokens, p?.timeSteps].every((x) => Number.isInteger(x) && x > 0) &&
      Number.isInteger(p?.healpixOrder) && p.healpixOrder >= 0;
    if (!ok) {
      throw new Error(`${where}: a mesh needs tokens {pointsPerToken, healpixOrder, maxTokens, timeSteps}`);
    }
    return p;
  },
  shape(layout) {
    const p = layout as PointTokens;
    return { tokens: p.timeSteps * p.maxTokens, values: p.pointsPerToken };
  },
};

/** Registered tokenizers by name. */
export const tokenizerRegistry: Map<string, TokenizerPlugin> = new Map(
  [regularTokenizer, healpixPointsTokenizer].map((t) => [t.name, t]),
);

/** Register a tokenizer plug-in under its name. */
export function registerTokenizer(t: TokenizerPlugin): void {
  tokenizerRegistry.set(t.name, t);
}

/** The tokenizer named `name`, or the first registered for `grid`; it must read `grid`. */
export function tokenizerFor(grid: string, name: string | undefined, where: string): TokenizerPlugin {
  const t = name ? tokenizerRegistry.get(name) : [...tokenizerRegistry.values()].find((t) => t.grid === grid);
  if (!t) {
    throw new Error(
      `${where}: ${name ? `no tokenizer "${name}"` : `no tokenizer for grid "${grid}"`} (registered: ${
        [...tokenizerRegistry.keys()].join(", ")
      })`,
    );
  }
  if (t.grid !== grid) throw new Error(`${where}: tokenizer "${t.name}" reads ${t.grid} grids, the store is ${grid}`);
  return t;
}
