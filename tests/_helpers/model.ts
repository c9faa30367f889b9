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
  const out: FieldBatch[] = fields.map((f, fi) => {
    const L = f.levels.length;
    const isPoints = "pointsPerToken" in f.tokens;
    const N = isPoints
      ? (f.tokens as PointTokens).timeSteps * (f.tokens as PointTokens).maxTokens
      : (f.tokens as TokenGrid).numTokens.reduce((a, b) => a * b, 1);
    const V = isPoints
      ? (f.tokens as PointTokens).pointsPerToken
      : (f.tokens as TokenGrid).tokenSize.reduce((a, b) => a * b, 1);
    const tokens = new Float32Array(B * L * N * V), mask = new Uint8Array(B * L * N);
    const info = new Float32Array(B * L * N * 8);
    const fb: FieldBatch = {
      dataset: 0,
      field: f.name,
      levels: f.levels,
      layout: f.tokens,
      tokenizer: "pointsPerToken" in f.tokens ? "healpix-points" : "regular",
      tokens,
      mask,
      replaced: new Int32Array(0),
      replacements: new Float32Array(0),
      tokenInfo: info,
    };
    let index: Int32Array | undefined, coords: Float32Array | undefined;
    if (isPoints) {
      const t = f.tokens as PointTokens;
      const slots = t.maxTokens * t.pointsPerToken;
      index = new Int32Array(B * slots);
      coords = new Float32Array(B * slots * 2);
      for (let i = 0; i < B * slots; i++) {
        const pad = rng.next() < (o.padRate ?? 0.25);
        index[i] = pad ? -1 : i;
        if (!pad) (coords[2 * i] = -30 + 60 * rng.next(), coords[2 * i + 1] = 360 * rng.next());
      }
      fb.points = {
        index,
        coords,
        tokens: new Int32Array(B).fill(t.maxTokens),
        dropped: new Int32Array(B),
        t0: new Int32Array(B),
      };
    }
    for (let b = 0; b < B; b++) {
      for (let l = 0; l < L; l++) {
        for (let k = 0; k < N; k++) {
          const r = (b * L + l) * N + k;
          mask[r] = rng.next() < (o.maskRate ?? 0.5) ? MASK.zeroed : MASK.visible;
          info.set([2020, 100, 6, f.levels[l], 60 + k % 7, 10 * (k % 11), l, 0.25], r * 8);
          for (let v = 0; v < V; v++) {
            let x: number, y: number, t: number;
            if (isPoints) {
              const tk = f.tokens as PointTokens, slot = b * tk.maxTokens * V + (k % tk.maxTokens) * V + v;
              t = Math.floor(k / tk.maxTokens);
              if (index![slot] < 0) {
                tokens[r * V + v] = 0;
                continue;
              }
              y = coords![2 * slot] / 10;
              x = coords![2 * slot + 1] / 20;
            } else {
              const g = f.tokens as TokenGrid;
              const [, nb, nc] = g.numTokens, [st, sy, sx] = g.tokenSize;
              const ta = Math.floor(k / (nb * nc)), tb = Math.floor(k / nc) % nb, tc = k % nc;
              const vt = Math.floor(v / (sy * sx)), vy = Math.floor(v / sx) % sy, vx = v % sx;
              t = ta * st + vt;
              y = (tb * sy + vy) / 3;
              x = (tc * sx + vx) / 3;
            }
            let val = Math.sin(x + 0.5 * y - 0.7 * t + phase[b]) + 0.3 * l + 0.1 * fi;
            if (rng.next() < (o.nanRate ?? 0)) val = NaN;
            tokens[r * V + v] = val;
          }
        }
      }
    }
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
