/**
 * Masking strategies of AtmoRep's training: BERT (a masking rate drawn per
 * sample up to a maximum; chosen tokens zeroed, noised or coarsened, all
 * of them targets), forecast (the last time slabs) and temporal
 * interpolation (middle slabs). Masks are part of the batch.
 *
 * @module
 */
import type { Rng } from "./rng.ts";

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
 * Mask the tokens of one field level of one sample in place. `tokens` holds
 * nt·nh·nw tokens of `len` values; `mask[k] = 1` marks token k as a target.
 */
export function maskTokens(
  tokens: Float32Array,
  mask: Uint8Array,
  numTokens: [number, number, number],
  tokenSize: [number, number, number],
  cfg: MaskingConfig,
  rng: Rng,
): void {
  const [nt, nh, nw] = numTokens;
  const len = tokenSize[0] * tokenSize[1] * tokenSize[2];
  const ntok = nt * nh * nw;
  if (cfg.strategy === "forecast" || cfg.strategy === "temporal_interpolation") {
    const slabs = cfg.strategy === "forecast"
      ? Array.from({ length: cfg.forecastSlabs ?? 1 }, (_, i) => nt - 1 - i)
      : cfg.slabs ?? [Math.floor(nt / 2)];
    for (const s of slabs) {
      if (s < 0 || s >= nt) throw new Error(`masking slab ${s} is outside 0..${nt - 1}`);
      for (let k = s * nh * nw; k < (s + 1) * nh * nw; k++) {
        mask[k] = 1;
        tokens.fill(0, k * len, (k + 1) * len);
      }
    }
    return;
  }
  const rate = rng.next() * (cfg.rate ?? 0.5);
  const chosen = rng.choose(ntok, Math.ceil(ntok * rate));
  const pMask = cfg.fracMasked ?? 0.9, pNoise = cfg.fracNoised ?? 0.1, pMulti = cfg.fracMultires ?? 0.05;
  const noise = cfg.noiseStd ?? 0.1;
  for (const k of chosen) {
    mask[k] = 1;
    const tok = tokens.subarray(k * len, (k + 1) * len);
    // Independent draws, as AtmoRep: a chosen token may be left as it is.
    if (rng.next() < pMulti) coarsen(tok, tokenSize);
    if (rng.next() < pNoise) { for (let i = 0; i < len; i++) tok[i] += noise * rng.normal(); }
    if (rng.next() < pMask) tok.fill(0);
  }
}

/** Average 2×2×2 blocks of a token and spread the means back (a coarser view). */
function coarsen(tok: Float32Array, [tt, th, tw]: [number, number, number]): void {
  const out = new Float32Array(tok.length);
  for (let t = 0; t < tt; t += 2) {
    for (let i = 0; i < th; i += 2) {
      for (let j = 0; j < tw; j += 2) {
        let sum = 0, n = 0;
        const idx: number[] = [];
        for (let a = t; a < Math.min(t + 2, tt); a++) {
          for (let b = i; b < Math.min(i + 2, th); b++) {
            for (let c = j; c < Math.min(j + 2, tw); c++) {
              const k = (a * th + b) * tw + c;
              sum += tok[k];
              n++;
              idx.push(k);
            }
          }
        }
        for (const k of idx) out[k] = sum / n;
      }
    }
  }
  tok.set(out);
}
