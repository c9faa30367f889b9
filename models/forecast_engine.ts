/**
 * The forecast engine's network, on top of a frozen Multiformer encoder
 * (the roadmap's "auto-regressive global rollout"; WeatherGenerator's
 * latent forecasting engine in small):
 *
 * 1. **Adapter**: per tile and per spatial token position (lat, lon), the
 *    encoder states of every field, level and time token there are
 *    concatenated and projected to a smaller latent (`latentWidth`), plus
 *    an encoding of the position on the sphere.
 * 2. The tiles' latents are **patched into one global sequence** (every
 *    tile's positions; overlapping tiles contribute both of theirs).
 * 3. **Forecaster**: pre-LayerNorm transformer blocks with global
 *    self-attention over that sequence, advancing it one step.
 * 4. **Read-out**: per tile, field level and token position, a query made
 *    of the last input values of the token and of its 8 neighbours on the
 *    grid (of its own field level, or of every grid plane: `queryFields`),
 *    its field level and position
 *    cross-attends the latent of its own tile and its nearest neighbouring
 *    tiles, and an MLP gives the token's next time slab as a change from
 *    its last input step (a residual: untrained, the engine is persistence).
 *    A mesh field (`points` layout, FESOM nodes) is read out the same way:
 *    one query per point token of its last time step (its values and the
 *    position of its first point), its next step as a change from its
 *    values; mesh states reach the latent through the Multiformer's
 *    cross-field attention into the grid fields, which the adapter reads.
 *
 * Network only: tensors in, tensors out; tiling, blending and I/O live in
 * forecast/.
 *
 * @module
 */
import {
  add,
  addBroadcast,
  attention,
  concatLast,
  constant,
  gatherRows,
  layerNorm,
  linear,
  type Random,
  type Tensor,
} from "../ops/mod.ts";
import { ConfigError } from "../errors.ts";
import type { FieldLayout } from "./config.ts";
import { Mlp } from "./mlp.ts";
import { PointHead } from "./point_head.ts";
import { type Dense, dense, Params } from "./params.ts";

/** Hyperparameters of the engine's network. */
export interface ForecastEngineConfig {
  /** Width of the adapted latent (smaller than the encoder's). Default 32. */
  latentWidth?: number;
  /** Forecaster transformer blocks. Default 2. */
  forecasterLayers?: number;
  /** Attention heads (forecaster and read-out); must divide latentWidth. Default 4. */
  heads?: number;
  /** Tiles whose latent a target token reads: its own and the nearest others. Default 5. */
  neighbours?: number;
  /**
   * Input window length in time tokens: the adapter reads the encoder
   * states of the last this many time tokens (0 = all of the window). Default 0.
   */
  inputTimeTokens?: number;
  /**
   * What a grid token's read-out query reads: `own` — the 3 × 3 token
   * neighbourhood of its own field level; `all` — that of every level of
   * every grid field at its place (the wind that advects a field, the
   * heights that balance it: a field's tendency depends on the others
   * there, in more detail than the latent keeps). Default `own` (what
   * engines trained before the key existed read).
   */
  queryFields?: "own" | "all";
  /**
   * The adapter also reads the raw values of every grid plane's time tokens
   * it reads (`inputTimeTokens`) at each token position, beside the
   * encoder's states: the global forecaster then sees the state and its
   * recent change at token resolution, not only what a frozen encoder kept
   * of them. Default false (what engines trained
   * before the key existed read; new configurations get true from
   * `checkForecastTrainConfig`).
   */
  adapterValues?: boolean;
  /**
   * The point head's stencil radius in points (models/point_head.ts): every
   * grid point's change is corrected from the (2r + 1)² points around it of
   * every grid plane. 0: no point head (engines trained before the key
   * existed); new configurations get 3.
   */
  stencilRadius?: number;
  /** Hidden width of the point head's MLP. Default 64. */
  stencilWidth?: number;
}

/**
 * What a new engine gets for the keys whose resolved defaults keep older
 * checkpoints loading as they were trained (a checkpoint records the
 * resolved configuration, so these apply only to new training runs).
 */
