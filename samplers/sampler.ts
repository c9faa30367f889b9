/**
 * The multifield sampler: batches of space-time neighborhoods drawn from
 * stores written by the converters, normalized at load time with a chosen
 * coefficient set, tokenized and masked. Configured with a typed object.
 *
 * Windows are values (datasets/window.ts): drawn at random for batch b of
 * seed s (a pure function of (s, b)), or given by the caller
 * ({@link MultifieldSampler.batchAt}: fixed dates and places, a global
 * tiling from {@link MultifieldSampler.tiles}). The first dataset places the
 * windows (a regular grid by its token extent, or a mesh sampled alone by a
 * box in degrees); the others read the same place and time. Each field's
 * tokenizer plug-in cuts its windows into tokens and restores tokens to
 * physical values; the sampler knows no kind of store.
 *
 * @module
 */
import { ChunkCache } from "../datasets/cache.ts";
import type { SampleDataset } from "../datasets/dataset.ts";
import { openSampleDataset } from "../datasets/registry.ts";
import { accumulate, noStats, noTimings } from "../datasets/counters.ts";
import { toSeconds, type Window, type WindowRequest, type WindowShape } from "../datasets/window.ts";
import { parseTimePair } from "../time.ts";
import { CoefficientSet } from "../normalization/coefficients.ts";
import type { Restored, TokenField, TokenizerPlugin } from "../tokenizers/plugin.ts";
import { tokenizerFor } from "../tokenizers/registry.ts";
import type { TokenGrid } from "../tokenizers/patches.ts";
import type { PointTokens } from "../tokenizers/healpix_points.ts";
import { ConfigError } from "../errors.ts";
import { readRootAttributes } from "../zarr/reader.ts";
import { dirname, join } from "node:path";
import { type AtmorepContext, atmorepMultiresSize, type MaskingConfig, maskTokens, tokenStd } from "./masking.ts";
import { Random } from "../random.ts";
import { allocateField, type Batch, type BatchTimings, type FieldBatch, MASK, type ReadStats } from "./batch.ts";

/** One field of a dataset as the sampler delivers it. */
export interface FieldConfig {
  /** Field name in the store. */
  name: string;
  /** Levels (a single-level field takes [0]). */
  levels: number[];
  /** Token layout, checked by the tokenizer: a space-time grid (regular stores) or point tokens (mesh stores). */
  tokens: TokenGrid | PointTokens;
  /** Tokenizer name (tokenizers/registry.ts); default: the one registered for the store's grid. */
  tokenizer?: string;
  /**
   * A single-level field of the same dataset that provides this field's
   * level 0 (t2m under t on pressure levels, sst over FESOM's temp layers):
   * a field may mix a surface level with 3-D levels.
   */
  surface?: string;
  /** Per-point (`local`) or per-level (`global`) coefficients. Default global. */
  normalization?: "local" | "global";
  /** Masking of this field (default: the sampler's). */
  masking?: MaskingConfig;
}

/** A dataset and the fields drawn from it. */
export interface DatasetConfig {
  /** Store written by `convert era5`. */
  store: string;
  /** Coefficient set (default: the one named in the store's attributes, next to it). */
  norm?: string;
  /** Fields. */
  fields: FieldConfig[];
}

/** Sampler configuration. */
export interface SamplerConfig {
  /** Datasets (their neighborhoods share the time window and the centre). */
  datasets: DatasetConfig[];
  /** Samples per batch. */
  batchSize: number;
  /** Window ends are drawn from this time range (ISO dates, inclusive). */
  timeRange?: [string, string];
  /** Window ends every `timeStride` steps. Default 1. */
  timeStride?: number;
  /** Centre latitudes are drawn from this range (degrees). Default the whole globe. */
  latRange?: [number, number];
  /** `area`: centres uniform on the sphere; `uniform`: uniform in latitude. Default `area`. */
  centers?: "area" | "uniform";
  /**
   * All samples of a batch share one time window (as AtmoRep): the batch's
   * chunks are decoded once. Default false: every sample has its own window.
   */
  sharedTimeWindow?: boolean;
  /** Default masking. */
  masking: MaskingConfig;
  /** Seed. */
  seed: number;
  /** Bytes of decoded chunks kept between reads. Default 512 MB. */
  cacheBytes?: number;
  /**
   * Neighborhood extent [latitude, longitude] in degrees when the first
   * dataset is a mesh (sampled alone); a regular first dataset's token grid
   * sets it otherwise.
   */
  box?: [number, number];
}

