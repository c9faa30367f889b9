/**
 * Embedding of a mesh or points field (FESOM nodes or elements, reduced
 * Gaussian points; `healpix-points` tokens): a small network shared by all
 * slots sees each point's value, validity and coordinates (Linear → GELU),
 * padding slots are zeroed so they contribute nothing, and the slots of a
 * token are then mixed by a Linear to width − infoWidth; token info and the
 * harmonic encoding (level, time, token slot) are added as for grids.
 *
 * @module
 */
import {
  addBroadcast,
  concatLast,
  constant,
  dropout,
  gelu,
  linear,
  type Random,
  scaleRows,
  type Tensor,
} from "../ops/mod.ts";
import type { FieldLayout } from "./config.ts";
import { harmonicEncoding } from "./harmonic.ts";
import { type FieldInput, POINT_FEATURES } from "./inputs.ts";
import { type Dense, dense, type Params } from "./params.ts";

/** Width of one point's embedding before the slots are mixed. */
export const POINT_WIDTH = 16;

/** A points field's embedding. */
export class PointsEmbedding {
  private readonly point: Dense;
  private readonly mix: Dense;
  private readonly info: Dense;
  private readonly encoding: Tensor;
  private readonly slots: number;

  constructor(p: Params, name: string, layout: FieldLayout, width: number, infoWidth: number) {
    this.slots = layout.values;
    this.point = dense(p, `${name}.point`, POINT_FEATURES, POINT_WIDTH);
    this.mix = dense(p, `${name}.mix`, POINT_WIDTH * layout.values, width - infoWidth);
    this.info = dense(p, `${name}.info`, 8, infoWidth);
    this.encoding = constant(harmonicEncoding(layout.levels, layout.axes, width), [
      layout.levels * layout.tokens,
      width,
    ]);
  }

  /** [batch, length, width]. */
  apply(x: FieldInput, p: number, rng?: Random): Tensor {
    const P = this.slots, rows = x.batch * x.length * P;
    const perPoint = constant(x.features, [rows, POINT_FEATURES]);
    // A slot is real when its coordinates are set (padding has all features 0; cos(lat) > 0 for real points
    // except exactly at a pole, where sin(lat) = ±1).
    const real = new Float32Array(rows);
    for (let r = 0; r < rows; r++) {
      const o = r * POINT_FEATURES;
      real[r] = x.features[o + 2] !== 0 || x.features[o + 3] !== 0 ? 1 : 0;
    }
    const h = scaleRows(gelu(linear(perPoint, this.point.w, this.point.b)), real);
    const tokens = linear(h.reshape([x.batch, x.length, P * POINT_WIDTH]), this.mix.w, this.mix.b);
    const i = constant(x.info, [x.batch, x.length, 8]);
    const e = concatLast([tokens, linear(i, this.info.w, this.info.b)]);
    return dropout(addBroadcast(e, this.encoding), p, rng);
  }
}
