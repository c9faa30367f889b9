/**
 * Masking strategies of AtmoRep's training: BERT (a masking rate drawn per
 * sample up to a maximum; chosen tokens zeroed, noised or coarsened, all
 * of them targets), forecast (the last time slabs) and temporal
 * interpolation (middle slabs). Masks are part of the batch, as codes
 * (see `MASK` in batch.ts); the values stay untouched.
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
): void {
  const [nt, nh, nw] = numTokens;
  const len = tokenSize[0] * tokenSize[1] * tokenSize[2];
  const ntok = nt * nh * nw;
  if (cfg.strategy === "forecast" || cfg.strategy === "temporal_interpolation") {
    const slabs = cfg.strategy === "forecast"
      ? Array.from({ length: cfg.forecastSlabs ?? 1 }, (_, i) => nt - 1 - i)
      : cfg.slabs ?? [Math.floor(nt / 2)];
    for (const s of slabs) {
      if (s < 0 || s >= nt) throw new ConfigError("masking.slabs", `slab ${s} is outside 0..${nt - 1}`);
      mask.fill(MASK.zeroed, s * nh * nw, (s + 1) * nh * nw);
    }
    return;
  }
  const rate = rng.next() * (cfg.rate ?? 0.5);
  const chosen = rng.choose(ntok, Math.ceil(ntok * rate));
  const pMask = cfg.fracMasked ?? 0.9, pNoise = cfg.fracNoised ?? 0.1, pMulti = cfg.fracMultires ?? 0.05;
  const noise = cfg.noiseStd ?? 0.1;
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