/** A field of the batch: which dataset and field, its levels and token layout. */
export interface FieldSlot {
  /** Dataset index. */
  dataset: number;
  /** Field name. */
  field: string;
  /** Levels. */
  levels: number[];
  /** Token layout. */
  layout: TokenGrid | PointTokens;
  /** The field's configuration. */
  config: FieldConfig;
  /** Its tokenizer. */
  tokenizer: TokenizerPlugin;
  /** The field as its tokenizer sees it. */
  spec: TokenField;
}

/** Options of {@link MultifieldSampler.batchAt}. */
export interface BatchAtOptions {
  /** Random stream of the masking (as a batch index). Default 0. */
  index?: number;
  /** Masking of every field instead of the configured ones (e.g. `forecast` for a rollout). */
  masking?: MaskingConfig;
}

/**
 * A unit of work: one field level of a regular field, or all levels of a
 * mesh field, for every sample of a batch. Units are independent (each has
 * its own random stream), so any number of workers gives the same batch.
 */
export interface Unit {
  /** Index into {@link MultifieldSampler.slots}. */
  field: number;
  /** Level indices of the field. */
  levels: number[];
}

/** What a unit produced besides the values it wrote into the field batch. */
export interface UnitResult {
  /** Stage times. */
  timings: BatchTimings;
  /** Read counters. */
  stats: ReadStats;
  /** Flat indices of the tokens coded `replaced`. */
  replaced: number[];
  /** Their model input, concatenated. */
  replacements: Float32Array;
}

export type { Batch, BatchTimings, FieldBatch, Window } from "./batch.ts";
export type { WindowRequest } from "../datasets/window.ts";

/** The multifield sampler. */
export class MultifieldSampler {
  /** Configuration. */
  readonly config: SamplerConfig;
  /** Chunk cache of the datasets' piecemeal reads (mesh fields); its counters go into the batch's. */
  readonly cache: ChunkCache;
  /** Chunk cache of coefficient reads (not data: not in the read counters). */
  private readonly normCache: ChunkCache;
  /** Opened datasets. */
  readonly datasets: SampleDataset[];
  /** Their coefficient sets. */
  readonly coefficients: CoefficientSet[];
  /** The fields of a batch, in delivery order (datasets, then their fields). */
  readonly slots: FieldSlot[];
  /** The extent of the first dataset's windows. */
  readonly windowShape: WindowShape;
  private readonly ends: number[];
  private lastPositions?: { index: number; samples: Window[] };

