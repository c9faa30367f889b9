/**
 * The Multiformer's own global forecast (AtmoRep's `global_forecast`
 * evaluation) as one field on the whole grid, in the forecast engine's
 * output format so both can be compared on the same dates: the tiles'
 * predicted time slabs are blended with the engine's taper
 * ({@link GlobalRollout.blend}; one rollout per field, so that fields of
 * different token grids on the same tiles — AtmoRep's `train_multi.py` —
 * each blend with their own tokens), denormalized with the coefficients of the
 * valid times, written as a forecast store (forecast/store.ts: one init
 * per date, whose initial time is the last unmasked step, one lead per
 * predicted time step, the tail ensemble's mean and spread) and, against a
 * truth store, scored as `deno task forecast --truth` scores
 * (forecast/scores.ts: RMSE, ACC against persistence and climatology,
 * CRPS and spread/skill of the members), in-sample dates marked
 * (models/time_ranges.ts). Points missing at the initial time (land in
 * sst) stay missing, as in the engine's rollout.
 *
 * @module
 */
import { join } from "node:path";
import type { MultifieldSampler } from "../samplers/sampler.ts";
import type { TrainedRange } from "../models/checkpoint.ts";
import { describeRange, rangesHolding } from "../models/time_ranges.ts";
import { toSeconds, type Window } from "../datasets/window.ts";
import { readRootAttributes } from "../zarr/reader.ts";
import { ConfigError, StoreError } from "../errors.ts";
import { GlobalRollout, type Plane } from "./rollout.ts";
import { baseSampler } from "./stepper.ts";
import { type ForecastLayout, ForecastStoreWriter, levelsByField } from "./store.ts";
import { checkReplaceable } from "../zarr/outputs.ts";
import { latitudeWeights, type PlaneScores, ScoreBoard } from "./scores.ts";
import { assertSameGrid, checkEvalDir, writeRmsePlots } from "./run.ts";

/** One predicted field of the tiles' batch. */
export interface TileForecast {
  /** Field name. */
  field: string;
  /** Per tail member: every token of the batch, normalized, the masked ones predicted [tiles·levels·tokens·values]. */
  members: Float32Array[];
}

/** Options of {@link writeGlobalForecast}. */
export interface GlobalForecastOptions {
  /** The evaluation's sampler (its first dataset is tiled). */
  sampler: MultifieldSampler;
  /** The windows' last steps; the batch holds each date's tiles in turn. */
  dates: string[];
  /** Overlap of neighbouring tiles in tokens [lat, lon] (AtmoRep's `token_overlap`). */
  overlap: [number, number];
  /** Time tokens predicted at the end of each window (`forecast_num_tokens`). */
  forecastTokens: number;
  /** The predicted fields. */
  fields: TileForecast[];
  /** The forecast store to write. */
  out: string;
  /** Folder of scores.json and the RMSE plots. */
  evalDir: string;
  /** Replace a forecast store and an evaluation folder written before. */
  overwrite?: boolean;
  /** Layout of the forecast store (forecast/store_layout.ts); default `native`. */
  layout?: ForecastLayout;
  /** Store with the truth (same grid); default the sampler's store. */
  truth?: string;
  /** Time ranges the model trained and validated on; null when unknown. */
  ranges: TrainedRange[] | null;
  /** The checkpoint, for the scores file and the store's provenance. */
  checkpoint: string;
  /** The command line, for provenance. */
  command?: string;
}

/** What {@link writeGlobalForecast} wrote. */
export interface GlobalForecastSummary {
  /** The forecast store. */
  out: string;
  /** Scores per field level. */
  scores: PlaneScores[];
  /** scores.json. */
  scoresPath: string;
  /** RMSE plots. */
  plots: string[];
  /** The in-sample warning (absent when no score is in-sample). */
  warning?: string;
  /** Seconds spent blending and denormalizing, and scoring. */
  seconds: { blend: number; score: number };
}

/** One predicted field's rollout (its own token grid), its truth's, and its predicted tokens. */
interface FieldTiling {
  /** The rollout of a sampler holding only this field. */
  rollout: GlobalRollout;
  /** The rollout of the truth store (the same when it is the run's store). */
  truth: GlobalRollout;
  /** The prediction. */
  forecast: TileForecast;
}

