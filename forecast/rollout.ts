/**
 * The auto-regressive global rollout, independent of the network: the
 * state is the last window of every field level on the whole grid in
 * physical units; a step normalizes it with the sampler's coefficient set
 * (per month of each time step), cuts the global tiling into tokens
 * exactly as the sampler would from the store (tokens and token info), asks
 * a {@link Stepper} for every tile's next time slab (normalized, in the
 * units of the window's last step), blends the tiles with taper weights,
 * denormalizes the result with that step's coefficients and appends it to
 * the window, dropping the oldest slab.
 *
 * @module
 */
import type { MultifieldSampler } from "../samplers/sampler.ts";
import type { FieldBatch } from "../samplers/batch.ts";
import type { GridDataset } from "../datasets/grid.ts";
import type { Window } from "../datasets/window.ts";
import { toSeconds } from "../datasets/window.ts";
import { denormalizeInPlace, type GridRegion, normalizeInPlace } from "../normalization/coefficients.ts";
import { patchTokenInfo, TOKEN_INFO, type TokenGrid, tokenize } from "../tokenizers/patches.ts";
import { ConfigError } from "../errors.ts";
import { type BlendGrid, cutTile, TileBlender } from "./blend.ts";
import { type MeshPlane, MeshRollout, type MeshWindow } from "./mesh.ts";

/** One field level rolled out. */
export interface Plane {
  /** Sampler slot (field) index. */
  slot: number;
  /** Field name. */
  field: string;
  /** Level. */
  level: number;
  /** Level index in the field. */
  levelIndex: number;
  /** The store field holding it (a surface field for level 0 of a field with `surface`). */
  source: string;
  /** Per-point coefficients. */
  local: boolean;
}

/** The rolled-out state: the last window, physical units. */
export interface RolloutState {
  /** Times of the window's steps (seconds since 1970). */
  times: Float64Array;
  /** Per plane, (steps, rows, cols). */
  values: Float32Array[];
  /** Per mesh plane, its own window (steps, points); absent without mesh fields. */
  mesh?: MeshWindow[];
}

/** What a stepper sees at each step. */
export interface StepContext {
  /** Step number (0 = first). */
  step: number;
  /** Tile places. */
  tiles: Window[];
  /** Times of the input window. */
  times: Float64Array;
}

/**
 * One forecast step on a tiling: per field, the next time slab of every
 * tile's tokens, normalized with the coefficients of the input window's last
 * step, [tiles · levels · positions · slab values]
 * (positions in (lat, lon) token order; slab values (t, lat, lon)).
 */
export type Stepper = (fields: FieldBatch[], context: StepContext) => Map<string, Float32Array>;

/** A stepper's output on a tiling (e.g. the half-token-shifted second tiling). */
export interface TilingPass {
  /** Per field, the next slab of every tile (a stepper's output). */
  next: Map<string, Float32Array>;
  /** The tiles. */
  tiles: Window[];
}

/** Global tiling and rollout on a sampler's first (regular) dataset. */
export class GlobalRollout {
  /** The sampler (datasets, fields, coefficient sets). */
  readonly sampler: MultifieldSampler;
  /** The regular dataset. */
  readonly dataset: GridDataset;
  /** Overlap of tiles in tokens [lat, lon]. */
  readonly overlap: [number, number];
  /** Field levels of the regular grid, in slot order. */
  readonly planes: Plane[];
  /** Mesh fields rolled out with the grid (datasets after the first); undefined without any. */
  readonly mesh?: MeshRollout;
  /** Blend grid. */
  readonly grid: BlendGrid;
  /** The token grid every field shares. */
  readonly tokens: TokenGrid;
  /** Window steps, rows, columns. */
  readonly window: [number, number, number];
  /** Seconds between the store's time steps. */
  readonly dt: number;
  private readonly region: GridRegion;

