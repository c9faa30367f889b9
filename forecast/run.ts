/**
 * `deno task forecast`: load a forecast checkpoint and its frozen base,
 * refuse another coefficient set than the one trained on, roll the globe
 * out N steps from each initial time (ensemble members in lockstep, each
 * with its own latent noise), write the forecast store as it goes and
 * publish it at the end; with a truth store, score the forecast against
 * persistence and climatology on the same dates (JSON + PNG per field
 * level) and draw maps of chosen steps.
 *
 * @module
 */
import { join, relative, resolve } from "node:path";
import { Random } from "../ops/mod.ts";
import type { Device } from "../ops/device.ts";
import { ForecastEngine } from "../models/forecast_engine.ts";
import {
  assertSameCoefficientSets,
  type ForecastHeader,
  isEngineCheckpoint,
  loadParameters,
  readCheckpoint,
  type TrainedRange,
} from "../models/checkpoint.ts";
import { describeRange, rangesHolding } from "../models/time_ranges.ts";
import type { CoefficientSetIdentity } from "../normalization/identity.ts";
import type { MultifieldSampler } from "../samplers/sampler.ts";
import { toSeconds, type Window } from "../datasets/window.ts";
import { readRootAttributes } from "../zarr/reader.ts";
import { CheckpointError, ConfigError, StoreError } from "../errors.ts";
import { GlobalRollout, type RolloutState } from "./rollout.ts";
import type { MeshPlane } from "./mesh.ts";
import { baseSampler, engineFields, EngineStepper, type FrozenBase, loadFrozenBase } from "./stepper.ts";
import { type ForecastLayout, type ForecastStoreOptions, ForecastStoreWriter, levelsByField } from "./store.ts";
import { latitudeWeights, type PlaneScores, ScoreBoard } from "./scores.ts";
import { displayUnits, forecastMapPng, scorePlotPng } from "./maps.ts";

/** Options of {@link runForecast}. */
export interface ForecastRunOptions {
  /** Forecast checkpoint (from `train --stage forecast`). */
  checkpoint: string;
  /** Initial times (ISO). */
  inits: string[];
  /** Steps. */
  steps: number;
  /** Output store. */
  out: string;
  /** Replace an existing output store. */
  overwrite?: boolean;
  /** A store with the truth (same grid): scores and maps. */
  truth?: string;
  /** Coefficient set to normalize with (default the base run's); must be the one trained on. */
  norm?: string;
  /** Ensemble members (from the Multiformer's tail ensemble, plus latent noise). Default 1. */
  members?: number;
  /**
   * Scale of the tail-ensemble perturbation of each member's input (the
   * tail member's deviation from the tails' mean); 0 = latent noise only.
   * Default 1.
   */
  tailScale?: number;
  /** Latent noise of members m > 0 (× the latent's RMS). Default the checkpoint's `memberNoise`. */
  memberNoise?: number;
  /**
   * Also step a second tiling shifted by half a token and blend both with
   * token bumps (smooths token-edge seams; twice the cost). Default false.
   */
  shiftedTiling?: boolean;
  /** Keep the members in the store. */
  keepMembers?: boolean;
  /** Layout of the store: `native` (default; our short names) or `wb2` (WeatherBench 2's schema). */
  layout?: ForecastLayout;
  /** Steps to draw maps of (1-based), for the first initial time. Default the last step. */
  mapSteps?: number[];
  /** Directory for scores and maps. Default OUT without .zarr + `.eval`. */
  evalDir?: string;
  /**
   * Run the networks here (`selectBackend(…, { device: true }).device`): the
   * base's and the engine's parameters move there, each tiling's step runs
   * there and reads its predictions back once; blending stays on the host.
   * Members with latent noise or a tail perturbation are refused there.
   */
  device?: Device;
  /** Called after every step. */
  onStep?: (done: number, total: number) => void;
  /** The command line, for provenance. */
  command?: string;
}

