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
 * File layout (format 2): the 8 bytes `ATMOCKP2`, a little-endian uint32
 * header length, a little-endian uint32 CRC-32C of the header length and
 * header bytes, the header (UTF-8 JSON, {@link CheckpointHeader}), zero
 * padding to a multiple of 4, then the float32 tensors back to back, each
 * with its CRC-32C in the header's tensor table. Every load verifies both
 * checksums, the padding and the tensor table against the file (offsets
 * whole, inside the data section, not overlapping, covering it exactly,
 * sizes matching shapes), so any single flipped bit is an error naming the
 * file and the part (header or tensor) it hit.
 *
 * Format 1 (signature `ATMOCKPT`, no checksums, no CRC word) is still
 * read, with a warning on stderr: its tensor table is checked as above, but
 * a changed weight cannot be noticed. Refusing them would strand every
 * model trained before checksums existed; the warning says to re-save
 * (`resaveCheckpoint`) to add them.
 *
 * @module
 */
import { join, resolve } from "node:path";
import { createHash } from "node:crypto";
import { CheckpointError, isPipelineError } from "../errors.ts";
import { VERSION } from "../version.ts";
import { crc32c, crc32cUpdate } from "../zarr/crc32c.ts";
import type { Tensor } from "../ops/mod.ts";
import type { SamplerConfig } from "../samplers/sampler.ts";
import { assertSameCoefficientSet, type CoefficientSetIdentity } from "../normalization/identity.ts";
import type { FieldLayout, MultiformerConfig } from "./config.ts";
import type { ForecastEngineConfig } from "./forecast_engine.ts";

/** Signature of format 2 (checksummed). */
const MAGIC = "ATMOCKP2";
/** Signature of format 1 (before checksums). */
const MAGIC_V1 = "ATMOCKPT";

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
  /** CRC-32C of the tensor's bytes (format 2; absent in format 1). */
  crc32c?: number;
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
  /** Format version (2: checksummed; 1: read with a warning). */
  format: 1 | 2;
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
  /** The training run that wrote it (kept across resumes; absent before runs had ids). */
  run?: string;
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

/** The bytes of a float32 array. */
function bytesOf(a: Float32Array): Uint8Array {
  return new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
}

/** Elements of a tensor of `shape`. */
function sizeOf(shape: number[]): number {
  return shape.reduce((x, y) => x * y, 1);
}

/** The temporary name a writer of `path` with process id `pid` writes to before publishing. */
function partialName(path: string, pid: number): string {
  return `${path}.partial-${pid}`;
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
    const s = { name: t.name, kind: t.kind, shape: t.shape, offset, crc32c: crc32c(bytesOf(t.data)) };
    offset += t.data.length;
    return s;
  });
  const header = { format: 2, version: VERSION, ...h, tensors: stored, written: new Date().toISOString() };
  const json = new TextEncoder().encode(JSON.stringify(header));
  const pre = 16 + json.length;
  const pad = (4 - (pre % 4)) % 4;
  const bytes = new Uint8Array(pre + pad + offset * 4);
  bytes.set(new TextEncoder().encode(MAGIC), 0);
  const view = new DataView(bytes.buffer);
  view.setUint32(8, json.length, true);
  bytes.set(json, 16);
  view.setUint32(12, crc32cUpdate(crc32c(bytes.subarray(8, 12)), json), true);
  const data = new Float32Array(bytes.buffer, pre + pad, offset);
  for (const [i, t] of tensors.entries()) data.set(t.data, stored[i].offset);
  const path = join(dir, checkpointName(h.step));
  const tmp = partialName(path, Deno.pid);
  try {
    await Deno.writeFile(tmp, bytes);
    await Deno.rename(tmp, path);
  } catch (e) {
    await Deno.remove(tmp).catch(() => {});
    throw new CheckpointError(path, `cannot write: ${(e as Error).message}`, { cause: e });
  }
  return path;
}

const hex = (n: number) => `0x${n.toString(16).padStart(8, "0")}`;