  constructor(sampler: MultifieldSampler, overlap: [number, number]) {
    this.sampler = sampler;
    this.overlap = overlap;
    const d = sampler.datasets[0] as GridDataset;
    if (d.grid !== "regular_ll") {
      throw new ConfigError("datasets", "the global rollout needs a regular lat-lon first dataset");
    }
    this.dataset = d;
    if (sampler.slots.some((s) => s.dataset > 0)) this.mesh = new MeshRollout(sampler, d);
    const layouts = sampler.slots.filter((s) => s.dataset === 0).map((s) => s.layout as TokenGrid);
    this.tokens = layouts[0];
    if (
      !layouts.every((g) =>
        g.numTokens?.join() === this.tokens.numTokens.join() && g.tokenSize.join() === this.tokens.tokenSize.join()
      )
    ) {
      throw new ConfigError("datasets", "every rolled-out field must share one token grid");
    }
    this.window = [0, 1, 2].map((i) => this.tokens.numTokens[i] * this.tokens.tokenSize[i]) as [number, number, number];
    this.grid = { rows: d.colat.length, cols: d.lons.length, periodic: d.isGlobal };
    this.region = { i0: 0, rows: this.grid.rows, j0: 0, cols: this.grid.cols, width: this.grid.cols };
    this.dt = d.times.length > 1 ? d.times[1] - d.times[0] : 3600;
    this.planes = sampler.slots.flatMap((s, slot) =>
      s.dataset > 0 ? [] : s.levels.map((level, levelIndex) => ({
        slot,
        field: s.field,
        level,
        levelIndex,
        source: s.spec.surface !== undefined && level === 0 ? s.spec.surface : s.field,
        local: s.spec.local,
      }))
    );
  }

  /** The mesh planes (empty without mesh fields). */
  get meshPlanes(): MeshPlane[] {
    return this.mesh?.planes ?? [];
  }

  /** Time steps of one forecast step (a time token). */
  get stepSteps(): number {
    return this.tokens.tokenSize[0];
  }

  /** Hours of one forecast step. */
  get stepHours(): number {
    return this.stepSteps * this.dt / 3600;
  }

  /**
   * A second tiling shifted by half a token (columns; rows where the tile
   * still fits), for blending over both with token bumps: each tiling's
   * token edges fall on the other's token centres.
   */
  shiftedTiles(tiles: Window[]): Window[] {
    const [, th, tw] = this.tokens.tokenSize, [, H, W] = this.window, { rows, cols, periodic } = this.grid;
    const di = Math.floor(th / 2), dj = Math.floor(tw / 2);
    return tiles.map((w) => ({
      ...w,
      i0: w.i0 + di + H <= rows ? w.i0 + di : w.i0,
      j0: periodic || w.j0 + dj + W <= cols ? w.j0 + dj : w.j0,
    }));
  }

  /** The tiles of the grid (places; their time fields refer to `end`). */
  tiles(end: string | number): Window[] {
    return this.sampler.tiles(end, this.overlap);
  }

  /** The window ending at `end`, read from the store (physical). */
  stateAt(end: string | number): RolloutState {
    const d = this.dataset, e = d.times.indexOf(toSeconds(end));
    const T = this.window[0];
    if (e < T - 1) {
      throw new ConfigError(
        "init",
        `${d.root}: no ${T}-step window ends at ${typeof end === "number" ? new Date(end * 1000).toISOString() : end}`,
      );
    }
    return {
      times: d.times.slice(e - T + 1, e + 1),
      values: this.planes.map((p) => d.read(p.source, p.level, e - T + 1, T, 0, this.grid.rows, 0, this.grid.cols)),
      mesh: this.mesh?.stateAt(d.times[e]),
    };
  }

  /** Normalize a (steps, rows, cols) plane at `times` with the sampler's coefficients (a copy). */
  normalize(plane: Plane, values: Float32Array, times: ArrayLike<number>): Float32Array {
    const out = values.slice();
    const s = this.sampler.coefficients[0].scaling(plane.source, plane.level, times, plane.local, this.region);
    normalizeInPlace(out, this.grid.rows * this.grid.cols, s);
    return out;
  }

  /** Climatology of a plane at `time`: the coefficient set's monthly mean per point, in physical units. */
  climatology(plane: Plane, time: number): Float32Array {
    const s = this.sampler.coefficients[0].scaling(plane.source, plane.level, [time], true, this.region);
    const out = new Float32Array(this.grid.rows * this.grid.cols);
    const m = s.mean[0];
    for (let g = 0; g < out.length; g++) out[g] = m.length === 1 ? m[0] : m[g];
    if (s.transform) s.transform.inverseInPlace(out);
    return out;
  }

  /** Invert {@link normalize} (in place). */
  denormalize(plane: Plane, values: Float32Array, times: ArrayLike<number>): Float32Array {
    const s = this.sampler.coefficients[0].scaling(plane.source, plane.level, times, plane.local, this.region);
    denormalizeInPlace(values, this.grid.rows * this.grid.cols, s);
    return values;
  }

