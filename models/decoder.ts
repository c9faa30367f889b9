/**
 * One decoder layer of a field (AtmoRep's `MultiCrossAttentionHead` +
 * MLP): pre-LayerNorm, half the heads self-attend the decoder's tokens and
 * half cross-attend one encoder layer's output (decoder layer i ↔ encoder
 * layer n−1−i, a U-Net-like skip), concatenated, projected, residual; then
 * the MLP.
 *
 * @module
 */
import { add, attention, concatLast, dropout, layerNorm, linear, type Random, type Tensor } from "../ops/mod.ts";
import type { ResolvedField } from "./config.ts";
import { Mlp } from "./mlp.ts";
import { type Dense, dense, type Params } from "./params.ts";

/** A decoder layer of one field. */
export class DecoderLayer {
  private readonly qkv: Dense;
  private readonly crossQ: Dense;
  private readonly crossKv: Dense;
  private readonly out: Dense;
  private readonly mlp: Mlp;
  private readonly heads: number;
  private readonly headDim: number;

  constructor(p: Params, name: string, f: ResolvedField) {
    const d = f.width, dh = d / f.heads, h = f.heads / 2;
    this.heads = h;
    this.headDim = dh;
    this.qkv = dense(p, `${name}.qkv`, d, 3 * h * dh);
    this.crossQ = dense(p, `${name}.cross.q`, d, h * dh);
    this.crossKv = dense(p, `${name}.cross.kv`, d, 2 * h * dh);
    this.out = dense(p, `${name}.out`, 2 * h * dh, d);
    this.mlp = new Mlp(p, `${name}.mlp`, d, f.mlpRatio);
  }

  /** Next decoder state from `y` and the encoder layer's output `enc`. */
  apply(y: Tensor, enc: Tensor, keyMask: Uint8Array | undefined, p: number, rng?: Random): Tensor {
    const h = this.heads, dh = this.headDim, w = h * dh;
    const n = layerNorm(y);
    const qkv = linear(n, this.qkv.w, this.qkv.b);
    const self = attention({ tensor: qkv, col: 0 }, { tensor: qkv, col: w }, { tensor: qkv, col: 2 * w }, {
      heads: h,
      headDim: dh,
      keyMask,
    });
    const q = linear(n, this.crossQ.w, this.crossQ.b);
    const kv = linear(layerNorm(enc), this.crossKv.w, this.crossKv.b);
    const cross = attention({ tensor: q, col: 0 }, { tensor: kv, col: 0 }, { tensor: kv, col: w }, {
      heads: h,
      headDim: dh,
      keyMask,
    });
    const z = add(y, dropout(linear(concatLast([self, cross]), this.out.w, this.out.b), p, rng));
    return this.mlp.apply(z, p, rng);
  }
}