/** What a forecast run produced. */
export interface ForecastRunSummary {
  /** The forecast store. */
  out: string;
  /** Scores (with a truth store). */
  scores?: PlaneScores[];
  /** Scores of mesh fields at their points (cos φ weights), against the mesh store's steps (with a truth store). */
  meshScores?: PlaneScores[];
  /** Scores JSON. */
  scoresPath?: string;
  /** PNG plots of RMSE against lead time, per field level. */
  plots: string[];
  /** PNG maps. */
  maps: string[];
  /**
   * In-sample check (with a truth store): the ranges the checkpoint's stages
   * trained and validated on (null: the checkpoint does not record them),
   * those holding an initial or valid time scored, and the warning line
   * (absent when no score is in-sample).
   */
  inSample?: { ranges: TrainedRange[] | null; hit: TrainedRange[]; warning?: string };
  /** Seconds summed over the run: encode, adapter + forecaster, read-out, blend + denormalize, write; and steps. */
  seconds: { encode: number; engine: number; readout: number; blend: number; write: number; steps: number };
}

/** The evaluation folder of a run: `--eval-dir`, default OUT without `.zarr` + `.eval`. */
function evalDirOf(o: ForecastRunOptions): string {
  return o.evalDir ?? o.out.replace(/\/+$/, "").replace(/\.zarr$/, "") + ".eval";
}

/** The files an evaluation writes. */
const EVAL_FILE = /^(scores\.json|rmse_[A-Za-z0-9._+-]*\.png|map_[A-Za-z0-9._+-]*\.png)$/;

/** The evaluation files in `dir` (none when it is absent). */
function evalFiles(dir: string): string[] {
  try {
    return [...Deno.readDirSync(dir)].filter((e) => e.isFile && EVAL_FILE.test(e.name)).map((e) => e.name);
  } catch {
    return [];
  }
}

/**
 * The evaluation folder follows the rule of every output: absent, or a
 * folder of a previous evaluation (scores.json, rmse_*.png, map_*.png and
 * nothing else) replaced only with `--overwrite`; never a plain file or a
 * folder holding anything else.
 */
export function checkEvalDir(dir: string, overwrite: boolean | undefined): void {
  let entries: Deno.DirEntry[];
  try {
    if (!Deno.statSync(dir).isDirectory) {
      throw new StoreError(dir, "is a file, not an evaluation folder; choose another --eval-dir");
    }
    entries = [...Deno.readDirSync(dir)];
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return;
    throw e;
  }
  const foreign = entries.find((e) => !e.isFile || !EVAL_FILE.test(e.name));
  if (foreign) {
    throw new StoreError(
      dir,
      `holds ${foreign.name}, so it is not an evaluation folder written by atmorep-ts; ` +
        `it is left as it is (choose another --eval-dir)`,
    );
  }
  if (entries.length && !overwrite) throw new StoreError(dir, "already exists; pass --overwrite to replace it");
}

/** Refuse counts that make no forecast (steps, members ≤ 0; no initial time), naming the option. */
function checkCounts(o: ForecastRunOptions): void {
  for (const [key, v] of [["--steps", o.steps], ["--members", o.members ?? 1]] as const) {
    if (!Number.isInteger(v) || v < 1) throw new ConfigError(key, `${v} is not a whole number ≥ 1`);
  }
  if (!o.inits.length) throw new ConfigError("--init", "needs at least one initial time");
}

/** Run a forecast. */
export async function runForecast(options: ForecastRunOptions): Promise<ForecastRunSummary> {
  checkCounts(options);
  const trained = await loadTrainedEngine(options.checkpoint, options.norm);
  const ensemble = ensembleMembers(trained, options);
  if (options.device) toDevice(trained, ensemble, options.device);
  const truth = options.truth ? truthRollout(trained, options.truth, options.norm) : undefined;
  if (truth) checkEvalDir(evalDirOf(options), options.overwrite);
  const contents = storeContents(trained, options);
  const writer = openForecastStore(trained, ensemble, contents, options);
  const evaluation = new Evaluation(trained.rollout, contents, options, trained.timeRanges ?? []);
  const run = new Rollout(trained.rollout, ensemble.steppers, truth, writer, evaluation, contents, options);
  try {
    for (const [index, init] of contents.inits.entries()) await run.from(index, init);
    run.collectTimings();
    writer.finish();
  } catch (e) {
    writer.abort();
    throw e;
  }
  const summary: ForecastRunSummary = { out: options.out, plots: [], maps: evaluation.maps, seconds: run.seconds };
  if (!truth) return summary;
  return {
    ...summary,
    ...await evaluation.writeScores(ensemble.members > 1, options, trained.timeRanges),
    inSample: evaluation.inSampleReport(trained.timeRanges),
  };
}