  /**
   * The tiling of a state as the sampler's field batches (every token
   * visible): what the encoder reads. Each step is normalized with the
   * coefficients of its own time, or of `normalizeAt` for every step (a
   * training target in the units of the input's last step, which is what
   * the engine predicts in).
   */
  fieldBatches(state: RolloutState, tiles: Window[], normalizeAt?: number): FieldBatch[] {
    const [T, H, W] = this.window, g = this.tokens;
    const N = g.numTokens[0] * g.numTokens[1] * g.numTokens[2], V = g.tokenSize[0] * g.tokenSize[1] * g.tokenSize[2];
    const normTimes = normalizeAt === undefined ? state.times : state.times.map(() => normalizeAt);
    const normed = this.planes.map((p, i) => this.normalize(p, state.values[i], normTimes));
    return this.sampler.slots.map((s, slot) => {
      if (s.dataset > 0) return this.mesh!.fieldBatch(slot, state.mesh!, tiles, state.times[state.times.length - 1]);
      const L = s.levels.length, B = tiles.length;
      const tokens = new Float32Array(B * L * N * V), info = new Float32Array(B * L * N * TOKEN_INFO.length);
      for (const [b, w] of tiles.entries()) {
        for (let li = 0; li < L; li++) {
          const pi = this.planes.findIndex((p) => p.slot === slot && p.levelIndex === li);
          tokenize(cutTile(normed[pi], this.grid, w, [H, W], T), g, tokens, (b * L + li) * N * V);
          patchTokenInfo(info, (b * L + li) * N, this.dataset, this.tokens, s.levels[li], li, w, state.times);
        }
      }
      return {
        dataset: 0,
        field: s.field,
        levels: s.levels,
        layout: g,
        tokenizer: s.tokenizer.name,
        tokens,
        mask: new Uint8Array(B * L * N),
        replaced: new Int32Array(0),
        replacements: new Float32Array(0),
        tokenInfo: info,
      };
    });
  }

  /**
   * Per grid field, the 3 × 3 token neighbourhood of every tile's tokens of
   * the last time token (or of time token `timeToken`), taken from the whole grid rather than the tile:
   * [tiles · levels · positions · 9 · token values] (neighbours in (lat, lon)
   * order, each token's values as the tokenizer orders them), normalized,
   * missing values and points beyond the poles (or a regional grid's
   * borders) 0. A token at a tile's edge sees across it, as one in its middle
   * does: the tiles are places to compute, not walls. Built from the field
   * batches themselves (every point of the grid lies in some tile, and
   * every tile cuts it from the same normalized state).
   */
  neighbourhoods(fields: FieldBatch[], tiles: Window[], timeToken?: number): Map<string, Float32Array> {
    const [nt, nh, nw] = this.tokens.numTokens, a = timeToken ?? nt - 1, [tt, th, tw] = this.tokens.tokenSize;
    const P = nh * nw, N = nt * P, V = tt * th * tw, { rows, cols, periodic } = this.grid;
    const out = new Map<string, Float32Array>();
    for (const f of fields) {
      if (f.points) continue;
      const L = f.levels.length, canvas = new Float32Array(L * tt * rows * cols);
      const col = (j: number) => periodic ? ((j % cols) + cols) % cols : j;
      // Each point's value from the tiles (they agree), then the neighbourhoods read from it.
      const visit = (fill: boolean, b: number, l: number, p: number, at: Float32Array, o: number, di = 0, dj = 0) => {
        const w = tiles[b], r0 = w.i0 + (Math.floor(p / nw) + di) * th, c0 = w.j0 + (p % nw + dj) * tw;
        for (let t = 0; t < tt; t++) {
          for (let i = 0; i < th; i++) {
            const r = r0 + i;
            for (let j = 0; j < tw; j++) {
              const c = col(c0 + j), k = o + (t * th + i) * tw + j;
              const inside = r >= 0 && r < rows && c >= 0 && c < cols, g = ((l * tt + t) * rows + r) * cols + c;
              if (fill) { if (inside) canvas[g] = at[k]; }
              else at[k] = inside && canvas[g] === canvas[g] ? canvas[g] : 0;
            }
          }
        }
      };
      for (let b = 0; b < tiles.length; b++) {
        for (let l = 0; l < L; l++) {
          for (let p = 0; p < P; p++) visit(true, b, l, p, f.tokens, ((b * L + l) * N + a * P + p) * V);
        }
      }
      const q = new Float32Array(tiles.length * L * P * 9 * V);
      for (let b = 0; b < tiles.length; b++) {
        for (let l = 0; l < L; l++) {
          for (let p = 0; p < P; p++) {
            for (let k = 0; k < 9; k++) {
              visit(false, b, l, p, q, (((b * L + l) * P + p) * 9 + k) * V, Math.floor(k / 3) - 1, (k % 3) - 1);
            }
          }
        }
      }
      out.set(f.field, q);
    }
    return out;
  }

