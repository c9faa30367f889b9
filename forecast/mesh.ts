/**
 * Mesh fields (FESOM nodes and elements, `healpix-points` tokens) in the
 * auto-regressive rollout. A mesh field lives on its own time axis (the
 * store's, extended past its end by its last interval): under an
 * atmospheric window ending at E the sampler takes the mesh's last
 * `timeSteps` steps at or before E. The rollout keeps that window per mesh
 * plane in physical units at every point of the store; a step cuts it into
 * tokens with the tokenizer itself (a view of the dataset whose reads come
 * from the rolled-out state, so the tokens equal the sampler's), and
 * blends the stepper's next mesh step back onto the points: a point read
 * by several tiles weighs each tile's value with the tile's taper at the
 * point (the grid cell nearest to it), normalized to sum to one.
 *
 * The mesh window advances only when a new mesh step falls at or before
 * the new atmospheric window end (a monthly ocean under 3-hourly air
 * stays as it is for most steps); the stepper's mesh output is used then.
 * When the mesh advances by more than one of its steps at once and keeps
 * more than one, the steps in between are linear in time between the last
 * known and the predicted step.
 *
 * @module
 */
import type { MultifieldSampler } from "../samplers/sampler.ts";
import { allocateField, type FieldBatch } from "../samplers/batch.ts";
import type { MeshDataset } from "../datasets/mesh.ts";
import type { GridDataset } from "../datasets/grid.ts";
import type { Window } from "../datasets/window.ts";
import { noStats, noTimings } from "../datasets/counters.ts";
import { denormalizeInPlace } from "../normalization/coefficients.ts";
import type { PointTokens } from "../tokenizers/healpix_points.ts";
import { levelSource } from "../tokenizers/plugin.ts";
import { ConfigError, StoreError } from "../errors.ts";
import type { TileBlender } from "./blend.ts";

/** One level of a mesh field rolled out. */
export interface MeshPlane {
  /** Sampler slot (field) index. */
  slot: number;
  /** Dataset index in the sampler. */
  dataset: number;
  /** Field name. */
  field: string;
  /** Level. */
  level: number;
  /** Level index in the field. */
  levelIndex: number;
  /** The store field and level read (a surface field for level 0 of a field with `surface`). */
  source: { name: string; level: number };
  /** Per-point coefficients. */
  local: boolean;
  /** Points (nodes or elements) of the store. */
  points: number;
}

/** The rolled-out window of one mesh plane: the last `timeSteps` steps of its own axis, physical units. */
export interface MeshWindow {
  /** Index of the first step on the mesh's (extended) time axis. */
  t0: number;
  /** Times of the steps (seconds since 1970). */
  times: Float64Array;
  /** Values (steps, points). */
  values: Float32Array;
}

/** The time axis of a mesh store, extended past its end by its last interval. */
export class MeshTimeAxis {
  private readonly step: number;
  constructor(readonly times: Float64Array) {
    if (times.length === 0) throw new ConfigError("datasets", "a mesh store without time steps cannot roll out");
    this.step = times.length > 1 ? times[times.length - 1] - times[times.length - 2] : 86400;
  }
  /** Time of step k (k may lie beyond the store). */
  at(k: number): number {
    const n = this.times.length;
    return k < n ? this.times[k] : this.times[n - 1] + (k - n + 1) * this.step;
  }
  /** Index of the last step at or before `seconds` (−1 when none). */
  lastAtOrBefore(seconds: number): number {
    const n = this.times.length, last = this.times[n - 1];
    if (seconds >= last) return n - 1 + Math.floor((seconds - last) / this.step + 1e-9);
    let k = -1;
    for (let i = 0; i < n; i++) if (this.times[i] <= seconds) k = i;
    return k;
  }
  /** Times [0, k] (store times, then extended). */
  upTo(k: number): Float64Array {
    return Float64Array.from({ length: Math.max(this.times.length, k + 1) }, (_, i) => this.at(i));
  }
}

/** The mesh planes of a sampler's datasets after the first (those tokenized by `healpix-points`). */
export function meshPlanes(sampler: MultifieldSampler): MeshPlane[] {
  return sampler.slots.flatMap((s, slot) => {
    if (s.dataset === 0) return [];
    const d = sampler.datasets[s.dataset];
    if (d.grid !== "unstructured") {
      throw new ConfigError(
        `datasets[${s.dataset}]`,
        `${d.root}: the rollout carries regular fields of the first dataset and mesh fields of the others`,
      );
    }
    const mesh = d as MeshDataset, pt = s.layout as PointTokens;
    return s.levels.map((level, levelIndex) => {
      const source = levelSource({ ...s.spec, local: s.spec.local }, level);
      return {
        slot,
        dataset: s.dataset,
        field: s.field,
        level,
        levelIndex,
        source,
        local: s.spec.local,
        points: mesh.points(s.field, pt.healpixOrder).lat.length,
      };
    });
  });
}