export const NEW_ENGINE_DEFAULTS: ForecastEngineConfig = { adapterValues: true, stencilRadius: 3 };

/** The engine configuration with defaults. */
export type ResolvedEngineConfig = Required<ForecastEngineConfig>;

/** Fill defaults and check; errors name the key (`prefix.key`). */
export function resolveEngineConfig(c: ForecastEngineConfig = {}, prefix = "engine"): ResolvedEngineConfig {
  const r: ResolvedEngineConfig = {
    latentWidth: 32,
    forecasterLayers: 2,
    heads: 4,
    neighbours: 5,
    inputTimeTokens: 0,
    queryFields: "own",
    adapterValues: false,
    stencilRadius: 0,
    stencilWidth: 64,
    ...c,
  };
  if (r.queryFields !== "own" && r.queryFields !== "all") {
    throw new ConfigError(`${prefix}.queryFields`, `must be "own" or "all", not ${JSON.stringify(r.queryFields)}`);
  }
  if (!Number.isInteger(r.inputTimeTokens) || r.inputTimeTokens < 0) {
    throw new ConfigError(`${prefix}.inputTimeTokens`, "must be an integer ≥ 0");
  }
  if (typeof r.adapterValues !== "boolean") throw new ConfigError(`${prefix}.adapterValues`, "must be true or false");
  if (!Number.isInteger(r.stencilRadius) || r.stencilRadius < 0) {
    throw new ConfigError(`${prefix}.stencilRadius`, "must be an integer ≥ 0 (0: no point head)");
  }
  for (const k of ["latentWidth", "forecasterLayers", "heads", "neighbours", "stencilWidth"] as const) {
    if (!Number.isInteger(r[k]) || r[k] < (k === "forecasterLayers" ? 0 : 1)) {
      throw new ConfigError(`${prefix}.${k}`, "must be a positive integer");
    }
  }
  if (r.latentWidth % r.heads) throw new ConfigError(`${prefix}.heads`, `must divide latentWidth ${r.latentWidth}`);
  return r;
}

/** One field of the encoder as the engine sees it. */
export interface EngineField {
  /** Token layout (regular grid). */
  layout: FieldLayout;
  /** Encoder width. */
  width: number;
  /** Time steps per token (the tokenizer's tokenSize[0]): one forecast step. */
  timeSteps: number;
  /** A grid field: points per token along time, latitude and longitude (the point head needs them). */
  tokenSize?: readonly number[];
}

/** The engine's input for one rollout step of a tiling. */
export interface EngineInput {
  /** Encoder states by field [tiles, levels·tokens, width]. */
  states: Map<string, Tensor>;
  /** Normalized input tokens by field [tiles·levels·tokens·values] (the last time slab feeds the queries). */
  tokens: Map<string, Float32Array>;
  /** Per tile and spatial token position: sin/cos of latitude and longitude of its centre [tiles·P·4]. */
  position: Float32Array;
  /** Per tile: the tiles whose latent it reads (its own first) [tiles·neighbours]. */
  neighbours: Int32Array;
  /**
   * Per grid field, the 3 × 3 token neighbourhood of every token of the last
   * time token on the whole grid [tiles·levels·P·9·values] (forecast/rollout.ts
   * `neighbourhoods`); absent: the neighbours inside the tile, zeros beyond it.
   */
  neighbourhoods?: Map<string, Float32Array>;
  /** Per tile and point row of the tile: [sin φ, cos φ] [tiles·rows·2] (the point head needs them). */
  latitudes?: Float32Array;
  /**
   * The same neighbourhoods one time token earlier, when the point head
   * needs them for its tendency (tokens of one step:
   * {@link ForecastEngine.needsPreviousTimeToken}).
   */
  previousNeighbourhoods?: Map<string, Float32Array>;
  /** Token info by field (mesh fields: the position of each point token's first point). */
  info?: Map<string, Float32Array>;
  /** Latent noise (training; ensemble members): standard deviation relative to the latent's RMS, and random stream. */
  noise?: { std: number; rng: Random };
}

/**
 * Per field: the next time slab of every tile's tokens [tiles, levels·P, values of a slab], normalized; a
 * mesh field: the next step of every point token [tiles, levels·maxTokens, pointsPerToken].
 */
