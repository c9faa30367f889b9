/**
 * Synthetic sampler batches for model tests: regular-grid fields and a
 * points field in the batch format of samplers/batch.ts, with a learnable
 * signal (advected waves) written here, masks and optional NaN.
 *
 * @module
 */
import { type Batch, type FieldBatch, MASK, noStats, noTimings } from "../../samplers/batch.ts";
import type { TokenGrid } from "../../tokenizers/patches.ts";
import type { PointTokens } from "../../tokenizers/healpix_points.ts";
import assert from "node:assert/strict";
import { Random, type Tensor, valueAndGrad } from "../../ops/mod.ts";

/** A field to synthesize. */
export interface SynthField {
  /** Name. */
  name: string;
  /** Levels. */
  levels: number[];
  /** Layout. */
  tokens: TokenGrid | PointTokens;
}

/** Options of {@link synthBatch}. */
export interface SynthOptions {
  /** Samples. */
  batchSize: number;
  /** Seed (batch content). */
  seed: number;
  /** Fraction of tokens masked (zeroed). Default 0.5. */
  maskRate?: number;
  /** Fraction of values set to NaN. Default 0. */
  nanRate?: number;
  /** Fraction of point slots that are padding (points fields). Default 0.25. */
  padRate?: number;
}

/**
 * A batch of advected waves: value at (t, y, x) of sample b, level l =
 * sin(k·x + m·y − ω·t + φ_b) + 0.3·l, so a masked token is predictable from
 * its visible neighbours (and its neighbours' fields: every field shares φ_b).
 */
export function synthBatch(fields: SynthField[], o: SynthOptions): Batch {
  const rng = new Random(o.seed);
  const B = o.batchSize;
  const phase = Array.from({ length: B }, () => rng.next() * 2 * Math.PI);
  // Draws come from one generator in a fixed order (per field: point slots, then per value): keep it.
  const out: FieldBatch[] = fields.map((f, fi) => {
    const fb = emptyFieldBatch(f, B);
    if ("pointsPerToken" in f.tokens) fb.points = drawPoints(f.tokens, B, rng, o.padRate ?? 0.25);
    fillWaves(fb, fi, phase, rng, o);
    return fb;
  });
  return {
    index: o.seed,
    timings: noTimings(),
    stats: noStats(),
    samples: Array.from({ length: B }, () => ({ t0: 0, i0: 0, j0: 0, end: 0, box: [0, 0, 0, 0] })),
    fields: out,
  };
}

/** Tokens per sample and level (N) and values per token (V) of a layout. */
function tokenShape(tokens: TokenGrid | PointTokens): { N: number; V: number } {
  if ("pointsPerToken" in tokens) return { N: tokens.timeSteps * tokens.maxTokens, V: tokens.pointsPerToken };
  return {
    N: tokens.numTokens.reduce((a, b) => a * b, 1),
    V: tokens.tokenSize.reduce((a, b) => a * b, 1),
  };
}

/** A field batch of B samples with zeroed tokens, masks and token info, and no replacements. */
function emptyFieldBatch(f: SynthField, B: number): FieldBatch {
  const L = f.levels.length, { N, V } = tokenShape(f.tokens);
  return {
    dataset: 0,
    field: f.name,
    levels: f.levels,
    layout: f.tokens,
    tokenizer: "pointsPerToken" in f.tokens ? "healpix-points" : "regular",
    tokens: new Float32Array(B * L * N * V),
    mask: new Uint8Array(B * L * N),
    replaced: new Int32Array(0),
    replacements: new Float32Array(0),
    tokenInfo: new Float32Array(B * L * N * 8),
  };
}

/** Point slots for a points field: a `padRate` share of padding (−1), the others at random places between ±30°. */
function drawPoints(t: PointTokens, B: number, rng: Random, padRate: number): NonNullable<FieldBatch["points"]> {
  const slots = t.maxTokens * t.pointsPerToken;
  const index = new Int32Array(B * slots);
  const coords = new Float32Array(B * slots * 2);
  for (let i = 0; i < B * slots; i++) {
    const pad = rng.next() < padRate;
    index[i] = pad ? -1 : i;
    if (!pad) (coords[2 * i] = -30 + 60 * rng.next(), coords[2 * i + 1] = 360 * rng.next());
  }
  return {
    index,
    coords,
    tokens: new Int32Array(B).fill(t.maxTokens),
    dropped: new Int32Array(B),
    t0: new Int32Array(B),
  };
}

