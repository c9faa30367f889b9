/**
 * Checkpoints, the format both training (which writes them) and forecast
 * inference (which loads them) share: one file per step,
 * `step-00000100.ckpt`, holding weights, AdamW moments, the step, the
 * random stream's state, the run configuration, the project version, the
 * token layouts and the identity (path and metadata hash) of every
 * coefficient set and store trained on. The header names the training task
 * that wrote it ({@link CheckpointHeader}, one shape per task). Written to
 * a temporary name and published by rename, so a checkpoint that exists is
 * complete. Loading against another coefficient set, token layout or
 * network is a {@link CheckpointError} naming what differs.
 *
 * File layout: the 8 bytes `ATMOCKPT`, a little-endian uint32 header
 * length, the header (UTF-8 JSON, {@link CheckpointHeader}), zero padding to
 * a multiple of 4, then the float32 tensors back to back.
 *
 * @module
 */
import { join, resolve } from "node:path";
import { createHash } from "node:crypto";
import { CheckpointError, isPipelineError } from "../errors.ts";
import { VERSION } from "../version.ts";
import type { Tensor } from "../ops/mod.ts";
import type { SamplerConfig } from "../samplers/sampler.ts";
import { assertSameCoefficientSet, type CoefficientSetIdentity } from "../normalization/identity.ts";
import type { FieldLayout, MultiformerConfig } from "./config.ts";
import type { ForecastEngineConfig } from "./forecast_engine.ts";

const MAGIC = "ATMOCKPT";

/** One stored tensor. */
export interface StoredTensor {
  /** Parameter name. */
  name: string;
  /** `param`, or the AdamW moment `m` / `v` of that parameter. */
  kind: "param" | "m" | "v";
  /** Shape. */
  shape: number[];
  /** Offset (float32 elements) in the data section. */
  offset: number;
}

/**
 * What a checkpoint records of the Multiformer run it comes from (the
 * masked-token training configuration, of which the readers need the
 * sampler, the network and the seed).
 */
export interface RecordedRunConfig {
  /** The sampler (datasets, fields, token layouts). */
  sampler: SamplerConfig;
  /** The network. */
  model: MultiformerConfig;
  /** The schedule (its seed initialized the network). */
  schedule?: { seed?: number };
}

/** What every checkpoint header holds, whichever task wrote it. */
interface HeaderCommon {
  /** Format version. */
  format: 1;
  /** Project version that wrote it. */
  version: string;
  /** Optimizer steps taken. */
  step: number;
  /** State of the task's random stream. */
  rng: number[];
  /** The Multiformer run configuration (for an engine, its frozen base's). */
  config: RecordedRunConfig;
  /** Token layouts per field. */
  layouts: FieldLayout[];
  /** Coefficient sets of the datasets, in order. */
  coefficientSets: CoefficientSetIdentity[];
  /** Stores trained on (absolute paths). */
  stores: string[];
  /**
   * The time ranges every stage behind these weights trained and validated
   * on (a fine-tuned or engine checkpoint repeats those of the checkpoint it
   * was built on). Absent in checkpoints written before it was recorded.
   */
  timeRanges?: TrainedRange[];
  /** Tensors. */
  tensors: StoredTensor[];
  /** Written at (ISO). */
  written: string;
}

/** A time range a training stage used: forecasts scored inside one are in-sample. */
export interface TrainedRange {
  /** The stage: `masked-token` (the Multiformer, also when fine-tuned) or `engine-rollout` (the forecast engine). */
  stage: "masked-token" | "engine-rollout";
  /** Trained on, or validated on. */
  use: "train" | "validation";
  /**
   * The configured range (ISO UTC): the sampler's `timeRange` of window ends,
   * `validation.timeRange`, or the engine's `timeRange` of initial times;
   * null when none was given (the whole store).
   */
  configured: [string, string] | null;
  /** The first and last time whose data entered the stage (inputs and targets), ISO UTC, inclusive. */
  data: [string, string];
  /** The store (absolute path). */
  store: string;
}

/** Another checkpoint a run started from: where it was, its SHA-256, its step. */
export interface CheckpointReference {
  /** Absolute path when it was read. */
  path: string;
  /** SHA-256 of the file. */
  sha256: string;
  /** Its optimizer steps. */
  step: number;
}

/** The header of a Multiformer checkpoint (masked-token training, or fine-tuning). */
export interface MaskedTokenHeader extends HeaderCommon {
  /** The task that wrote it. */
  task: "masked-token";
  /** Fine-tuning: the checkpoint whose weights the run started from (absent for a run from scratch). */
  from?: CheckpointReference;
}

/** The header of a forecast engine checkpoint (rollout training on a frozen Multiformer). */
export interface EngineRolloutHeader extends HeaderCommon {
  /** The task that wrote it. */
  task: "engine-rollout";
  /** The engine: its frozen base, hyperparameters, tiling. */
  forecast: ForecastHeader;
}