export type EngineOutput = Map<string, Tensor>;

/** A block of global self-attention + MLP, pre-LayerNorm, out-projection zero-initialized (starts as identity). */
class ForecasterBlock {
  private readonly qkv: Dense;
  private readonly out: Dense;
  private readonly mlp: Mlp;
  constructor(p: Params, name: string, private readonly d: number, private readonly heads: number) {
    this.qkv = dense(p, `${name}.qkv`, d, 3 * d);
    this.out = { w: p.weight(`${name}.out.w`, d, d, true), b: p.vector(`${name}.out.b`, d) };
    this.mlp = new Mlp(p, `${name}.mlp`, d, 2);
  }
  apply(x: Tensor): Tensor {
    const d = this.d, qkv = linear(layerNorm(x), this.qkv.w, this.qkv.b);
    const a = attention({ tensor: qkv, col: 0 }, { tensor: qkv, col: d }, { tensor: qkv, col: 2 * d }, {
      heads: this.heads,
      headDim: d / this.heads,
    });
    return this.mlp.apply(add(x, linear(a, this.out.w, this.out.b)), 0);
  }
}

/** The forecast engine network. */
export class ForecastEngine {
  /** Parameters (all trainable; the encoder's are not here). */
  readonly params: Params;
  /** Resolved hyperparameters. */
  readonly config: ResolvedEngineConfig;
  /** Fields, in the encoder's order. */
  readonly fields: EngineField[];
  /** Time tokens of the window the adapter reads (the last ones). */
  readonly timeTokens: number;
  /** Spatial token positions per tile (lat tokens × lon tokens). */
  readonly positions: number;
  /** The regular-grid fields (the adapter reads their states). */
  readonly gridFields: EngineField[];
  private readonly adapter: Dense;
  private readonly posEmbed: Dense;
  private readonly blocks: ForecasterBlock[];
  private readonly query: Map<string, Dense>;
  private readonly levelEmbed: Map<string, Tensor>;
  private readonly queryPos: Dense;
  private readonly crossQ: Dense;
  private readonly crossKv: Dense;
  private readonly crossOut: Dense;
  private readonly readMlp: Mlp;
  private readonly head: Map<string, Dense>;
  private readonly pointHead?: PointHead;

  constructor(fields: EngineField[], config: ForecastEngineConfig, seed: number) {
    const c = this.config = resolveEngineConfig(config);
    this.fields = fields;
    const grids = fields.filter((f) => f.layout.kind === "grid");
    if (!grids.length) throw new ConfigError("fields", "the forecast engine needs a regular-grid field (it tiles it)");
    const first = grids[0].layout;
    this.gridFields = grids;
    for (const f of grids) {
      if (f.layout.axes.join() !== first.axes.join()) {
        throw new ConfigError("fields", `${f.layout.field}: all fields must share the token grid`);
      }
    }
    const [nt, nh, nw] = first.axes;
    this.positions = nh * nw;
    const p = this.params = new Params(seed);
    const D = c.latentWidth;
    if (c.inputTimeTokens > nt) {
      throw new ConfigError("engine.inputTimeTokens", `the encoder's window has ${nt} time tokens`);
    }
    this.timeTokens = c.inputTimeTokens || nt;
    const concat = grids.reduce(
      (a, f) => a + f.layout.levels * this.timeTokens * (f.width + (c.adapterValues ? f.layout.values : 0)),
      0,
    );
    this.adapter = dense(p, "engine.adapter", concat, D);
    this.posEmbed = dense(p, "engine.position", 4, D);
    this.blocks = Array.from(
      { length: c.forecasterLayers },
      (_, i) => new ForecasterBlock(p, `engine.forecaster.${i}`, D, c.heads),
    );
    this.query = new Map(
      fields.map((f) => [
        f.layout.field,
        dense(p, `engine.query.${f.layout.field}`, this.queryWidth(f), D),
      ]),
    );
    this.levelEmbed = new Map(
      fields.map((f) => [f.layout.field, p.vector(`engine.level.${f.layout.field}`, f.layout.levels * D)]),
    );
    for (const f of fields) {
      const e = this.levelEmbed.get(f.layout.field)!;
      for (let i = 0; i < e.size; i++) e.data[i] = 0.02 * Math.sin(1.7 * i + 0.3);
    }
    this.queryPos = dense(p, "engine.query.position", 4, D);
    this.crossQ = dense(p, "engine.readout.q", D, D);
    this.crossKv = dense(p, "engine.readout.kv", D, 2 * D);
    this.crossOut = dense(p, "engine.readout.out", D, D);
    this.readMlp = new Mlp(p, "engine.readout.mlp", D, 2);
    this.head = new Map(fields.map((f) => {
      const out = f.layout.values;
      return [f.layout.field, {
        w: p.weight(`engine.head.${f.layout.field}.w`, D, out, true),
        b: p.vector(`engine.head.${f.layout.field}.b`, out),
      }];
    }));
    if (c.stencilRadius > 0) {
      const size = first.kind === "grid" ? grids[0].tokenSize : undefined;
      if (!size) throw new ConfigError("engine.stencilRadius", "the point head needs the grid fields' token size");
      const planes = grids.map((f) => ({ field: f.layout.field, levels: f.layout.levels, timeSteps: f.timeSteps }));
      this.pointHead = new PointHead(p, planes, first.axes, size, c.stencilRadius, c.stencilWidth);
    }
  }