/** A trained forecast engine ready to step: its checkpoint, frozen base, the data it reads, the network. */
interface TrainedEngine {
  /** The engine part of the checkpoint's header. */
  header: ForecastHeader;
  /** The frozen Multiformer it was trained on. */
  base: FrozenBase;
  /** The base run's sampler (with the coefficient set asked for). */
  sampler: MultifieldSampler;
  /** Identities of its coefficient sets. */
  coefficientSets: CoefficientSetIdentity[];
  /** The global rollout on the input store. */
  rollout: GlobalRollout;
  /** The engine network with the checkpoint's weights. */
  engine: ForecastEngine;
  /** The time ranges its stages trained and validated on; null when the checkpoint does not record them. */
  timeRanges: TrainedRange[] | null;
}

/**
 * Load the engine of checkpoint `path` and its base; refuse another base
 * than the one trained on, another coefficient set, or a store of another
 * step length.
 */
async function loadTrainedEngine(path: string, norm?: string): Promise<TrainedEngine> {
  const ck = await readCheckpoint(path);
  if (!isEngineCheckpoint(ck)) {
    throw new CheckpointError(path, "is not a forecast engine checkpoint (train --stage forecast)");
  }
  const header = ck.header.forecast;
  const base = await loadFrozenBase(header.base.path);
  if (base.sha256 !== header.base.sha256) {
    throw new CheckpointError(
      header.base.path,
      `is not the base checkpoint the engine was trained on (SHA-256 differs)`,
    );
  }
  const sampler = baseSampler(base.checkpoint.header.config, norm);
  const coefficientSets = await Promise.all(sampler.coefficients.map((c) => c.identity()));
  assertSameCoefficientSets(ck, coefficientSets, () => "was trained on another coefficient set");
  const rollout = new GlobalRollout(sampler, header.overlap);
  if (rollout.stepHours !== header.stepHours) {
    throw new CheckpointError(
      path,
      `was trained on ${header.stepHours} h steps; the store gives ${rollout.stepHours} h steps`,
    );
  }
  const engine = new ForecastEngine(engineFields(base.model, rollout.tokens), header.engine, 1);
  loadParameters(ck, engine.params.map);
  const timeRanges = ck.header.timeRanges ?? null;
  return { header, base, sampler, coefficientSets, rollout, engine, timeRanges };
}

/** The ensemble: one stepper per member, with its latent noise and tail-ensemble perturbation. */
interface Ensemble {
  /** Members. */
  members: number;
  /** Scale of the tail-ensemble perturbation (0: none). */
  tailScale: number;
  /** Latent noise of members > 0. */
  memberNoise: number;
  /** A stepper per member. */
  steppers: EngineStepper[];
}

/** The members' steppers as the options ask (member 0 without latent noise). */
function ensembleMembers(trained: TrainedEngine, o: ForecastRunOptions): Ensemble {
  const members = o.members ?? 1;
  const tailScale = members > 1 ? o.tailScale ?? 1 : 0, memberNoise = o.memberNoise ?? trained.header.memberNoise;
  const steppers = Array.from(
    { length: members },
    (_, m) =>
      new EngineStepper(trained.base.model, trained.engine, trained.rollout, {
        noise: m > 0 && memberNoise > 0 ? { std: memberNoise, rng: new Random(1000 + m) } : undefined,
        tail: tailScale > 0 ? { member: m, members, scale: tailScale } : undefined,
      }),
  );
  return { members, tailScale, memberNoise, steppers };
}

/** Move the base's and the engine's parameters to `device`; refuse members it cannot step. */
function toDevice(trained: TrainedEngine, ensemble: Ensemble, device: Device): void {
  if (ensemble.steppers.some((s) => s.options.tail || (s.options.noise?.std ?? 0) > 0)) {
    throw new ConfigError(
      "--backend",
      `${device.name} steps ensemble members without perturbations only: ` +
        `pass --member-noise 0 --tail-scale 0, or --backend cpu, for a perturbed ensemble`,
    );
  }
  for (const t of [...trained.base.model.params.map.values(), ...trained.engine.params.map.values()]) {
    t.toDevice(device);
  }
}

