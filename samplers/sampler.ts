/**
 * The multifield sampler: batches of space-time neighborhoods drawn from
 * stores written by the converters, normalized at load time with a chosen
 * coefficient set, tokenized and masked. Configured with a typed object.
 *
 * Neighborhoods are periodic in longitude on global grids. Near the poles a
 * window is shifted so that it touches the pole row without crossing it
 * (AtmoRep instead never draws centres there). Unlike AtmoRep, every sample
 * has its own time window. The first dataset places the samples: a regular
 * grid by its token extent (meshes after it take the points inside that
 * box, at their last time at or before the window's end), or a mesh sampled
 * alone by a box in degrees. Batch b of seed s is a pure function of (s, b).
 * A zero standard deviation (a point constant over the month, e.g. at a
 * pole) normalizes with 1 instead, so no NaN or infinity reaches a model.
 *
 * @module
 */
import { ChunkCache } from "./cache.ts";
import { type MaskingConfig, maskTokens } from "./masking.ts";
import { NormSet, RegularDataset } from "./regular.ts";
import { Rng } from "./rng.ts";
import { gatherTokens, type Scaling } from "./gather.ts";
import {
  accumulate,
  allocateField,
  type Batch,
  type BatchTimings,
  type FieldBatch,
  MASK,
  noStats,
  noTimings,
  type ReadStats,
  type SampleInfo,
  tokenShape,
} from "./batch.ts";
import { gatherPoints, layoutPoints, pointsInBox, type PointTokens } from "../tokenizers/unstructured.ts";
import { MeshDataset, MeshNormSet } from "./unstructured.ts";
import { readRootAttributes } from "../zarr/store.ts";
import { dirname, join } from "node:path";
import { extent, TOKEN_INFO, type TokenGrid } from "../tokenizers/regular.ts";
import { tokenizerFor, type TokenizerPlugin } from "../tokenizers/registry.ts";

/** One field of a dataset as the sampler delivers it. */
export interface FieldConfig {
  /** Field name in the store. */
  name: string;
  /** Levels (a single-level field takes [0]). */
  levels: number[];
  /** Token layout: a space-time grid (regular stores) or point tokens (mesh stores). */
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

export type { Batch, BatchTimings, FieldBatch, SampleInfo } from "./batch.ts";

/** The multifield sampler. */
export class MultifieldSampler {
  /** Configuration. */
  readonly config: SamplerConfig;
  /** Chunk cache of the datasets' piecemeal reads (mesh fields); its counters go into the batch's. */
  readonly cache: ChunkCache;
  /** Chunk cache of coefficient reads (not data: not in the read counters). */
  private readonly normCache: ChunkCache;
  /** Opened datasets. */
  readonly datasets: (RegularDataset | MeshDataset)[];
  /** Opened coefficient sets. */
  readonly norms: (NormSet | MeshNormSet)[];
  /** The fields of a batch, in delivery order (datasets, then their fields). */
  readonly slots: FieldSlot[];
  private readonly window: [number, number, number];
  private readonly ends: number[];
  private lastPositions?: { index: number; samples: SampleInfo[] };