/** The engine part of a forecast checkpoint's header. */
export interface ForecastHeader {
  /** The frozen base checkpoint: path and SHA-256. */
  base: CheckpointReference;
  /** Engine hyperparameters. */
  engine: ForecastEngineConfig;
  /** Tile overlap in tokens [lat, lon]. */
  overlap: [number, number];
  /** Latent noise used for ensemble members at inference. */
  memberNoise: number;
  /** Hours per step. */
  stepHours: number;
  /** The forecast training configuration (a record; readers do not interpret it). */
  training: unknown;
}

/** The JSON header of a checkpoint: one shape per training task, told apart by `task`. */
export type CheckpointHeader = MaskedTokenHeader | EngineRolloutHeader;

/** What a task gives {@link writeCheckpoint}: the header less what the writer fills in. */
export type CheckpointRecord = CheckpointHeader extends infer H
  ? H extends CheckpointHeader ? Omit<H, "format" | "version" | "tensors" | "written"> : never
  : never;

/** A loaded checkpoint. */
export interface Checkpoint<H extends CheckpointHeader = CheckpointHeader> {
  /** Header. */
  header: H;
  /** Tensors by `kind:name`. */
  tensors: Map<string, Float32Array>;
  /** File. */
  path: string;
}

/** Name of the checkpoint of `step`. */
export function checkpointName(step: number): string {
  return `step-${String(step).padStart(8, "0")}.ckpt`;
}

/** Write a checkpoint into `dir` (temporary name, then rename); returns its path. */
export async function writeCheckpoint(
  dir: string,
  h: CheckpointRecord,
  tensors: { name: string; kind: StoredTensor["kind"]; shape: number[]; data: Float32Array }[],
): Promise<string> {
  await Deno.mkdir(dir, { recursive: true });
  let offset = 0;
  const stored: StoredTensor[] = tensors.map((t) => {
    const s = { name: t.name, kind: t.kind, shape: t.shape, offset };
    offset += t.data.length;
    return s;
  });
  const header = { format: 1, version: VERSION, ...h, tensors: stored, written: new Date().toISOString() };
  const json = new TextEncoder().encode(JSON.stringify(header));
  const pre = 8 + 4 + json.length;
  const pad = (4 - (pre % 4)) % 4;
  const bytes = new Uint8Array(pre + pad + offset * 4);
  bytes.set(new TextEncoder().encode(MAGIC), 0);
  new DataView(bytes.buffer).setUint32(8, json.length, true);
  bytes.set(json, 12);
  const data = new Float32Array(bytes.buffer, pre + pad, offset);
  for (const [i, t] of tensors.entries()) data.set(t.data, stored[i].offset);
  const path = join(dir, checkpointName(h.step));
  const tmp = `${path}.partial-${Deno.pid}`;
  try {
    await Deno.writeFile(tmp, bytes);
    await Deno.rename(tmp, path);
  } catch (e) {
    await Deno.remove(tmp).catch(() => {});
    throw new CheckpointError(path, `cannot write: ${(e as Error).message}`, { cause: e });
  }
  return path;
}

/** Read a checkpoint file. */
export async function readCheckpoint(path: string): Promise<Checkpoint> {
  let bytes: Uint8Array;
  try {
    bytes = await Deno.readFile(path);
  } catch (e) {
    throw new CheckpointError(path, `cannot read: ${(e as Error).message}`, { cause: e });
  }
  if (bytes.length < 12 || new TextDecoder().decode(bytes.subarray(0, 8)) !== MAGIC) {
    throw new CheckpointError(path, "not a checkpoint (no ATMOCKPT signature)");
  }
  const n = new DataView(bytes.buffer, bytes.byteOffset).getUint32(8, true);
  let header: CheckpointHeader;
  try {
    header = JSON.parse(new TextDecoder().decode(bytes.subarray(12, 12 + n)));
  } catch (e) {
    throw new CheckpointError(path, `corrupt header: ${(e as Error).message}`, { cause: e });
  }
  // Checkpoints written before headers named their task: an engine's is the one with a `forecast` part.
  header.task ??= "forecast" in header ? "engine-rollout" : "masked-token";
  const pre = 12 + n, start = pre + ((4 - (pre % 4)) % 4);
  const total = header.tensors.reduce((a, t) => a + t.shape.reduce((x, y) => x * y, 1), 0);
  if (bytes.length !== start + total * 4) {
    throw new CheckpointError(path, `truncated: ${bytes.length} bytes, the header describes ${start + total * 4}`);
  }
  const data = new Float32Array(bytes.slice(start).buffer);
  const tensors = new Map<string, Float32Array>();
  for (const t of header.tensors) {
    tensors.set(`${t.kind}:${t.name}`, data.subarray(t.offset, t.offset + t.shape.reduce((x, y) => x * y, 1)));
  }
  return { header, tensors, path };
}

