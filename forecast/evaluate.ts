/**
 * AtmoRep's evaluation modes (its `core/evaluator.py`) for a Multiformer:
 * windows ending at the given dates are drawn by the run's sampler, masked
 * as AtmoRep masks them, predicted without dropout, denormalized, and
 * written in AtmoRep's results layout (forecast/atmorep_results.ts):
 * - `BERT`: the run's rates and corruption;
 * - `forecast`: the last `forecast_num_tokens` time slabs (default 1, as
 *   AtmoRep's evaluator);
 * - `temporal_interpolation`: the time slabs `idx_time_mask` (default the
 *   middle one), written as BERT's results (AtmoRep logs it so);
 * - `fixed_location`: BERT at windows centred on one given place, at the
 *   given dates or at dates drawn per month as AtmoRep's `set_location`
 *   draws them ({@link drawMonthlyDates});
 * - `global_forecast`: `forecast` on the sampler's tiling of the globe at
 *   each date, one sample per tile as AtmoRep writes it (on the host all
 *   tiles in one batch, on a device one batch per date); besides, the tiles blended into one global forecast store and
 *   scored as `deno task forecast --truth` scores (forecast/global_forecast.ts).
 *
 * What goes where (as AtmoRep's trainer logs it):
 * - `source`: every field, per sample [levels, time, lat, lon] over the
 *   whole window — the network's input (masked tokens zeroed, i.e. the
 *   mean, or corrupted), as AtmoRep's `bert.py` leaves its sources;
 * - forecast: `target`, `pred` [levels, forecast steps, lat, lon] and `ens`
 *   [members, levels, forecast steps, lat, lon] of the predicted fields;
 * - BERT: per sample and level, the masked tokens [tokens, t, lat, lon]
 *   (`ens`: [tokens, members, t, lat, lon]) with per-token datetime, lat
 *   and lon.
 *
 * @module
 */
import type { Multiformer } from "../models/multiformer.ts";
import type { Device } from "../ops/device.ts";
import { modelInputs } from "../models/inputs.ts";
import { deviceForward, type PredictedMembers } from "./evaluate_device.ts";
import { MultifieldSampler, type SamplerConfig } from "../samplers/sampler.ts";
import type { MaskingConfig } from "../samplers/masking.ts";
import { type Batch, MASK } from "../samplers/batch.ts";
import type { TokenGrid } from "../tokenizers/patches.ts";
import type { GridDataset } from "../datasets/grid.ts";
import type { Window } from "../datasets/window.ts";
import { ConfigError, StoreError } from "../errors.ts";
import { Random } from "../random.ts";
import type { TrainedRange } from "../models/checkpoint.ts";
import { checkGlobalOutputs, type GlobalForecastSummary, writeGlobalForecast } from "./global_forecast.ts";
import type { ForecastLayout } from "./store.ts";
import { loadFrozenBase } from "./stepper.ts";
import { toSeconds } from "../datasets/window.ts";
import { basename, join } from "node:path";
import { existsSync } from "node:fs";
import {
  type BertResultsField,
  globalForecastName,
  type ResultsField,
  type ResultsItem,
  resultsName,
  writeBertResults,
  writeForecastResults,
} from "./atmorep_results.ts";

/** AtmoRep's evaluation modes. */
export type EvaluateMode = "BERT" | "forecast" | "global_forecast" | "temporal_interpolation" | "fixed_location";

/** The modes whose results have BERT's layout (masked tokens per level). */
const BERT_LAYOUT: EvaluateMode[] = ["BERT", "temporal_interpolation", "fixed_location"];

/** `global_forecast`: where the blended global forecast and its scores go. */
export interface GlobalOutput {
  /** The forecast store. */
  out: string;
  /** Folder of scores.json and the RMSE plots. */
  evalDir: string;
  /** Truth store (default the run's store). */
  truth?: string;
  /** Replace a forecast store and evaluation folder written before. */
  overwrite?: boolean;
  /** Layout of the forecast store (`native` or `wb2`, forecast/store_layout.ts). */
  layout?: ForecastLayout;
  /** Time ranges the model trained and validated on (in-sample marks); null when unknown. */
  ranges: TrainedRange[] | null;
  /** The checkpoint (provenance). */
  checkpoint: string;
  /** The command line (provenance). */
  command?: string;
}