  /** Per tile and spatial token position: [sin lat, cos lat, sin lon, cos lon] of its centre [tiles·P·4]. */
  positions(tiles: Window[]): Float32Array {
    const d = this.dataset, [, nh, nw] = this.tokens.numTokens, [, th, tw] = this.tokens.tokenSize;
    const out = new Float32Array(tiles.length * nh * nw * 4), deg = Math.PI / 180;
    let k = 0;
    for (const w of tiles) {
      for (let b = 0; b < nh; b++) {
        const lat = (90 - (d.colat[0] + (w.i0 + b * th + (th - 1) / 2) * d.res[0])) * deg;
        for (let c = 0; c < nw; c++) {
          const lon = (d.lons[0] + (w.j0 + c * tw + (tw - 1) / 2) * d.res[1]) * deg;
          out.set([Math.sin(lat), Math.cos(lat), Math.sin(lon), Math.cos(lon)], k);
          k += 4;
        }
      }
    }
    return out;
  }

  /** Per tile and point row of the tile: [sin lat, cos lat] of the row [tiles·rows·2] (the engine's point head). */
  latitudes(tiles: Window[]): Float32Array {
    const d = this.dataset, [, H] = this.window, deg = Math.PI / 180, out = new Float32Array(tiles.length * H * 2);
    let k = 0;
    for (const w of tiles) {
      for (let i = 0; i < H; i++, k += 2) {
        const lat = (90 - (d.colat[0] + (w.i0 + i) * d.res[0])) * deg;
        out[k] = Math.sin(lat);
        out[k + 1] = Math.cos(lat);
      }
    }
    return out;
  }

  /** Per tile: itself and its `k − 1` nearest tiles by great-circle distance of their centres [tiles·k]. */
  neighbours(tiles: Window[], k: number): Int32Array {
    const d = this.dataset, [, H, W] = this.window, deg = Math.PI / 180;
    const centre = tiles.map((w) => {
      const lat = (90 - (d.colat[0] + (w.i0 + (H - 1) / 2) * d.res[0])) * deg;
      const lon = (d.lons[0] + (w.j0 + (W - 1) / 2) * d.res[1]) * deg;
      return [Math.cos(lat) * Math.cos(lon), Math.cos(lat) * Math.sin(lon), Math.sin(lat)];
    });
    const K = Math.min(k, tiles.length), out = new Int32Array(tiles.length * K);
    for (let b = 0; b < tiles.length; b++) {
      const order = tiles.map((_, j) => j).sort((x, y) => {
        const dot = (j: number) =>
          centre[b][0] * centre[j][0] + centre[b][1] * centre[j][1] + centre[b][2] * centre[j][2];
        return x === b ? -1 : y === b ? 1 : dot(y) - dot(x) || x - y;
      });
      out.set(order.slice(0, K), b * K);
    }
    return out;
  }

