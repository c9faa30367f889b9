/**
 * Typed configuration of the Multiformer. Per field: width, layers, heads,
 * which other fields it couples to, ensemble size and loss weight. The
 * token layout is never repeated here: it comes from the sampler's field
 * configuration ({@link fieldLayouts}), so the model and the data cannot
 * disagree on it.
 *
 * @module
 */
import { ConfigError } from "../errors.ts";
import type { TokenGrid } from "../tokenizers/patches.ts";
import type { PointTokens } from "../tokenizers/healpix_points.ts";

/** One field's network. */
export interface FieldModelConfig {
  /** Field name, as in the sampler configuration. */
  field: string;
  /** Embedding width. */
  width: number;
  /** Encoder layers. */
  encoderLayers: number;
  /** Decoder layers (each cross-attends an encoder layer, the last one first). */
  decoderLayers: number;
  /** Self-attention heads (the decoder uses half for self- and half for cross-attention). */
  heads: number;
  /** Fields whose current state this field's encoder cross-attends (coupling), by name. Default none. */
  coupledWith?: string[];
  /** Coupling heads per coupled field. Default 1 (AtmoRep). */
  couplingHeads?: number;
  /** Tail ensemble members. Default 4. */
  ensemble?: number;
  /** Whether this field is predicted (has a decoder, tail and loss). Default true. */
  predict?: boolean;
  /** Loss weight. Default 1. */
  lossWeight?: number;
  /** MLP hidden width as a multiple of the width. Default 2 (AtmoRep). */
  mlpRatio?: number;
  /** Decoder heads (AtmoRep's `decoder_num_heads`). Default `heads`. */
  decoderHeads?: number;
}

/**
 * How the layers compute. The defaults are this project's network; the
 * values of {@link ATMOREP_NETWORK} make it compute what AtmoRep's
 * computes for the same weights (docs/design/atmorep-parity.md).
 */
export interface NetworkOptions {
  /** Biases in the attention projections (q/k/v, coupling, output). Default true; AtmoRep false. */
  projectionBias?: boolean;
  /** LayerNorm (no affine) of each encoder head's q and k (the coupled fields' k only). Default false. */
  encoderQkNorm?: boolean;
  /** LayerNorm with affine of each decoder head's q and k, shared by self and cross heads. Default false; AtmoRep true. */
  decoderQkNorm?: boolean;
  /** Linear layers of each encoder MLP (`encoder_num_mlp_layers`). Default 2. */
  mlpLayers?: number;
  /** Linear layers of each decoder MLP (`decoder_num_mlp_layers`). Default 2. */
  decoderMlpLayers?: number;
  /** A GELU after the MLP's last Linear. Default false; AtmoRep true. */
  mlpFinalGelu?: boolean;
  /** GELU form: `tanh` approximation or the exact `erf`. Default tanh; AtmoRep erf. */
  gelu?: "tanh" | "erf";
  /** Share of the decoder heads that cross-attend the encoder (`decoder_cross_att_ratio`). Default 0.5. */
  decoderCrossRatio?: number;
  /** Decoder layer i reads encoder layer n−1−⌊rate·i⌋ (`decoder_cross_att_rate`). Default 1. */
  decoderCrossRate?: number;
  /** Hidden Linear+GELU layers of each tail member (`net_tail_num_layers`). Default 0. */
  tailLayers?: number;
  /** Tail LayerNorm: one shared without affine, folded into the members' Linear; or AtmoRep's per member with affine. */
  tailNorm?: "folded" | "per-member";
  /** Token info fed to the embedding: scaled to O(1), or AtmoRep's raw values. Default scaled. */
  tokenInfo?: "scaled" | "raw";
  /** A NaN-validity flag per value beside the values (grid fields). Default true; AtmoRep false. */
  validityFlags?: boolean;
  /** Positional encoding: one sin/cos band per axis, or AtmoRep's formula. Default bands. */
  harmonic?: "bands" | "atmorep";
  /** Dropout on the embeddings. Default true; AtmoRep false. */
  embeddingDropout?: boolean;
}

/** The options that make the Multiformer compute what AtmoRep computes. */
export const ATMOREP_NETWORK: Readonly<Required<NetworkOptions>> = Object.freeze({
  projectionBias: false,
  encoderQkNorm: false,
  decoderQkNorm: true,
  mlpLayers: 2,
  decoderMlpLayers: 2,
  mlpFinalGelu: true,
  gelu: "erf",
  decoderCrossRatio: 0.5,
  decoderCrossRate: 1,
  tailLayers: 0,
  tailNorm: "per-member",
  tokenInfo: "raw",
  validityFlags: false,
  harmonic: "atmorep",
  embeddingDropout: false,
});

