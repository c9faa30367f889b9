/**
 * The one way training configurations are checked: {@link need} throws a
 * {@link ConfigError} naming the key when a condition fails, a few
 * predicates say what a number must be, and {@link readConfigFile} reads a
 * JSON file and hands it to a checker. Every configuration reader of
 * training/ uses these, so every error names the key the same way.
 *
 * @module
 */
import { ConfigError } from "../errors.ts";

/** Throw a {@link ConfigError} on `key` saying `problem` unless `ok`. */
export function need(ok: boolean, key: string, problem: string): void {
  if (!ok) throw new ConfigError(key, problem);
}

/** A finite number > 0. */
export const isPositive = (v: unknown): boolean => typeof v === "number" && Number.isFinite(v) && v > 0;

/** An integer ≥ `min`. */
export const isIntegerFrom = (v: unknown, min: number): boolean => Number.isInteger(v) && (v as number) >= min;

/** A JSON object (not null, not an array). */
export const isObject = (v: unknown): boolean => typeof v === "object" && v !== null && !Array.isArray(v);

/** Edit distance of `a` and `b` (case counts as half an edit, so `timerange` is nearest to `timeRange`). */
function distance(a: string, b: string): number {
  let row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const next = [i];
    for (let j = 1; j <= b.length; j++) {
      const x = a[i - 1], y = b[j - 1];
      const sub = x === y ? 0 : x.toLowerCase() === y.toLowerCase() ? 0.5 : 1;
      next[j] = Math.min(row[j] + 1, next[j - 1] + 1, row[j - 1] + sub);
    }
    row = next;
  }
  return row[b.length];
}

/** The entry of `known` nearest to `key` (edit distance, ties to the first). */
export function nearest(key: string, known: string[]): string | undefined {
  let best: string | undefined, d = Infinity;
  for (const k of known) {
    const e = distance(key, k);
    if (e < d) (best = k, d = e);
  }
  return best;
}

/**
 * Refuse keys of `c` that are not in `known`, naming the first with its
 * full key (`prefix.key`) and the nearest known one; `what` says what a key
 * is (`section`, `key`).
 */
export function needKnownKeys(c: object, known: string[], what: string, prefix = ""): void {
  for (const k of Object.keys(c)) {
    if (known.includes(k)) continue;
    const near = nearest(k, known);
    need(
      false,
      prefix + k,
      `unknown ${what}${near ? ` (did you mean ${prefix}${near}?)` : ""}; known: ${known.join(", ")}`,
    );
  }
}

/**
 * The keys a configuration object may have, nested: `true` for a value
 * whose inside is not a set of keys (a number, a string, a list of
 * numbers, a map of names chosen by the user), a {@link KeySchema} for an
 * object, `[schema]` for a list of objects.
 */
export type KeySchema = { [key: string]: true | KeySchema | [KeySchema] };

/**
 * Refuse every unknown key at every level of `value` as `schema` describes
 * it, naming the full key (`sampler.datasets[0].fields[1].tokens.tokenSise`)
 * and the nearest known one. Values of another type than the schema
 * expects are left to the checks of their values.
 */
export function needSchemaKeys(value: unknown, schema: KeySchema, prefix = "", what = "key"): void {
  if (!isObject(value)) return;
  needKnownKeys(value as object, Object.keys(schema), what, prefix);
  for (const [k, sub] of Object.entries(schema)) {
    const v = (value as Record<string, unknown>)[k];
    if (sub === true || v === undefined) continue;
    if (Array.isArray(sub)) {
      if (Array.isArray(v)) v.forEach((item, i) => needSchemaKeys(item, sub[0], `${prefix}${k}[${i}].`));
    } else needSchemaKeys(v, sub, `${prefix}${k}.`);
  }
}

/** Read the JSON file `path` and check it with `check` (errors name the file or the key). */
export async function readConfigFile<T>(path: string, check: (raw: unknown, source: string) => T): Promise<T> {
  let raw: unknown;
  try {
    raw = JSON.parse(await Deno.readTextFile(path));
  } catch (e) {
    throw new ConfigError(path, `cannot read the configuration: ${(e as Error).message}`, { cause: e });
  }
  return check(raw, path);
}