/** The newest checkpoint in `dir`, or undefined. */
export function latestCheckpoint(dir: string): string | undefined {
  let best: string | undefined;
  try {
    for (const e of Deno.readDirSync(dir)) {
      if (e.isFile && /^step-\d{8}\.ckpt$/.test(e.name) && (!best || e.name > best)) best = e.name;
    }
  } catch {
    return undefined;
  }
  return best ? join(dir, best) : undefined;
}

/** Remove all but the newest `keep` checkpoints of `dir`. */
export async function pruneCheckpoints(dir: string, keep: number): Promise<void> {
  const names = [...Deno.readDirSync(dir)].map((e) => e.name).filter((n) => /^step-\d{8}\.ckpt$/.test(n)).sort();
  for (const n of names.slice(0, Math.max(0, names.length - keep))) await Deno.remove(join(dir, n));
}

/**
 * Refuse `ck` for a run on `layouts` and `sets`, and a network whose
 * parameter names and shapes are `shapes`: errors name the field, set or
 * parameter that differs.
 */
export function assertCompatible(
  ck: Checkpoint,
  layouts: FieldLayout[],
  sets: CoefficientSetIdentity[],
  shapes: Map<string, readonly number[]>,
): void {
  const h = ck.header;
  const fmt = (l: FieldLayout) =>
    `${l.kind} ${l.levels} level(s) × ${l.tokens} tokens × ${l.values} values (axes ${l.axes.join("×")})`;
  for (const l of layouts) {
    const old = h.layouts.find((o) => o.field === l.field);
    if (!old) throw new CheckpointError(ck.path, `was trained without field ${l.field}`, { field: l.field });
    if (JSON.stringify(old) !== JSON.stringify(l)) {
      throw new CheckpointError(
        ck.path,
        `token layout of ${l.field} differs: checkpoint ${fmt(old)}, this run ${fmt(l)}`,
        { field: l.field },
      );
    }
  }
  for (const o of h.layouts) {
    if (!layouts.some((l) => l.field === o.field)) {
      throw new CheckpointError(ck.path, `was trained with field ${o.field}, which this run lacks`, { field: o.field });
    }
  }
  if (sets.length !== h.coefficientSets.length) {
    throw new CheckpointError(
      ck.path,
      `trained on ${h.coefficientSets.length} coefficient set(s), this run has ${sets.length}`,
    );
  }
  assertSameCoefficientSets(ck, sets, (i) => `coefficient set of dataset ${i} differs`);
  for (const [name, shape] of shapes) {
    const t = h.tensors.find((x) => x.kind === "param" && x.name === name);
    if (!t) throw new CheckpointError(ck.path, `has no parameter ${name}: another network configuration`);
    if (t.shape.join() !== shape.join()) {
      throw new CheckpointError(ck.path, `parameter ${name} is [${t.shape}], this network's is [${shape}]`);
    }
  }
  const extra = h.tensors.find((t) => t.kind === "param" && !shapes.has(t.name));
  if (extra) throw new CheckpointError(ck.path, `parameter ${extra.name} is not in this network`);
}

/**
 * Refuse `ck` when the coefficient sets `sets` (in dataset order) are not
 * the ones it was trained on: a {@link CheckpointError} on `ck`'s path,
 * `problem(i)` followed by what differs.
 */
export function assertSameCoefficientSets(
  ck: Checkpoint,
  sets: CoefficientSetIdentity[],
  problem: (dataset: number) => string,
): void {
  for (const [i, s] of sets.entries()) {
    try {
      assertSameCoefficientSet(ck.header.coefficientSets[i], s);
    } catch (e) {
      if (!isPipelineError(e, "normalization")) throw e;
      throw new CheckpointError(ck.path, `${problem(i)}: ${e.message}`, { cause: e });
    }
  }
}

/** Whether `ck` holds a forecast engine (its header has the engine part). */
export function isEngineCheckpoint(ck: Checkpoint): ck is Checkpoint<EngineRolloutHeader> {
  return ck.header.task === "engine-rollout";
}

/**
 * Refuse `ck` unless it holds every parameter of `params` with its size
 * (the error names the first that does not, followed by `hint`).
 */
export function assertParameters(ck: Checkpoint, params: Map<string, Tensor>, hint = ""): void {
  for (const [name, t] of params) {
    const v = ck.tensors.get(`param:${name}`);
    if (!v || v.length !== t.size) {
      throw new CheckpointError(ck.path, `parameter ${name} missing or of another shape${hint}`);
    }
  }
}

/** Copy the weights of `params` from `ck` (refused as {@link assertParameters} says). */
export function loadParameters(ck: Checkpoint, params: Map<string, Tensor>, hint = ""): void {
  assertParameters(ck, params, hint);
  for (const [name, t] of params) t.data.set(ck.tensors.get(`param:${name}`)!);
}

/** SHA-256 of a file, hex (how checkpoints refer to the checkpoints they were built on). */
export async function fileSha256(path: string): Promise<string> {
  return createHash("sha256").update(await Deno.readFile(path)).digest("hex");
}

/** Absolute path (stores are recorded absolute). */
export function absolute(p: string): string {
  return resolve(p);
}