/** Rolls the mesh planes of a sampler out under the atmospheric rollout. */
export class MeshRollout {
  /** Mesh planes, in slot order. */
  readonly planes: MeshPlane[];
  private readonly axes = new Map<number, MeshTimeAxis>();

  constructor(readonly sampler: MultifieldSampler, readonly grid: GridDataset) {
    this.planes = meshPlanes(sampler);
    for (const p of this.planes) {
      if (!this.axes.has(p.dataset)) this.axes.set(p.dataset, new MeshTimeAxis(this.mesh(p.dataset).times));
    }
  }

  private mesh(dataset: number): MeshDataset {
    return this.sampler.datasets[dataset] as MeshDataset;
  }

  private layout(p: MeshPlane): PointTokens {
    return this.sampler.slots[p.slot].layout as PointTokens;
  }

  /** The time axis of a mesh dataset. */
  axis(dataset: number): MeshTimeAxis {
    return this.axes.get(dataset)!;
  }

  /** Latitude and longitude of every point of a mesh plane's field. */
  coordinates(p: MeshPlane): { lat: Float64Array; lon: Float64Array } {
    const { lat, lon } = this.mesh(p.dataset).points(p.field, this.layout(p).healpixOrder);
    return { lat, lon };
  }

  /** Climatology of a mesh plane at `time`: the coefficient set's monthly mean per point (physical). */
  climatology(p: MeshPlane, time: number): Float32Array {
    const sc = this.sampler.coefficients[p.dataset].scaling(p.source.name, p.source.level, [time], true);
    const m = sc.mean[0], out = new Float32Array(p.points);
    for (let q = 0; q < out.length; q++) out[q] = m.length === 1 ? m[0] : m[q];
    if (sc.transform) sc.transform.inverseInPlace(out);
    return out;
  }

  /** The mesh windows under an atmospheric window ending at `end`, read from the store. */
  stateAt(end: number): MeshWindow[] {
    return this.planes.map((p) => {
      const T = this.layout(p).timeSteps, axis = this.axis(p.dataset);
      // At the initial time the store's own last step at or before it, as the sampler takes it.
      const k = Math.min(axis.lastAtOrBefore(end), axis.times.length - 1), t0 = k - T + 1;
      if (t0 < 0) {
        throw new StoreError(
          this.mesh(p.dataset).root,
          `no ${T} step(s) of ${p.field} at or before ${new Date(end * 1000).toISOString()} in the store`,
        );
      }
      return {
        t0,
        times: axis.times.slice(t0, k + 1),
        values: this.mesh(p.dataset).read(p.source.name, p.source.level, t0, T),
      };
    });
  }

  /**
   * The mesh slots' field batches for the tiles (every token visible),
   * cut by the field's own tokenizer from the rolled-out windows.
   */
  fieldBatch(slot: number, windows: MeshWindow[], tiles: Window[], end: number): FieldBatch {
    const s = this.sampler.slots[slot];
    const own = this.planes.map((p, i) => ({ p, w: windows[i] })).filter((x) => x.p.slot === slot);
    const real = this.mesh(s.dataset), axis = this.axis(s.dataset);
    const last = own[0].w.t0 + own[0].w.times.length - 1;
    // A view of the store whose reads give the rolled-out state and whose time axis runs into the forecast.
    const view = Object.create(real) as MeshDataset;
    const times = axis.upTo(last);
    Object.defineProperty(view, "times", { value: times });
    // The rolled-out window is the mesh's window under the atmospheric one ending at `end`.
    view.lastTimeAtOrBefore = () => last;
    view.read = (name: string, level: number, t0: number, nt: number) => {
      const hit = own.find((x) => x.p.source.name === name && x.p.source.level === level);
      if (!hit || hit.w.t0 !== t0 || hit.w.times.length !== nt) {
        throw new StoreError(real.root, `rollout: no rolled-out ${name}/${level} at steps ${t0}+${nt}`);
      }
      return hit.w.values.slice();
    };
    const fb = allocateField(
      { dataset: s.dataset, field: s.field, levels: s.levels, layout: s.layout },
      s.tokenizer,
      tiles.length,
    );
    s.tokenizer.cut({
      dataset: view,
      coefficients: this.sampler.coefficients[s.dataset],
      field: s.spec,
      layout: s.layout,
      levels: s.levels.map((_, i) => i),
      windows: tiles.map((w) => ({ ...w, end })),
      out: fb,
      timings: noTimings(),
      stats: noStats(),
    });
    return fb;
  }