/** The rollout of the truth store (the input's sampler on another store); refused on another grid. */
function truthRollout(trained: TrainedEngine, store: string, norm?: string): GlobalRollout {
  const config = trained.sampler.config;
  const truth = new GlobalRollout(
    baseSampler({ sampler: { ...config, datasets: [{ ...config.datasets[0], store }] } }, norm),
    trained.header.overlap,
  );
  assertSameGrid(trained.rollout, truth, trained.sampler.config.datasets[0].store, store);
  return truth;
}

/** The first index where `a` and `b` differ by more than `tol` (−1: none; the shorter's length when lengths differ). */
function firstDifference(a: ArrayLike<number>, b: ArrayLike<number>, tol = 1e-6): number {
  if (a.length !== b.length) return Math.min(a.length, b.length);
  for (let i = 0; i < a.length; i++) if (!(Math.abs(a[i] - b[i]) <= tol)) return i;
  return -1;
}

/**
 * Refuse a truth store whose grid (latitudes and longitudes, not only their
 * counts), time step or fields differ from the forecast's input store,
 * naming both stores and what differs.
 */
export function assertSameGrid(input: GlobalRollout, truth: GlobalRollout, inputPath: string, truthPath: string): void {
  const differ = (what: string, ours: string, theirs: string): never => {
    throw new StoreError(
      truthPath,
      `the truth store has another ${what} than the forecast's input ${inputPath}: ${theirs} against ${ours}`,
    );
  };
  const a = input.dataset, b = truth.dataset;
  const lat = (d: typeof a) => Array.from(d.colat, (c) => 90 - c);
  const span = (v: ArrayLike<number>) => `${v.length} values ${v[0]}..${v[v.length - 1]}`;
  const iLat = firstDifference(lat(a), lat(b));
  if (iLat >= 0) {
    differ(
      "grid",
      `latitudes ${span(lat(a))} (row ${iLat}: ${lat(a)[iLat]})`,
      `latitudes ${span(lat(b))} (row ${iLat}: ${lat(b)[iLat]})`,
    );
  }
  const iLon = firstDifference(a.lons, b.lons);
  if (iLon >= 0) {
    differ(
      "grid",
      `longitudes ${span(a.lons)} (column ${iLon}: ${a.lons[iLon]})`,
      `longitudes ${span(b.lons)} (column ${iLon}: ${b.lons[iLon]})`,
    );
  }
  if (input.stepHours !== truth.stepHours) {
    differ("time step", `${input.stepHours} h`, `${truth.stepHours} h`);
  }
  const planes = (r: GlobalRollout) => r.planes.map((p) => `${p.field}/${p.level}`).join(", ");
  if (planes(input) !== planes(truth)) differ("set of fields", planes(input), planes(truth));
}

/**
 * A file name made from data (a field name, a level, a date): anything but
 * letters, digits, `.`, `_`, `+` and `-` becomes `_`, and a leading dot is
 * replaced, so the name can neither leave its folder (`../`, `/`) nor hide.
 */
export function safeFileName(name: string): string {
  const s = name.replace(/[^A-Za-z0-9._+-]/g, "_").replace(/^\./, "_");
  return s === "" ? "_" : s;
}

/** `dir`/`name` with `name` made safe ({@link safeFileName}); never outside `dir`. */
function fileIn(dir: string, name: string): string {
  const path = join(dir, safeFileName(name));
  const rel = relative(resolve(dir), resolve(path));
  if (rel === "" || rel.startsWith("..") || rel.includes("/")) {
    throw new StoreError(dir, `refusing to write ${path} outside the evaluation folder`);
  }
  return path;
}

/** What the forecast store holds: dates, fields and levels, coordinates and units of grid and mesh fields. */
interface StoreContents extends Pick<ForecastStoreOptions, "inits" | "leads" | "fields" | "levels" | "lat" | "lon"> {
  /** Units and names per grid field (the data store's field_metadata). */
  fieldMetadata: Record<string, { units?: string }>;
  /** Units per grid field. */
  units: Record<string, string>;
  /** Mesh planes, fields and their metadata. */
  meshPlanes: MeshPlane[];
  meshFields: string[];
  meshMetadata: Record<string, { units?: string }>;
}