  constructor(config: SamplerConfig) {
    this.config = config;
    this.cache = new ChunkCache(config.cacheBytes);
    this.normCache = new ChunkCache(config.cacheBytes);
    this.datasets = config.datasets.map((d) =>
      readRootAttributes(d.store).grid === "unstructured"
        ? new MeshDataset(d.store, this.cache)
        : new RegularDataset(d.store, this.cache)
    );
    this.norms = config.datasets.map((d, i) => {
      const path = d.norm ?? defaultNorm(d.store);
      return this.datasets[i] instanceof MeshDataset
        ? new MeshNormSet(path, this.normCache)
        : new NormSet(path, this.normCache);
    });
    const meshFirst = this.datasets[0] instanceof MeshDataset;
    if (meshFirst && this.datasets.some((d) => d instanceof RegularDataset)) {
      throw new Error("a regular-grid dataset must come first: its neighborhoods place the others");
    }
    if (meshFirst && !config.box) {
      throw new Error(
        `${config.datasets[0].store}: sampling a mesh alone needs \`box\`: [latitude, longitude] extent in degrees`,
      );
    }
    this.slots = config.datasets.flatMap((d, dataset) => {
      const grid = String(readRootAttributes(d.store).grid ?? "regular_ll");
      return d.fields.map((f) => {
        const where = `${d.store}: ${f.name}`;
        const tokenizer = tokenizerFor(grid, f.tokenizer, where);
        const layout = tokenizer.check(f.tokens, where);
        return { dataset, field: f.name, levels: f.levels, layout, config: f, tokenizer };
      });
    });
    const grids = this.slots.filter((f) => this.datasets[f.dataset] instanceof RegularDataset).map((f) =>
      extent(f.layout as TokenGrid).join("×")
    );
    if (new Set(grids).size > 1) {
      throw new Error(
        `all regular fields must cover the same neighborhood (points): ${[...new Set(grids)].join(" vs ")}`,
      );
    }
    // The first dataset's neighborhood: a regular grid's token extent, or a mesh's longest time window.
    this.window = meshFirst
      ? [Math.max(...config.datasets[0].fields.map((f) => (f.tokens as PointTokens).timeSteps)), 0, 0]
      : extent(config.datasets[0].fields[0].tokens as TokenGrid);
    for (const [i, d] of this.datasets.entries()) {
      if (d instanceof MeshDataset) {
        for (const f of config.datasets[i].fields) {
          d.points(f.name, (f.tokens as PointTokens).healpixOrder);
          if (f.surface === undefined) continue;
          const [own, sfc] = [d.place(f.name), d.place(f.surface)];
          if (sfc.levels || sfc.location !== own.location) {
            throw new Error(
              `${d.root}: ${f.name}'s surface ${f.surface} must be a single-level field on ${own.location}s`,
            );
          }
        }
        continue;
      }
      for (const f of config.datasets[i].fields) {
        if (f.surface !== undefined && !d.isSurface(f.surface)) {
          throw new Error(`${d.root}: ${f.name}'s surface ${f.surface} is not a single-level field`);
        }
        for (const level of f.levels) {
          const src = levelSource(f, level);
          if (!d.isSurface(src.name) && !d.levels.includes(src.level)) {
            throw new Error(`${d.root}: ${f.name} has no level ${level} (levels: ${d.levels.join(", ")})`);
          }
        }
      }
      if (d.colat.length < this.window[1] || (!d.isGlobal && d.lons.length < this.window[2])) {
        throw new Error(`${d.root}: the grid is smaller than the neighborhood ${this.window.join("×")}`);
      }
    }
    const d0 = this.datasets[0];
    // Regular datasets share the first one's sample positions (grid rows, columns, time indices).
    for (const d of this.datasets.slice(1)) {
      if (!(d instanceof RegularDataset) || !(d0 instanceof RegularDataset)) continue;
      const same = d.res.join() === d0.res.join() && d.colat.length === d0.colat.length &&
        d.lons.length === d0.lons.length && d.colat[0] === d0.colat[0] && d.lons[0] === d0.lons[0] &&
        d.times.length === d0.times.length && d.times.every((t, i) => t === d0.times[i]);
      if (!same) {
        throw new Error(
          `${d.root}: a second regular dataset must have the grid and time axis of ${d0.root} ` +
            "(its samples are placed by the first one's rows, columns and time steps)",
        );
      }
    }
    const [from, to] = config.timeRange?.map((s) => Date.parse(s.endsWith("Z") ? s : `${s}Z`) / 1000) ??
      [-Infinity, Infinity];
    const stride = config.timeStride ?? 1;
    this.ends = [];
    for (let e = this.window[0] - 1; e < d0.times.length; e += stride) {
      if (d0.times[e] >= from && d0.times[e] <= to) this.ends.push(e);
    }
    if (this.ends.length === 0) throw new Error("no time window fits the time range");
  }