  /** Inputs of a token's read-out query: its 3 × 3 neighbourhood of its own field level or of all grid planes. */
  private queryWidth(f: EngineField): number {
    if (f.layout.kind !== "grid") return f.layout.values;
    return 9 *
      (this.config.queryFields === "all"
        ? this.gridFields.reduce((a, g) => a + g.layout.levels * g.layout.values, 0)
        : f.layout.values);
  }

  /** The global latent after the adapter [1, tiles·P, latentWidth]. */
  adapt(input: EngineInput, tiles: number): Tensor {
    const P = this.positions, [nt, ,] = this.gridFields[0].layout.axes, A = this.timeTokens;
    const parts = this.gridFields.map((f) => {
      const { levels: L, tokens: N } = f.layout;
      const s = input.states.get(f.layout.field)!;
      // Rows ordered (tile, position, level, time token): one row of the reshaped tensor per (tile, position).
      const index = new Int32Array(tiles * P * L * A);
      let k = 0;
      for (let b = 0; b < tiles; b++) {
        for (let q = 0; q < P; q++) {
          for (let l = 0; l < L; l++) for (let a = nt - A; a < nt; a++) index[k++] = (b * L + l) * N + a * P + q;
        }
      }
      return gatherRows(s.reshape([tiles * L * N, f.width]), index).reshape([tiles * P, L * A * f.width]);
    });
    if (this.config.adapterValues) parts.push(constant(this.lastValues(input, tiles), [tiles * P, this.valueWidth()]));
    let z = linear(parts.length === 1 ? parts[0] : concatLast(parts), this.adapter.w, this.adapter.b);
    z = add(z, linear(constant(input.position, [tiles * P, 4]), this.posEmbed.w, this.posEmbed.b));
    if (input.noise && input.noise.std > 0) {
      // Relative to the latent's RMS (WeatherGenerator scales by the latent's norm), so σ means the same at any width.
      let ss = 0;
      for (const v of z.data) ss += v * v;
      const scale = input.noise.std * Math.sqrt(ss / z.size);
      const n = new Float32Array(z.size);
      for (let i = 0; i < n.length; i++) n[i] = scale * input.noise.rng.normal();
      z = add(z, constant(n, z.shape));
    }
    return z.reshape([1, tiles * P, this.config.latentWidth]);
  }

  /** Raw values per token position: every grid plane's tokens of the time tokens the adapter reads. */
  private valueWidth(): number {
    return this.gridFields.reduce((a, f) => a + f.layout.levels * this.timeTokens * f.layout.values, 0);
  }