/** What to evaluate. */
export interface EvaluateOptions {
  /** The run's configuration (its sampler gives the stores, fields and masking); a training config fits. */
  config: { sampler: SamplerConfig };
  /** The model, weights loaded. */
  model: Multiformer;
  /** Mode. */
  mode: EvaluateMode;
  /** The windows' last time steps (one sample each). */
  dates: string[];
  /** `fixed_location`: dates drawn per month (added to `dates`). */
  draw?: MonthlyDraw;
  /** Window centre [lat, lon] (default 0, 0; `fixed_location`: required, AtmoRep's `pos`). */
  center?: [number, number];
  /** `temporal_interpolation`: the masked time slabs (AtmoRep's `idx_time_mask`); default the middle one. */
  timeTokens?: number[];
  /** `global_forecast`: overlap of neighbouring tiles in tokens [lat, lon] (AtmoRep's `token_overlap`). Default 0, 0. */
  overlap?: [number, number];
  /** `global_forecast`: the blended forecast store and its scores. */
  global?: GlobalOutput;
  /**
   * `forecast`, `global_forecast`: time slabs masked (AtmoRep's
   * `forecast_num_tokens`). Default as AtmoRep's evaluator: 1 for
   * `forecast` (it sets 1 unless given), the run's own value for
   * `global_forecast` ({@link runForecastTokens}).
   */
  forecastTokens?: number;
  /** The run's `forecast_num_tokens` (an AtmoRep json's), the default of `global_forecast`. Default 2 (`train.py`'s). */
  runForecastTokens?: number;
  /** BERT: the masking rate (AtmoRep's first rate), overriding the run's. */
  rate?: number;
  /** Output folder. */
  out: string;
  /** Model id in the file names. */
  id: string;
  /** Epoch in the file names. */
  epoch: number;
  /** Replace the results stores of an earlier run with the same id and epoch (else such a run is refused). */
  overwrite?: boolean;
  /** Masking seed. Default 0. */
  seed?: number;
  /**
   * Run the network's forward here (`selectBackend(…, { device: true }).device`):
   * the model's parameters are moved there (in place, once); the batch
   * (`global_forecast`: one batch per date, its tiles) is uploaded once and
   * the members of every predicted field come back in one read per batch;
   * the results are written on the host as without it.
   */
  device?: Device;
}

/** What an evaluation wrote, and how long its parts took. */
export interface EvaluateResult {
  /** The four results stores. */
  paths: string[];
  /** `global_forecast`: the blended forecast store and its scores. */
  global?: GlobalForecastSummary;
  /** Seconds: reading and masking the windows, the network's forward pass, writing the results stores. */
  seconds: { batch: number; forward: number; write: number };
  /** Samples (windows; tiles for `global_forecast`). */
  samples: number;
  /** The dates evaluated (the given ones, then the drawn ones). */
  dates: string[];
}

/** AtmoRep's `set_location` draw: `perMonth` dates in each month. */
export interface MonthlyDraw {
  /** [year, month (1–12)] pairs. */
  months: [number, number][];
  /** Dates per month (AtmoRep's `num_t_samples_per_month`). */
  perMonth: number;
  /** Seed of the draw. Default 0. */
  seed?: number;
}

/**
 * Dates drawn as AtmoRep's `set_location` draws them: per month of d days,
 * the first `perMonth` of a permutation of perMonth·d, each taken modulo
 * d − 1, plus 1, as the day (so never the month's last day, as in AtmoRep),
 * and a random time step of that day (`stepHours` apart) as the hour. ISO
 * dates, month by month.
 */
export function drawMonthlyDates(draw: MonthlyDraw, stepHours: number): string[] {
  const rng = Random.stream(draw.seed ?? 0, 7);
  const stepsPerDay = Math.max(1, Math.floor(24 / stepHours));
  return draw.months.flatMap(([year, month]) => {
    if (!Number.isInteger(month) || month < 1 || month > 12) throw new ConfigError("--months", `month ${month}`);
    const days = new Date(Date.UTC(year, month, 0)).getUTCDate();
    const picks = rng.choose(draw.perMonth * days, draw.perMonth);
    return Array.from(picks, (p) => {
      const day = (p % (days - 1)) + 1, hour = rng.int(stepsPerDay) * stepHours;
      return new Date(Date.UTC(year, month - 1, day) + hour * 3600_000).toISOString().slice(0, 16);
    });
  });
}