/** A plane to write and score, with its field's tiling. */
interface PlaneOf {
  plane: Plane;
  tiling: FieldTiling;
}

/** The blended forecast of one date: per lead, per plane, the members [rows·cols] (physical). */
type DateForecast = Map<Plane, Float32Array[]>[];

/**
 * Refuse, before anything runs, a forecast store or evaluation folder that
 * exists without `overwrite` (or is not ours), so that a refused run
 * writes nothing.
 */
export function checkGlobalOutputs(o: Pick<GlobalForecastOptions, "out" | "evalDir" | "overwrite">): void {
  checkReplaceable(o.out, "forecast", { overwrite: o.overwrite });
  checkEvalDir(o.evalDir, o.overwrite);
}

/** Blend, write and score the Multiformer's global forecast. */
export async function writeGlobalForecast(o: GlobalForecastOptions): Promise<GlobalForecastSummary> {
  const tilings = o.fields.map((f) => fieldTiling(o, f));
  checkEvalDir(o.evalDir, o.overwrite);
  const planes: PlaneOf[] = tilings.flatMap((tiling) => tiling.rollout.planes.map((plane) => ({ plane, tiling })));
  const first = tilings[0].rollout, steps = o.forecastTokens * first.stepSteps;
  for (const t of tilings) {
    if (t.rollout.stepSteps !== first.stepSteps) {
      throw new ConfigError("fields", "global_forecast blends fields of one time token size");
    }
  }
  const inits = o.dates.map((d) => toSeconds(d) - steps * first.dt);
  const leads = Array.from({ length: steps }, (_, j) => (j + 1) * first.dt / 3600);
  const units = fieldUnits(o.sampler, planes.map((p) => p.plane));
  const writer = openStore(o, first, planes.map((p) => p.plane), inits, leads, units);
  const board = new ScoreBoard(latitudeWeights(Array.from(first.dataset.colat, (c) => 90 - c)), units);
  const hit = new Set<TrainedRange>(), seconds = { blend: 0, score: 0 };
  try {
    for (const [di, date] of o.dates.entries()) {
      let t0 = performance.now();
      const tiles = o.sampler.tiles(date, o.overlap);
      const forecast = new Map(tilings.map((t) => [t, blendDate(o, t, tiles, di, date)]));
      seconds.blend += (performance.now() - t0) / 1000;
      t0 = performance.now();
      const run = { index: di, init: inits[di], leads, forecast, ranges: o.ranges ?? [], hit };
      writeAndScore(run, planes, writer, board);
      seconds.score += (performance.now() - t0) / 1000;
    }
    writer.finish();
  } catch (e) {
    writer.abort();
    throw e;
  }
  const members = o.fields[0]?.members.length ?? 1;
  const scores = board.result(members > 1);
  const files = await writeScoreFiles(o, scores, inits, members, [...hit]);
  return { out: o.out, scores, ...files, warning: inSampleWarning(o.ranges, [...hit], scores), seconds };
}

/** One date's blended forecast being written and scored. */
interface DateRun {
  /** Index of the date (the store's init). */
  index: number;
  /** Initial time (seconds). */
  init: number;
  /** Lead times (hours). */
  leads: number[];
  /** The blended forecast per field. */
  forecast: Map<FieldTiling, DateForecast>;
  /** The trained ranges, and those hit so far. */
  ranges: TrainedRange[];
  hit: Set<TrainedRange>;
}

/** Write every lead and plane of one date, and score it against the truth (persistence: the truth at init). */
function writeAndScore(d: DateRun, planes: PlaneOf[], writer: ForecastStoreWriter, board: ScoreBoard): void {
  const start = planes.map(({ plane, tiling }) => readStep(tiling.truth, plane, d.init));
  for (const [j, lead] of d.leads.entries()) {
    const valid = d.init + lead * 3600;
    const inSample = [...rangesHolding(d.ranges, d.init), ...rangesHolding(d.ranges, valid)];
    for (const r of inSample) d.hit.add(r);
    for (const [pi, { plane: p, tiling }] of planes.entries()) {
      const members = d.forecast.get(tiling)![j].get(p)!;
      keepMissing(members, start[pi]);
      writer.write(d.index, j, p.field, p.level, members);
      board.add(p.field, p.level, lead, {
        members,
        truth: readStep(tiling.truth, p, valid),
        persistence: start[pi],
        climatology: tiling.rollout.climatology(p, valid),
        inSample: inSample.length > 0,
      });
    }
  }
}