  /**
   * Per tile and position: every grid plane's tokens of the last
   * `timeTokens` time tokens, normalized (missing values 0) [tiles·P·width].
   */
  private lastValues(input: EngineInput, tiles: number): Float32Array {
    const P = this.positions, [nt, ,] = this.gridFields[0].layout.axes, width = this.valueWidth();
    const out = new Float32Array(tiles * P * width);
    for (let b = 0; b < tiles; b++) {
      for (let q = 0; q < P; q++) {
        let o = (b * P + q) * width;
        for (const f of this.gridFields) {
          const { levels: L, tokens: N, values: V } = f.layout, x = input.tokens.get(f.layout.field)!;
          for (let l = 0; l < L; l++) {
            for (let a = nt - this.timeTokens; a < nt; a++, o += V) {
              const src = ((b * L + l) * N + a * P + q) * V;
              for (let v = 0; v < V; v++) out[o + v] = x[src + v] === x[src + v] ? x[src + v] : 0;
            }
          }
        }
      }
    }
    return out;
  }

  /**
   * Whether a step needs {@link EngineInput.previousNeighbourhoods}: the
   * point head's tendency, when a token holds one step (else the step
   * before the last is in the last token) and the window has a time token
   * before the last.
   */
  get needsPreviousTimeToken(): boolean {
    const f = this.gridFields[0];
    return this.pointHead !== undefined && f.timeSteps === 1 && f.layout.axes[0] >= 2;
  }

  /** Advance the global latent one step. */
  forecast(z: Tensor): Tensor {
    let y = z;
    for (const b of this.blocks) y = b.apply(y);
    return y;
  }

  /** Per field, the next time slab of every token, normalized: last input step + predicted change. */
  readOut(z: Tensor, input: EngineInput, tiles: number): EngineOutput {
    const P = this.positions, D = this.config.latentWidth, K = input.neighbours.length / tiles;
    // Keys of tile b: the latent positions of its neighbour tiles (own first).
    const index = new Int32Array(tiles * K * P);
    for (let b = 0, k = 0; b < tiles; b++) {
      for (let n = 0; n < K; n++) for (let q = 0; q < P; q++) index[k++] = input.neighbours[b * K + n] * P + q;
    }
    const keys = gatherRows(z.reshape([tiles * P, D]), index).reshape([tiles, K * P, D]);
    const kv = linear(layerNorm(keys), this.crossKv.w, this.crossKv.b);
    const queries: Tensor[] = [];
    const lastSteps: Float32Array[] = [];
    const own = new Map(this.gridFields.map((f) => [f.layout.field, this.gridQuery(f, input, tiles)]));
    // Every grid plane's neighbourhood at (tile, position), the same for each level of the field read out.
    const allPlanes = (f: EngineField): Float32Array => {
      const width = this.queryWidth(f), L = f.layout.levels, out = new Float32Array(tiles * L * P * width);
      for (let b = 0; b < tiles; b++) {
        for (let p = 0; p < P; p++) {
          let o = 0;
          for (const g of this.gridFields) {
            const n = 9 * g.layout.values, q = own.get(g.layout.field)!.q;
            for (let lg = 0; lg < g.layout.levels; lg++, o += n) {
              const part = q.subarray(
                ((b * g.layout.levels + lg) * P + p) * n,
                ((b * g.layout.levels + lg) * P + p + 1) * n,
              );
              for (let l = 0; l < L; l++) out.set(part, ((b * L + l) * P + p) * width + o);
            }
          }
        }
      }
      return out;
    };
    for (const f of this.fields) {
      if (f.layout.kind === "points") {
        const { q, last, pos } = this.pointQueries(f, input, tiles);
        lastSteps.push(last);
        queries.push(this.embedQueries(f, q, pos, tiles, f.layout.axes[1]));
        continue;
      }
      const { q, last, pos } = own.get(f.layout.field)!;
      lastSteps.push(last);
      queries.push(this.embedQueries(f, this.config.queryFields === "all" ? allPlanes(f) : q, pos, tiles, P));
    }
    // All fields' queries of a tile attend together: one attention call.
    const rows = queries.map((q) => q.shape[1]);
    const qAll = queries.length === 1 ? queries[0] : concatRows(queries, tiles);
    const qn = linear(layerNorm(qAll), this.crossQ.w, this.crossQ.b);
    const a = attention({ tensor: qn, col: 0 }, { tensor: kv, col: 0 }, { tensor: kv, col: D }, {
      heads: this.config.heads,
      headDim: D / this.config.heads,
    });
    const h = this.readMlp.apply(add(qAll, linear(a, this.crossOut.w, this.crossOut.b)), 0);
    const deltas = new Map<string, Tensor>();
    let r0 = 0;
    for (const [i, f] of this.fields.entries()) {
      const n = rows[i];
      const hf = rows.length === 1 ? h : sliceRows(h, tiles, r0, n);
      r0 += n;
      const hd = this.head.get(f.layout.field)!;
      deltas.set(f.layout.field, linear(layerNorm(hf), hd.w, hd.b));
    }
    const points = this.pointHead?.apply({
      deltas,
      neighbourhoods: new Map([...own].map(([k, v]) => [k, v.q])),
      previous: this.needsPreviousTimeToken ? this.needPrevious(input) : undefined,
      latitudes: this.needLatitudes(input),
      tiles,
    });
    const out: EngineOutput = new Map();
    for (const [i, f] of this.fields.entries()) {
      const d = deltas.get(f.layout.field)!, fine = points?.get(f.layout.field);
      out.set(f.layout.field, add(fine ? add(d, fine) : d, constant(lastSteps[i], d.shape)));
    }
    return out;
  }