/**
 * Refuse a header whose tensor table does not describe the data section of
 * `dataElements` float32 values exactly: names unique, kinds known, shapes
 * of whole non-negative numbers, offsets whole, tensors inside the data
 * section, neither overlapping nor leaving elements between them.
 */
function checkTensorTable(path: string, header: CheckpointHeader, dataElements: number, checksummed: boolean): void {
  const bad = (problem: string): never => {
    throw new CheckpointError(path, `corrupt tensor table: ${problem}`);
  };
  if (!Array.isArray(header.tensors)) bad("no tensor list");
  const seen = new Set<string>();
  for (const [i, t] of header.tensors.entries()) {
    if (typeof t !== "object" || t === null || typeof t.name !== "string") bad(`entry ${i} has no name`);
    const id = `${t.kind}:${t.name}`;
    if (!["param", "m", "v"].includes(t.kind)) bad(`tensor ${id} has an unknown kind`);
    if (seen.has(id)) bad(`tensor ${id} appears twice`);
    seen.add(id);
    if (!Array.isArray(t.shape) || !t.shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
      bad(`tensor ${id} has an invalid shape ${JSON.stringify(t.shape)}`);
    }
    if (!Number.isSafeInteger(t.offset) || t.offset < 0) bad(`tensor ${id} has an invalid offset ${t.offset}`);
    if (checksummed && !(Number.isInteger(t.crc32c) && t.crc32c! >= 0 && t.crc32c! <= 0xffffffff)) {
      bad(`tensor ${id} has no CRC-32C`);
    }
  }
  let end = 0, previous = "the start of the data section";
  for (const t of [...header.tensors].sort((a, b) => a.offset - b.offset)) {
    const id = `${t.kind}:${t.name}`, size = sizeOf(t.shape);
    if (t.offset < end) bad(`tensor ${id} (elements ${t.offset}..${t.offset + size}) overlaps ${previous}`);
    if (t.offset > end) bad(`elements ${end}..${t.offset} between ${previous} and tensor ${id} belong to no tensor`);
    end = t.offset + size;
    if (end > dataElements) {
      bad(`tensor ${id} (elements ${t.offset}..${end}) runs past the data section (${dataElements} elements)`);
    }
    previous = `tensor ${id}`;
  }
  if (end !== dataElements) bad(`the tensors cover ${end} of the data section's ${dataElements} elements`);
}

/**
 * Read a checkpoint file, verifying it: signature, header checksum, header
 * fields, tensor table against the file, padding, and each tensor's
 * checksum; every failure is a {@link CheckpointError} naming the file and
 * the part (header, tensor) that is corrupt.
 */
export async function readCheckpoint(path: string): Promise<Checkpoint> {
  let bytes: Uint8Array;
  try {
    bytes = await Deno.readFile(path);
  } catch (e) {
    throw new CheckpointError(path, `cannot read: ${(e as Error).message}`, { cause: e });
  }
  return decodeCheckpoint(path, bytes);
}

/** Decode and verify the bytes of checkpoint file `path`, as {@link readCheckpoint} does. */
export function decodeCheckpoint(path: string, bytes: Uint8Array): Checkpoint {
  const span = headerSpan(path, bytes);
  const header = parseHeader(path, bytes, span);
  const data = dataSection(path, bytes, header, span);
  checkTensorTable(path, header, data.length, span.checksummed);
  return { header, tensors: verifiedTensors(path, header, data, span.checksummed), path };
}

/** Where the header lies (format 2 adds its CRC-32C after the length), its length checked against the file's. */
interface HeaderSpan {
  checksummed: boolean;
  signature: string;
  /** Byte where the header's JSON starts, and its length. */
  at: number;
  length: number;
}

