/**
 * The multifield sampler: batches of space-time neighborhoods drawn from
 * stores written by the converters, normalized at load time with a chosen
 * coefficient set, tokenized and masked. Configured with a typed object.
 *
 * Neighborhoods are periodic in longitude on global grids. Near the poles a
 * window is shifted so that it touches the pole row without crossing it
 * (AtmoRep instead never draws centres there). Unlike AtmoRep, every sample
 * has its own time window. Batch b of seed s is a pure function of (s, b).
 * A zero standard deviation (a point constant over the month, e.g. at a
 * pole) normalizes with 1 instead, so no NaN or infinity reaches a model.
 *
 * @module
 */
import { ChunkCache } from "./cache.ts";
import { type MaskingConfig, maskTokens } from "./masking.ts";
import { NormSet, RegularDataset } from "./regular.ts";
import { Rng } from "./rng.ts";
import { gatherPoints, layoutPoints, pointsInBox, type PointTokens } from "../tokenizers/unstructured.ts";
import { MeshDataset, MeshNormSet } from "./unstructured.ts";
import { readRootAttributes } from "../zarr/store.ts";
import { dirname, join } from "node:path";
import { extent, TOKEN_INFO, type TokenGrid, tokenize, tokenLength } from "../tokenizers/regular.ts";

/** One field of a dataset as the sampler delivers it. */
export interface FieldConfig {
  /** Field name in the store. */
  name: string;
  /** Levels (a single-level field takes [0]). */
  levels: number[];
  /** Tokens: a space-time grid (regular stores) or point tokens (mesh stores). */
  tokens: TokenGrid | PointTokens;
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
}

/**
 * One field of a batch. Shapes (C order): `tokens` and `targets`
 * (batch, level, token, tokenLength) with tokens ordered (t, lat, lon);
 * `mask` (batch, level, token), 1 = masked (a target); `tokenInfo`
 * (batch, level, token, 8) = year, day of year − 1, hour (last of the
 * token), level, colatitude and longitude of the token centre, level index,
 * resolution (degrees).
 */
export interface FieldBatch {
  /** Dataset index. */
  dataset: number;
  /** Field name. */
  field: string;
  /** Levels. */
  levels: number[];
  /** Token layout. */
  tokens: TokenGrid | PointTokens;
  /** Mesh fields: which point sits in which token slot, per sample. */
  points?: {
    /** (batch, maxTokens·pointsPerToken) point index, −1 for padding. */
    index: Int32Array;
    /** (batch, maxTokens·pointsPerToken, 2) latitude and longitude of each slot (0 for padding). */
    coords: Float32Array;
    /** (batch) tokens holding points. */
    tokens: Int32Array;
    /** (batch) points of the neighborhood beyond maxTokens tokens. */
    dropped: Int32Array;
    /** (batch) store time index of the first step. */
    t0: Int32Array;
  };
  /** Masked, normalized tokens (model input). */
  input: Float32Array;
  /** Normalized tokens before masking (targets). */
  targets: Float32Array;
  /** 1 where a token is masked. */
  mask: Uint8Array;
  /** Token info. */
  tokenInfo: Float32Array;
}

/** Where and when each sample was drawn. */
export interface SampleInfo {
  /** Store time index of the window's first step. */
  t0: number;
  /** First row (colatitude index). */
  i0: number;
  /** First column (may exceed the row length: it wraps). */
  j0: number;
}

/** Milliseconds spent per stage while making a batch. */
export interface BatchTimings {
  /** Reading and decoding chunks (I/O included). */
  read: number;
  /** Normalizing. */
  normalize: number;
  /** Tokenizing. */
  tokenize: number;
  /** Masking. */
  mask: number;
}

/** A batch. */
export interface Batch {
  /** Batch index. */
  index: number;
  /** Where the time went. */
  timings: BatchTimings;
  /** Per sample, where it was drawn (in the first dataset's grid). */
  samples: SampleInfo[];
  /** Per field. */
  fields: FieldBatch[];
}

/** The multifield sampler. */
export class MultifieldSampler {
  /** Configuration. */
  readonly config: SamplerConfig;
  /** Chunk cache shared by all reads (read amplification in its stats). */
  readonly cache: ChunkCache;
  /** Opened datasets. */
  readonly datasets: (RegularDataset | MeshDataset)[];
  /** Opened coefficient sets. */
  readonly norms: (NormSet | MeshNormSet)[];
  private readonly window: [number, number, number];
  private timings: BatchTimings = { read: 0, normalize: 0, tokenize: 0, mask: 0 };
  private readonly ends: number[];

