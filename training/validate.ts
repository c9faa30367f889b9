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

/** Refuse keys of `c` that are not in `known`, naming the first; `what` says what a key is (`section`, `key`). */
export function needKnownKeys(c: object, known: string[], what: string): void {
  for (const k of Object.keys(c)) need(known.includes(k), k, `unknown ${what} (known: ${known.join(", ")})`);
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
