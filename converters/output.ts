/**
 * The life cycle of a converter's output, shared by every converter:
 *
 * 1. paths: the data store, its coefficient set and their staged copies
 *    (`OUT.partial`, `NORM.partial`);
 * 2. checks: an existing output is replaced only with `--overwrite`, and
 *    only when it is a store (or coefficient set) this project wrote and
 *    holds no input file; the outputs are locked against other writers
 *    (these rules live in zarr/outputs.ts, shared with forecast stores);
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
import { basename, dirname, resolve } from "node:path";
import { ConfigError, StoreError } from "../errors.ts";
import type { ArraySpec, ZarrFormat } from "../zarr/metadata.ts";
import { ArrayWriter } from "../zarr/writer.ts";
import { finalizeStore, pathExists, publishStore, removeStore } from "../zarr/publish.ts";
import { defaultNormPath } from "../normalization/sets.ts";
import { VERSION } from "../version.ts";
import { acquireLock, type OutputLock } from "../zarr/lock.ts";
import { checkReplaceable, clearStage, lockPath, type ReplaceOptions, stagePath } from "../zarr/outputs.ts";
export {
  checkReplaceable,
  clearStage,
  isOwnStore,
  lockPath,
  type ReplaceOptions,
  stagePath,
  type StoreRole,
} from "../zarr/outputs.ts";

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

/** Resolve the paths of a conversion (coefficient set default: OUT with `.zarr` → `.norm.zarr`). */
export function outputPaths(out: string, norm?: string): OutputPaths {
  const o = out.replace(/\/+$/, "");
  const n = (norm ?? defaultNormPath(o)).replace(/\/+$/, "");
  if (o === "") throw new ConfigError("--out", "empty output path");
  if (resolve(o) === resolve(n)) throw new ConfigError("--norm", "must differ from --out");
  return { out: o, norm: n, stageOut: stagePath(o), stageNorm: stagePath(n) };
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