  constructor(config: SamplerConfig) {
    this.config = config;
    this.cache = new ChunkCache(config.cacheBytes);
    this.datasets = config.datasets.map((d) =>
      readRootAttributes(d.store).grid === "unstructured"
        ? new MeshDataset(d.store, this.cache)
        : new RegularDataset(d.store, this.cache)
    );
    this.norms = config.datasets.map((d, i) => {
      const path = d.norm ?? defaultNorm(d.store);
      return this.datasets[i] instanceof MeshDataset
        ? new MeshNormSet(path, this.cache)
        : new NormSet(path, this.cache);
    });
    if (!(this.datasets[0] instanceof RegularDataset)) {
      throw new Error("the first dataset must be a regular grid: its neighborhoods place the others");
    }
    const grids = config.datasets.flatMap((d, i) =>
      this.datasets[i] instanceof RegularDataset ? d.fields.map((f) => extent(f.tokens as TokenGrid).join("×")) : []
    );
    if (new Set(grids).size !== 1) {
      throw new Error(
        `all regular fields must cover the same neighborhood (points): ${[...new Set(grids)].join(" vs ")}`,
      );
    }
    this.window = extent(config.datasets[0].fields[0].tokens as TokenGrid);
    for (const [i, d] of this.datasets.entries()) {
      if (d instanceof MeshDataset) {
        for (const f of config.datasets[i].fields) {
          if (!("pointsPerToken" in f.tokens)) {
            throw new Error(`${d.root}: mesh fields need point tokens (pointsPerToken, …)`);
          }
          d.points(f.name, f.tokens.healpixOrder);
        }
        continue;
      }
      for (const f of config.datasets[i].fields) {
        for (const level of f.levels) {
          if (!d.isSurface(f.name) && !d.levels.includes(level)) {
            throw new Error(`${d.root}: ${f.name} has no level ${level} (levels: ${d.levels.join(", ")})`);
          }
        }
      }
      if (d.colat.length < this.window[1] || (!d.isGlobal && d.lons.length < this.window[2])) {
        throw new Error(`${d.root}: the grid is smaller than the neighborhood ${this.window.join("×")}`);
      }
    }
    const d0 = this.datasets[0] as RegularDataset;
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
    const rng = new Rng(this.config.seed, index);
    const d = this.datasets[0] as RegularDataset;
    const [T, H, W] = this.window;
    const nlat = d.colat.length, nlon = d.lons.length;
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
      const centreRow = Math.round((90 - lat - d.colat[0]) / d.res[0]);
      const i0 = Math.min(Math.max(0, centreRow - Math.floor(H / 2)), nlat - H);
      const j0 = d.isGlobal ? rng.int(nlon) : rng.int(nlon - W + 1);
      out.push({ t0: e - T + 1, i0, j0 });
    }
    return out;
  }

  /** Batch `index` (deterministic). */
  batch(index: number): Batch {
    const timings: BatchTimings = { read: 0, normalize: 0, tokenize: 0, mask: 0 };
    this.timings = timings;
    const samples = this.positions(index);
    const rng = new Rng(this.config.seed ^ 0x5bd1e995, index);
    const fields: FieldBatch[] = [];
    const [T, H, W] = this.window;
    for (const [di, dc] of this.config.datasets.entries()) {
      const d = this.datasets[di], norm = this.norms[di];
      if (d instanceof MeshDataset) {
        for (const fc of dc.fields) {
          const t = performance.now();
          fields.push(this.meshField(di, d, norm as MeshNormSet, fc, samples, rng));
          this.timings.read += performance.now() - t; // mesh reads, normalization and tokenizing together
        }
        continue;
      }
      for (const fc of dc.fields) {
        const g = fc.tokens as TokenGrid, ntok = g.numTokens[0] * g.numTokens[1] * g.numTokens[2], len = tokenLength(g);
        const L = fc.levels.length, B = samples.length;
        const targets = new Float32Array(B * L * ntok * len);
        const mask = new Uint8Array(B * L * ntok);
        const tokenInfo = new Float32Array(B * L * ntok * TOKEN_INFO.length);
        // Level-major, so one level's chunks stay in the cache while every sample reads them.
        for (const [li, level] of fc.levels.entries()) {
          for (const [s, pos] of samples.entries()) {
            let t = performance.now();
            const block = d.read(fc.name, level, pos.t0, T, pos.i0, H, pos.j0, W);
            timings.read += performance.now() - t;
            t = performance.now();
            this.normalize(block, d, norm as NormSet, fc, level, pos);
            timings.normalize += performance.now() - t;
            t = performance.now();
            const off = (s * L + li) * ntok;
            tokenize(block, g, targets, off * len);
            this.info(tokenInfo, off, d, g, level, li, pos);
            timings.tokenize += performance.now() - t;
          }
        }
        const tm = performance.now();
        const input = targets.slice();
        for (let k = 0; k < B * L; k++) {
          maskTokens(
            input.subarray(k * ntok * len, (k + 1) * ntok * len),
            mask.subarray(k * ntok, (k + 1) * ntok),
            g.numTokens,
            g.tokenSize,
            fc.masking ?? this.config.masking,
            rng,
          );
        }
        timings.mask += performance.now() - tm;
        fields.push({ dataset: di, field: fc.name, levels: fc.levels, tokens: g, input, targets, mask, tokenInfo });
      }
    }
    return { index, timings, samples, fields };
  }

  /** Normalize a (T, H, W) block in place with the set's coefficients for each time step's month. */
  private normalize(
    block: Float32Array,
    d: RegularDataset,
    norm: NormSet,
    fc: FieldConfig,
    level: number,
    pos: SampleInfo,
  ): void {
    const [T, H, W] = this.window;
    const plane = H * W;
    const tr = norm.transforms[fc.name];
    if (tr) {
      const shift = Math.log(tr.eps);
      for (let i = 0; i < block.length; i++) block[i] = Math.log(block[i] + tr.eps) - shift;
    }
    for (let t = 0; t < T; t++) {
      const entry = norm.entry(d.times[pos.t0 + t]);
      if (fc.normalization === "local") {
        const [mean, std] = norm.localCoefficients(fc.name, level, entry, pos.i0, H, pos.j0, W, d.lons.length);
        for (let k = 0; k < plane; k++) block[t * plane + k] = (block[t * plane + k] - mean[k]) / safe(std[k]);
      } else {
        const [mean, std] = norm.globalCoefficients(fc.name, level, entry);
        const sd = safe(std);
        for (let k = 0; k < plane; k++) block[t * plane + k] = (block[t * plane + k] - mean) / sd;
      }
    }
  }

  /** Tokens of a mesh field: the points inside each sample's box, bucketed by HEALPix cell. */
  private meshField(
    di: number,
    d: MeshDataset,
    norm: MeshNormSet,
    fc: FieldConfig,
    samples: SampleInfo[],
    rng: Rng,
  ): FieldBatch {
    const pt = fc.tokens as PointTokens;
    const d0 = this.datasets[0] as RegularDataset;
    const [T, H, W] = this.window;
    const { lat, lon, cell } = d.points(fc.name, pt.healpixOrder);
    const place = d.place(fc.name);
    const B = samples.length, L = fc.levels.length, P = pt.pointsPerToken;
    const slots = pt.maxTokens * P, ntok = pt.timeSteps * pt.maxTokens;
    const targets = new Float32Array(B * L * ntok * P);
    const mask = new Uint8Array(B * L * ntok);
    const tokenInfo = new Float32Array(B * L * ntok * TOKEN_INFO.length);
    const points = {
      index: new Int32Array(B * slots),
      coords: new Float32Array(B * slots * 2),
      tokens: new Int32Array(B),
      dropped: new Int32Array(B),
      t0: new Int32Array(B),
    };
    const [dlat, dlon] = d0.res;
    for (const [s, pos] of samples.entries()) {
      const north = 90 - (d0.colat[0] + pos.i0 * dlat) + dlat / 2;
      const south = 90 - (d0.colat[0] + (pos.i0 + H - 1) * dlat) - dlat / 2;
      const selected = pointsInBox(lat, lon, [south, north], d0.lons[0] + pos.j0 * dlon - dlon / 2, W * dlon);
      const layout = layoutPoints(selected, cell, lat, lon, pt);
      points.index.set(layout.index, s * slots);
      for (let k = 0; k < slots; k++) {
        const p = layout.index[k];
        if (p >= 0) points.coords.set([lat[p], lon[p]], (s * slots + k) * 2);
      }
      points.tokens[s] = layout.tokens;
      points.dropped[s] = layout.dropped;
      const end = d.lastTimeAtOrBefore(d0.times[pos.t0 + T - 1]);
      const t0 = end - pt.timeSteps + 1;
      if (t0 < 0) {
        throw new Error(
          `${d.root}: no ${pt.timeSteps} time step(s) at or before ${
            new Date(d0.times[pos.t0 + T - 1] * 1000).toISOString()
          }`,
        );
      }
      points.t0[s] = t0;
      const n = lat.length;
      for (const [li, level] of fc.levels.entries()) {
        const block = d.read(fc.name, level, t0, pt.timeSteps);
        const levelIndex = place.levels ? d.levels.indexOf(level) : 0;
        for (let t = 0; t < pt.timeSteps; t++) {
          const [mean, std] = norm.coefficients(
            fc.name,
            place,
            levelIndex,
            norm.entry(d.times[t0 + t]),
            fc.normalization === "local",
          );
          const v = block.subarray(t * n, (t + 1) * n);
          for (let k = 0; k < n; k++) {
            const m = typeof mean === "number" ? mean : mean[k], sd = typeof std === "number" ? std : std[k];
            v[k] = (v[k] - m) / safe(sd);
          }
          gatherPoints(v, layout, targets, ((s * L + li) * ntok + t * pt.maxTokens) * P);
          const time = new Date(d.times[t0 + t] * 1000);
          const doy = Math.floor((time.getTime() - Date.UTC(time.getUTCFullYear(), 0, 1)) / 86400000);
          for (let k = 0; k < pt.maxTokens; k++) {
            const first = layout.index[k * P];
            const info = ((s * L + li) * ntok + t * pt.maxTokens + k) * TOKEN_INFO.length;
            tokenInfo.set([
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
      }
    }
    const input = targets.slice();
    for (let k = 0; k < B * L; k++) {
      const m = mask.subarray(k * ntok, (k + 1) * ntok);
      maskTokens(
        input.subarray(k * ntok * P, (k + 1) * ntok * P),
        m,
        [pt.timeSteps, 1, pt.maxTokens],
        [1, 1, P],
        fc.masking ?? this.config.masking,
        rng,
      );
      // Padding tokens are never targets.
      const used = points.tokens[Math.floor(k / L)];
      for (let t = 0; t < pt.timeSteps; t++) m.fill(0, t * pt.maxTokens + used, (t + 1) * pt.maxTokens);
    }
    return { dataset: di, field: fc.name, levels: fc.levels, tokens: pt, input, targets, mask, tokenInfo, points };
  }

  /** Invert the normalization of one sample's field level block (T, H, W), in place. */
  denormalize(block: Float32Array, datasetIndex: number, fc: FieldConfig, level: number, pos: SampleInfo): void {
    const d = this.datasets[datasetIndex] as RegularDataset, norm = this.norms[datasetIndex] as NormSet;
    const [T, H, W] = this.window;
    const plane = H * W;
    for (let t = 0; t < T; t++) {
      const entry = norm.entry(d.times[pos.t0 + t]);
      if (fc.normalization === "local") {
        const [mean, std] = norm.localCoefficients(fc.name, level, entry, pos.i0, H, pos.j0, W, d.lons.length);
        for (let k = 0; k < plane; k++) block[t * plane + k] = block[t * plane + k] * safe(std[k]) + mean[k];
      } else {
        const [mean, std] = norm.globalCoefficients(fc.name, level, entry);
        const sd = safe(std);
        for (let k = 0; k < plane; k++) block[t * plane + k] = block[t * plane + k] * sd + mean;
      }
    }
    const tr = norm.transforms[fc.name];
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
    let k = tokenOffset * TOKEN_INFO.length;
    for (let a = 0; a < nt; a++) {
      const time = new Date(d.times[pos.t0 + (a + 1) * tt - 1] * 1000);
      const doy = Math.floor((time.getTime() - Date.UTC(time.getUTCFullYear(), 0, 1)) / 86400000);
      for (let b = 0; b < nh; b++) {
        const row = pos.i0 + b * th + (th - 1) / 2;
        for (let c = 0; c < nw; c++) {
          const col = pos.j0 + c * tw + (tw - 1) / 2;
          out.set([
            time.getUTCFullYear(),
            doy,
            time.getUTCHours(),
            level,
            d.colat[0] + row * d.res[0],
            ((d.lons[0] + col * d.res[1]) % 360 + 360) % 360,
            li,
            d.res[0],
          ], k);
          k += TOKEN_INFO.length;
        }
      }
    }
  }
}

/** A zero or missing standard deviation (a constant point, e.g. at a pole) divides by 1. */
function safe(std: number): number {
  return std > 0 ? std : 1;
}

/** The coefficient set a store names in its attributes (written next to it by the converters). */
function defaultNorm(store: string): string {
  const root = store.replace(/\/+$/, "");
  const name = readRootAttributes(root).normalization;
  if (typeof name === "string" && name) return join(dirname(root), name);
  return root.replace(/\.zarr$/, "") + ".norm.zarr";
}