  constructor(config: SamplerConfig) {
    checkConfig(config);
    this.config = config;
    this.cache = new ChunkCache(config.cacheBytes);
    this.normCache = new ChunkCache(config.cacheBytes);
    this.datasets = config.datasets.map((d) => openSampleDataset(d.store, this.cache));
    this.coefficients = config.datasets.map((d) => new CoefficientSet(d.norm ?? defaultNorm(d.store), this.normCache));
    this.slots = config.datasets.flatMap((d, dataset) => {
      const ds = this.datasets[dataset];
      return d.fields.map((f) => {
        const where = `${d.store}: ${f.name}`;
        const tokenizer = tokenizerFor(ds.grid, f.tokenizer, where);
        const layout = tokenizer.check(f.tokens, where) as TokenGrid | PointTokens;
        ds.checkField(f.name, f.levels, f.surface);
        const spec = { name: f.name, levels: f.levels, surface: f.surface, local: f.normalization === "local" };
        return { dataset, field: f.name, levels: f.levels, layout, config: f, tokenizer, spec };
      });
    });
    for (const [i, c] of this.coefficients.entries()) {
      const fields = this.slots.filter((s) => s.dataset === i).flatMap((s) =>
        s.levels.map((level) => {
          const src = s.spec.surface !== undefined && level === 0 ? s.spec.surface : s.field;
          return { name: src, levels: src === s.field ? [level] : [0], points: this.datasets[i].pointShape(src) };
        })
      );
      c.assertFits(config.datasets[i].store, fields);
    }
    // Fields that place windows by grid (rows > 0) must agree; the first dataset places the samples.
    const shapes = this.slots.map((s) => s.tokenizer.windowShape(s.layout));
    const placing = shapes.filter((w) => w.rows > 0);
    const first = this.slots.findIndex((s) => s.dataset === 0);
    const own = shapes[first];
    if (own.rows === 0 && placing.length) {
      throw new ConfigError("datasets", "a regular-grid dataset must come first: its neighborhoods place the others");
    }
    if (own.rows > 0 && new Set(placing.map((w) => `${w.steps}×${w.rows}×${w.cols}`)).size > 1) {
      throw new ConfigError(
        "datasets",
        `all regular fields must cover the same neighborhood (points): ${
          [...new Set(placing.map((w) => `${w.steps}×${w.rows}×${w.cols}`))].join(" vs ")
        }`,
      );
    }
    this.windowShape = own.rows > 0 ? own : {
      ...own,
      steps: Math.max(...shapes.filter((_, i) => this.slots[i].dataset === 0).map((w) => w.steps)),
      box: config.box,
    };
    const d0 = this.datasets[0];
    d0.checkShape(this.windowShape);
    // Datasets placed by the first one's rows, columns and time steps must share its grid and time axis.
    for (const [i, d] of this.datasets.entries()) {
      if (i === 0 || !shapes.some((w, k) => w.rows > 0 && this.slots[k].dataset === i)) continue;
      d.checkShape(this.windowShape);
      const same = d.gridKey === d0.gridKey && d.times.length === d0.times.length &&
        d.times.every((t, k) => t === d0.times[k]);
      if (!same) {
        throw new ConfigError(
          `datasets[${i}]`,
          `${d.root}: a second regular dataset must have the grid and time axis of ${d0.root} ` +
            "(its samples are placed by the first one's rows, columns and time steps)",
        );
      }
    }
    const [from, to] = config.timeRange ? parseTimePair(config.timeRange, "timeRange") : [-Infinity, Infinity];
    const stride = config.timeStride ?? 1;
    this.ends = [];
    for (let e = this.windowShape.steps - 1; e < d0.times.length; e += stride) {
      if (d0.times[e] >= from && d0.times[e] <= to) this.ends.push(e);
    }
    if (this.ends.length === 0) throw new ConfigError("timeRange", "no time window fits the time range");
  }

  /**
   * The first and last time (seconds) any window of this sampler covers:
   * from the start of the first window to the end of the last (the first
   * dataset's time axis).
   */
  dataSpan(): [number, number] {
    const t = this.datasets[0].times;
    return [t[this.ends[0] - this.windowShape.steps + 1], t[this.ends[this.ends.length - 1]]];
  }

  /** The random windows of batch `index`. */
  positions(index: number): Window[] {
    if (this.lastPositions?.index === index) return this.lastPositions.samples;
    const rng = Random.stream(this.config.seed, index);
    const d = this.datasets[0];
    const [latMin, latMax] = this.config.latRange ?? [-90, 90];
    const out: Window[] = [];
    const shared = this.ends[rng.int(this.ends.length)];
    for (let b = 0; b < this.config.batchSize; b++) {
      const e = this.config.sharedTimeWindow ? shared : this.ends[rng.int(this.ends.length)];
      const lat = this.config.centers === "uniform" ? latMin + rng.next() * (latMax - latMin) : Math.asin(
        Math.sin(latMin * Math.PI / 180) +
          rng.next() * (Math.sin(latMax * Math.PI / 180) - Math.sin(latMin * Math.PI / 180)),
      ) * 180 / Math.PI;
      out.push(d.randomWindow(rng, e, lat, this.windowShape));
    }
    this.lastPositions = { index, samples: out };
    return out;
  }

