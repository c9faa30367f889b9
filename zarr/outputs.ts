/**
 * The rules every output store of the project follows, whoever writes it
 * (converters, normalize, forecast):
 *
 * - paths: a store is staged at `OUT.partial` and locked by `OUT.lock`;
 * - replacing: an existing output is replaced only with `--overwrite`, and
 *   only when it is a finished store of the same role this project wrote
 *   (a data store, a coefficient set, a forecast), never a store or folder
 *   that holds an input, a user's folder or a plain file;
 * - staging: a leftover staged store is removed before staging again, but
 *   a folder named `OUT.partial` that is not one of ours is refused; a
 *   staged store may carry a marker ({@link markStaged}) saying what it is
 *   and how to redo it, which `inspect` reports for a killed run.
 *
 * @module
 */
import { join, relative, resolve } from "node:path";
import { StoreError } from "../errors.ts";
import { readRootAttributes } from "./reader.ts";
import { pathExists, removeStore, STAGE_MARKER } from "./publish.ts";

/** The staged copy of a store path. */
export function stagePath(path: string): string {
  return `${path.replace(/\/+$/, "")}.partial`;
}

/** The lock file of an output. */
export function lockPath(path: string): string {
  return `${path.replace(/\/+$/, "")}.lock`;
}

/** What kind of store a path must hold to be replaced. */
export type StoreRole = "data" | "normalization" | "forecast";

/** Root attributes of a finished store, or undefined when `path` is not one. */
function storeAttributes(path: string): Record<string, unknown> | undefined {
  try {
    return readRootAttributes(path);
  } catch {
    return undefined;
  }
}

/** True when `path` is a finished store of `role` written by this project. */
export function isOwnStore(path: string, role: StoreRole): boolean {
  const attrs = storeAttributes(path);
  if (!attrs) return false;
  if (role === "normalization") return attrs.kind === "normalization";
  if (role === "forecast") return attrs.kind === "forecast" && attrs.software === "atmorep-ts";
  const prov = attrs.provenance as { software?: string } | undefined;
  return attrs.kind !== "normalization" && attrs.kind !== "forecast" && prov?.software === "atmorep-ts";
}

/** True when `inner` is `outer` or lies inside it. */
export function within(inner: string, outer: string): boolean {
  const rel = relative(resolve(outer), resolve(inner));
  return rel === "" || (!rel.startsWith("..") && !rel.startsWith("/"));
}

/** Options of {@link checkReplaceable}. */
export interface ReplaceOptions {
  /** `--overwrite` was given. */
  overwrite?: boolean;
  /** Input files, which an output must never hold. */
  inputs?: string[];
}

const ROLE_NAMES: Record<StoreRole, string> = {
  data: "a data store",
  normalization: "a coefficient set",
  forecast: "a forecast store",
};

/**
 * Refuse to write `path` unless it is absent, or `--overwrite` is given and
 * it is a store of `role` this project wrote that holds no input file.
 */
export function checkReplaceable(path: string, role: StoreRole, opts: ReplaceOptions): void {
  for (const input of opts.inputs ?? []) {
    if (within(input, path)) {
      throw new StoreError(path, `holds the input ${input}; an output must not be or contain an input`);
    }
  }
  if (!pathExists(path)) return;
  if (!opts.overwrite) throw new StoreError(path, "already exists; pass --overwrite to replace it");
  if (!isOwnStore(path, role)) {
    throw new StoreError(
      path,
      `is not ${ROLE_NAMES[role]} written by atmorep-ts; --overwrite replaces only those, so it is left as it is`,
    );
  }
}

/**
 * Remove a leftover staged store before staging again; refuse a path that
 * does not look like one of ours (a user's folder that happens to end in
 * `.partial`).
 */
export function clearStage(stage: string): void {
  if (!pathExists(stage)) return;
  if (!looksStaged(stage, 0)) {
    throw new StoreError(stage, "exists and is not a staged store of atmorep-ts; move it away");
  }
  removeStore(stage);
}

/** Zarr metadata (or a temporary file of ours, or the build directory) within two levels, or nothing at all. */
function looksStaged(dir: string, depth: number): boolean {
  let entries: Deno.DirEntry[];
  try {
    entries = [...Deno.readDirSync(dir)];
  } catch {
    return false; // a plain file
  }
  if (depth === 0 && entries.length === 0) return true;
  return entries.some((e) =>
    [".build", STAGE_MARKER, ".zgroup", ".zattrs", ".zarray", "zarr.json"].includes(e.name) ||
    /\.tmp-[0-9a-f]{8}$/.test(e.name) ||
    (e.isDirectory && depth < 2 && looksStaged(join(dir, e.name), depth + 1))
  );
}

/** What a staged store is, for `inspect` when the run that wrote it was killed. */
export interface StageMarker {
  /** What it becomes (e.g. `forecast store`). */
  kind: string;
  /** How to finish or redo it. */
  redo: string;
}

/** Mark the staged store `stage` with what it is (removed again by {@link unmarkStaged} before publishing). */
export function markStaged(stage: string, marker: StageMarker): void {
  Deno.writeTextFileSync(join(stage, STAGE_MARKER), JSON.stringify(marker));
}

/** Remove the marker of {@link markStaged} (the last step before publishing). */
export function unmarkStaged(stage: string): void {
  try {
    Deno.removeSync(join(stage, STAGE_MARKER));
  } catch { /* not marked */ }
}
