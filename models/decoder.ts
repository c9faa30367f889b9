/**
 * One decoder layer of a field (AtmoRep's `MultiCrossAttentionHead` +
 * MLP): pre-LayerNorm, some heads self-attend the decoder's tokens and the
 * others (`decoderCrossRatio` of them, half by default) cross-attend one
 * encoder layer's output (LayerNorm without affine), concatenated,
 * projected, residual; then the MLP. Which encoder layer a decoder layer
 * reads is the caller's choice (the Multiformer's `decoderCrossRate`).
 * With the `decoderQkNorm` option, each head's q and k (self and cross)
 * pass one LayerNorm with affine shared by all heads, as AtmoRep's decoder
 * always does.
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
import { headNorm } from "./encoder.ts";
import { Mlp } from "./mlp.ts";
import { type Dense, dense, type Params } from "./params.ts";

/** A decoder layer of one field. */
export class DecoderLayer {
  private readonly qkv?: Dense;
  private readonly crossQ?: Dense;
  private readonly crossKv?: Dense;
  private readonly lnQ?: { g: Tensor; b: Tensor };
  private readonly lnK?: { g: Tensor; b: Tensor };
  private readonly out: Dense;
  private readonly mlp: Mlp;
  /** Self-attention heads. */
  readonly selfHeads: number;
  /** Cross-attention heads. */
  readonly crossHeads: number;
  private readonly headDim: number;

  constructor(p: Params, name: string, f: ResolvedField, net: Required<NetworkOptions>) {
    const d = f.width, H = f.decoderHeads, dh = d / H, bias = net.projectionBias;
    this.crossHeads = Math.floor(H * net.decoderCrossRatio);
    this.selfHeads = H - this.crossHeads;
    this.headDim = dh;
    const hs = this.selfHeads, hc = this.crossHeads;
    if (hs > 0) this.qkv = dense(p, `${name}.qkv`, d, 3 * hs * dh, bias);
    if (hc > 0) {
      this.crossQ = dense(p, `${name}.cross.q`, d, hc * dh, bias);
      this.crossKv = dense(p, `${name}.cross.kv`, d, 2 * hc * dh, bias);
    }
    if (net.decoderQkNorm) {
      this.lnQ = { g: p.vector(`${name}.ln_q.g`, dh, 1), b: p.vector(`${name}.ln_q.b`, dh, 0) };
      this.lnK = { g: p.vector(`${name}.ln_k.g`, dh, 1), b: p.vector(`${name}.ln_k.b`, dh, 0) };
    }
    this.out = dense(p, `${name}.out`, H * dh, d, bias);
    this.mlp = new Mlp(p, `${name}.mlp`, d, f.mlpRatio, {
      layers: net.decoderMlpLayers,
      finalGelu: net.mlpFinalGelu,
      gelu: net.gelu,
    });
  }

  /** Next decoder state from `y` and the encoder layer's output `enc`. */
  apply(y: Tensor, enc: Tensor, keyMask: Uint8Array | undefined, p: number, rng?: Random): Tensor {
    const dh = this.headDim, hs = this.selfHeads, hc = this.crossHeads;
    const n = layerNorm(y);
    const norm = (t: Tensor, col: number, h: number, ln?: { g: Tensor; b: Tensor }): AttentionInput =>
      ln ? { tensor: headNorm(sliceLast(t, col, h * dh), h, dh, ln.g, ln.b), col: 0 } : { tensor: t, col };
    const parts: Tensor[] = [];
    if (this.qkv) {
      const w = hs * dh;
      const qkv = linear(n, this.qkv.w, this.qkv.b);
      parts.push(attention(norm(qkv, 0, hs, this.lnQ), norm(qkv, w, hs, this.lnK), { tensor: qkv, col: 2 * w }, {
        heads: hs,
        headDim: dh,
        keyMask,
      }));
    }
    if (this.crossQ && this.crossKv) {
      const q = linear(n, this.crossQ.w, this.crossQ.b);
      const kv = linear(layerNorm(enc), this.crossKv.w, this.crossKv.b);
      parts.push(attention(norm(q, 0, hc, this.lnQ), norm(kv, 0, hc, this.lnK), { tensor: kv, col: hc * dh }, {
        heads: hc,
        headDim: dh,
        keyMask,
      }));
    }
    const heads = parts.length === 1 ? parts[0] : concatLast(parts);
    const z = add(y, dropout(linear(heads, this.out.w, this.out.b), p, rng));
    return this.mlp.apply(z, p, rng);
  }
}
