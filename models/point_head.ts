/**
 * The forecast engine's point head: a correction of every grid point's
 * predicted change from the raw values around that point. The token
 * read-out decodes a whole token (8 × 8 points) from one vector, which is
 * coarse where the flow moves features by a few points per step; the point
 * head sees, per point, a (2r + 1)² stencil of the last input step of every
 * grid plane (field level) and of its change since the step before (the
 * recent tendency: where the flow goes, and the unobserved forcing's
 * imprint), the token read-out's change of every plane at that point, and
 * the point's latitude (the stencil's metric shrinks with
 * cos φ in longitude), and adds an MLP's change to each plane. Together
 * they are the engine's coarse (token) and fine (point) paths, as a
 * U-Net's coarse and fine levels are. The last layer starts at zero, so an
 * untrained point head changes nothing.
 *
 * Network only: the stencils come from the 3 × 3 token neighbourhoods the
 * read-out's queries already hold.
 *
 * @module
 */
import { concatLast, constant, gatherRows, gelu, linear, type Tensor } from "../ops/mod.ts";
import { ConfigError } from "../errors.ts";
import { type Dense, dense, type Params } from "./params.ts";

/** A grid field as the point head reads and corrects it. */
export interface PointHeadField {
  /** Field name. */
  field: string;
  /** Levels (planes) of the field. */
  levels: number;
  /** Time steps per token (the slab predicted per step). */
  timeSteps: number;
}

/** What the point head needs of one read-out. */
export interface PointHeadInput {
  /** Per field: the token read-out's predicted change [tiles, levels·P, values]. */
  deltas: Map<string, Tensor>;
  /** Per field: the 3 × 3 token neighbourhoods [tiles·levels·P·9·values] (missing values 0). */
  neighbourhoods: Map<string, Float32Array>;
  /** Per tile and point row of the tile: [sin φ, cos φ] [tiles·rows·2]. */
  latitudes: Float32Array;
  /**
   * Per field: the neighbourhoods one time token earlier, when a token
   * holds one step (else the step before the last is in `neighbourhoods`);
   * absent there: the tendency is 0 (a window of one step).
   */
  previous?: Map<string, Float32Array>;
  /** Tiles. */
  tiles: number;
}

/** The point head of the forecast engine. */
export class PointHead {
  private readonly up: Dense;
  private readonly hidden: Dense;
  private readonly down: Dense;
  private readonly planes: number;
  private readonly slab: number;

  /**
   * @param axes the token grid of a tile [time, lat, lon] tokens
   * @param size the token's size [time, lat, lon] points
   */
  constructor(
    p: Params,
    private readonly fields: PointHeadField[],
    private readonly axes: readonly number[],
    private readonly size: readonly number[],
    private readonly radius: number,
    width: number,
  ) {
    const [, th, tw] = size;
    if (radius > th || radius > tw) {
      throw new ConfigError("engine.stencilRadius", `must be at most the token's size (${th} × ${tw} points)`);
    }
    this.planes = fields.reduce((a, f) => a + f.levels, 0);
    this.slab = size[0];
    const stencil = (2 * radius + 1) ** 2;
    this.up = dense(p, "engine.point.up", this.planes * (2 * stencil + this.slab) + 2, width);
    this.hidden = dense(p, "engine.point.hidden", width, width);
    this.down = {
      w: p.weight("engine.point.down.w", width, this.planes * this.slab, true),
      b: p.vector("engine.point.down.b", this.planes * this.slab),
    };
  }

  /** Per field, the correction to add to the token read-out's prediction [tiles, levels·P, values]. */
  apply(input: PointHeadInput): Map<string, Tensor> {
    const rows = this.rows(input.tiles);
    const features = constant(this.stencils(input), [rows, this.featureWidth()]);
    const deltas = this.gatherDeltas(input);
    let h = gelu(linear(concatLast([features, deltas]), this.up.w, this.up.b));
    h = gelu(linear(h, this.hidden.w, this.hidden.b));
    const out = linear(h, this.down.w, this.down.b).reshape([rows * this.planes * this.slab, 1]);
    return this.scatterBack(out, input.tiles);
  }

  /** Point rows: (tile, token position, point row, point column). */
  private rows(tiles: number): number {
    const [, nh, nw] = this.axes, [, th, tw] = this.size;
    return tiles * nh * nw * th * tw;
  }

  /** Fixed inputs per row. */
  featureWidth(): number {
    return this.planes * 2 * (2 * this.radius + 1) ** 2 + 2;
  }