/** The signature, the header's place and (format 2) the header's CRC-32C, checked. */
function headerSpan(path: string, bytes: Uint8Array): HeaderSpan {
  const signature = bytes.length >= 8 ? new TextDecoder().decode(bytes.subarray(0, 8)) : "";
  if (signature !== MAGIC && signature !== MAGIC_V1) {
    throw new CheckpointError(path, `not a checkpoint (no ${MAGIC} signature)`);
  }
  const checksummed = signature === MAGIC;
  const at = checksummed ? 16 : 12;
  if (bytes.length < at) throw new CheckpointError(path, `truncated: ${bytes.length} bytes`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const length = view.getUint32(8, true);
  if (at + length > bytes.length) {
    throw new CheckpointError(
      path,
      `corrupt header: ${length} bytes long, past the end of the ${bytes.length}-byte file`,
    );
  }
  if (checksummed) {
    const stored = view.getUint32(12, true);
    const actual = crc32cUpdate(crc32c(bytes.subarray(8, 12)), bytes.subarray(16, 16 + length));
    if (stored !== actual) {
      throw new CheckpointError(
        path,
        `corrupt header: CRC-32C ${hex(actual)}, recorded ${hex(stored)} (the file was changed after it was written)`,
      );
    }
  }
  return { checksummed, signature, at, length };
}

/** The header's JSON, its format, task and step checked (a format 1 file loads with a warning). */
function parseHeader(path: string, bytes: Uint8Array, span: HeaderSpan): CheckpointHeader {
  const { checksummed, signature, at, length } = span;
  let header: CheckpointHeader;
  try {
    header = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes.subarray(at, at + length)));
  } catch (e) {
    throw new CheckpointError(path, `corrupt header: ${(e as Error).message}`, { cause: e });
  }
  if (typeof header !== "object" || header === null || Array.isArray(header)) {
    throw new CheckpointError(path, "corrupt header: not a JSON object");
  }
  if (header.format !== (checksummed ? 2 : 1) && !(header.format === undefined && !checksummed)) {
    throw new CheckpointError(path, `corrupt header: format ${header.format} under the signature ${signature}`);
  }
  if (!checksummed) {
    console.error(
      `warning: ${path}: a checkpoint from before checksums (format 1); its structure is checked, ` +
        `but a changed weight cannot be detected (checkpoints written from now on carry checksums)`,
    );
  }
  // Checkpoints written before headers named their task: an engine's is the one with a `forecast` part.
  header.task ??= "forecast" in header ? "engine-rollout" : "masked-token";
  if (header.task !== "masked-token" && header.task !== "engine-rollout") {
    throw new CheckpointError(
      path,
      `corrupt header: unknown task ${JSON.stringify((header as { task: unknown }).task)}`,
    );
  }
  if (!Number.isSafeInteger(header.step) || header.step < 0) {
    throw new CheckpointError(path, `corrupt header: step ${JSON.stringify(header.step)}`);
  }
  return header;
}

/** The float32 values after the header's zero padding, as many as the header's tensors need at least. */
function dataSection(path: string, bytes: Uint8Array, header: CheckpointHeader, span: HeaderSpan): Float32Array {
  const pre = span.at + span.length, start = pre + ((4 - (pre % 4)) % 4);
  if (start > bytes.length || (bytes.length - start) % 4 !== 0) {
    throw new CheckpointError(path, `truncated: ${bytes.length} bytes do not end on a whole float32 after the header`);
  }
  for (let i = pre; i < start; i++) {
    if (bytes[i] !== 0) throw new CheckpointError(path, `corrupt header padding at byte ${i}`);
  }
  const elements = (bytes.length - start) / 4;
  const total = Array.isArray(header.tensors)
    ? header.tensors.reduce((a, t) => a + (Array.isArray(t?.shape) ? sizeOf(t.shape) : 0), 0)
    : NaN;
  if (total > elements) {
    throw new CheckpointError(path, `truncated: ${bytes.length} bytes, the header describes ${start + total * 4}`);
  }
  return (bytes.byteOffset + start) % 4 === 0
    ? new Float32Array(bytes.buffer, bytes.byteOffset + start, elements)
    : new Float32Array(bytes.slice(start).buffer);
}

