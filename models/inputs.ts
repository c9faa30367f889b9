/**
 * From a sampler batch to what the network and the loss consume, per
 * field: the model input (masked tokens zeroed or replaced, NaN → 0 plus a
 * validity flag per value, so a NaN never reaches the network), token info
 * scaled to O(1), which tokens are targets, their truth, and which of their
 * values count in the loss (not NaN, not a padding slot).
 *
 * @module
 */
import { type Batch, type FieldBatch, MASK, maskedInput } from "../samplers/batch.ts";
import type { Multiformer } from "./multiformer.ts";
import type { FieldLayout, NetworkOptions } from "./config.ts";

/** Per-slot features of a point token: value, valid flag, sin/cos latitude, sin/cos longitude. */
export const POINT_FEATURES = 6;

/** Targets of one field: the masked tokens. */
export interface FieldTargets {
  /** Rows (b·S + s) of the masked tokens in the field's [B·S] sequence. */
  rows: Int32Array;
  /** Truth [rows, values] (NaN replaced by 0). */
  values: Float32Array;
  /** 1 where the truth counts (not NaN, not padding), else 0 [rows, values]. */
  valid: Float32Array;
  /** cos(latitude) of each target token's centre [rows]. */
  latWeight: Float32Array;
  /** cos(latitude) per value [rows, values], of each value's grid row (grid fields); `weighted_mse` uses it when set. */
  valueWeights?: Float32Array;
}

/** Model input of one field. */
export interface FieldInput {
  /** Field name. */
  field: string;
  /** Samples. */
  batch: number;
  /** Sequence length (levels × tokens per level). */
  length: number;
  /** Input features [batch, length, width]: grid 2·values (value, valid), points POINT_FEATURES·pointsPerToken. */
  features: Float32Array;
  /** Width of a token's features. */
  width: number;
  /** Token info scaled to O(1) [batch, length, 8]. */
  info: Float32Array;
  /** Points: tokens holding at least one point (1) [batch, length]; attention ignores the others. */
  keyMask?: Uint8Array;
  /** The masked tokens. */
  targets: FieldTargets;
}

/** Scale AtmoRep's raw token info (year, day, hour, level, colatitude, longitude, level index, resolution). */
function scaleInfo(raw: Float32Array): Float32Array {
  const out = new Float32Array(raw.length);
  const s = [1 / 25, 1 / 365, 1 / 24, 1 / 1000, 1 / 180, 1 / 360, 1 / 10, 1];
  for (let i = 0; i < raw.length; i += 8) {
    out[i] = (raw[i] - 2000) * s[0];
    for (let k = 1; k < 8; k++) out[i + k] = raw[i + k] * s[k];
  }
  return out;
}

/**
 * Build a field's model input and targets from its batch. With the network
 * options of AtmoRep (`validityFlags` false, `tokenInfo` raw), grid tokens
 * are the values alone (NaN → 0) and the token info is passed as it is.
 */
export function fieldInput(
  f: FieldBatch,
  layout: FieldLayout,
  net: Pick<NetworkOptions, "validityFlags" | "tokenInfo"> = {},
): FieldInput {
  const V = layout.values, S = layout.levels * layout.tokens;
  const B = f.mask.length / S;
  if (!Number.isInteger(B) || f.tokens.length !== B * S * V) {
    throw new Error(
      `${f.field}: batch does not match the model's token layout (${layout.levels}×${layout.tokens}×${V})`,
    );
  }
  const slotValid = (b: number, s: number, p: number): boolean => {
    if (layout.kind !== "points") return true;
    const maxTok = layout.axes[1], slot = (s % maxTok) * V + p;
    return f.points!.index[b * maxTok * V + slot] >= 0;
  };
  const x = maskedInput(f);
  const { features, width, keyMask } = layout.kind === "grid"
    ? gridFeatures(x, B * S, V, net.validityFlags ?? true)
    : pointFeatures(f, x, layout, B, S, slotValid);
  return {
    field: f.field,
    batch: B,
    length: S,
    features,
    width,
    info: net.tokenInfo === "raw" ? f.tokenInfo.slice() : scaleInfo(f.tokenInfo),
    keyMask,
    targets: maskedTargets(f, layout, S, slotValid),
  };
}

/** Grid tokens' features: the values (NaN → 0), then, with validity flags, 1 where a value is present. */
function gridFeatures(
  x: Float32Array,
  rows: number,
  V: number,
  flags: boolean,
): { features: Float32Array; width: number; keyMask?: Uint8Array } {
  const width = (flags ? 2 : 1) * V;
  const features = new Float32Array(rows * width);
  for (let r = 0; r < rows; r++) {
    for (let j = 0; j < V; j++) {
      const v = x[r * V + j];
      const ok = !Number.isNaN(v);
      features[r * width + j] = ok ? v : 0;
      if (flags) features[r * width + V + j] = ok ? 1 : 0;
    }
  }
  return { features, width };
}