  /** Draw the sample positions of batch `index`. */
  positions(index: number): SampleInfo[] {
    if (this.lastPositions?.index === index) return this.lastPositions.samples;
    const rng = new Rng(this.config.seed, index);
    const d = this.datasets[0];
    const [T, H, W] = this.window;
    const [latMin, latMax] = this.config.latRange ?? [-90, 90];
    const out: SampleInfo[] = [];
    const shared = this.ends[rng.int(this.ends.length)];
    for (let b = 0; b < this.config.batchSize; b++) {
      const e = this.config.sharedTimeWindow ? shared : this.ends[rng.int(this.ends.length)];
      // Centre latitude, then the window is clamped into the globe (touching, not crossing, a pole).
      const lat = this.config.centers === "uniform" ? latMin + rng.next() * (latMax - latMin) : Math.asin(
        Math.sin(latMin * Math.PI / 180) +
          rng.next() * (Math.sin(latMax * Math.PI / 180) - Math.sin(latMin * Math.PI / 180)),
      ) * 180 / Math.PI;
      if (d instanceof MeshDataset) {
        const [h, w] = this.config.box!;
        const south = Math.min(Math.max(-90, lat - h / 2), 90 - h);
        const west = rng.next() * 360;
        out.push({ t0: e - T + 1, i0: -1, j0: -1, end: d.times[e], box: [south, south + h, west, w] });
        continue;
      }
      const nlat = d.colat.length, nlon = d.lons.length;
      const centreRow = Math.round((90 - lat - d.colat[0]) / d.res[0]);
      const i0 = Math.min(Math.max(0, centreRow - Math.floor(H / 2)), nlat - H);
      const j0 = d.isGlobal ? rng.int(nlon) : rng.int(nlon - W + 1);
      const [dlat, dlon] = d.res;
      // The box of the grid cells (edges half a cell beyond the outer points), where other datasets' points are taken.
      const north = 90 - (d.colat[0] + i0 * dlat) + dlat / 2;
      const south = 90 - (d.colat[0] + (i0 + H - 1) * dlat) - dlat / 2;
      out.push({
        t0: e - T + 1,
        i0,
        j0,
        end: d.times[e],
        box: [south, north, d.lons[0] + j0 * dlon - dlon / 2, W * dlon],
      });
    }
    this.lastPositions = { index, samples: out };
    return out;
  }

  /** The units of a batch, in order: per regular field one per level, per mesh field one. */
  units(): Unit[] {
    return this.slots.flatMap((f, field) =>
      this.datasets[f.dataset] instanceof MeshDataset
        ? [{ field, levels: f.levels.map((_, l) => l) }]
        : f.levels.map((_, l) => ({ field, levels: [l] }))
    );
  }

  /** Empty field batches (plain or shared memory from `alloc`). */
  allocate(alloc?: (bytes: number) => ArrayBufferLike): FieldBatch[] {
    return this.slots.map(({ dataset, field, levels, layout }) =>
      allocateField({ dataset, field, levels, layout }, this.config.batchSize, alloc)
    );
  }

  /** Batch `index` (deterministic), made on this thread. */
  batch(index: number): Batch {
    const fields = this.allocate();
    return this.assemble(index, fields, this.units().map((u) => this.runUnit(index, u, fields[u.field])));
  }

  /**
   * The batch made of `fields` and the results of its units (in {@link units}
   * order, whichever thread ran them): summed counters, and per field the
   * replaced tokens of its units in unit order.
   */
  assemble(index: number, fields: FieldBatch[], results: UnitResult[]): Batch {
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
    return { index, timings, stats, samples: this.positions(index), fields: out };
  }