  /** The time index of the first dataset whose step is `end`; an error when there is none or the window does not fit. */
  private endIndex(end: string | number): number {
    const d = this.datasets[0], seconds = toSeconds(end, "end");
    const e = d.times.indexOf(seconds);
    if (e < 0) {
      throw new ConfigError(
        "end",
        `${d.root}: no time step at ${new Date(seconds * 1000).toISOString()} ` +
          `(${new Date(d.times[0] * 1000).toISOString()} … ${
            new Date(d.times[d.times.length - 1] * 1000).toISOString()
          })`,
      );
    }
    if (e < this.windowShape.steps - 1) {
      throw new ConfigError(
        "end",
        `${d.root}: a ${this.windowShape.steps}-step window cannot end at ${end}: too close to the start`,
      );
    }
    return e;
  }

  /** Resolve a window request (time and centre) on the first dataset. */
  window(request: WindowRequest): Window {
    const [lat, lon] = request.center;
    if (!(lat >= -90 && lat <= 90) || !Number.isFinite(lon)) {
      throw new ConfigError("center", `[${lat}, ${lon}] is not a latitude and longitude in degrees`);
    }
    return this.datasets[0].windowAt(this.endIndex(request.end), lat, lon, this.windowShape);
  }

  /**
   * The windows that cover the first dataset's whole grid, ending at `end`,
   * neighbours overlapping by `overlap` tokens [lat, lon] (AtmoRep's global
   * forecast: the last row ends at the pole).
   */
  tiles(end: string | number, overlap: [number, number] = [0, 0]): Window[] {
    const first = this.slots.find((s) => s.dataset === 0)!;
    const [, [, th, tw]] = first.tokenizer.maskGeometry(first.layout);
    return this.datasets[0].tiles(this.endIndex(end), this.windowShape, [th, tw], overlap);
  }

  /** The units of a batch, in order: as each field's tokenizer splits its levels. */
  units(): Unit[] {
    return this.slots.flatMap((f, field) => f.tokenizer.units(f.levels.length).map((levels) => ({ field, levels })));
  }

  /** Empty field batches (plain or shared memory from `alloc`). */
  allocate(alloc?: (bytes: number) => ArrayBufferLike, batchSize = this.config.batchSize): FieldBatch[] {
    return this.slots.map(({ dataset, field, levels, layout, tokenizer }) =>
      allocateField({ dataset, field, levels, layout }, tokenizer, batchSize, alloc)
    );
  }

  /** Batch `index` (deterministic), made on this thread. */
  batch(index: number): Batch {
    const fields = this.allocate();
    const windows = this.positions(index);
    return this.assemble(index, fields, this.units().map((u) => this.runUnit(index, u, fields[u.field], windows)));
  }

  /**
   * A batch of the given windows (resolved {@link Window}s, e.g. from
   * {@link positions} or {@link tiles}, or requests by time and centre),
   * made on this thread. The same windows give the same tokens as a random
   * draw of them; masking draws from stream `options.index`.
   */
  batchAt(windows: (Window | WindowRequest)[], options: BatchAtOptions = {}): Batch {
    if (!windows.length) throw new ConfigError("windows", "batchAt needs at least one window");
    const resolved = windows.map((w) => ("center" in w ? this.window(w) : w));
    const index = options.index ?? 0;
    const fields = this.allocate(undefined, resolved.length);
    const results = this.units().map((u) => this.runUnit(index, u, fields[u.field], resolved, options.masking));
    return this.assemble(index, fields, results, resolved);
  }

