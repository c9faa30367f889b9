/**
 * Masking strategies of AtmoRep's training: BERT (a masking rate drawn per
 * sample up to a maximum; chosen tokens zeroed, noised or coarsened, all
 * of them targets), forecast (the last time slabs) and temporal
 * interpolation (middle slabs). Masks are part of the batch, as codes
 * (see `MASK` in batch.ts); the values stay untouched.
 *
 * Two corruptions of the chosen BERT tokens (`corruption`):
 * - `project` (default): coarsen (2×2×2 block means), noise (x + noiseStd·ε)
 *   and zero drawn independently, zeroing winning over the others;
 * - `atmorep` (AtmoRep's `training/bert.py`): the same three draws applied
 *   one after another on the result of the previous — zero; then noise
 *   (1 − w)·x + noiseStd·σ·ε with w ~ U(0, 1) per token and σ the standard
 *   deviation of each token value over the batch's tokens of that level;
 *   then multires, a trilinear resampling of the token's spatial dims to a
 *   size between the token size and twice it (one size per batch and
 *   level) and back. The sampler passes σ and the size ({@link AtmorepContext}).
 *
 * @module
 */
import { MASK } from "./batch.ts";
import { ConfigError } from "../errors.ts";
import type { Random } from "../random.ts";

/** How tokens are masked. */
export interface MaskingConfig {
  /** Strategy. */
  strategy: "bert" | "forecast" | "temporal_interpolation";
  /** BERT: the masking rate of a sample is drawn from U(0, rate). Default 0.5. */
  rate?: number;
  /** BERT: probability that a chosen token is zeroed. Default 0.9. */
  fracMasked?: number;
  /** BERT: probability that a chosen token is noised. Default 0.1. */
  fracNoised?: number;
  /** BERT: probability that a chosen token is coarsened (2× averaged in every direction). Default 0.05. */
  fracMultires?: number;
  /** BERT: noise standard deviation in normalized units. Default 0.1. */
  noiseStd?: number;
  /** Forecast: number of final time slabs masked. Default 1. */
  forecastSlabs?: number;
  /** Temporal interpolation: the time slabs masked (default: the middle one). */
  slabs?: number[];
  /** How chosen BERT tokens are corrupted (see the module doc). Default `project`. */
  corruption?: "project" | "atmorep";
  /**
   * AtmoRep's `BERT_fields_synced`: every field and level draws from the same random stream, so fields and
   * levels of the same token layout get the same masks. Default false.
   */
  synced?: boolean;
}

/** What AtmoRep's corruption of one level draws once per batch. */
export interface AtmorepContext {
  /** Standard deviation (unbiased) of each token value over all tokens of the level in the batch [values]. */
  std: Float32Array;
  /** The multires size of the spatial dims [lat, lon]. */
  size: [number, number];
}

/** AtmoRep's multires size for a token size: ⌊2·ts − u·ts⌋ per spatial dim, one u for both. */
export function atmorepMultiresSize(tokenSize: [number, number, number], rng: Random): [number, number] {
  const u = rng.next();
  return [
    Math.trunc(u * (tokenSize[1] - 2 * tokenSize[1]) + 2 * tokenSize[1]),
    Math.trunc(u * (tokenSize[2] - 2 * tokenSize[2]) + 2 * tokenSize[2]),
  ];
}

/** The per-value standard deviation (unbiased) over `n` tokens of `len` values. */
export function tokenStd(tokens: Float32Array, n: number, len: number): Float32Array {
  const mean = new Float64Array(len), ss = new Float64Array(len);
  for (let k = 0; k < n; k++) for (let j = 0; j < len; j++) mean[j] += tokens[k * len + j];
  for (let j = 0; j < len; j++) mean[j] /= n;
  for (let k = 0; k < n; k++) for (let j = 0; j < len; j++) ss[j] += (tokens[k * len + j] - mean[j]) ** 2;
  return Float32Array.from(ss, (v) => Math.sqrt(v / Math.max(1, n - 1)));
}

/**
 * The tokens of one field level that forecast and temporal interpolation
 * mask, in AtmoRep's order (its `prepare_batch_BERT_forecast_field` and
 * `prepare_batch_BERT_temporal_field`): every spatial token (lat-major) of
 * each masked time slab — forecast: the last `forecastSlabs` slabs, oldest
 * first; temporal interpolation: the slabs `slabs` in the order given
 * (AtmoRep's `idx_time_mask`), by default the middle one, ⌊nt / 2⌋.
 */
export function slabTokens(numTokens: [number, number, number], cfg: MaskingConfig): number[] {
  const [nt, nh, nw] = numTokens, P = nh * nw;
  const key = cfg.strategy === "forecast" ? "masking.forecastSlabs" : "masking.slabs";
  let slabs: number[];
  if (cfg.strategy === "forecast") {
    const k = cfg.forecastSlabs ?? 1;
    if (!Number.isInteger(k) || k < 1 || k > nt) throw new ConfigError(key, `${k} is not a slab count in 1..${nt}`);
    slabs = Array.from({ length: k }, (_, i) => nt - k + i);
  } else slabs = cfg.slabs ?? [Math.floor(nt / 2)];
  if (new Set(slabs).size !== slabs.length) throw new ConfigError(key, `slabs [${slabs}] repeat`);
  return slabs.flatMap((s) => {
    if (!Number.isInteger(s) || s < 0 || s >= nt) throw new ConfigError(key, `slab ${s} is outside 0..${nt - 1}`);
    return Array.from({ length: P }, (_, p) => s * P + p);
  });
}

/**
 * Mask the tokens of one field level of one sample: `tokens` holds
 * nt·nh·nw tokens of `len` normalized values (left as they are, they are
 * the targets); `mask[k]` gets token k's code ({@link MASK}); a chosen
 * token that is corrupted but not zeroed is handed to `replace` with the
 * values the model sees instead.
 */