/** Evaluate and write the four results stores (and, for `global_forecast`, the blended forecast and its scores). */
export async function evaluate(o: EvaluateOptions): Promise<EvaluateResult> {
  if (o.mode === "fixed_location" && !o.center) throw new ConfigError("--center", "fixed_location needs the place");
  if (o.draw && o.mode !== "fixed_location") throw new ConfigError("--months", "draws the dates of fixed_location");
  if (o.mode === "global_forecast" && o.global) checkGlobalOutputs(o.global);
  if (!o.overwrite) checkNoResults(o.out, o.id, o.epoch);
  let t0 = performance.now();
  const sampler = new MultifieldSampler({ ...o.config.sampler, batchSize: 1, timeRange: undefined });
  const t = sampler.datasets[0].times;
  const dates = [...o.dates, ...(o.draw ? drawMonthlyDates(o.draw, t.length > 1 ? (t[1] - t[0]) / 3600 : 1) : [])];
  if (!dates.length) throw new ConfigError("--date", "at least one date");
  const center = o.center ?? [0, 0];
  // global_forecast: per date, the sampler's tiling of the globe (AtmoRep's: one sample per tile)
  const perDate = o.mode === "global_forecast"
    ? dates.map((end) => sampler.tiles(end, o.overlap))
    : [dates.map((end) => sampler.window({ end, center }))];
  const windows = perDate.flat();
  const batch = sampler.batchAt(windows, { masking: maskingOf(o), index: o.seed ?? 0 });
  const seconds = { batch: (performance.now() - t0) / 1000, forward: 0, write: 0 };
  t0 = performance.now();
  const members = o.device
    ? await deviceForward(o.model, modelInputs(o.model, batch), o.device, perDate.map((w) => w.length))
    : hostForward(o.model, batch);
  seconds.forward = (performance.now() - t0) / 1000;
  t0 = performance.now();
  const run: Evaluation = { sampler, batch };
  const source = sourceFields(run);
  const predicted = members.map((out) => predictedField(run, out));
  const paths = BERT_LAYOUT.includes(o.mode)
    ? writeBertResults(o.out, o.id, o.epoch, source, bertStores(run, predicted))
    : writeForecastResults(o.out, o.id, o.epoch, { source, ...forecastStores(run, predicted, forecastTokensOf(o)) });
  seconds.write = (performance.now() - t0) / 1000;
  const global = o.mode === "global_forecast" && o.global
    ? await writeGlobalForecast({
      ...o.global,
      sampler,
      dates,
      overlap: o.overlap ?? [0, 0],
      forecastTokens: forecastTokensOf(o),
      fields: predicted.map((p) => ({ field: p.out.field, members: p.members })),
    })
    : undefined;
  return { paths, global, seconds, samples: windows.length, dates };
}

/** Options of {@link globalForecastAtInits}. */
export interface InitsForecastOptions {
  /** A Multiformer checkpoint written by `train` (its recorded configuration gives the stores and tokens). */
  checkpoint: string;
  /** Initial times (ISO, UTC): each window's last unmasked step. */
  inits: string[];
  /** Time tokens masked at the end of each window; default all but the first (the most leads one pass reaches). */
  forecastTokens?: number;
  /** Overlap of neighbouring tiles in tokens [lat, lon]. Default 0, 0. */
  overlap?: [number, number];
  /** Folder of the results stores, the forecast store and its scores (named as `deno task evaluate` names them). */
  out: string;
  /** Truth store (default the run's store). */
  truth?: string;
  /** Replace a forecast store and evaluation folder written before. */
  overwrite?: boolean;
  /** The command line (provenance). */
  command?: string;
}

/**
 * `global_forecast` of a checkpoint from given initial times rather than
 * window ends, so that its scores line up with another model's on the same
 * inits: each window ends `forecastTokens` time tokens after its init, and
 * the leads are the predicted steps. In-sample marks from the checkpoint's
 * recorded time ranges.
 */