  /**
   * Blend the stepper's next mesh step of every tile ([tiles · levels ·
   * maxTokens · pointsPerToken], normalized) onto the points of each mesh
   * plane, with the taper of `taper` (the grid blender of the tiles) at
   * each point; the result is normalized (points), NaN where no tile holds
   * a point.
   */
  blend(
    next: Map<string, Float32Array>,
    batches: Map<number, FieldBatch>,
    tiles: Window[],
    taper: TileBlender,
    tile: [number, number],
  ): Float32Array[] {
    const d = this.grid, [H, W] = tile;
    const weights = tiles.map((w) => taper.weights(w));
    return this.planes.map((p) => {
      const pt = this.layout(p), L = this.sampler.slots[p.slot].levels.length;
      const slots = pt.maxTokens * pt.pointsPerToken;
      const x = next.get(p.field), fb = batches.get(p.slot)!;
      if (!x || x.length !== tiles.length * L * slots) {
        throw new Error(`stepper: ${p.field} needs ${tiles.length}×${L}×${slots} values, got ${x?.length}`);
      }
      const { lat, lon } = this.coordinates(p);
      const sum = new Float64Array(p.points), wsum = new Float64Array(p.points);
      for (const [b, w] of tiles.entries()) {
        for (let k = 0; k < slots; k++) {
          const q = fb.points!.index[b * slots + k];
          if (q < 0) continue;
          const v = x[((b * L + p.levelIndex) * slots) + k];
          if (v !== v) continue;
          // The tile's grid cell nearest to the point carries its taper weight.
          const i = Math.min(H - 1, Math.max(0, Math.round((90 - lat[q] - d.colat[0]) / d.res[0] - w.i0)));
          const dl = (((lon[q] - d.lons[0] - w.j0 * d.res[1]) % 360) + 360) % 360;
          const j = Math.min(W - 1, Math.max(0, Math.round(dl / d.res[1])));
          const wt = weights[b][i * W + j];
          sum[q] += wt * v;
          wsum[q] += wt;
        }
      }
      return Float32Array.from(sum, (s, q) => (wsum[q] > 0 ? s / wsum[q] : NaN));
    });
  }

  /**
   * The mesh windows after the atmospheric window moved to `end`: unchanged
   * when no new mesh step falls at or before it; else the blended step
   * (normalized, per plane) denormalized at its time and appended.
   * Points that no tile holds (beyond a tile's `maxTokens`) are an error.
   */
  advance(windows: MeshWindow[], end: number, blended: () => Float32Array[]): MeshWindow[] {
    const moved = windows.some((w, i) =>
      this.axis(this.planes[i].dataset).lastAtOrBefore(end) > w.t0 + w.times.length - 1
    );
    if (!moved) return windows;
    const next = blended();
    return windows.map((w, i) => {
      const p = this.planes[i], axis = this.axis(p.dataset), n = p.points;
      const T = w.times.length, last = w.t0 + T - 1, k = axis.lastAtOrBefore(end);
      if (k === last) return w;
      const v = next[i], lastValues = w.values.subarray((T - 1) * n, T * n);
      let holes = 0;
      for (let q = 0; q < n; q++) {
        // Missing in the last input (no data at that point) stays missing; a point no tile read is an error.
        if (lastValues[q] !== lastValues[q]) v[q] = NaN;
        else if (v[q] !== v[q]) holes++;
      }
      if (holes) {
        throw new ConfigError(
          `${p.field}.tokens.maxTokens`,
          `${holes} points of ${p.field} lie in no tile's tokens (too many points per tile): raise maxTokens`,
        );
      }
      const tk = axis.at(k);
      const sc = this.sampler.coefficients[p.dataset].scaling(p.source.name, p.source.level, [tk], p.local);
      denormalizeInPlace(v, n, sc);
      const t0 = k - T + 1, times = Float64Array.from({ length: T }, (_, a) => axis.at(t0 + a));
      const values = new Float32Array(T * n);
      for (let a = 0; a < T; a++) {
        const idx = t0 + a, dst = values.subarray(a * n, (a + 1) * n);
        if (idx <= last) dst.set(w.values.subarray((idx - w.t0) * n, (idx - w.t0 + 1) * n));
        else if (idx === k) dst.set(v);
        else {
          const f = (axis.at(idx) - axis.at(last)) / (tk - axis.at(last));
          for (let q = 0; q < n; q++) dst[q] = (1 - f) * lastValues[q] + f * v[q];
        }
      }
      return { t0, times, values };
    });
  }
}
