/**
 * The Multiformer (AtmoRep's `AtmoRep` model): per field an embedding
 * (grid or points), an encoder whose layers couple the fields by
 * cross-attention, and per predicted field a decoder and a tail ensemble.
 * Network only: no file system, no data loading.
 *
 * @module
 */
import { layerNorm, type Random, type Tensor } from "../ops/mod.ts";
import {
  type FieldLayout,
  type MultiformerConfig,
  type NetworkOptions,
  resolveConfig,
  type ResolvedField,
} from "./config.ts";
import { DecoderLayer } from "./decoder.ts";
import { GridEmbedding } from "./embedding.ts";
import { type CoupledState, EncoderLayer } from "./encoder.ts";
import type { FieldInput, FieldTargets } from "./inputs.ts";
import { Params } from "./params.ts";
import { PointsEmbedding } from "./points_embedding.ts";
import { TailEnsemble } from "./tail.ts";

/** A predicted field's output. */
export interface FieldOutput {
  /** Field name. */
  field: string;
  /** Member predictions of the masked tokens [targets, members, values]. */
  members: Tensor;
  /** The masked tokens' truth. */
  targets: FieldTargets;
}

/** Options of {@link Multiformer.forward}. */
export interface ForwardOptions {
  /** Random stream for dropout; without it, dropout is off (evaluation). */
  rng?: Random;
}

/** The encoder's output per field (see {@link Multiformer.encode}). */
export interface EncodedFields {
  /** Last encoder layer's states by field [batch, length, width]. */
  states: Map<string, Tensor>;
  /** Every encoder layer's states by field, first layer first. */
  history: Map<string, Tensor[]>;
}

interface FieldNet {
  config: ResolvedField;
  layout: FieldLayout;
  embedding: GridEmbedding | PointsEmbedding;
  encoder: EncoderLayer[];
  decoder: DecoderLayer[];
  tail?: TailEnsemble;
}

/** The Multiformer network. */
export class Multiformer {
  /** Parameters, by name. */
  readonly params: Params;
  /** Resolved per-field configuration. */
  readonly fields: ResolvedField[];
  /** Token layouts (from the sampler). */
  readonly layouts: FieldLayout[];
  /** Dropout rate. */
  readonly dropout: number;
  /** How the layers compute (resolved network options). */
  readonly network: Required<NetworkOptions>;
  private readonly nets: FieldNet[];

  constructor(config: MultiformerConfig, layouts: FieldLayout[], seed: number) {
    const r = resolveConfig(config, layouts);
    this.fields = r.fields;
    this.layouts = layouts;
    this.dropout = r.dropout;
    this.network = r.network;
    const net = r.network;
    this.params = new Params(seed);
    const widths = new Map(r.fields.map((f) => [f.field, f.width]));
    this.nets = r.fields.map((f) => {
      const layout = layouts.find((l) => l.field === f.field)!;
      return {
        config: f,
        layout,
        embedding: layout.kind === "points"
          ? new PointsEmbedding(this.params, `${f.field}.embed`, layout, f.width, r.tokenInfoWidth)
          : new GridEmbedding(this.params, `${f.field}.embed`, layout, f.width, r.tokenInfoWidth, net),
        encoder: Array.from(
          { length: f.encoderLayers },
          (_, i) => new EncoderLayer(this.params, `${f.field}.encoder.${i}`, f, widths, net),
        ),
        decoder: f.predict
          ? Array.from(
            { length: f.decoderLayers },
            (_, i) => new DecoderLayer(this.params, `${f.field}.decoder.${i}`, f, net),
          )
          : [],
        tail: f.predict
          ? new TailEnsemble(this.params, `${f.field}.tail`, f.width, f.ensemble, layout.values, net)
          : undefined,
      };
    });
  }

  /**
   * The encoder's latent: per field the last encoder layer's states
   * [batch, length, width] (`states`) and every layer's (`history`, what
   * the decoders cross-attend). `inputs` by field name.
   */
  encode(inputs: Map<string, FieldInput>, opt: ForwardOptions = {}): EncodedFields {
    const p = opt.rng ? this.dropout : 0;
    const input = (name: string) => {
      const x = inputs.get(name);
      if (!x) throw new Error(`no input for field ${name}`);
      return x;
    };
    let states = new Map(this.nets.map((n) => [n.config.field, n.embedding.apply(input(n.config.field), p, opt.rng)]));
    const history = new Map<string, Tensor[]>(this.nets.map((n) => [n.config.field, []]));
    const layers = Math.max(...this.nets.map((n) => n.encoder.length));
    for (let i = 0; i < layers; i++) {
      // Every field reads the previous layer's states (double buffer): field order cannot matter.
      const normed = new Map<string, CoupledState>(
        this.nets.map((n) => [n.config.field, {
          normed: layerNorm(states.get(n.config.field)!),
          keyMask: input(n.config.field).keyMask,
        }]),
      );
      const next = new Map<string, Tensor>();
      for (const n of this.nets) {
        const f = n.config.field, x = states.get(f)!;
        const y = i < n.encoder.length ? n.encoder[i].apply(x, normed.get(f)!, normed, p, opt.rng) : x;
        next.set(f, y);
        history.get(f)!.push(y);
      }
      states = next;
    }
    return { states, history };
  }

  /** Predictions for the masked tokens of every predicted field. `inputs` by field name. */
  forward(inputs: Map<string, FieldInput>, opt: ForwardOptions = {}): FieldOutput[] {
    const p = opt.rng ? this.dropout : 0;
    const input = (name: string) => inputs.get(name)!;
    const { states, history } = this.encode(inputs, opt);
    const out: FieldOutput[] = [];
    for (const n of this.nets) {
      if (!n.tail) continue;
      const f = n.config.field, x = input(f);
      const enc = history.get(f)!;
      let y = states.get(f)!;
      for (const [j, layer] of n.decoder.entries()) {
        const k = enc.length - 1 - Math.floor(this.network.decoderCrossRate * j);
        y = layer.apply(y, enc[Math.max(0, k)] ?? y, x.keyMask, p, opt.rng);
      }
      out.push({ field: f, members: n.tail.apply(y, x.targets.rows), targets: x.targets });
    }
    return out;
  }
}