export async function globalForecastAtInits(o: InitsForecastOptions): Promise<GlobalForecastSummary> {
  const { model, checkpoint: ck } = await loadFrozenBase(o.checkpoint);
  const config = { sampler: ck.header.config.sampler };
  const sampler = new MultifieldSampler({ ...config.sampler, batchSize: 1, timeRange: undefined });
  const times = sampler.datasets[0].times, layout = sampler.slots[0].layout as TokenGrid;
  if (!("tokenSize" in layout)) throw new ConfigError("fields", `${sampler.slots[0].field}: not a token grid`);
  const k = o.forecastTokens ?? layout.numTokens[0] - 1;
  if (!(k >= 1 && k < layout.numTokens[0])) {
    throw new ConfigError(
      "forecastTokens",
      `${k}: a window of ${layout.numTokens[0]} time tokens forecasts 1 to ${layout.numTokens[0] - 1} of them`,
    );
  }
  const span = k * layout.tokenSize[0] * (times.length > 1 ? times[1] - times[0] : 0);
  const dates = o.inits.map((t) => new Date((toSeconds(t, "inits") + span) * 1000).toISOString().slice(0, 16));
  const id = basename(o.checkpoint).replace(/\.ckpt$/, ""), name = globalForecastName(id, 0);
  await Deno.mkdir(o.out, { recursive: true });
  const r = await evaluate({
    config,
    model,
    mode: "global_forecast",
    dates,
    forecastTokens: k,
    overlap: o.overlap,
    out: o.out,
    id,
    epoch: 0,
    overwrite: o.overwrite,
    global: {
      out: join(o.out, `${name}.zarr`),
      evalDir: join(o.out, `${name}.eval`),
      truth: o.truth,
      overwrite: o.overwrite,
      ranges: ck.header.timeRanges ?? null,
      checkpoint: o.checkpoint,
      command: o.command,
    },
  });
  return r.global!;
}

/**
 * Refuse to replace the results stores of an earlier run (AtmoRep's evaluator
 * overwrites them silently: another date under the same id and epoch would
 * lose the first run's results).
 */
function checkNoResults(dir: string, id: string, epoch: number): void {
  for (const kind of ["source", "target", "pred", "ens"] as const) {
    const path = join(dir, resultsName(id, epoch, kind));
    if (existsSync(path)) throw new StoreError(path, "already exists; pass --overwrite to replace it");
  }
}

/** The network's members on the host, without dropout (no random stream). */
function hostForward(model: Multiformer, batch: Batch): PredictedMembers[] {
  return model.forward(modelInputs(model, batch)).map((out) => ({
    field: out.field,
    rows: out.targets.rows,
    shape: out.members.shape as [number, number, number],
    values: out.members.data,
  }));
}

/** The time slabs a forecast masks: given, or AtmoRep's evaluator's default for the mode. */
function forecastTokensOf(o: EvaluateOptions): number {
  return o.forecastTokens ?? (o.mode === "forecast" ? 1 : o.runForecastTokens ?? 2);
}

/**
 * AtmoRep's masking of the mode: the run's BERT rates (rate overridable),
 * the last time slabs, or the slabs of a temporal interpolation.
 */
function maskingOf(o: EvaluateOptions): MaskingConfig {
  const base: MaskingConfig = o.config.sampler.masking ?? { strategy: "bert" };
  if (o.mode === "forecast" || o.mode === "global_forecast") {
    return { strategy: "forecast", forecastSlabs: forecastTokensOf(o) };
  }
  if (o.mode === "temporal_interpolation") {
    return { strategy: "temporal_interpolation", ...(o.timeTokens ? { slabs: o.timeTokens } : {}) };
  }
  return { ...base, strategy: "bert", ...(o.rate !== undefined ? { rate: o.rate } : {}) };
}

/** The sampler and the masked batch being evaluated. */
interface Evaluation {
  sampler: MultifieldSampler;
  batch: Batch;
}

/** The grid dataset of field `fi` (evaluate writes grid fields only). */
function gridOf({ sampler }: Evaluation, fi: number): GridDataset {
  const d = sampler.datasets[sampler.slots[fi].dataset] as GridDataset;
  if (d.grid !== "regular_ll") throw new ConfigError("fields", "evaluate writes grid fields only");
  return d;
}

/** The token grid of field `fi`. */
function tokenGridOf({ sampler }: Evaluation, fi: number): TokenGrid {
  const layout = sampler.slots[fi].layout as TokenGrid;
  if (!("tokenSize" in layout)) throw new ConfigError("fields", `${sampler.slots[fi].field}: not a token grid`);
  return layout;
}

/** Datetimes (ms), lats and lons of a restored block of field `fi`. */
function axesOf(run: Evaluation, fi: number, w: Window, t0: number, shape: number[]) {
  const d = gridOf(run, fi);
  const [T, H, W] = shape;
  return {
    datetime: Array.from({ length: T }, (_, k) => d.times[t0 + k] * 1000),
    lat: Array.from({ length: H }, (_, k) => 90 - d.colat[w.i0 + k]),
    lon: Array.from({ length: W }, (_, k) => d.lons[(w.j0 + k) % d.lons.length]),
  };
}