  private needPrevious(input: EngineInput): Map<string, Float32Array> {
    if (!input.previousNeighbourhoods) {
      throw new Error("the engine's point head needs the neighbourhoods of the time token before the last");
    }
    return input.previousNeighbourhoods;
  }

  private needLatitudes(input: EngineInput): Float32Array {
    if (!input.latitudes) {
      throw new Error("the engine's point head needs the tiles' point latitudes (EngineInput.latitudes)");
    }
    return input.latitudes;
  }

  /**
   * A grid field's queries: per tile, level and position of the last time
   * token, its 3 × 3 token neighbourhood (on the whole grid when given, else
   * inside the tile, zeros beyond), its last time step repeated over the slab
   * (the residual's base), and its position.
   */
  private gridQuery(
    f: EngineField,
    input: EngineInput,
    tiles: number,
  ): { q: Float32Array; last: Float32Array; pos: Float32Array } {
    const P = this.positions, [nt, ,] = this.gridFields[0].layout.axes;
    const { levels: L, tokens: N, values: V } = f.layout;
    const x = input.tokens.get(f.layout.field)!;
    // The last time token of every (tile, level, position): its values, and its last time step repeated.
    // The query sees the 3×3 token neighbourhood (on the whole grid when given, else inside the tile): what
    // flows across a token's edge within one step, so neighbouring tokens' predictions join without a jump.
    const given = input.neighbourhoods?.get(f.layout.field);
    const q = given?.slice() ?? new Float32Array(tiles * L * P * 9 * V), last = new Float32Array(tiles * L * P * V);
    const pos = new Float32Array(tiles * L * P * 4);
    const plane = this.planeValues(f);
    const [, nh, nw] = f.layout.axes;
    for (let b = 0; b < tiles; b++) {
      for (let l = 0; l < L; l++) {
        for (let p = 0; p < P; p++) {
          const src = ((b * L + l) * N + (nt - 1) * P + p) * V, dst = ((b * L + l) * P + p) * V;
          const bi = Math.floor(p / nw), ci = p % nw;
          for (let k = 0; k < 9 && !given; k++) {
            const i = bi + Math.floor(k / 3) - 1, j = ci + (k % 3) - 1;
            if (i < 0 || i >= nh || j < 0 || j >= nw) continue;
            const o = ((b * L + l) * N + (nt - 1) * P + i * nw + j) * V;
            q.set(x.subarray(o, o + V), (((b * L + l) * P + p) * 9 + k) * V);
          }
          const lastPlane = x.subarray(src + V - plane, src + V);
          for (let o = 0; o < V; o += plane) last.set(lastPlane, dst + o);
          pos.set(input.position.subarray((b * P + p) * 4, (b * P + p) * 4 + 4), ((b * L + l) * P + p) * 4);
        }
      }
    }
    // Missing values (land in sst) enter as 0, the mean in normalized units, as the encoder sees them.
    for (let i = 0; i < q.length; i++) {
      if (q[i] !== q[i]) q[i] = 0;
      if (last[i] !== last[i]) last[i] = 0;
    }
    return { q, last, pos };
  }

