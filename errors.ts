/**
 * Tagged errors of the pipeline. Each class says what kind of thing went
 * wrong and carries the path (file, store, chunk, config key) it concerns,
 * so a caller — the CLI, a training loop — can tell a bad config from a
 * missing chunk without parsing messages. The message always names the
 * path, so printing `error.message` alone is enough for a user.
 *
 * @module
 */

/** What a {@link PipelineError} is about. */
export type ErrorKind = "input" | "store" | "config" | "normalization" | "checkpoint";

/** Base class of the pipeline's errors. */
export class PipelineError extends Error {
  /** What the error is about. */
  readonly kind: ErrorKind;
  /** File, store, chunk or config key the problem is in (also in the message). */
  readonly path: string;
  /** Field concerned, when one is. */
  readonly field?: string;
  /** The bare problem, without the path. */
  readonly problem: string;

  constructor(kind: ErrorKind, path: string, problem: string, options?: { field?: string; cause?: unknown }) {
    super(path ? `${path}: ${problem}` : problem, options?.cause === undefined ? undefined : { cause: options.cause });
    this.kind = kind;
    this.path = path;
    this.problem = problem;
    if (options?.field !== undefined) this.field = options.field;
    this.name = new.target.name;
  }
}

/** Options of the specific error classes. */
export interface ErrorOptions {
  /** Field concerned. */
  field?: string;
  /** Underlying error. */
  cause?: unknown;
}

/** A problem in one input file (unreadable, inconsistent, corrupt). */
export class InputError extends PipelineError {
  constructor(file: string, problem: string, options?: ErrorOptions) {
    super("input", file, problem, options);
  }
  /** The input file (same as `path`). */
  get file(): string {
    return this.path;
  }
}

/** A problem in a zarr store we read or write (missing, incomplete, corrupt chunk). */
export class StoreError extends PipelineError {
  constructor(store: string, problem: string, options?: ErrorOptions) {
    super("store", store, problem, options);
  }
}

/** A store that is not finished (no root metadata): a conversion did not complete. */
export class IncompleteStoreError extends StoreError {}

/** A bad configuration value; `path` is the key (e.g. `sampler.fields[0].levels`) or the config file. */
export class ConfigError extends PipelineError {
  constructor(key: string, problem: string, options?: ErrorOptions) {
    super("config", key, problem, options);
  }
}

/** A coefficient set that does not fit (another grid, missing months, another identity). */
export class NormalizationError extends PipelineError {
  constructor(set: string, problem: string, options?: ErrorOptions) {
    super("normalization", set, problem, options);
  }
}

/** A checkpoint that cannot be used (corrupt, another layout or coefficient set). */
export class CheckpointError extends PipelineError {
  constructor(checkpoint: string, problem: string, options?: ErrorOptions) {
    super("checkpoint", checkpoint, problem, options);
  }
}

/** True for the pipeline's errors, optionally of one kind. */
export function isPipelineError(e: unknown, kind?: ErrorKind): e is PipelineError {
  return e instanceof PipelineError && (kind === undefined || e.kind === kind);
}

/** Errors of a cleanup that ran after a failure (kept on the original error, never thrown over it). */
export const CLEANUP_ERRORS: unique symbol = Symbol.for("atmorep.cleanupErrors");

/**
 * Run cleanup steps after `cause` failed a conversion: every step runs, and
 * their errors are attached to `cause` (see {@link cleanupErrorsOf}) instead
 * of replacing it. Returns `cause` for `throw`.
 */
export function cleanupAfter(cause: unknown, ...steps: (() => void)[]): unknown {
  const errors: unknown[] = [];
  for (const step of steps) {
    try {
      step();
    } catch (e) {
      errors.push(e);
    }
  }
  if (errors.length && cause && typeof cause === "object") {
    (cause as Record<symbol, unknown>)[CLEANUP_ERRORS] = errors;
  }
  return cause;
}

/** Errors of the cleanup that followed `e`, if any. */
export function cleanupErrorsOf(e: unknown): unknown[] {
  return (e && typeof e === "object" ? (e as Record<symbol, unknown[]>)[CLEANUP_ERRORS] : undefined) ?? [];
}