  /** Fill `fb` (the unit's field) with the unit's levels of batch `index`. */
  runUnit(index: number, unit: Unit, fb: FieldBatch): UnitResult {
    const slot = this.slots[unit.field];
    const d = this.datasets[slot.dataset];
    const samples = this.positions(index);
    const result: UnitResult = {
      timings: noTimings(),
      stats: noStats(),
      replaced: [],
      replacements: new Float32Array(),
    };
    // One random stream per (batch, field, first level): the same whatever thread runs the unit.
    const rng = new Rng(
      (this.config.seed ^ 0x5bd1e995 ^ Math.imul(unit.field + 1, 0x27d4eb2f) ^
        Math.imul(unit.levels[0] + 1, 0x165667b1)) >>>
        0,
      index,
    );
    const replacements: Float32Array[] = [];
    const masked = { replaced: result.replaced, replacements };
    if (d instanceof MeshDataset) {
      // Mesh fields are read through the dataset cache: its counters' growth is this unit's I/O.
      const before = { ...this.cache.stats };
      this.meshUnit(d, this.norms[slot.dataset] as MeshNormSet, slot, fb, samples, result.timings);
      for (const k of Object.keys(before) as (keyof ReadStats)[]) result.stats[k] = this.cache.stats[k] - before[k];
      this.maskUnit(slot, unit, fb, rng, masked, result.timings);
    } else {
      const li = unit.levels[0], level = slot.levels[li], src = levelSource(slot.config, level);
      const g = slot.layout as TokenGrid;
      const { tokens: ntok, values: len } = tokenShape(g);
      const L = slot.levels.length;
      const norm = this.norms[slot.dataset] as NormSet;
      gatherTokens(
        {
          ...d.source(src.name, src.level),
          windows: samples,
          grid: g,
          out: fb.tokens,
          offset: (s) => (s * L + li) * ntok * len,
          scaling: (s) => {
            const t = performance.now();
            const sc = this.scaling(d, norm, src.name, slot.config.normalization, src.level, samples[s]);
            result.timings.normalize += performance.now() - t;
            return sc;
          },
          done: (s) => {
            const t = performance.now();
            this.info(fb.tokenInfo, (s * L + li) * ntok, d, g, level, li, samples[s]);
            result.timings.tokenize += performance.now() - t;
          },
        },
        result.timings,
        result.stats,
      );
      this.maskUnit(slot, unit, fb, rng, masked, result.timings);
    }
    result.replacements = concat(replacements);
    return result;
  }

  /** Mask every (sample, level) of a unit in sample order; mesh padding tokens are never targets. */
  private maskUnit(
    slot: FieldSlot,
    unit: Unit,
    fb: FieldBatch,
    rng: Rng,
    out: { replaced: number[]; replacements: Float32Array[] },
    timings: BatchTimings,
  ): void {
    const t = performance.now();
    const { tokens: ntok, values: len } = tokenShape(slot.layout);
    const L = slot.levels.length, cfg = slot.config.masking ?? this.config.masking;
    const mesh = "pointsPerToken" in slot.layout ? slot.layout : undefined;
    const grid: [[number, number, number], [number, number, number]] = mesh
      ? [[mesh.timeSteps, 1, mesh.maxTokens], [1, 1, mesh.pointsPerToken]]
      : [(slot.layout as TokenGrid).numTokens, (slot.layout as TokenGrid).tokenSize];
    for (let s = 0; s < this.config.batchSize; s++) {
      const used = mesh ? fb.points!.tokens[s] : Infinity;
      const padding = (k: number) => mesh !== undefined && k % mesh.maxTokens >= used;
      for (const li of unit.levels) {
        const off = (s * L + li) * ntok;
        const mask = fb.mask.subarray(off, off + ntok).fill(MASK.visible);
        maskTokens(fb.tokens.subarray(off * len, (off + ntok) * len), mask, grid[0], grid[1], cfg, rng, (k, v) => {
          if (padding(k)) return;
          out.replaced.push(off + k);
          out.replacements.push(v);
        });
        if (mesh) { for (let k = 0; k < ntok; k++) if (padding(k)) mask[k] = MASK.visible; }
      }
    }
    timings.mask += performance.now() - t;
  }