/** The store's contents for this run. */
function storeContents(trained: TrainedEngine, o: ForecastRunOptions): StoreContents {
  const { rollout, sampler } = trained;
  const d = rollout.dataset;
  const stored = (readRootAttributes(d.root).field_metadata ?? {}) as Record<string, { units?: string }>;
  const fields = [...new Set(rollout.planes.map((p) => p.field))];
  const fieldMetadata = Object.fromEntries(
    rollout.planes.map((p) => [p.field, stored[p.source] ?? stored[p.field] ?? {}]),
  );
  const meshPlanes = rollout.meshPlanes;
  return {
    inits: o.inits.map((t, i) => toSeconds(t, `inits[${i}]`)),
    leads: Array.from({ length: o.steps }, (_, k) => (k + 1) * rollout.stepHours),
    fields,
    levels: levelsByField(rollout.planes),
    lat: Float64Array.from(d.colat, (c) => 90 - c),
    lon: d.lons,
    fieldMetadata,
    units: Object.fromEntries(fields.map((f) => [f, fieldMetadata[f]?.units ?? ""])),
    meshPlanes,
    meshFields: [...new Set(meshPlanes.map((p) => p.field))],
    meshMetadata: Object.fromEntries(meshPlanes.map((p) => {
      const attrs = readRootAttributes(sampler.datasets[p.dataset].root).field_metadata ?? {};
      return [p.field, (attrs as Record<string, { units?: string }>)[p.source.name] ?? {}];
    })),
  };
}

/** Open the forecast store (staged until {@link ForecastStoreWriter.finish}) with its provenance. */
function openForecastStore(
  trained: TrainedEngine,
  ensemble: Ensemble,
  c: StoreContents,
  o: ForecastRunOptions,
): ForecastStoreWriter {
  const { rollout, sampler, header } = trained;
  return new ForecastStoreWriter({
    out: o.out,
    overwrite: o.overwrite,
    inputs: [
      o.checkpoint,
      header.base.path,
      ...sampler.config.datasets.flatMap((x) => [x.store, ...(x.norm ? [x.norm] : [])]),
      ...(o.norm ? [o.norm] : []),
      ...(o.truth ? [o.truth] : []),
    ],
    inits: c.inits,
    leads: c.leads,
    fields: c.fields,
    levels: c.levels,
    lat: c.lat,
    lon: c.lon,
    fieldMetadata: c.fieldMetadata,
    members: o.keepMembers ? ensemble.members : 0,
    layout: o.layout,
    mesh: c.meshPlanes.length
      ? {
        fields: c.meshFields,
        levels: levelsByField(c.meshPlanes),
        ...rollout.mesh!.coordinates(c.meshPlanes[0]),
        fieldMetadata: c.meshMetadata,
      }
      : undefined,
    attributes: {
      provenance: {
        checkpoint: o.checkpoint,
        base_checkpoint: header.base,
        coefficient_sets: trained.coefficientSets,
        stores: sampler.config.datasets.map((x) => x.store),
        truth: o.truth ?? null,
        members: ensemble.members,
        member_noise: ensemble.memberNoise,
        member_tail_scale: ensemble.tailScale,
        members_from: ensemble.tailScale > 0
          ? "tail ensemble of the base Multiformer (member m: tail member m mod its size), plus latent noise for m > 0"
          : "latent noise for m > 0",
        step_hours: rollout.stepHours,
        tile_overlap_tokens: header.overlap,
        shifted_tiling: o.shiftedTiling ?? false,
        command: o.command ?? "",
      },
      lead_time_meaning: "hours after init_time of the valid time",
    },
  });
}

/** Scores against the truth (grid planes, and mesh fields at their points) and maps; written at the end. */
class Evaluation {
  /** Grid scores (cos φ of the rows). */
  readonly board: ScoreBoard;
  /** Mesh scores at the points (cos φ weights), against the mesh store's own steps. */
  readonly meshBoard?: ScoreBoard;
  /** Where scores and maps go. */
  readonly dir: string;
  /** Maps drawn. */
  readonly maps: string[] = [];
  /** Steps to map (1-based). */
  readonly mapSteps: number[];
  /** The trained ranges that hold an initial or valid time scored. */
  readonly hit = new Set<TrainedRange>();