  /**
   * Blend every tile's next slab (a stepper's output) into the grid, per
   * plane, normalized (slab steps, rows, cols).
   */
  blend(next: Map<string, Float32Array>, tiles: Window[], more: TilingPass[] = []): Float32Array[] {
    const passes = [{ next, tiles }, ...more];
    const [nt, nh, nw] = this.tokens.numTokens, [tt, th, tw] = this.tokens.tokenSize, [, H, W] = this.window;
    void nt;
    const P = nh * nw, Vs = tt * th * tw;
    const overlap: [number, number] = [this.overlap[0] * th, this.overlap[1] * tw];
    return this.planes.map((plane) => {
      const L = this.sampler.slots[plane.slot].levels.length;
      const blender = new TileBlender(this.grid, {
        tile: [H, W],
        overlap,
        planes: tt,
        token: passes.length > 1 ? [th, tw] : undefined,
      });
      const block = new Float32Array(tt * H * W);
      for (const { next, tiles } of passes) {
        const x = next.get(plane.field);
        if (!x || x.length !== tiles.length * L * P * Vs) {
          throw new Error(`stepper: ${plane.field} needs ${tiles.length}×${L}×${P}×${Vs} values, got ${x?.length}`);
        }
        for (const [b, w] of tiles.entries()) {
          for (let p = 0; p < P; p++) {
            const bi = Math.floor(p / nw), ci = p % nw, src = ((b * L + plane.levelIndex) * P + p) * Vs;
            for (let t = 0; t < tt; t++) {
              for (let i = 0; i < th; i++) {
                const o = src + (t * th + i) * tw;
                block.set(x.subarray(o, o + tw), (t * H + bi * th + i) * W + ci * tw);
              }
            }
          }
          blender.add(w, block);
        }
      }
      return blender.result();
    });
  }

  /** One step: the next slab of every plane in physical units, and the state that follows. */
  step(
    state: RolloutState,
    tiles: Window[],
    stepper: Stepper,
    step: number,
  ): { slab: Float32Array[]; times: Float64Array; state: RolloutState } {
    const fields = this.fieldBatches(state, tiles);
    const next = stepper(fields, { step, tiles, times: state.times });
    const { slab, times } = this.physicalSlab(state, next, tiles);
    return { slab, times, state: this.advance(state, slab, times, { next, fields, tiles }) };
  }

  /**
   * A stepper's output blended and denormalized: the next slab of every
   * plane (physical), and its times. A stepper predicts in the units of its
   * input's last step (the engine adds a change to that step), so the slab
   * is denormalized with that step's coefficients, not its own times':
   * across a month's change those differ, and a prediction read in the new
   * month's units would be off by the difference of the months' means.
   */
  physicalSlab(
    state: RolloutState,
    next: Map<string, Float32Array>,
    tiles: Window[],
    more: TilingPass[] = [],
  ): { slab: Float32Array[]; times: Float64Array } {
    const tt = this.stepSteps, last = state.times[state.times.length - 1];
    const times = Float64Array.from({ length: tt }, (_, k) => last + (k + 1) * this.dt);
    const plane = this.grid.rows * this.grid.cols, T = state.times.length;
    const slab = this.blend(next, tiles, more).map((v, i) => {
      // Points missing in the last input step (land in sst) stay missing: the engine does not invent them.
      const lastStep = state.values[i].subarray((T - 1) * plane, T * plane);
      for (let g = 0; g < plane; g++) {
        if (lastStep[g] !== lastStep[g]) { for (let t = 0; t < tt; t++) v[t * plane + g] = NaN; }
      }
      return this.denormalize(this.planes[i], v, times.map(() => last));
    });
    return { slab, times };
  }

  /**
   * The window after appending a slab (physical) and dropping the oldest
   * steps; with mesh fields, `stepped` (the stepper's output, the field
   * batches it saw and the tiles) moves their windows too.
   */
  advance(
    state: RolloutState,
    slab: Float32Array[],
    times: Float64Array,
    stepped?: { next: Map<string, Float32Array>; fields: FieldBatch[]; tiles: Window[] },
  ): RolloutState {
    const T = this.window[0], tt = times.length, plane = this.grid.rows * this.grid.cols;
    const outTimes = new Float64Array(T);
    outTimes.set(state.times.subarray(tt));
    outTimes.set(times, T - tt);
    const values = state.values.map((v, i) => {
      const o = new Float32Array(T * plane);
      o.set(v.subarray(tt * plane));
      o.set(slab[i], (T - tt) * plane);
      return o;
    });
    if (!this.mesh || !state.mesh) return { times: outTimes, values };
    if (!stepped) throw new Error("rollout: mesh fields need the stepper's output to advance");
    const mesh = this.mesh.advance(state.mesh, outTimes[T - 1], () => {
      const [, th, tw] = this.tokens.tokenSize, [, H, W] = this.window;
      const taper = new TileBlender(this.grid, { tile: [H, W], overlap: [this.overlap[0] * th, this.overlap[1] * tw] });
      const batches = new Map(stepped.fields.map((f, slot) => [slot, f]));
      return this.mesh!.blend(stepped.next, batches, stepped.tiles, taper, [H, W]);
    });
    return { times: outTimes, values, mesh };
  }
}
