/**
 * The transformer MLP sub-block with its pre-LayerNorm and residual:
 * x + Linear(GELU(Linear(LN(x)))) with dropout. AtmoRep applies one more
 * GELU after the second Linear (a quirk); this one does not.
 *
 * @module
 */
import { add, dropout, gelu, layerNorm, linear, type Random, type Tensor } from "../ops/mod.ts";
import { type Dense, dense, type Params } from "./params.ts";

/** An MLP sub-block. */
export class Mlp {
  private readonly up: Dense;
  private readonly down: Dense;

  constructor(p: Params, name: string, width: number, ratio: number) {
    this.up = dense(p, `${name}.up`, width, ratio * width);
    this.down = dense(p, `${name}.down`, ratio * width, width);
  }

  /** x + MLP(LN(x)). */
  apply(x: Tensor, p: number, rng?: Random): Tensor {
    const h = gelu(linear(layerNorm(x), this.up.w, this.up.b));
    return add(x, dropout(linear(dropout(h, p, rng), this.down.w, this.down.b), p, rng));
  }
}
