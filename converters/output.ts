/**
 * The life cycle of a converter's output, shared by every converter:
 *
 * 1. paths: the data store, its coefficient set and their staged copies
 *    (`OUT.partial`, `NORM.partial`);
 * 2. checks: an existing output is replaced only with `--overwrite`, and
 *    only when it is a store (or coefficient set) this project wrote and
 *    holds no input file; the outputs are locked against other writers;
 * 3. staging: arrays are created in the staged stores ({@link arrayMaker});
 * 4. on failure: the staged stores are removed, and the first error is the
 *    one reported (a failing cleanup never masks it);
 * 5. finalize and publish: root metadata written last, then renamed into
 *    place ({@link publishStaged});
 * 6. the attributes every store carries: provenance and the coefficient
 *    set's description.
 *
 * @module
 */
import { basename, dirname, join, relative, resolve } from "node:path";
import { ConfigError, StoreError } from "../errors.ts";
import type { ArraySpec, ZarrFormat } from "../zarr/metadata.ts";
import { ArrayWriter } from "../zarr/writer.ts";
import { readRootAttributes } from "../zarr/reader.ts";
import { finalizeStore, pathExists, publishStore, removeStore } from "../zarr/publish.ts";
import { defaultNormPath } from "../normalization/sets.ts";
import { VERSION } from "../version.ts";
import { acquireLock, type OutputLock } from "./lock.ts";

/** Final and staged paths of a conversion's two stores. */
export interface OutputPaths {
  /** Data store. */
  out: string;
  /** Coefficient set. */
  norm: string;
  /** Staged data store. */
  stageOut: string;
  /** Staged coefficient set. */
  stageNorm: string;
}

/** The staged copy of a store path. */
export function stagePath(path: string): string {
  return `${path.replace(/\/+$/, "")}.partial`;
}

/** The lock file of an output. */
export function lockPath(path: string): string {
  return `${path.replace(/\/+$/, "")}.lock`;
}

/** Resolve the paths of a conversion (coefficient set default: OUT with `.zarr` → `.norm.zarr`). */
export function outputPaths(out: string, norm?: string): OutputPaths {
  const o = out.replace(/\/+$/, "");
  const n = (norm ?? defaultNormPath(o)).replace(/\/+$/, "");
  if (o === "") throw new ConfigError("--out", "empty output path");
  if (resolve(o) === resolve(n)) throw new ConfigError("--norm", "must differ from --out");
  return { out: o, norm: n, stageOut: stagePath(o), stageNorm: stagePath(n) };
}

/** What kind of store a path must hold to be replaced. */
export type StoreRole = "data" | "normalization";

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
  const prov = attrs.provenance as { software?: string } | undefined;
  return attrs.kind !== "normalization" && prov?.software === "atmorep-ts";
}

