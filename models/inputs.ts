/**
 * From a sampler batch to what the network and the loss consume, per
 * field: the model input (masked tokens zeroed or replaced, NaN → 0 plus a
 * validity flag per value, so a NaN never reaches the network), token info
 * scaled to O(1), which tokens are targets, their truth, and which of their
 * values count in the loss (not NaN, not a padding slot).
 *
 * @module
 */
import { type FieldBatch, MASK, maskedInput } from "../samplers/batch.ts";
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
  /** cos(latitude) per value [rows, values] (AtmoRep's per grid row); when set, `weighted_mse` uses it. */
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
  const flags = net.validityFlags ?? true;
  const V = layout.values, S = layout.levels * layout.tokens;
  const B = f.mask.length / S;
  if (!Number.isInteger(B) || f.tokens.length !== B * S * V) {
    throw new Error(
      `${f.field}: batch does not match the model's token layout (${layout.levels}×${layout.tokens}×${V})`,
    );
  }
  const x = maskedInput(f);
  let features: Float32Array, width: number, keyMask: Uint8Array | undefined;
  const slotValid = (b: number, s: number, p: number): boolean => {
    if (layout.kind !== "points") return true;
    const maxTok = layout.axes[1], slot = (s % maxTok) * V + p;
    return f.points!.index[b * maxTok * V + slot] >= 0;
  };
  if (layout.kind === "grid") {
    width = (flags ? 2 : 1) * V;
    features = new Float32Array(B * S * width);
    for (let r = 0; r < B * S; r++) {
      for (let j = 0; j < V; j++) {
        const v = x[r * V + j];
        const ok = !Number.isNaN(v);
        features[r * width + j] = ok ? v : 0;
        if (flags) features[r * width + V + j] = ok ? 1 : 0;
      }
    }
  } else {
    width = POINT_FEATURES * V;
    features = new Float32Array(B * S * width);
    keyMask = new Uint8Array(B * S);
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
  }
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
  return {
    field: f.field,
    batch: B,
    length: S,
    features,
    width,
    info: net.tokenInfo === "raw" ? f.tokenInfo.slice() : scaleInfo(f.tokenInfo),
    keyMask,
    targets: { rows: Int32Array.from(rows), values, valid, latWeight },
  };
}