/**
 * The rollouts of one predicted field: of a sampler holding only that
 * field (so each field blends with its own token grid), on the run's
 * store and on the truth store (refused on another grid).
 */
function fieldTiling(o: GlobalForecastOptions, forecast: TileForecast): FieldTiling {
  const config = o.sampler.config, ds = config.datasets[0];
  const spec = ds.fields.find((f) => f.name === forecast.field);
  if (!spec) throw new ConfigError("fields", `${forecast.field}: not a field of the first dataset`);
  const only = (store: string) =>
    new GlobalRollout(
      baseSampler({ sampler: { ...config, timeRange: undefined, datasets: [{ ...ds, store, fields: [spec] }] } }),
      o.overlap,
    );
  const rollout = only(ds.store);
  if (!o.truth) return { rollout, truth: rollout, forecast };
  const truth = only(o.truth);
  assertSameGrid(rollout, truth, ds.store, o.truth);
  return { rollout, truth, forecast };
}

/** One time step of a plane of `rollout`'s store at `time` (seconds), physical [rows·cols]. */
function readStep(rollout: GlobalRollout, p: Plane, time: number): Float32Array {
  const d = rollout.dataset, k = d.times.indexOf(time), { rows, cols } = rollout.grid;
  if (k < 0) {
    throw new StoreError(
      d.root,
      `no time step at ${new Date(time * 1000).toISOString()} to score the forecast against`,
    );
  }
  return d.read(p.source, p.level, k, 1, 0, rows, 0, cols);
}

/** Points missing at the initial time (land in sst) stay missing in every member, as the engine leaves them. */
function keepMissing(members: Float32Array[], start: Float32Array): void {
  for (let g = 0; g < start.length; g++) if (start[g] !== start[g]) { for (const m of members) m[g] = NaN; }
}

/**
 * One field's tiles of date `di` (the batch's `tiles`) blended, per
 * predicted time step, plane and member, in physical units: each predicted
 * time token of every tile is a slab handed to the rollout's blend as a
 * stepper's output would be.
 */
function blendDate(o: GlobalForecastOptions, f: FieldTiling, tiles: Window[], di: number, date: string): DateForecast {
  const { rollout, forecast } = f, [nt, nh, nw] = rollout.tokens.numTokens, [tt, th, tw] = rollout.tokens.tokenSize;
  const P = nh * nw, V = tt * th * tw, N = nt * P, plane = rollout.grid.rows * rollout.grid.cols;
  const L = rollout.planes.length, times = rollout.dataset.times, e = times.indexOf(toSeconds(date)), T = nt * tt;
  const out: DateForecast = Array.from({ length: o.forecastTokens * tt }, () => new Map());
  for (let s = 0; s < o.forecastTokens; s++) {
    const it = nt - o.forecastTokens + s;
    const slabTimes = times.slice(e - T + 1 + it * tt, e - T + 1 + (it + 1) * tt);
    for (const member of forecast.members) {
      const x = new Float32Array(tiles.length * L * P * V);
      for (let b = 0; b < tiles.length; b++) {
        for (let l = 0; l < L; l++) {
          const src = (((di * tiles.length + b) * L + l) * N + it * P) * V;
          x.set(member.subarray(src, src + P * V), (b * L + l) * P * V);
        }
      }
      const blended = rollout.blend(new Map([[forecast.field, x]]), tiles);
      for (const [pi, p] of rollout.planes.entries()) {
        const v = rollout.denormalize(p, blended[pi], slabTimes);
        for (let t = 0; t < tt; t++) {
          const step = out[s * tt + t];
          if (!step.has(p)) step.set(p, []);
          step.get(p)!.push(v.slice(t * plane, (t + 1) * plane));
        }
      }
    }
  }
  return out;
}

