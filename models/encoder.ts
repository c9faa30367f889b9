/**
 * One encoder layer of the Multiformer for one field (AtmoRep's
 * `MultiInterAttentionHead` + MLP): pre-LayerNorm (no affine), dense
 * self-attention over all tokens of the field, and per coupled field
 * `couplingHeads` cross-attention heads whose queries come from this field
 * and keys/values from the coupled field's state of the previous layer;
 * the heads are concatenated, projected, and added to the residual; then
 * the MLP. The caller passes every field the previous layer's states, so
 * the result does not depend on the order fields are updated in. Network
 * options: projections without bias, and AtmoRep's QK-LayerNorm (each
 * head's q and k normalized without affine; of a coupled field only its
 * k, as AtmoRep does).
 *
 * @module
 */
import {
  add,
  attention,
  type AttentionInput,
  concatLast,
  dropout,
  layerNorm,
  linear,
  type Random,
  sliceLast,
  type Tensor,
} from "../ops/mod.ts";
import type { NetworkOptions, ResolvedField } from "./config.ts";
import { Mlp } from "./mlp.ts";
import { type Dense, dense, type Params } from "./params.ts";

/** The normalized state of a field of the previous layer, as coupling keys see it. */
export interface CoupledState {
  /** LN(state) [batch, length, width]. */
  normed: Tensor;
  /** Keys to ignore (points padding) [batch, length]. */
  keyMask?: Uint8Array;
}

/** An encoder layer of one field. */
export class EncoderLayer {
  private readonly qkv: Dense;
  private readonly couplingQ: Dense[];
  private readonly couplingKv: Dense[];
  private readonly out: Dense;
  private readonly mlp: Mlp;
  private readonly f: ResolvedField;
  private readonly headDim: number;
  private readonly qkNorm: boolean;

  constructor(
    p: Params,
    name: string,
    f: ResolvedField,
    widths: Map<string, number>,
    net: Required<NetworkOptions>,
  ) {
    this.f = f;
    const d = f.width, dh = d / f.heads, ch = f.couplingHeads, bias = net.projectionBias;
    this.headDim = dh;
    this.qkNorm = net.encoderQkNorm;
    this.qkv = dense(p, `${name}.qkv`, d, 3 * d, bias);
    this.couplingQ = f.coupledWith.map((c) => dense(p, `${name}.coupling.${c}.q`, d, ch * dh, bias));
    this.couplingKv = f.coupledWith.map((c) => dense(p, `${name}.coupling.${c}.kv`, widths.get(c)!, 2 * ch * dh, bias));
    this.out = dense(p, `${name}.out`, (f.heads + ch * f.coupledWith.length) * dh, d, bias);
    this.mlp = new Mlp(p, `${name}.mlp`, d, f.mlpRatio, {
      layers: net.mlpLayers,
      finalGelu: net.mlpFinalGelu,
      gelu: net.gelu,
    });
  }

  /** The new state of this field from its previous state `x` (normalized: `own`) and the coupled fields'. */
  apply(
    x: Tensor,
    own: CoupledState,
    others: Map<string, CoupledState>,
    p: number,
    rng?: Random,
  ): Tensor {
    const { heads, couplingHeads: ch, width: d } = this.f;
    const dh = this.headDim;
    const qkv = linear(own.normed, this.qkv.w, this.qkv.b);
    const norm = (t: Tensor, col: number, h: number): AttentionInput =>
      this.qkNorm ? { tensor: headNorm(sliceLast(t, col, h * dh), h, dh), col: 0 } : { tensor: t, col };
    const parts = [attention(norm(qkv, 0, heads), norm(qkv, d, heads), { tensor: qkv, col: 2 * d }, {
      heads,
      headDim: dh,
      keyMask: own.keyMask,
    })];
    for (const [i, c] of this.f.coupledWith.entries()) {
      const other = others.get(c)!;
      const q = linear(own.normed, this.couplingQ[i].w, this.couplingQ[i].b);
      const kv = linear(other.normed, this.couplingKv[i].w, this.couplingKv[i].b);
      parts.push(attention({ tensor: q, col: 0 }, norm(kv, 0, ch), { tensor: kv, col: ch * dh }, {
        heads: ch,
        headDim: dh,
        keyMask: other.keyMask,
      }));
    }
    const heads_ = parts.length === 1 ? parts[0] : concatLast(parts);
    const y = add(x, dropout(linear(heads_, this.out.w, this.out.b), p, rng));
    return this.mlp.apply(y, p, rng);
  }
}

/** LayerNorm over each head's columns of t [..., heads·dh] (with an optional affine shared by the heads). */
export function headNorm(t: Tensor, heads: number, dh: number, gamma?: Tensor, beta?: Tensor): Tensor {
  return layerNorm(t.reshape([t.rows * heads, dh]), gamma, beta).reshape(t.shape);
}