export function maskTokens(
  tokens: Float32Array,
  mask: Uint8Array,
  numTokens: [number, number, number],
  tokenSize: [number, number, number],
  cfg: MaskingConfig,
  rng: Random,
  replace: (token: number, values: Float32Array) => void,
  atmorep?: AtmorepContext,
): void {
  const [nt, nh, nw] = numTokens;
  const len = tokenSize[0] * tokenSize[1] * tokenSize[2];
  const ntok = nt * nh * nw;
  if (cfg.strategy === "forecast" || cfg.strategy === "temporal_interpolation") {
    for (const k of slabTokens(numTokens, cfg)) mask[k] = MASK.zeroed;
    return;
  }
  const rate = rng.next() * (cfg.rate ?? 0.5);
  const chosen = rng.choose(ntok, Math.ceil(ntok * rate));
  const pMask = cfg.fracMasked ?? 0.9, pNoise = cfg.fracNoised ?? 0.1, pMulti = cfg.fracMultires ?? 0.05;
  const noise = cfg.noiseStd ?? 0.1;
  if (cfg.corruption === "atmorep") {
    if (!atmorep) throw new Error("AtmoRep's corruption needs the batch's std and multires size");
    for (const k of chosen) {
      const zero = rng.next() < pMask, noised = rng.next() < pNoise, multi = rng.next() < pMulti;
      if (!noised && !multi) {
        mask[k] = zero ? MASK.zeroed : MASK.unchanged;
        continue;
      }
      let values: Float32Array = zero ? new Float32Array(len) : tokens.slice(k * len, (k + 1) * len);
      if (noised) {
        const w = rng.next();
        for (let i = 0; i < len; i++) values[i] = (1 - w) * values[i] + noise * atmorep.std[i] * rng.polarNormal();
      }
      if (multi) values = resampleToken(values, tokenSize, atmorep.size);
      mask[k] = MASK.replaced;
      replace(k, values);
    }
    return;
  }
  for (const k of chosen) {
    // Independent draws in AtmoRep's order (coarsen, noise, zero): a chosen token may be left as it is.
    let values: Float32Array | undefined;
    if (rng.next() < pMulti) values = coarsen(tokens.subarray(k * len, (k + 1) * len), tokenSize);
    if (rng.next() < pNoise) {
      values ??= tokens.slice(k * len, (k + 1) * len);
      for (let i = 0; i < len; i++) values[i] += noise * rng.polarNormal();
    }
    if (rng.next() < pMask) mask[k] = MASK.zeroed;
    else if (values) {
      mask[k] = MASK.replaced;
      replace(k, values);
    } else mask[k] = MASK.unchanged;
  }
}

/** A coarser view of a token: 2×2×2 block means spread back over the blocks. */
function coarsen(tok: Float32Array, [tt, th, tw]: [number, number, number]): Float32Array {
  const out = new Float32Array(tok.length);
  for (let t = 0; t < tt; t += 2) {
    const t1 = Math.min(t + 2, tt);
    for (let i = 0; i < th; i += 2) {
      const i1 = Math.min(i + 2, th);
      for (let j = 0; j < tw; j += 2) {
        const j1 = Math.min(j + 2, tw);
        let sum = 0;
        for (let a = t; a < t1; a++) {
          for (let b = i; b < i1; b++) for (let c = j; c < j1; c++) sum += tok[(a * th + b) * tw + c];
        }
        const mean = sum / ((t1 - t) * (i1 - i) * (j1 - j));
        for (let a = t; a < t1; a++) {
          for (let b = i; b < i1; b++) for (let c = j; c < j1; c++) out[(a * th + b) * tw + c] = mean;
        }
      }
    }
  }
  return out;
}

/**
 * Linear resampling of n values to m along one axis as PyTorch's
 * `interpolate(..., align_corners=False)`: output i reads the source at
 * (i + ½)·n/m − ½ (clamped at 0), between its two neighbours.
 */
function resample1d(src: ArrayLike<number>, n: number, m: number, out: Float32Array, o = 0, so = 0): void {
  const scale = Math.fround(n / m);
  for (let i = 0; i < m; i++) {
    const x = Math.max(0, Math.fround(scale * (i + 0.5) - 0.5));
    const i0 = Math.min(Math.floor(x), n - 1), i1 = Math.min(i0 + 1, n - 1), l = Math.fround(x - i0);
    out[o + i] = (1 - l) * src[so + i0] + l * src[so + i1];
  }
}

/** Resample one token's spatial dims (tt, th, tw) → (tt, mh, mw) → back, as AtmoRep's trilinear multires. */
export function resampleToken(
  tok: Float32Array,
  [tt, th, tw]: [number, number, number],
  [mh, mw]: [number, number],
): Float32Array {
  const lat = (x: Float32Array, n: number, m: number, w: number) => {
    const y = new Float32Array(tt * m * w);
    const col = new Float32Array(n), res = new Float32Array(m);
    for (let t = 0; t < tt; t++) {
      for (let j = 0; j < w; j++) {
        for (let i = 0; i < n; i++) col[i] = x[(t * n + i) * w + j];
        resample1d(col, n, m, res);
        for (let i = 0; i < m; i++) y[(t * m + i) * w + j] = res[i];
      }
    }
    return y;
  };
  const lon = (x: Float32Array, h: number, n: number, m: number) => {
    const y = new Float32Array(tt * h * m);
    for (let r = 0; r < tt * h; r++) resample1d(x, n, m, y, r * m, r * n);
    return y;
  };
  const up = lat(lon(tok, th, tw, mw), th, mh, mw);
  return lat(lon(up, mh, mw, tw), mh, th, tw);
}