/** The tensors by `kind:name`, each one's CRC-32C verified (format 2). */
function verifiedTensors(
  path: string,
  header: CheckpointHeader,
  data: Float32Array,
  checksummed: boolean,
): Map<string, Float32Array> {
  const tensors = new Map<string, Float32Array>();
  for (const t of header.tensors) {
    const values = data.subarray(t.offset, t.offset + sizeOf(t.shape));
    if (checksummed) {
      const actual = crc32c(bytesOf(values));
      if (actual !== t.crc32c) {
        throw new CheckpointError(
          path,
          `corrupt tensor ${t.kind}:${t.name}: CRC-32C ${hex(actual)}, recorded ${hex(t.crc32c!)} ` +
            `(the file was changed after it was written)`,
        );
      }
    }
    tensors.set(`${t.kind}:${t.name}`, values);
  }
  return tensors;
}

/**
 * Remove the temporary files (`step-N.ckpt.partial-PID`,
 * `metrics.jsonl.partial-PID`) of checkpoint and metrics writes that never finished in `dir`. Only call it while holding the
 * directory's run lock: then no other writer is alive there, and every such
 * file is a killed writer's. Returns the names removed.
 */
export function removeStalePartials(dir: string): string[] {
  const removed: string[] = [];
  let entries: Deno.DirEntry[];
  try {
    entries = [...Deno.readDirSync(dir)];
  } catch {
    return removed;
  }
  for (const e of entries) {
    if (!e.isFile || !/^(step-\d{8}\.ckpt|metrics\.jsonl)\.partial-\d+$/.test(e.name)) continue;
    try {
      Deno.removeSync(join(dir, e.name));
      removed.push(e.name);
    } catch { /* gone already */ }
  }
  return removed.sort();
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

/** The checkpoint files (`step-N.ckpt`) of `dir`, by step. */
export function checkpointFiles(dir: string): string[] {
  try {
    return [...Deno.readDirSync(dir)].filter((e) => e.isFile && /^step-\d{8}\.ckpt$/.test(e.name)).map((e) => e.name)
      .sort();
  } catch {
    return [];
  }
}

/**
 * The run id recorded in the header of checkpoint `path` (reads the header
 * only, verifying its checksum); undefined when it has none or cannot be
 * read.
 */
export function checkpointRun(path: string): string | undefined {
  let file: Deno.FsFile;
  try {
    file = Deno.openSync(path, { read: true });
  } catch {
    return undefined;
  }
  try {
    const head = new Uint8Array(16);
    if (file.readSync(head) !== 16 || new TextDecoder().decode(head.subarray(0, 8)) !== MAGIC) return undefined;
    const view = new DataView(head.buffer);
    const n = view.getUint32(8, true);
    if (n > 1 << 28) return undefined;
    const json = new Uint8Array(n);
    for (let got = 0; got < n;) {
      const k = file.readSync(json.subarray(got));
      if (!k) return undefined;
      got += k;
    }
    if (crc32cUpdate(crc32c(head.subarray(8, 12)), json) !== view.getUint32(12, true)) return undefined;
    const run = (JSON.parse(new TextDecoder().decode(json)) as { run?: unknown }).run;
    return typeof run === "string" ? run : undefined;
  } catch {
    return undefined;
  } finally {
    file.close();
  }
}

/**
 * Remove all but the newest `keep` checkpoints of run `run` in `dir` up to
 * step `upTo`: checkpoints of other runs (or without a run id), and later
 * ones of an abandoned continuation, are never touched.
 */
export async function pruneCheckpoints(dir: string, keep: number, run: string, upTo: number): Promise<void> {
  const own = checkpointFiles(dir).filter((n) => Number(n.slice(5, 13)) <= upTo && checkpointRun(join(dir, n)) === run);
  for (const n of own.slice(0, Math.max(0, own.length - keep))) await Deno.remove(join(dir, n));
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