  constructor(
    rollout: GlobalRollout,
    readonly contents: StoreContents,
    o: ForecastRunOptions,
    readonly ranges: TrainedRange[],
  ) {
    const c = contents;
    this.board = new ScoreBoard(latitudeWeights(c.lat), c.units);
    this.meshBoard = c.meshPlanes.length
      ? new ScoreBoard(
        Float64Array.from(
          rollout.mesh!.coordinates(c.meshPlanes[0]).lat,
          (v) => Math.max(0, Math.cos(v * Math.PI / 180)),
        ),
        Object.fromEntries(c.meshFields.map((f) => [f, c.meshMetadata[f]?.units ?? ""])),
      )
      : undefined;
    this.dir = evalDirOf(o);
    this.mapSteps = o.mapSteps ?? [o.steps];
  }

  private opened = false;

  /** Before the first file: make the folder, or empty one of a previous evaluation ({@link checkEvalDir} allowed it). */
  private open(): void {
    if (this.opened) return;
    this.opened = true;
    for (const name of evalFiles(this.dir)) Deno.removeSync(join(this.dir, name));
    Deno.mkdirSync(this.dir, { recursive: true });
  }

  /** Whether initial time `init` or valid time `valid` (seconds) lies in a trained range (noted in {@link hit}). */
  inSample(init: number, valid: number): boolean {
    const hit = [...rangesHolding(this.ranges, init), ...rangesHolding(this.ranges, valid)];
    for (const r of hit) this.hit.add(r);
    return hit.length > 0;
  }

  /** The in-sample part of the summary: the ranges, those hit, and a warning line naming them. */
  inSampleReport(ranges: TrainedRange[] | null): NonNullable<ForecastRunSummary["inSample"]> {
    const hit = [...this.hit];
    if (ranges === null) {
      return {
        ranges,
        hit,
        warning: "warning: the checkpoint does not record the time ranges it trained on (written before they were " +
          "recorded): scores may be in-sample",
      };
    }
    if (!hit.length) return { ranges, hit };
    const scored = this.board.result(false),
      flagged = scored.reduce((a, s) => a + s.inSample.filter((n) => n).length, 0);
    const total = scored.reduce((a, s) => a + s.leads.length, 0);
    return {
      ranges,
      hit,
      warning: `warning: ${flagged} of ${total} scores (field level × lead) are in-sample: an initial or valid time ` +
        `lies inside what the model trained or validated on:\n` + hit.map((r) => `  ${describeRange(r)}`).join("\n"),
    };
  }

  /** Draw the map of the members' mean against the truth of one grid plane at lead `lead` (hours). */
  async drawMap(
    plane: { field: string; level: number },
    members: Float32Array[],
    truth: Float32Array,
    init: number,
    lead: number,
    o: ForecastRunOptions,
  ): Promise<void> {
    const { field, level } = plane, c = this.contents;
    this.open();
    const mean = members.length === 1
      ? members[0]
      : members[0].map((_, g) => members.reduce((a, x) => a + x[g], 0) / members.length);
    const path = fileIn(this.dir, `map_${field}${level ? level : ""}_${o.inits[0].replace(/[:]/g, "")}_+${lead}h.png`);
    await Deno.writeFile(
      path,
      await forecastMapPng({ values: mean, lat: c.lat, lon: c.lon }, {
        title: `${field}${level ? ` ${level}` : ""} +${lead} h from ${
          new Date(init * 1000).toISOString().slice(0, 13)
        }Z`,
        units: c.units[field],
        truth: { values: truth, lat: c.lat, lon: c.lon },
      }),
    );
    this.maps.push(path);
  }