  /** The coefficients that normalize one sample's window of a field level, per time step's month. */
  private scaling(
    d: RegularDataset,
    norm: NormSet,
    name: string,
    normalization: FieldConfig["normalization"],
    level: number,
    pos: SampleInfo,
  ): Scaling {
    const [T, H, W] = this.window;
    const byEntry = new Map<number, [Float32Array, Float32Array]>();
    const mean: Float32Array[] = [], inv: Float32Array[] = [];
    for (let t = 0; t < T; t++) {
      const entry = norm.entry(d.times[pos.t0 + t]);
      let c = byEntry.get(entry);
      if (!c) {
        if (normalization === "local") {
          const [m, sd] = norm.localCoefficients(name, level, entry, pos.i0, H, pos.j0, W, d.lons.length);
          c = [m, sd.map((x) => 1 / safe(x))];
        } else {
          const [m, sd] = norm.globalCoefficients(name, level, entry);
          c = [Float32Array.of(m), Float32Array.of(1 / safe(sd))];
        }
        byEntry.set(entry, c);
      }
      mean.push(c[0]);
      inv.push(c[1]);
    }
    return { mean, inv, logEps: norm.transforms[name]?.eps };
  }

  /** Mesh field (all levels): the points inside each sample's box, bucketed by HEALPix cell, normalized. */
  private meshUnit(
    d: MeshDataset,
    norm: MeshNormSet,
    slot: FieldSlot,
    fb: FieldBatch,
    samples: SampleInfo[],
    timings: BatchTimings,
  ): void {
    const fc = slot.config, pt = slot.layout as PointTokens;
    const { lat, lon, cell } = d.points(fc.name, pt.healpixOrder);
    const L = fc.levels.length, P = pt.pointsPerToken;
    const slots = pt.maxTokens * P, ntok = pt.timeSteps * pt.maxTokens;
    const points = fb.points!;
    for (const [s, pos] of samples.entries()) {
      let t = performance.now();
      const [south, north, west, width] = pos.box;
      const selected = pointsInBox(lat, lon, [south, north], west, width);
      const layout = layoutPoints(selected, cell, lat, lon, pt);
      points.index.set(layout.index, s * slots);
      points.coords.fill(0, s * slots * 2, (s + 1) * slots * 2);
      for (let k = 0; k < slots; k++) {
        const p = layout.index[k];
        if (p >= 0) points.coords.set([lat[p], lon[p]], (s * slots + k) * 2);
      }
      points.tokens[s] = layout.tokens;
      points.dropped[s] = layout.dropped;
      const end = d.lastTimeAtOrBefore(pos.end);
      const t0 = end - pt.timeSteps + 1;
      if (t0 < 0) {
        throw new Error(
          `${d.root}: no ${pt.timeSteps} time step(s) at or before ${new Date(pos.end * 1000).toISOString()}`,
        );
      }
      points.t0[s] = t0;
      timings.tokenize += performance.now() - t;
      const n = lat.length;
      for (const [li, level] of fc.levels.entries()) {
        t = performance.now();
        const src = levelSource(fc, level), place = d.place(src.name);
        const block = d.read(src.name, src.level, t0, pt.timeSteps);
        const t1 = performance.now();
        timings.read += t1 - t;
        const levelIndex = place.levels ? d.levels.indexOf(src.level) : 0;
        for (let ts = 0; ts < pt.timeSteps; ts++) {
          const [mean, std] = norm.coefficients(
            src.name,
            place,
            levelIndex,
            norm.entry(d.times[t0 + ts]),
            fc.normalization === "local",
          );
          const v = block.subarray(ts * n, (ts + 1) * n);
          for (let k = 0; k < n; k++) {
            const m = typeof mean === "number" ? mean : mean[k], sd = typeof std === "number" ? std : std[k];
            v[k] = (v[k] - m) / safe(sd);
          }
        }
        const t2 = performance.now();
        timings.normalize += t2 - t1;
        for (let ts = 0; ts < pt.timeSteps; ts++) {
          gatherPoints(
            block.subarray(ts * n, (ts + 1) * n),
            layout,
            fb.tokens,
            ((s * L + li) * ntok + ts * pt.maxTokens) * P,
          );
          const time = new Date(d.times[t0 + ts] * 1000);
          const doy = Math.floor((time.getTime() - Date.UTC(time.getUTCFullYear(), 0, 1)) / 86400000);
          for (let k = 0; k < pt.maxTokens; k++) {
            const first = layout.index[k * P];
            const info = ((s * L + li) * ntok + ts * pt.maxTokens + k) * TOKEN_INFO.length;
            fb.tokenInfo.set([
              time.getUTCFullYear(),
              doy,
              time.getUTCHours(),
              level,
              first >= 0 ? 90 - lat[first] : 0,
              first >= 0 ? lon[first] : 0,
              li,
              pt.healpixOrder,
            ], info);
          }
        }
        timings.tokenize += performance.now() - t2;
      }
    }
  }