/** AtmoRep's source is the network's input: the chosen tokens zeroed (the mean, once denormalized) or corrupted. */
function sourceFields(run: Evaluation): ResultsField[] {
  const { sampler, batch } = run;
  const inputs = batch.fields.map((fb, fi) => {
    const V = fb.tokens.length / fb.mask.length, t = fb.tokens.slice();
    for (let i = 0; i < fb.mask.length; i++) if (fb.mask[i] === MASK.zeroed) t.fill(0, i * V, (i + 1) * V);
    fb.replaced.forEach((i, k) => t.set(fb.replacements.subarray(k * V, (k + 1) * V), i * V));
    const slot = sampler.slots[fi], N = fb.mask.length / (batch.samples.length * slot.levels.length);
    return (b: number, l: number) =>
      t.subarray((b * slot.levels.length + l) * N * V, (b * slot.levels.length + l + 1) * N * V);
  });
  return sampler.slots.map((slot, fi) => ({
    name: slot.field,
    samples: batch.samples.map((w, b) => {
      const blocks = slot.levels.map((_, l) => sampler.restore(batch, fi, b, l, inputs[fi](b, l)));
      const shape = blocks[0].shape;
      const data = new Float32Array(blocks.length * blocks[0].values.length);
      blocks.forEach((r, l) => data.set(r.values, l * r.values.length));
      return {
        data,
        shape: [slot.levels.length, ...shape],
        levels: slot.levels,
        ...axesOf(run, fi, w, blocks[0].t0, shape),
      };
    }),
  }));
}

/** A predicted field: the normalized tokens with the masked ones replaced by the members' mean or by each member. */
type Predicted = ReturnType<typeof predictedField>;

function predictedField(run: Evaluation, out: PredictedMembers) {
  const { sampler, batch } = run;
  const fi = sampler.slots.findIndex((s) => s.field === out.field);
  const fb = batch.fields[fi], g = tokenGridOf(run, fi), L = sampler.slots[fi].levels.length;
  const [, E, V] = out.shape, m = out.values;
  const N = g.numTokens[0] * g.numTokens[1] * g.numTokens[2];
  const rows = out.rows;
  const filled = (member: number) => {
    const t = fb.tokens.slice();
    for (let r = 0; r < rows.length; r++) {
      for (let v = 0; v < V; v++) {
        let x = 0;
        if (member < 0) {
          for (let e = 0; e < E; e++) x += m[(r * E + e) * V + v];
          x /= E;
        } else x = m[(r * E + member) * V + v];
        t[rows[r] * V + v] = x;
      }
    }
    return t;
  };
  const mean = filled(-1), members = Array.from({ length: E }, (_, e) => filled(e));
  const restore = (tokens: Float32Array, b: number, l: number) =>
    sampler.restore(batch, fi, b, l, tokens.subarray((b * L + l) * N * V, (b * L + l + 1) * N * V));
  return { out, fi, g, L, N, V, E, rows, mean, members, restore };
}

/** Forecast: target, pred and ens of the last `k` time slabs of every predicted field. */
function forecastStores(run: Evaluation, predicted: Predicted[], k: number) {
  const { sampler, batch } = run;
  const stores = { target: [] as ResultsField[], pred: [] as ResultsField[], ens: [] as ResultsField[] };
  for (const p of predicted) {
    const slot = sampler.slots[p.fi], tt = p.g.tokenSize[0] * k;
    const tail = (tokens: Float32Array, b: number) => {
      const blocks = slot.levels.map((_, l) => p.restore(tokens, b, l));
      const [T, H, W] = blocks[0].shape, plane = H * W;
      const data = new Float32Array(blocks.length * tt * plane);
      blocks.forEach((r, l) => data.set(r.values.subarray((T - tt) * plane), l * tt * plane));
      return { data, shape: [T, H, W], t0: blocks[0].t0 };
    };
    const item = (b: number, data: Float32Array, lead: number[], shape: number[], t0: number): ResultsItem => {
      const ax = axesOf(run, p.fi, batch.samples[b], t0, shape);
      return {
        data,
        shape: [...lead, slot.levels.length, tt, shape[1], shape[2]],
        levels: slot.levels,
        ...ax,
        datetime: ax.datetime.slice(shape[0] - tt),
      };
    };
    const one = (tokens: Float32Array) =>
      batch.samples.map((_, b) => {
        const t = tail(tokens, b);
        return item(b, t.data, [], t.shape, t.t0);
      });
    stores.target.push({ name: slot.field, samples: one(batch.fields[p.fi].tokens) });
    stores.pred.push({ name: slot.field, samples: one(p.mean) });
    stores.ens.push({
      name: slot.field,
      samples: batch.samples.map((_, b) => {
        const ts = p.members.map((mt) => tail(mt, b));
        const data = new Float32Array(ts.length * ts[0].data.length);
        ts.forEach((t, e) => data.set(t.data, e * t.data.length));
        return item(b, data, [p.E], ts[0].shape, ts[0].t0);
      }),
    });
  }
  return stores;
}