  /** Write scores.json and an RMSE plot per grid plane. */
  async writeScores(
    ensemble: boolean,
    o: ForecastRunOptions,
    ranges: TrainedRange[] | null,
  ): Promise<{ scores: PlaneScores[]; meshScores?: PlaneScores[]; scoresPath: string; plots: string[] }> {
    const scores = this.board.result(ensemble);
    const meshScores = this.meshBoard?.result(ensemble).map((x) => ({ ...x, mesh: true }));
    this.open();
    const scoresPath = join(this.dir, "scores.json");
    const members = o.members ?? 1;
    await Deno.writeTextFile(
      scoresPath,
      JSON.stringify(
        {
          checkpoint: o.checkpoint,
          truth: o.truth,
          inits: o.inits,
          members,
          trained_ranges: ranges,
          in_sample_ranges: [...this.hit],
          scores,
          mesh_scores: meshScores ?? [],
        },
        null,
        1,
      ),
    );
    const plots = await writeRmsePlots(this.dir, scores);
    return { scores, meshScores, scoresPath, plots };
  }
}

/**
 * One PNG per field level in `dir`: RMSE against lead time of the forecast, persistence and climatology, in the
 * units people read, in-sample leads marked; `model` names the forecaster in the title. Returns the paths.
 */
export async function writeRmsePlots(dir: string, scores: PlaneScores[], model?: string): Promise<string[]> {
  const plots: string[] = [];
  for (const s of scores) {
    const path = fileIn(dir, `rmse_${s.field}${s.level ? s.level : ""}.png`);
    const shown = displayUnits(s.units), k = (v: number[]) => v.map((x) => x * shown.factor);
    const held = s.inSample.some((n) => n) ? ", in-sample leads marked *" : "";
    const png = await scorePlotPng(
      `RMSE ${s.field}${s.level ? ` ${s.level}` : ""}${model ? `, ${model}` : ""} (${s.inits} init${held})`,
      s.leads,
      [
        { name: "forecast", values: k(s.rmse.forecast), colour: "#d62728" },
        { name: "persistence", values: k(s.rmse.persistence), colour: "#1f77b4" },
        { name: "climatology", values: k(s.rmse.climatology), colour: "#7f7f7f" },
      ],
      shown.units,
      s.inSample.map((n) => n > 0),
    );
    await Deno.writeFile(path, png);
    plots.push(path);
  }
  return plots;
}

/** The rollout of every member from each initial time: steps, writes each step, scores it against the truth. */
class Rollout {
  /** Seconds summed over the run. */
  readonly seconds = { encode: 0, engine: 0, readout: 0, blend: 0, write: 0, steps: 0 };
  private done = 0;
  /** Values per grid plane of one step. */
  private readonly plane: number;

  constructor(
    readonly rollout: GlobalRollout,
    readonly steppers: EngineStepper[],
    readonly truth: GlobalRollout | undefined,
    readonly writer: ForecastStoreWriter,
    readonly evaluation: Evaluation,
    readonly contents: StoreContents,
    readonly o: ForecastRunOptions,
  ) {
    this.plane = rollout.grid.rows * rollout.grid.cols;
  }

  /** Roll every member out `o.steps` steps from `init`, the `index`-th initial time. */
  async from(index: number, init: number): Promise<void> {
    const tiles = this.rollout.tiles(init);
    const shifted = this.o.shiftedTiling ? this.rollout.shiftedTiles(tiles) : undefined;
    const start = this.rollout.stateAt(init);
    // Persistence is the truth at initial time (the same as the input when the truth is the input store).
    const truthStart = this.truth?.stateAt(init);
    const states: RolloutState[] = this.steppers.map(() => start);
    for (let n = 0; n < this.o.steps; n++) {
      const slabs = await this.stepMembers(states, n, tiles, shifted);
      const valid = states[0].times[states[0].times.length - 1];
      const t1 = performance.now();
      this.writeGridPlanes(index, n, slabs);
      this.writeMeshPlanes(index, n, states, valid, init);
      this.seconds.write += (performance.now() - t1) / 1000;
      if (this.truth) await this.scoreGridPlanes(index, n, slabs, valid, init, truthStart!);
      this.seconds.steps++;
      this.o.onStep?.(++this.done, this.contents.inits.length * this.o.steps);
    }
  }

