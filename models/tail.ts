/**
 * The tail ensemble (AtmoRep's `tail_ensemble.py`): on the masked tokens
 * only, LayerNorm then one Linear per member to the token's values — on
 * grids the token's points, on meshes each slot's point. The members are
 * one Linear of width members × values (the same arithmetic as separate
 * heads, one matmul); the per-member LayerNorm affine of AtmoRep is folded
 * into that Linear, which it equals up to parametrization.
 *
 * @module
 */
import { gatherRows, layerNorm, linear, type Tensor } from "../ops/mod.ts";
import { type Dense, dense, type Params } from "./params.ts";

/** A field's tail ensemble. */
export class TailEnsemble {
  private readonly heads: Dense;
  /** Members. */
  readonly members: number;
  /** Values per token. */
  readonly values: number;

  constructor(p: Params, name: string, width: number, members: number, values: number) {
    this.members = members;
    this.values = values;
    this.heads = dense(p, `${name}.members`, width, members * values);
  }

  /** Member predictions [rows.length, members, values] of the rows `rows` of y [batch, length, width]. */
  apply(y: Tensor, rows: Int32Array): Tensor {
    const picked = gatherRows(layerNorm(y).reshape([y.rows, y.last]), rows);
    return linear(picked, this.heads.w, this.heads.b).reshape([rows.length, this.members, this.values]);
  }
}