/** BERT: per predicted field, sample and level, the masked tokens cut out of the restored blocks. */
function bertStores(run: Evaluation, predicted: Predicted[]) {
  const stores = { target: [] as BertResultsField[], pred: [] as BertResultsField[], ens: [] as BertResultsField[] };
  for (const p of predicted) {
    const per = { target: [] as ResultsItem[][], pred: [] as ResultsItem[][], ens: [] as ResultsItem[][] };
    for (let b = 0; b < run.batch.samples.length; b++) {
      for (const k of ["target", "pred", "ens"] as const) per[k].push([]);
      for (let l = 0; l < p.L; l++) {
        const items = bertLevel(run, p, b, l);
        for (const k of ["target", "pred", "ens"] as const) per[k][b].push(items[k]);
      }
    }
    const name = run.sampler.slots[p.fi].field;
    for (const k of ["target", "pred", "ens"] as const) stores[k].push({ name, samples: per[k] });
  }
  return stores;
}

/** The masked tokens of level `l` of sample `b`: truth, mean and members, each with per-token coordinates. */
function bertLevel(
  run: Evaluation,
  p: Predicted,
  b: number,
  l: number,
): Record<"target" | "pred" | "ens", ResultsItem> {
  const slot = run.sampler.slots[p.fi], [tt, th, tw] = p.g.tokenSize, [, nh, nw] = p.g.numTokens;
  const S = p.L * p.N;
  const toks = Array.from(p.rows).filter((r) => Math.floor(r / S) === b && Math.floor((r % S) / p.N) === l)
    .map((r) => (r % S) % p.N);
  const truth = p.restore(run.batch.fields[p.fi].tokens, b, l), mean = p.restore(p.mean, b, l);
  const mem = p.members.map((mt) => p.restore(mt, b, l));
  const [, H, W] = truth.shape;
  const ax = axesOf(run, p.fi, run.batch.samples[b], truth.t0, truth.shape);
  const cut = (values: Float32Array, out: Float32Array, o0: number, tok: number) => {
    const it = Math.floor(tok / (nh * nw)), ih = Math.floor(tok / nw) % nh, iw = tok % nw;
    let o = o0;
    for (let t = 0; t < tt; t++) {
      for (let y = 0; y < th; y++) {
        for (let x = 0; x < tw; x++) out[o++] = values[((it * tt + t) * H + ih * th + y) * W + iw * tw + x];
      }
    }
  };
  const len = tt * th * tw, n = toks.length;
  const coordsOf = (): Pick<
    ResultsItem,
    "datetime" | "datetimeShape" | "lat" | "latShape" | "lon" | "lonShape"
  > => ({
    datetime: toks.flatMap((tok) => {
      const it = Math.floor(tok / (nh * nw));
      return ax.datetime.slice(it * tt, (it + 1) * tt);
    }),
    datetimeShape: [n, tt],
    lat: toks.flatMap((tok) => ax.lat.slice((Math.floor(tok / nw) % nh) * th, (Math.floor(tok / nw) % nh + 1) * th)),
    latShape: [n, th],
    lon: toks.flatMap((tok) => ax.lon.slice((tok % nw) * tw, (tok % nw + 1) * tw)),
    lonShape: [n, tw],
  });
  const plain = (values: Float32Array): ResultsItem => {
    const data = new Float32Array(n * len);
    toks.forEach((tok, i) => cut(values, data, i * len, tok));
    return { data, shape: [n, tt, th, tw], levels: slot.levels[l], ...coordsOf() };
  };
  const ens = new Float32Array(n * p.E * len);
  toks.forEach((tok, i) => mem.forEach((r, e) => cut(r.values, ens, (i * p.E + e) * len, tok)));
  return {
    target: plain(truth.values),
    pred: plain(mean.values),
    ens: { data: ens, shape: [n, p.E, tt, th, tw], levels: slot.levels[l], ...coordsOf() },
  };
}