  /** Step every member once (each state advanced in place); the blended physical slab per member. */
  private async stepMembers(
    states: RolloutState[],
    n: number,
    tiles: Window[],
    shifted?: Window[],
  ): Promise<Float32Array[][]> {
    const rollout = this.rollout, slabs: Float32Array[][] = [];
    for (const [m, member] of this.steppers.entries()) {
      const times = states[m].times;
      const fieldBatches = rollout.fieldBatches(states[m], tiles);
      const next = await member.next(fieldBatches, { step: n, tiles, times });
      const more = shifted
        ? [{
          next: await member.next(rollout.fieldBatches(states[m], shifted), { step: n, tiles: shifted, times }),
          tiles: shifted,
        }]
        : [];
      const t0 = performance.now();
      const { slab, times: slabTimes } = rollout.physicalSlab(states[m], next, tiles, more);
      states[m] = rollout.advance(states[m], slab, slabTimes, { next, fields: fieldBatches, tiles });
      this.seconds.blend += (performance.now() - t0) / 1000;
      slabs.push(slab);
    }
    return slabs;
  }

  /** The members' values of grid plane `pi` at the slab's last time step. */
  private gridMembers(slabs: Float32Array[][], pi: number): Float32Array[] {
    const tt = this.rollout.stepSteps, plane = this.plane;
    return slabs.map((s) => s[pi].subarray((tt - 1) * plane, tt * plane));
  }

  /** Write step `n` of every grid plane. */
  private writeGridPlanes(index: number, n: number, slabs: Float32Array[][]): void {
    for (const [pi, p] of this.rollout.planes.entries()) {
      this.writer.write(index, n, p.field, p.level, this.gridMembers(slabs, pi));
    }
  }

  /** Write step `n` of every mesh plane (its window's last step: the mesh's step at or before `valid`), and score it. */
  private writeMeshPlanes(index: number, n: number, states: RolloutState[], valid: number, init: number): void {
    const mesh = this.rollout.mesh, board = this.evaluation.meshBoard;
    for (const [mi, p] of this.contents.meshPlanes.entries()) {
      const members = states.map((st) => {
        const w = st.mesh![mi], T = w.times.length;
        return w.values.subarray((T - 1) * p.points, T * p.points);
      });
      this.writer.writeMesh(index, n, p.field, p.level, members);
      if (!this.truth || !board) continue;
      // The mesh store's step at or before the valid time (none past its end: not scored there).
      const axis = mesh!.axis(p.dataset), k = axis.lastAtOrBefore(valid);
      if (k >= axis.times.length) continue;
      const truth = mesh!.stateAt(valid)[mi], start = mesh!.stateAt(init)[mi];
      const T = truth.times.length, last = (w: typeof truth) => w.values.subarray((T - 1) * p.points);
      board.add(p.field, p.level, this.contents.leads[n], {
        members,
        truth: last(truth),
        persistence: last(start),
        climatology: mesh!.climatology(p, truth.times[T - 1]),
        inSample: this.evaluation.inSample(init, truth.times[T - 1]),
      });
    }
  }

  /** Score step `n` of every grid plane against the truth at `valid`; map the steps asked for of the first init. */
  private async scoreGridPlanes(
    index: number,
    n: number,
    slabs: Float32Array[][],
    valid: number,
    init: number,
    truthStart: RolloutState,
  ): Promise<void> {
    const truth = this.truth!.stateAt(valid), plane = this.plane, lead = this.contents.leads[n];
    const T = truth.times.length;
    for (const [pi, p] of this.rollout.planes.entries()) {
      const members = this.gridMembers(slabs, pi);
      const truthNow = truth.values[pi].subarray((T - 1) * plane, T * plane);
      this.evaluation.board.add(p.field, p.level, lead, {
        members,
        truth: truthNow,
        persistence: truthStart.values[pi].subarray((T - 1) * plane, T * plane),
        climatology: this.rollout.climatology(p, valid),
        inSample: this.evaluation.inSample(init, valid),
      });
      if (index === 0 && this.evaluation.mapSteps.includes(n + 1)) {
        await this.evaluation.drawMap(p, members, truthNow, init, lead, this.o);
      }
    }
  }

  /** Add the steppers' encode, engine and read-out times to {@link seconds}. */
  collectTimings(): void {
    const sum = (k: "encode" | "engine" | "readout") => this.steppers.reduce((a, s) => a + s.timings[k], 0) / 1000;
    this.seconds.encode = sum("encode");
    this.seconds.engine = sum("engine");
    this.seconds.readout = sum("readout");
  }
}
