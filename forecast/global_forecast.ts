/**
 * The Multiformer's own global forecast (AtmoRep's `global_forecast`
 * evaluation) as one field on the whole grid, in the forecast engine's
 * output format so both can be compared on the same dates: the tiles'
 * predicted time slabs are blended with the engine's taper
 * ({@link GlobalRollout.blend}), denormalized with the coefficients of the
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
import { toSeconds } from "../datasets/window.ts";
import { readRootAttributes } from "../zarr/reader.ts";
import { StoreError } from "../errors.ts";
import { GlobalRollout, type Plane } from "./rollout.ts";
import { baseSampler } from "./stepper.ts";
import { ForecastStoreWriter } from "./store.ts";
import { latitudeWeights, type PlaneScores, ScoreBoard } from "./scores.ts";
import { displayUnits, scorePlotPng } from "./maps.ts";
import { assertSameGrid, checkEvalDir, safeFileName } from "./run.ts";

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

/** The blended forecast of one date: per lead, per plane, the members [rows·cols] (physical). */
type DateForecast = Map<Plane, Float32Array[]>[];

/** Blend, write and score the Multiformer's global forecast. */
export async function writeGlobalForecast(o: GlobalForecastOptions): Promise<GlobalForecastSummary> {
  const rollout = new GlobalRollout(o.sampler, o.overlap);
  const truth = truthRollout(o, rollout);
  checkEvalDir(o.evalDir, o.overwrite);
  const predicted = new Set(o.fields.map((f) => f.field));
  const planes = rollout.planes.filter((p) => predicted.has(p.field));
  const steps = o.forecastTokens * rollout.stepSteps;
  const inits = o.dates.map((d) => initOf(rollout, d, steps));
  const leads = Array.from({ length: steps }, (_, j) => (j + 1) * rollout.dt / 3600);
  const units = fieldUnits(o.sampler, planes);
  const writer = openStore(o, rollout, planes, inits, leads, units);
  const board = new ScoreBoard(latitudeWeights(Array.from(rollout.dataset.colat, (c) => 90 - c)), units);
  const hit = new Set<TrainedRange>(), seconds = { blend: 0, score: 0 };
  try {
    for (const [di, date] of o.dates.entries()) {
      let t0 = performance.now();
      const forecast = blendDate(o, rollout, di, date, planes);
      seconds.blend += (performance.now() - t0) / 1000;
      t0 = performance.now();
      const start = planes.map((p) => readStep(truth, p, inits[di]));
      for (const [j, perPlane] of forecast.entries()) {
        const valid = inits[di] + leads[j] * 3600;
        const inSample = [...rangesHolding(o.ranges ?? [], inits[di]), ...rangesHolding(o.ranges ?? [], valid)];
        for (const r of inSample) hit.add(r);
        for (const [pi, p] of planes.entries()) {
          const members = perPlane.get(p)!;
          keepMissing(members, start[pi]);
          writer.write(di, j, p.field, p.level, members);
          board.add(p.field, p.level, leads[j], {
            members,
            truth: readStep(truth, p, valid),
            persistence: start[pi],
            climatology: rollout.climatology(p, valid),
            inSample: inSample.length > 0,
          });
        }
      }
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

/** The truth's rollout: the sampler's own store, or another of the same grid. */
function truthRollout(o: GlobalForecastOptions, rollout: GlobalRollout): GlobalRollout {
  if (!o.truth) return rollout;
  const config = o.sampler.config;
  const truth = new GlobalRollout(
    baseSampler({ sampler: { ...config, datasets: [{ ...config.datasets[0], store: o.truth }] } }),
    o.overlap,
  );
  assertSameGrid(rollout, truth, config.datasets[0].store, o.truth);
  return truth;
}

/** The initial time of a date's forecast: `steps` store steps before the date, the last unmasked one (seconds). */
function initOf(rollout: GlobalRollout, date: string, steps: number): number {
  return toSeconds(date) - steps * rollout.dt;
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
 * The tiles of date `di` blended, per predicted time step, plane and
 * member, in physical units: each predicted time token of every tile is a
 * slab handed to the rollout's blend as a stepper's output would be.
 */
function blendDate(
  o: GlobalForecastOptions,
  rollout: GlobalRollout,
  di: number,
  date: string,
  planes: Plane[],
): DateForecast {
  const tiles = rollout.tiles(date), [nt, nh, nw] = rollout.tokens.numTokens, [tt, th, tw] = rollout.tokens.tokenSize;
  const P = nh * nw, V = tt * th * tw, N = nt * P, plane = rollout.grid.rows * rollout.grid.cols;
  const times = rollout.dataset.times, e = times.indexOf(toSeconds(date)), T = nt * tt;
  const byField = new Map(o.fields.map((f) => [f.field, f]));
  const out: DateForecast = Array.from({ length: o.forecastTokens * tt }, () => new Map());
  const E = o.fields[0].members.length;
  for (let s = 0; s < o.forecastTokens; s++) {
    const it = nt - o.forecastTokens + s;
    const slabTimes = times.slice(e - T + 1 + it * tt, e - T + 1 + (it + 1) * tt);
    for (let m = 0; m < E; m++) {
      const next = new Map<string, Float32Array>();
      for (const slot of o.sampler.slots.filter((x) => x.dataset === 0)) {
        const L = slot.levels.length, x = new Float32Array(tiles.length * L * P * V), f = byField.get(slot.field);
        // a field that is not predicted is blended from zeros and left out
        if (f) {
          for (let b = 0; b < tiles.length; b++) {
            for (let l = 0; l < L; l++) {
              const src = (((di * tiles.length + b) * L + l) * N + it * P) * V;
              x.set(f.members[m].subarray(src, src + P * V), (b * L + l) * P * V);
            }
          }
        }
        next.set(slot.field, x);
      }
      const blended = rollout.blend(next, tiles);
      for (const p of planes) {
        const v = rollout.denormalize(p, blended[rollout.planes.indexOf(p)], slabTimes);
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
    levels: [...new Set(planes.map((p) => p.level))].sort((a, b) => a - b),
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
  const plots: string[] = [];
  for (const s of scores) {
    const path = join(o.evalDir, safeFileName(`rmse_${s.field}${s.level ? s.level : ""}.png`));
    const shown = displayUnits(s.units), k = (v: number[]) => v.map((x) => x * shown.factor);
    const held = s.inSample.some((n) => n) ? ", in-sample leads marked *" : "";
    const png = await scorePlotPng(
      `RMSE ${s.field}${s.level ? ` ${s.level}` : ""}, Multiformer (${s.inits} init${held})`,
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