const DEFAULT_NETWORK: Required<NetworkOptions> = {
  projectionBias: true,
  encoderQkNorm: false,
  decoderQkNorm: false,
  mlpLayers: 2,
  decoderMlpLayers: 2,
  mlpFinalGelu: false,
  gelu: "tanh",
  decoderCrossRatio: 0.5,
  decoderCrossRate: 1,
  tailLayers: 0,
  tailNorm: "folded",
  tokenInfo: "scaled",
  validityFlags: true,
  harmonic: "bands",
  embeddingDropout: true,
};

/** The Multiformer. */
export interface MultiformerConfig {
  /** Per field. */
  fields: FieldModelConfig[];
  /** Dropout rate (after attention projections, in MLPs and on embeddings). Default 0.05. */
  dropout?: number;
  /** Width of the token-info part of the embedding. Default 16 (AtmoRep). */
  tokenInfoWidth?: number;
  /** How the layers compute (defaults: this project's network). */
  network?: NetworkOptions;
}

/** What the network needs to know about a field's tokens (from the sampler). */
export interface FieldLayout {
  /** Field name. */
  field: string;
  /** Number of levels. */
  levels: number;
  /** Tokens per level. */
  tokens: number;
  /** Values per token. */
  values: number;
  /** Regular grid or point tokens. */
  kind: "grid" | "points";
  /** Grid: tokens along time, lat, lon. Points: [timeSteps, maxTokens, 1]. */
  axes: [number, number, number];
  /** Points: points per token. */
  pointsPerToken?: number;
}

/** The layout of each sampler field: `{field, levels, tokens}` as in `SamplerConfig.datasets[].fields[]`. */
export function fieldLayouts(
  fields: { name: string; levels: number[]; tokens: TokenGrid | PointTokens }[],
): FieldLayout[] {
  return fields.map((f) => {
    const t = f.tokens;
    if ("pointsPerToken" in t) {
      return {
        field: f.name,
        levels: f.levels.length,
        tokens: t.timeSteps * t.maxTokens,
        values: t.pointsPerToken,
        kind: "points",
        axes: [t.timeSteps, t.maxTokens, 1],
        pointsPerToken: t.pointsPerToken,
      };
    }
    const [a, b, c] = t.numTokens;
    return {
      field: f.name,
      levels: f.levels.length,
      tokens: a * b * c,
      values: t.tokenSize[0] * t.tokenSize[1] * t.tokenSize[2],
      kind: "grid",
      axes: [a, b, c],
    };
  });
}

/** A field's configuration with its defaults filled in. */
export type ResolvedField = Required<FieldModelConfig>;