  /**
   * The rows' fixed inputs [rows·(planes·2·(2r + 1)² + 2)]: per row (tile, token position, point row, point
   * column), per plane the stencil of the last input step (offsets in latitude, then longitude) and the stencil
   * of its change since the step before; then [sin φ, cos φ] of the point.
   */
  stencils(input: PointHeadInput): Float32Array {
    const [, nh, nw] = this.axes, [tt, th, tw] = this.size, V = tt * th * tw, P = nh * nw, r = this.radius;
    const width = this.featureWidth(), lastStep = (tt - 1) * th * tw;
    // The step before the last: in the last token, or the previous time token's last step, or none.
    const before = (field: string): { q: Float32Array; step: number } | undefined =>
      tt >= 2
        ? { q: input.neighbourhoods.get(field)!, step: lastStep - th * tw }
        : input.previous
        ? { q: input.previous.get(field)!, step: lastStep }
        : undefined;
    const earlier = new Map(this.fields.map((f) => [f.field, before(f.field)]));
    const out = new Float32Array(this.rows(input.tiles) * width);
    let o = 0;
    for (let b = 0; b < input.tiles; b++) {
      for (let p = 0; p < P; p++) {
        for (let i = 0; i < th; i++) {
          for (let j = 0; j < tw; j++, o += width) {
            let k = o;
            for (const f of this.fields) {
              const q = input.neighbourhoods.get(f.field)!, e = earlier.get(f.field);
              for (let l = 0; l < f.levels; l++) {
                const hood = ((b * f.levels + l) * P + p) * 9 * V, side = (2 * r + 1) ** 2;
                for (let di = -r; di <= r; di++) {
                  // Row in the 3 × 3 tokens' canvas, then which token row and which point row of it.
                  const I = th + i + di, ti = Math.floor(I / th), ii = I - ti * th;
                  for (let dj = -r; dj <= r; dj++, k++) {
                    const J = tw + j + dj, tj = Math.floor(J / tw), jj = J - tj * tw;
                    const at = hood + (ti * 3 + tj) * V + ii * tw + jj, now = q[at + lastStep];
                    out[k] = now;
                    out[k + side] = e ? now - e.q[at + e.step] : 0;
                  }
                }
                k += side;
              }
            }
            const lat = ((b * nh + Math.floor(p / nw)) * th + i) * 2;
            out[k] = input.latitudes[lat];
            out[k + 1] = input.latitudes[lat + 1];
          }
        }
      }
    }
    return out;
  }

  /** Per row, the token read-out's change of every plane and slab step at that point [rows, planes·slab]. */
  private gatherDeltas(input: PointHeadInput): Tensor {
    const [, nh, nw] = this.axes, [tt, th, tw] = this.size, P = nh * nw, V = tt * th * tw;
    const parts = this.fields.map((f) => {
      const L = f.levels, index = new Int32Array(this.rows(input.tiles) * L * tt);
      let k = 0;
      for (let b = 0; b < input.tiles; b++) {
        for (let p = 0; p < P; p++) {
          for (let ij = 0; ij < th * tw; ij++) {
            for (let l = 0; l < L; l++) {
              for (let t = 0; t < tt; t++) index[k++] = ((b * L + l) * P + p) * V + t * th * tw + ij;
            }
          }
        }
      }
      const d = input.deltas.get(f.field)!;
      return gatherRows(d.reshape([d.size, 1]), index).reshape([this.rows(input.tiles), L * tt]);
    });
    return parts.length === 1 ? parts[0] : concatLast(parts);
  }

  /** The MLP's rows [(row, plane, slab step), 1] back into each field's token layout [tiles, levels·P, values]. */
  private scatterBack(out: Tensor, tiles: number): Map<string, Tensor> {
    const [, nh, nw] = this.axes, [tt, th, tw] = this.size, P = nh * nw, V = tt * th * tw;
    const width = this.planes * tt, result = new Map<string, Tensor>();
    let plane0 = 0;
    for (const f of this.fields) {
      const L = f.levels, index = new Int32Array(tiles * L * P * V);
      let k = 0;
      for (let b = 0; b < tiles; b++) {
        for (let l = 0; l < L; l++) {
          for (let p = 0; p < P; p++) {
            for (let t = 0; t < tt; t++) {
              for (let ij = 0; ij < th * tw; ij++) {
                const row = (b * P + p) * th * tw + ij;
                index[k++] = row * width + (plane0 + l) * tt + t;
              }
            }
          }
        }
      }
      result.set(f.field, gatherRows(out, index).reshape([tiles, L * P, V]));
      plane0 += L;
    }
    return result;
  }
}