/** Units per field (the data store's field_metadata). */
function fieldUnits(sampler: MultifieldSampler, planes: Plane[]): Record<string, string> {
  const meta = (readRootAttributes(sampler.datasets[0].root).field_metadata ?? {}) as Record<
    string,
    { units?: string }
  >;
  return Object.fromEntries(planes.map((p) => [p.field, meta[p.source]?.units ?? meta[p.field]?.units ?? ""]));
}

/** The forecast store of the predicted planes. */
function openStore(
  o: GlobalForecastOptions,
  rollout: GlobalRollout,
  planes: Plane[],
  inits: number[],
  leads: number[],
  units: Record<string, string>,
): ForecastStoreWriter {
  const stores = o.sampler.config.datasets.flatMap((x) => [x.store, ...(x.norm ? [x.norm] : [])]);
  return new ForecastStoreWriter({
    out: o.out,
    overwrite: o.overwrite,
    inputs: [o.checkpoint, ...stores, ...(o.truth ? [o.truth] : [])],
    inits,
    leads,
    fields: [...new Set(planes.map((p) => p.field))],
    levels: levelsByField(planes),
    layout: o.layout,
    lat: Float64Array.from(rollout.dataset.colat, (c) => 90 - c),
    lon: rollout.dataset.lons,
    fieldMetadata: Object.fromEntries(Object.entries(units).map(([f, u]) => [f, { units: u }])),
    attributes: {
      provenance: {
        model: "Multiformer (AtmoRep's global_forecast: the last time tokens of every tile masked and predicted)",
        checkpoint: o.checkpoint,
        stores: o.sampler.config.datasets.map((x) => x.store),
        truth: o.truth ?? null,
        members: o.fields[0]?.members.length ?? 1,
        members_from: "the Multiformer's tail ensemble",
        step_hours: rollout.dt / 3600,
        forecast_num_tokens: o.forecastTokens,
        tile_overlap_tokens: o.overlap,
        command: o.command ?? "",
      },
      lead_time_meaning: "hours after init_time (the window's last unmasked step) of the valid time",
    },
  });
}

/** scores.json and an RMSE plot per field level, in the evaluation folder (emptied first: checkEvalDir allowed it). */
async function writeScoreFiles(
  o: GlobalForecastOptions,
  scores: PlaneScores[],
  inits: number[],
  members: number,
  hit: TrainedRange[],
): Promise<{ scoresPath: string; plots: string[] }> {
  try {
    for (const e of Deno.readDirSync(o.evalDir)) Deno.removeSync(join(o.evalDir, e.name));
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  }
  Deno.mkdirSync(o.evalDir, { recursive: true });
  const scoresPath = join(o.evalDir, "scores.json");
  const doc = {
    model: "multiformer global_forecast",
    checkpoint: o.checkpoint,
    truth: o.truth ?? o.sampler.config.datasets[0].store,
    inits: inits.map((s) => new Date(s * 1000).toISOString()),
    dates: o.dates,
    members,
    trained_ranges: o.ranges,
    in_sample_ranges: hit,
    scores,
  };
  await Deno.writeTextFile(scoresPath, JSON.stringify(doc, null, 1));
  const plots = await writeRmsePlots(o.evalDir, scores, "Multiformer");
  return { scoresPath, plots };
}

/** The in-sample warning as `deno task forecast` words it; absent when no score is in-sample. */
function inSampleWarning(
  ranges: TrainedRange[] | null,
  hit: TrainedRange[],
  scores: PlaneScores[],
): string | undefined {
  if (ranges === null) {
    return "warning: the checkpoint does not record the time ranges it trained on: scores may be in-sample";
  }
  if (!hit.length) return undefined;
  const flagged = scores.reduce((a, s) => a + s.inSample.filter((n) => n).length, 0);
  const total = scores.reduce((a, s) => a + s.leads.length, 0);
  return `warning: ${flagged} of ${total} scores (field level × lead) are in-sample: an initial or valid time ` +
    `lies inside what the model trained or validated on:\n` + hit.map((r) => `  ${describeRange(r)}`).join("\n");
}