/** Fill defaults and check the configuration against the layouts; errors name the key (`prefix.fields[i].key`). */
export function resolveConfig(
  config: MultiformerConfig,
  layouts: FieldLayout[],
  prefix = "model",
): { fields: ResolvedField[]; dropout: number; tokenInfoWidth: number; network: Required<NetworkOptions> } {
  const network = resolveNetwork(config.network, `${prefix}.network`);
  const names = layouts.map((l) => l.field);
  if (!Array.isArray(config.fields) || config.fields.length === 0) {
    throw new ConfigError(`${prefix}.fields`, "needs at least one field");
  }
  const seen = new Set<string>();
  const tokenInfoWidth = config.tokenInfoWidth ?? 16;
  const fields = config.fields.map((f, i): ResolvedField => {
    const key = `${prefix}.fields[${i}]`;
    if (!names.includes(f.field)) {
      throw new ConfigError(`${key}.field`, `"${f.field}" is not a sampler field (${names.join(", ")})`);
    }
    if (seen.has(f.field)) throw new ConfigError(`${key}.field`, `"${f.field}" appears twice`);
    seen.add(f.field);
    for (const k of ["width", "encoderLayers", "heads"] as const) {
      if (!Number.isInteger(f[k]) || f[k] < 1) throw new ConfigError(`${key}.${k}`, "must be a positive integer");
    }
    if (!Number.isInteger(f.decoderLayers) || f.decoderLayers < 0) {
      throw new ConfigError(`${key}.decoderLayers`, "must be an integer ≥ 0");
    }
    if (f.width % f.heads) throw new ConfigError(`${key}.heads`, `must divide the width ${f.width}`);
    if (f.width <= tokenInfoWidth) {
      throw new ConfigError(`${key}.width`, `must exceed tokenInfoWidth ${tokenInfoWidth}`);
    }
    const decoderHeads = f.decoderHeads ?? f.heads;
    if (!Number.isInteger(decoderHeads) || decoderHeads < 1 || f.width % decoderHeads) {
      throw new ConfigError(`${key}.decoderHeads`, `must be a positive integer dividing the width ${f.width}`);
    }
    if (
      f.decoderLayers > 0 && config.network?.decoderCrossRatio === undefined && (decoderHeads < 2 || decoderHeads % 2)
    ) {
      throw new ConfigError(`${key}.heads`, "must be even with a decoder (half self, half cross heads)");
    }
    for (const c of f.coupledWith ?? []) {
      if (!names.includes(c)) throw new ConfigError(`${key}.coupledWith`, `"${c}" is not a sampler field`);
      if (c === f.field) throw new ConfigError(`${key}.coupledWith`, "a field cannot couple to itself");
    }
    const ensemble = f.ensemble ?? 4;
    if (!Number.isInteger(ensemble) || ensemble < 1) throw new ConfigError(`${key}.ensemble`, "must be ≥ 1");
    return {
      field: f.field,
      width: f.width,
      encoderLayers: f.encoderLayers,
      decoderLayers: f.decoderLayers,
      heads: f.heads,
      coupledWith: f.coupledWith ?? [],
      couplingHeads: f.couplingHeads ?? 1,
      ensemble,
      predict: f.predict ?? true,
      lossWeight: f.lossWeight ?? 1,
      mlpRatio: f.mlpRatio ?? 2,
      decoderHeads,
    };
  });
  for (const f of fields) {
    for (const c of f.coupledWith) {
      if (!seen.has(c)) throw new ConfigError(`${prefix}.fields`, `${f.field} couples to ${c}, which has no network`);
    }
  }
  if (!fields.some((f) => f.predict)) throw new ConfigError(`${prefix}.fields`, "no field is predicted");
  const dropout = config.dropout ?? 0.05;
  if (!(dropout >= 0 && dropout < 1)) throw new ConfigError(`${prefix}.dropout`, "must be in [0, 1)");
  return { fields, dropout, tokenInfoWidth, network };
}

/** Fill the network options' defaults; errors name the key. */
function resolveNetwork(o: NetworkOptions | undefined, key: string): Required<NetworkOptions> {
  const n = { ...DEFAULT_NETWORK, ...o };
  for (const k of Object.keys(o ?? {})) {
    if (!(k in DEFAULT_NETWORK)) throw new ConfigError(`${key}.${k}`, "is not a network option");
  }
  for (const k of ["mlpLayers", "decoderMlpLayers"] as const) {
    if (!Number.isInteger(n[k]) || n[k] < 2) throw new ConfigError(`${key}.${k}`, "must be an integer ≥ 2");
  }
  if (!Number.isInteger(n.tailLayers) || n.tailLayers < 0) {
    throw new ConfigError(`${key}.tailLayers`, "must be an integer ≥ 0");
  }
  if (n.tailLayers > 0 && n.tailNorm !== "per-member") {
    throw new ConfigError(`${key}.tailLayers`, "needs tailNorm per-member");
  }
  if (!(n.decoderCrossRatio >= 0 && n.decoderCrossRatio <= 1)) {
    throw new ConfigError(`${key}.decoderCrossRatio`, "must be in [0, 1]");
  }
  if (!(n.decoderCrossRate >= 0 && n.decoderCrossRate <= 1)) {
    throw new ConfigError(`${key}.decoderCrossRate`, "must be in [0, 1]");
  }
  const enums: [keyof NetworkOptions, string[]][] = [
    ["gelu", ["tanh", "erf"]],
    ["tailNorm", ["folded", "per-member"]],
    ["tokenInfo", ["scaled", "raw"]],
    ["harmonic", ["bands", "atmorep"]],
  ];
  for (const [k, vs] of enums) {
    if (!vs.includes(n[k] as string)) throw new ConfigError(`${key}.${k}`, `must be one of ${vs.join(", ")}`);
  }
  for (
    const k of [
      "projectionBias",
      "encoderQkNorm",
      "decoderQkNorm",
      "mlpFinalGelu",
      "validityFlags",
      "embeddingDropout",
    ] as const
  ) {
    if (typeof n[k] !== "boolean") throw new ConfigError(`${key}.${k}`, "must be true or false");
  }
  return n;
}