  /** Query features [tiles, L·P, in] + position [.., 4] + level embedding → [tiles, L·P, D]. */
  private embedQueries(f: EngineField, q: Float32Array, pos: Float32Array, tiles: number, P: number): Tensor {
    const L = f.layout.levels, D = this.config.latentWidth;
    const dq = this.query.get(f.layout.field)!;
    let e = linear(constant(q, [tiles, L * P, q.length / (tiles * L * P)]), dq.w, dq.b);
    e = add(e, linear(constant(pos, [tiles, L * P, 4]), this.queryPos.w, this.queryPos.b));
    // Level embedding, broadcast over tiles and positions: [L, D] → rows (l, p).
    const lv = this.levelEmbed.get(f.layout.field)!;
    const rep = new Int32Array(L * P);
    for (let l = 0; l < L; l++) for (let p = 0; p < P; p++) rep[l * P + p] = l;
    return addBroadcast(e, gatherRows(lv.reshape([L, D]), rep).reshape([L * P, D]));
  }

  /**
   * A mesh field's queries: per tile, level and point token of the last
   * time step, its values (padding and missing as 0), and the position of
   * its first point from the token info (colatitude, longitude).
   */
  private pointQueries(
    f: EngineField,
    input: EngineInput,
    tiles: number,
  ): { q: Float32Array; last: Float32Array; pos: Float32Array } {
    const { levels: L, tokens: N, values: V } = f.layout, [Tm, K] = f.layout.axes;
    const x = input.tokens.get(f.layout.field)!, info = input.info?.get(f.layout.field);
    if (!info) throw new Error(`${f.layout.field}: a mesh field's read-out needs its token info`);
    const q = new Float32Array(tiles * L * K * V), pos = new Float32Array(tiles * L * K * 4), deg = Math.PI / 180;
    for (let b = 0; b < tiles; b++) {
      for (let l = 0; l < L; l++) {
        for (let k = 0; k < K; k++) {
          const tok = (b * L + l) * N + (Tm - 1) * K + k, row = (b * L + l) * K + k;
          q.set(x.subarray(tok * V, (tok + 1) * V), row * V);
          const lat = (90 - info[tok * 8 + 4]) * deg, lon = info[tok * 8 + 5] * deg;
          pos.set([Math.sin(lat), Math.cos(lat), Math.sin(lon), Math.cos(lon)], row * 4);
        }
      }
    }
    for (let i = 0; i < q.length; i++) if (q[i] !== q[i]) q[i] = 0;
    return { q, last: q.slice(), pos };
  }

  /** One step: adapter → forecaster → read-out. */
  step(input: EngineInput, tiles: number): EngineOutput {
    return this.readOut(this.forecast(this.adapt(input, tiles)), input, tiles);
  }

  /** Values of one time step of a token (lat × lon points). */
  planeValues(f: EngineField): number {
    return f.layout.values / f.timeSteps;
  }
}

/** Concatenate [tiles, nᵢ, D] tensors along the middle axis. */
function concatRows(parts: Tensor[], tiles: number): Tensor {
  const D = parts[0].last, total = parts.reduce((a, p) => a + p.shape[1], 0);
  const flat = concatLast(parts.map((p) => p.reshape([tiles, p.shape[1] * D])));
  return flat.reshape([tiles, total, D]);
}

/** Rows [r0, r0+n) of every tile of a [tiles, R, D] tensor → [tiles, n, D]. */
function sliceRows(x: Tensor, tiles: number, r0: number, n: number): Tensor {
  const R = x.shape[1], D = x.last;
  const index = new Int32Array(tiles * n);
  for (let b = 0, k = 0; b < tiles; b++) for (let r = 0; r < n; r++) index[k++] = b * R + r0 + r;
  return gatherRows(x.reshape([tiles * R, D]), index).reshape([tiles, n, D]);
}