  /** Invert the normalization of one sample's field level block (T, H, W), in place. */
  denormalize(block: Float32Array, datasetIndex: number, fc: FieldConfig, level: number, pos: SampleInfo): void {
    const d = this.datasets[datasetIndex] as RegularDataset, norm = this.norms[datasetIndex] as NormSet;
    const [T, H, W] = this.window;
    const plane = H * W;
    const src = levelSource(fc, level), name = src.name;
    level = src.level;
    for (let t = 0; t < T; t++) {
      const entry = norm.entry(d.times[pos.t0 + t]);
      if (fc.normalization === "local") {
        const [mean, std] = norm.localCoefficients(name, level, entry, pos.i0, H, pos.j0, W, d.lons.length);
        for (let k = 0; k < plane; k++) block[t * plane + k] = block[t * plane + k] * safe(std[k]) + mean[k];
      } else {
        const [mean, std] = norm.globalCoefficients(name, level, entry);
        const sd = safe(std);
        for (let k = 0; k < plane; k++) block[t * plane + k] = block[t * plane + k] * sd + mean;
      }
    }
    const tr = norm.transforms[name];
    if (tr) { for (let i = 0; i < block.length; i++) block[i] = Math.exp(block[i] + Math.log(tr.eps)) - tr.eps; }
  }

  private info(
    out: Float32Array,
    tokenOffset: number,
    d: RegularDataset,
    g: TokenGrid,
    level: number,
    li: number,
    pos: SampleInfo,
  ): void {
    const [nt, nh, nw] = g.numTokens, [tt, th, tw] = g.tokenSize;
    const n = TOKEN_INFO.length;
    let k = tokenOffset * n;
    for (let a = 0; a < nt; a++) {
      const time = new Date(d.times[pos.t0 + (a + 1) * tt - 1] * 1000);
      const year = time.getUTCFullYear(), hour = time.getUTCHours();
      const doy = Math.floor((time.getTime() - Date.UTC(year, 0, 1)) / 86400000);
      for (let b = 0; b < nh; b++) {
        const colat = d.colat[0] + (pos.i0 + b * th + (th - 1) / 2) * d.res[0];
        for (let c = 0; c < nw; c++, k += n) {
          const col = pos.j0 + c * tw + (tw - 1) / 2;
          out[k] = year;
          out[k + 1] = doy;
          out[k + 2] = hour;
          out[k + 3] = level;
          out[k + 4] = colat;
          out[k + 5] = ((d.lons[0] + col * d.res[1]) % 360 + 360) % 360;
          out[k + 6] = li;
          out[k + 7] = d.res[0];
        }
      }
    }
  }
}

/** The store field and level behind level `level` of a field: its `surface` field for level 0 when set. */
function levelSource(fc: FieldConfig, level: number): { name: string; level: number } {
  return fc.surface !== undefined && level === 0 ? { name: fc.surface, level: 0 } : { name: fc.name, level };
}

/** A zero or missing standard deviation (a constant point, e.g. at a pole) divides by 1. */
function safe(std: number): number {
  return std > 0 ? std : 1;
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
