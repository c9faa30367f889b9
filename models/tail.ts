/**
 * The tail ensemble (AtmoRep's `tail_ensemble.py`): on the masked tokens
 * only, LayerNorm then per member a Linear to the token's values — on
 * grids the token's points, on meshes each slot's point. Two forms, by
 * the network option `tailNorm`:
 *
 * - `folded` (default): one LayerNorm without affine and the members as
 *   one Linear of width members × values (the same arithmetic as separate
 *   heads, one matmul; a per-member affine folds into that Linear);
 * - `per-member` (AtmoRep): per member a LayerNorm with affine, `tailLayers`
 *   hidden Linear+GELU layers, and the Linear to the values — AtmoRep's
 *   parameters one to one, so its checkpoints load and its gradients compare.
 *
 * @module
 */
import { concatLast, gatherRows, gelu, geluErf, layerNorm, linear, type Tensor } from "../ops/mod.ts";
import type { NetworkOptions } from "./config.ts";
import { type Dense, dense, type Params } from "./params.ts";

interface Member {
  g: Tensor;
  b: Tensor;
  hidden: Dense[];
  out: Dense;
}

/** A field's tail ensemble. */
export class TailEnsemble {
  private readonly heads?: Dense;
  private readonly perMember?: Member[];
  private readonly act: (t: Tensor) => Tensor;
  /** Members. */
  readonly members: number;
  /** Values per token. */
  readonly values: number;

  constructor(
    p: Params,
    name: string,
    width: number,
    members: number,
    values: number,
    net?: Required<NetworkOptions>,
  ) {
    this.members = members;
    this.values = values;
    this.act = net?.gelu === "erf" ? geluErf : gelu;
    if (net?.tailNorm === "per-member") {
      this.perMember = Array.from({ length: members }, (_, m) => ({
        g: p.vector(`${name}.${m}.norm.g`, width, 1),
        b: p.vector(`${name}.${m}.norm.b`, width, 0),
        hidden: Array.from({ length: net.tailLayers }, (_, k) => dense(p, `${name}.${m}.hidden.${k}`, width, width)),
        out: dense(p, `${name}.${m}.out`, width, values),
      }));
    } else {
      if (net && net.tailLayers > 0) throw new Error("tailLayers needs tailNorm per-member");
      this.heads = dense(p, `${name}.members`, width, members * values);
    }
  }

  /** Member predictions [rows.length, members, values] of the rows `rows` of y [batch, length, width]. */
  apply(y: Tensor, rows: Int32Array): Tensor {
    if (this.heads) {
      const picked = gatherRows(layerNorm(y).reshape([y.rows, y.last]), rows);
      return linear(picked, this.heads.w, this.heads.b).reshape([rows.length, this.members, this.values]);
    }
    const picked = gatherRows(y.reshape([y.rows, y.last]), rows);
    const outs = this.perMember!.map((m) => {
      let h = layerNorm(picked, m.g, m.b);
      for (const l of m.hidden) h = this.act(linear(h, l.w, l.b));
      return linear(h, m.out.w, m.out.b);
    });
    const all = outs.length === 1 ? outs[0] : concatLast(outs);
    return all.reshape([rows.length, this.members, this.values]);
  }
}
