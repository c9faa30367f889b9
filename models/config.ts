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
}

/** The Multiformer. */
export interface MultiformerConfig {
  /** Per field. */
  fields: FieldModelConfig[];
  /** Dropout rate (after attention projections, in MLPs and on embeddings). Default 0.05. */
  dropout?: number;
  /** Width of the token-info part of the embedding. Default 16 (AtmoRep). */
  tokenInfoWidth?: number;
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
): { fields: ResolvedField[]; dropout: number; tokenInfoWidth: number } {
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
    if (f.decoderLayers > 0 && (f.heads < 2 || f.heads % 2)) {
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
  return { fields, dropout, tokenInfoWidth };
}
