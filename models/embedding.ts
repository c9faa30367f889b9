/**
 * Embedding of a regular-grid field (AtmoRep's `prepare_token`): a Linear
 * of each token's values (and their validity flags) to width − infoWidth,
 * concatenated with a Linear of the token info to infoWidth, plus the
 * harmonic encoding of the token's local indices, then dropout. Network
 * options: without the validity flags (AtmoRep embeds the values alone),
 * AtmoRep's harmonic formula, no embedding dropout.
 *
 * @module
 */
import { addBroadcast, concatLast, constant, dropout, linear, type Random, type Tensor } from "../ops/mod.ts";
import type { FieldLayout, NetworkOptions } from "./config.ts";
import { atmorepHarmonicEncoding, harmonicEncoding } from "./harmonic.ts";
import type { FieldInput } from "./inputs.ts";
import { type Dense, dense, type Params } from "./params.ts";

/** A grid field's embedding. */
export class GridEmbedding {
  private readonly values: Dense;
  private readonly info: Dense;
  private readonly encoding: Tensor;
  private readonly dropout: boolean;

  constructor(
    p: Params,
    name: string,
    layout: FieldLayout,
    width: number,
    infoWidth: number,
    net?: Required<NetworkOptions>,
  ) {
    const flags = net?.validityFlags ?? true;
    this.values = dense(p, `${name}.values`, (flags ? 2 : 1) * layout.values, width - infoWidth);
    this.info = dense(p, `${name}.info`, 8, infoWidth);
    const enc = net?.harmonic === "atmorep" ? atmorepHarmonicEncoding : harmonicEncoding;
    this.encoding = constant(enc(layout.levels, layout.axes, width), [layout.levels * layout.tokens, width]);
    this.dropout = net?.embeddingDropout ?? true;
  }

  /** [batch, length, width]. */
  apply(x: FieldInput, p: number, rng?: Random): Tensor {
    const f = constant(x.features, [x.batch, x.length, x.width]);
    const i = constant(x.info, [x.batch, x.length, 8]);
    const e = concatLast([linear(f, this.values.w, this.values.b), linear(i, this.info.w, this.info.b)]);
    const y = addBroadcast(e, this.encoding);
    return this.dropout ? dropout(y, p, rng) : y;
  }
}