/** True when `inner` is `outer` or lies inside it. */
function within(inner: string, outer: string): boolean {
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
    const what = role === "data" ? "a data store" : "a coefficient set";
    throw new StoreError(
      path,
      `is not ${what} written by atmorep-ts; --overwrite replaces only those, so it is left as it is`,
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
  const entries = [...Deno.readDirSync(dir)];
  if (depth === 0 && entries.length === 0) return true;
  return entries.some((e) =>
    [".build", ".zgroup", ".zattrs", ".zarray", "zarr.json"].includes(e.name) || /\.tmp-[0-9a-f]{8}$/.test(e.name) ||
    (e.isDirectory && depth < 2 && looksStaged(join(dir, e.name), depth + 1))
  );
}

/** Create arrays in a staged store: write the metadata, return the writer. */
export type MakeArray = (path: string, spec: ArraySpec) => ArrayWriter;

/** An {@link MakeArray} for the store at `root`. */
export function arrayMaker(root: string, format: ZarrFormat): MakeArray {
  return (path, spec) => {
    const w = new ArrayWriter(root, path, format, spec);
    w.writeMetadata();
    return w;
  };
}

/** The provenance attribute of every store. */
export function provenance(command: string | undefined, inputs: unknown[]): Record<string, unknown> {
  return {
    software: "atmorep-ts",
    version: VERSION,
    command: command ?? "",
    inputs,
    created: new Date().toISOString(),
  };
}

/** How a coefficient set names its data store: by name when side by side, else by absolute path. */
export function sourceName(norm: string, out: string): string {
  return dirname(resolve(norm)) === dirname(resolve(out)) ? basename(out) : resolve(out);
}

/**
 * Root attributes of a coefficient set (monthly mean and std per field),
 * with converter-specific extras.
 */
export function coefficientSetAttrs(
  paths: Pick<OutputPaths, "out" | "norm">,
  set: { fields: string[]; fieldsSfc: string[]; levels: number[]; months: number[]; period: [string, string] },
  extra: Record<string, unknown> = {},
): Record<string, unknown> {
  return {
    kind: "normalization",
    source: sourceName(paths.norm, paths.out),
    fields: set.fields,
    fields_sfc: set.fieldsSfc,
    levels: set.levels,
    months: set.months,
    pooling: "monthly",
    period: set.period,
    coefficients: ["mean", "std"],
    ...extra,
    created: new Date().toISOString(),
  };
}

/** Write the root metadata of a staged store (its last write) and rename it into place. */
export function publishStaged(stage: string, dest: string, format: ZarrFormat, attrs: Record<string, unknown>): void {
  finalizeStore(stage, format, attrs);
  publishStore(stage, dest);
}

import { cleanupAfter } from "../errors.ts";
export { cleanupAfter, cleanupErrorsOf } from "../errors.ts";

function sleepSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/**
 * Remove staged stores. Workers terminated after a failure may still finish
 * the write they were in (and make its directory again): removal is retried
 * until the stages stay gone for a moment.
 */
export function removeStaged(...stages: string[]): void {
  for (let round = 0; round < 20; round++) {
    for (const stage of stages) {
      for (let attempt = 0;; attempt++) {
        try {
          removeStore(stage);
          break;
        } catch (e) {
          if (attempt >= 20 || !(e instanceof Error && /not empty|os error 39/i.test(e.message))) throw e;
          sleepSync(50);
        }
      }
    }
    // Gone, and still gone a moment later (a late write would have made a directory again by then).
    let quiet = 0;
    while (quiet < 3 && !stages.some(pathExists)) {
      sleepSync(50);
      quiet++;
    }
    if (quiet === 3) return;
  }
  const left = stages.filter(pathExists);
  if (left.length) throw new StoreError(left[0], "could not be removed: something keeps writing into it");
}

/** Locks on both outputs of a conversion. */
export function lockOutputs(paths: Pick<OutputPaths, "out" | "norm">, purpose: string): OutputLock {
  const a = acquireLock(lockPath(paths.out), paths.out, purpose);
  let b: OutputLock;
  try {
    b = acquireLock(lockPath(paths.norm), paths.norm, purpose);
  } catch (e) {
    a.release();
    throw e;
  }
  return {
    path: a.path,
    release() {
      b.release();
      a.release();
    },
  };
}

/** Options of {@link stagedConversion}. */
export interface StagedOptions extends ReplaceOptions {
  /** Data store path. */
  out: string;
  /** Coefficient set path (default OUT with `.zarr` → `.norm.zarr`). */
  norm?: string;
  /** What is writing (for the lock). */
  purpose: string;
}

/**
 * The whole life cycle for a converter that runs in one process: lock the
 * outputs, check they may be written, clear old stages, run `body` (which
 * writes into `stageOut`/`stageNorm` and publishes with
 * {@link publishStaged}), and on any failure remove the stages with the
 * first error winning. The locks are released in every case.
 */
export async function stagedConversion<T>(
  opts: StagedOptions,
  body: (paths: OutputPaths) => Promise<T>,
): Promise<T> {
  const paths = outputPaths(opts.out, opts.norm);
  const lock = lockOutputs(paths, opts.purpose);
  try {
    checkReplaceable(paths.out, "data", opts);
    checkReplaceable(paths.norm, "normalization", opts);
    clearStage(paths.stageOut);
    clearStage(paths.stageNorm);
    try {
      return await body(paths);
    } catch (e) {
      throw cleanupAfter(e, () => removeStaged(paths.stageOut, paths.stageNorm));
    }
  } finally {
    lock.release();
  }
}