/** Masks, token info and wave values of every token of field `fi` (padding point slots stay 0). */
function fillWaves(fb: FieldBatch, fi: number, phase: number[], rng: Random, o: SynthOptions): void {
  const { tokens, mask, tokenInfo: info, levels } = fb;
  const layout = fb.layout as TokenGrid | PointTokens;
  const B = phase.length, L = levels.length, { N, V } = tokenShape(layout);
  const at = new Float64Array(3);
  for (let b = 0; b < B; b++) {
    for (let l = 0; l < L; l++) {
      for (let k = 0; k < N; k++) {
        const r = (b * L + l) * N + k;
        mask[r] = rng.next() < (o.maskRate ?? 0.5) ? MASK.zeroed : MASK.visible;
        info.set([2020, 100, 6, levels[l], 60 + k % 7, 10 * (k % 11), l, 0.25], r * 8);
        for (let v = 0; v < V; v++) {
          if ("pointsPerToken" in layout) {
            if (!pointPlace(layout, fb.points!, b, k, v, at)) {
              tokens[r * V + v] = 0;
              continue;
            }
          } else gridPlace(layout, k, v, at);
          const [t, y, x] = at;
          let val = Math.sin(x + 0.5 * y - 0.7 * t + phase[b]) + 0.3 * l + 0.1 * fi;
          if (rng.next() < (o.nanRate ?? 0)) val = NaN;
          tokens[r * V + v] = val;
        }
      }
    }
  }
}

/** (t, y, x) of value v of token k of a grid field into `at`. */
function gridPlace(g: TokenGrid, k: number, v: number, at: Float64Array): void {
  const [, nb, nc] = g.numTokens, [st, sy, sx] = g.tokenSize;
  const ta = Math.floor(k / (nb * nc)), tb = Math.floor(k / nc) % nb, tc = k % nc;
  const vt = Math.floor(v / (sy * sx)), vy = Math.floor(v / sx) % sy, vx = v % sx;
  at[0] = ta * st + vt;
  at[1] = (tb * sy + vy) / 3;
  at[2] = (tc * sx + vx) / 3;
}

/** (t, y, x) of value v of token k of sample b's points into `at`; false for a padding slot. */
function pointPlace(
  tk: PointTokens,
  points: NonNullable<FieldBatch["points"]>,
  b: number,
  k: number,
  v: number,
  at: Float64Array,
): boolean {
  const V = tk.pointsPerToken, slot = b * tk.maxTokens * V + (k % tk.maxTokens) * V + v;
  if (points.index[slot] < 0) return false;
  at[0] = Math.floor(k / tk.maxTokens);
  at[1] = points.coords[2 * slot] / 10;
  at[2] = points.coords[2 * slot + 1] / 20;
  return true;
}

/**
 * Directional finite-difference check in float64 arithmetic on the float32
 * op: (f(x+hv) − f(x−hv))/2h against ⟨∇f, v⟩ for each parameter.
 */
export function gradCheck(params: Tensor[], loss: () => Tensor, rng: Random, h = 1e-2, tol = 2e-2): void {
  for (const p of params) p.grad = undefined;
  valueAndGrad(loss);
  for (const [pi, p] of params.entries()) {
    const v = Float32Array.from({ length: p.size }, () => rng.normal());
    const g = p.grad!;
    let analytic = 0;
    for (let i = 0; i < v.length; i++) analytic += g[i] * v[i];
    const orig = p.data.slice();
    const at = (s: number) => {
      for (let i = 0; i < v.length; i++) p.data[i] = orig[i] + s * h * v[i];
      const r = loss().data[0];
      p.data.set(orig);
      return r;
    };
    const numeric = (at(1) - at(-1)) / (2 * h);
    const rel = Math.abs(numeric - analytic) / Math.max(1e-3, Math.abs(numeric), Math.abs(analytic));
    assert.ok(rel < tol, `parameter ${pi} [${p.shape}]: numeric ${numeric}, analytic ${analytic}, rel ${rel}`);
  }
}