  /**
   * The batch made of `fields` and the results of its units (in {@link units}
   * order, whichever thread ran them): summed counters, and per field the
   * replaced tokens of its units in unit order.
   */
  assemble(
    index: number,
    fields: FieldBatch[],
    results: UnitResult[],
    windows: Window[] = this.positions(index),
  ): Batch {
    const timings = noTimings(), stats = noStats();
    for (const r of results) (accumulate(timings, r.timings), accumulate(stats, r.stats));
    const units = this.units();
    const out = fields.map((fb, field) => {
      const mine = results.filter((_, i) => units[i].field === field);
      return {
        ...fb,
        replaced: Int32Array.from(mine.flatMap((r) => r.replaced)),
        replacements: concat(mine.map((r) => r.replacements)),
      };
    });
    return { index, timings, stats, samples: windows, fields: out };
  }

  /** Fill `fb` (the unit's field) with the unit's levels of batch `index` (its random windows unless given). */
  runUnit(
    index: number,
    unit: Unit,
    fb: FieldBatch,
    windows: Window[] = this.positions(index),
    masking?: MaskingConfig,
  ): UnitResult {
    const slot = this.slots[unit.field];
    const result: UnitResult = {
      timings: noTimings(),
      stats: noStats(),
      replaced: [],
      replacements: new Float32Array(),
    };
    // One random stream per (batch, field, first level): the same whatever thread runs the unit. Synced masking
    // (AtmoRep's BERT_fields_synced) gives every unit the batch's one stream: the same masks wherever layouts agree.
    const cfg = masking ?? slot.config.masking ?? this.config.masking;
    const rng = Random.stream(
      cfg?.synced ? (this.config.seed ^ 0x5bd1e995) >>> 0 : (this.config.seed ^ 0x5bd1e995 ^
        Math.imul(unit.field + 1, 0x27d4eb2f) ^
        Math.imul(unit.levels[0] + 1, 0x165667b1)) >>>
        0,
      index,
    );
    // Piecemeal reads go through the dataset cache: its counters' growth is this unit's I/O (bulk reads count themselves).
    const before = { ...this.cache.stats };
    slot.tokenizer.cut({
      dataset: this.datasets[slot.dataset],
      coefficients: this.coefficients[slot.dataset],
      field: slot.spec,
      layout: slot.layout,
      levels: unit.levels,
      windows,
      out: fb,
      timings: result.timings,
      stats: result.stats,
    });
    for (const k of Object.keys(before) as (keyof ReadStats)[]) result.stats[k] += this.cache.stats[k] - before[k];
    const replacements: Float32Array[] = [];
    this.maskUnit(
      slot,
      unit,
      fb,
      windows.length,
      rng,
      masking,
      { replaced: result.replaced, replacements },
      result.timings,
    );
    result.replacements = concat(replacements);
    return result;
  }

  /** Mask every (sample, level) of a unit in sample order; padding tokens are never targets. */
  private maskUnit(
    slot: FieldSlot,
    unit: Unit,
    fb: FieldBatch,
    samples: number,
    rng: Random,
    masking: MaskingConfig | undefined,
    out: { replaced: number[]; replacements: Float32Array[] },
    timings: BatchTimings,
  ): void {
    const t = performance.now();
    const { tokens: ntok, values: len } = slot.tokenizer.shape(slot.layout);
    const L = slot.levels.length, cfg = masking ?? slot.config.masking ?? this.config.masking;
    const [numTokens, tokenSize] = slot.tokenizer.maskGeometry(slot.layout);
    // AtmoRep's corruption draws per level over the whole batch: the values' spread and one multires size.
    const atmorep = new Map<number, AtmorepContext>();
    if (cfg.strategy === "bert" && cfg.corruption === "atmorep") {
      for (const li of unit.levels) {
        const all = new Float32Array(samples * ntok * len);
        for (let s = 0; s < samples; s++) {
          const off = (s * L + li) * ntok;
          all.set(fb.tokens.subarray(off * len, (off + ntok) * len), s * ntok * len);
        }
        atmorep.set(li, { std: tokenStd(all, samples * ntok, len), size: atmorepMultiresSize(tokenSize, rng) });
      }
    }
    for (let s = 0; s < samples; s++) {
      const padding = slot.tokenizer.padding(slot.layout, fb, s);
      for (const li of unit.levels) {
        const off = (s * L + li) * ntok;
        const mask = fb.mask.subarray(off, off + ntok).fill(MASK.visible);
        maskTokens(fb.tokens.subarray(off * len, (off + ntok) * len), mask, numTokens, tokenSize, cfg, rng, (k, v) => {
          if (padding?.(k)) return;
          out.replaced.push(off + k);
          out.replacements.push(v);
        }, atmorep.get(li));
        if (padding) { for (let k = 0; k < ntok; k++) if (padding(k)) mask[k] = MASK.visible; }
      }
    }
    timings.mask += performance.now() - t;
  }

