/**
 * The transformer MLP sub-block with its pre-LayerNorm and residual:
 * x + Linear(GELU(Linear(LN(x)))) with dropout, or AtmoRep's form
 * (`transformer/mlp.py`) when the network options ask for it: more hidden
 * Linear+GELU layers (`encoder_num_mlp_layers`), one more GELU after the
 * last Linear, and GELU in its exact erf form.
 *
 * @module
 */
import { add, dropout, gelu, geluErf, layerNorm, linear, type Random, type Tensor } from "../ops/mod.ts";
import type { NetworkOptions } from "./config.ts";
import { type Dense, dense, type Params } from "./params.ts";

/** How an MLP computes. */
export interface MlpOptions {
  /** Linear layers (≥ 2). Default 2. */
  layers?: number;
  /** A GELU after the last Linear. Default false. */
  finalGelu?: boolean;
  /** GELU form. Default tanh. */
  gelu?: NetworkOptions["gelu"];
}

/** An MLP sub-block. */
export class Mlp {
  private readonly up: Dense;
  private readonly hidden: Dense[];
  private readonly down: Dense;
  private readonly finalGelu: boolean;
  private readonly act: (t: Tensor) => Tensor;

  constructor(p: Params, name: string, width: number, ratio: number, opt: MlpOptions = {}) {
    this.up = dense(p, `${name}.up`, width, ratio * width);
    this.hidden = Array.from(
      { length: (opt.layers ?? 2) - 2 },
      (_, i) => dense(p, `${name}.hidden.${i}`, ratio * width, ratio * width),
    );
    this.down = dense(p, `${name}.down`, ratio * width, width);
    this.finalGelu = opt.finalGelu ?? false;
    this.act = opt.gelu === "erf" ? geluErf : gelu;
  }

  /** x + MLP(LN(x)). */
  apply(x: Tensor, p: number, rng?: Random): Tensor {
    let h = this.act(linear(layerNorm(x), this.up.w, this.up.b));
    for (const l of this.hidden) h = this.act(linear(dropout(h, p, rng), l.w, l.b));
    let y = linear(dropout(h, p, rng), this.down.w, this.down.b);
    if (this.finalGelu) y = this.act(y);
    return add(x, dropout(y, p, rng));
  }
}