/** Point tokens' features per point (value, validity, sin/cos of latitude and longitude) and their key mask. */
function pointFeatures(
  f: FieldBatch,
  x: Float32Array,
  layout: FieldLayout,
  B: number,
  S: number,
  slotValid: (b: number, s: number, p: number) => boolean,
): { features: Float32Array; width: number; keyMask: Uint8Array } {
  const V = layout.values, width = POINT_FEATURES * V;
  const features = new Float32Array(B * S * width), keyMask = new Uint8Array(B * S);
  const maxTok = layout.axes[1];
  const deg = Math.PI / 180;
  for (let b = 0; b < B; b++) {
    for (let s = 0; s < S; s++) {
      const r = b * S + s;
      for (let p = 0; p < V; p++) {
        if (!slotValid(b, s, p)) continue;
        keyMask[r] = 1;
        const slot = b * maxTok * V + (s % maxTok) * V + p;
        const lat = f.points!.coords[2 * slot] * deg, lon = f.points!.coords[2 * slot + 1] * deg;
        const v = x[r * V + p], o = r * width + p * POINT_FEATURES;
        const ok = !Number.isNaN(v);
        features[o] = ok ? v : 0;
        features[o + 1] = ok ? 1 : 0;
        features[o + 2] = Math.sin(lat);
        features[o + 3] = Math.cos(lat);
        features[o + 4] = Math.sin(lon);
        features[o + 5] = Math.cos(lon);
      }
    }
  }
  return { features, width, keyMask };
}

/** The masked tokens' targets: their rows, values and validity, and the area weights of weighted_mse. */
function maskedTargets(
  f: FieldBatch,
  layout: FieldLayout,
  S: number,
  slotValid: (b: number, s: number, p: number) => boolean,
): FieldTargets {
  const V = layout.values;
  const rows: number[] = [];
  for (let r = 0; r < f.mask.length; r++) if (f.mask[r] !== MASK.visible) rows.push(r);
  const M = rows.length;
  const values = new Float32Array(M * V), valid = new Float32Array(M * V), latWeight = new Float32Array(M);
  for (let i = 0; i < M; i++) {
    const r = rows[i], b = Math.floor(r / S), s = r % S;
    for (let j = 0; j < V; j++) {
      const t = f.tokens[r * V + j];
      const ok = !Number.isNaN(t) && slotValid(b, s, j);
      values[i * V + j] = ok ? t : 0;
      valid[i * V + j] = ok ? 1 : 0;
    }
    latWeight[i] = Math.max(0, Math.cos((90 - f.tokenInfo[r * 8 + 4]) * Math.PI / 180));
  }
  const valueWeights = layout.kind === "grid" && "tokenSize" in f.layout
    ? rowWeights(f, rows, V, f.layout.tokenSize)
    : undefined;
  return { rows: Int32Array.from(rows), values, valid, latWeight, valueWeights };
}

/**
 * Grid tokens: cos(latitude) of each value's own row (AtmoRep weighs weighted_mse per grid row): rows lie `res`
 * (signed, token info 7) apart around the token centre (token info 4, colatitude).
 */
function rowWeights(f: FieldBatch, rows: number[], V: number, [tt, th, tw]: number[]): Float32Array {
  const valueWeights = new Float32Array(rows.length * V);
  for (let i = 0; i < rows.length; i++) {
    const r = rows[i], centre = f.tokenInfo[r * 8 + 4], res = f.tokenInfo[r * 8 + 7];
    for (let b = 0; b < th; b++) {
      const w = Math.max(0, Math.sin((centre + (b - (th - 1) / 2) * res) * Math.PI / 180));
      for (let a = 0; a < tt; a++) valueWeights.fill(w, i * V + (a * th + b) * tw, i * V + (a * th + b + 1) * tw);
    }
  }
  return valueWeights;
}

/** The model inputs of a batch, by field. */
export function modelInputs(model: Multiformer, batch: Batch): Map<string, FieldInput> {
  const out = new Map<string, FieldInput>();
  for (const layout of model.layouts) {
    const f = batch.fields.find((b) => b.field === layout.field);
    if (!f) throw new Error(`the batch has no field ${layout.field}`);
    out.set(layout.field, fieldInput(f, layout, model.network));
  }
  return out;
}