  /**
   * Physical values of one sample and level of a field: `tokens` (N·V
   * normalized values, e.g. a model's prediction; default the batch's own)
   * detokenized and denormalized by the field's tokenizer — a (T, H, W)
   * block on a grid, (T, P) values at the store's points P on a mesh.
   */
  restore(batch: Batch, field: number, sample: number, level: number, tokens?: Float32Array): Restored {
    const slot = this.slots[field], fb = batch.fields[field];
    const { tokens: N, values: V } = slot.tokenizer.shape(slot.layout);
    const L = slot.levels.length, off = (sample * L + level) * N * V;
    let points: { index: Int32Array; t0: number } | undefined;
    if (fb.points) {
      const slots = fb.points.index.length / batch.samples.length;
      points = { index: fb.points.index.subarray(sample * slots, (sample + 1) * slots), t0: fb.points.t0[sample] };
    }
    return slot.tokenizer.restore({
      dataset: this.datasets[slot.dataset],
      coefficients: this.coefficients[slot.dataset],
      field: slot.spec,
      layout: slot.layout,
      level,
      window: batch.samples[sample],
      tokens: tokens ?? fb.tokens.subarray(off, off + N * V),
      points,
    });
  }
}

/** Config errors that would otherwise surface as TypeErrors deep inside. */
function checkConfig(c: SamplerConfig): void {
  if (!Array.isArray(c?.datasets) || c.datasets.length === 0) {
    throw new ConfigError("datasets", "the sampler needs at least one dataset {store, fields}");
  }
  if (!Number.isInteger(c.batchSize) || c.batchSize < 1) {
    throw new ConfigError("batchSize", `must be a positive integer (got ${c.batchSize})`);
  }
  if (c.timeStride !== undefined && !(Number.isInteger(c.timeStride) && c.timeStride > 0)) {
    throw new ConfigError("timeStride", `must be a positive integer (got ${c.timeStride})`);
  }
  for (const [i, d] of c.datasets.entries()) {
    if (typeof d?.store !== "string") throw new ConfigError(`datasets[${i}].store`, "must be a store path");
    if (!Array.isArray(d.fields) || d.fields.length === 0) {
      throw new ConfigError(`datasets[${i}].fields`, "needs at least one field {name, levels, tokens}");
    }
    for (const [k, f] of d.fields.entries()) {
      if (!Array.isArray(f?.levels) || f.levels.length === 0) {
        throw new ConfigError(
          `datasets[${i}].fields[${k}].levels`,
          "needs at least one level ([0] for a single-level field)",
        );
      }
    }
  }
  if (!c.masking) throw new ConfigError("masking", "a default masking {strategy} is needed");
  for (const m of [c.masking, ...c.datasets.flatMap((d) => d.fields.map((f) => f.masking))]) {
    if (m?.corruption !== undefined && m.corruption !== "project" && m.corruption !== "atmorep") {
      throw new ConfigError("masking.corruption", `"${m.corruption}" is not project or atmorep`);
    }
  }
}

/** Concatenate float arrays. */
function concat(parts: Float32Array[]): Float32Array {
  const out = new Float32Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) (out.set(p, o), o += p.length);
  return out;
}

/** The coefficient set a store names in its attributes (written next to it by the converters). */
function defaultNorm(store: string): string {
  const root = store.replace(/\/+$/, "");
  const name = readRootAttributes(root).normalization;
  if (typeof name === "string" && name) return join(dirname(root), name);
  return root.replace(/\.zarr$/, "") + ".norm.zarr";
}
