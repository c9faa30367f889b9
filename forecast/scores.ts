/**
 * Forecast verification with WeatherBench 2's definitions: area weights
 * from cell bounds (sin φ_upper − sin φ_lower, normalized to mean 1; outer
 * bounds half a row beyond the edge rows, clipped at the poles); per
 * initial time a weighted mean over the grid, then a mean over initial
 * times; RMSE = sqrt(time-mean MSE); ACC per time = Σw·f′a′ / sqrt(Σw·f′²·Σw·a′²)
 * against a climatology (here the coefficient set's monthly per-point
 * mean of the valid time), then time-averaged. Persistence (the analysis
 * at initial time) and climatology are scored on the same dates; an
 * ensemble adds CRPS (the members' empirical CRPS, fair form not used) and
 * the spread/skill ratio. NaN points (land in sst) are left out.
 *
 * @module
 */

/**
 * Area weights per row, mean 1 over the grid's rows: each row's cell runs from the mid-points to its neighbours, and
 * the first and last rows' outer bounds lie half a row spacing beyond them, clipped at the poles. On a global grid
 * this gives WeatherBench 2's bounds (±90° at the ends); on a regional grid the edge rows get cells of the same size as
 * their neighbours' instead of cells reaching to a pole.
 */
export function latitudeWeights(lat: ArrayLike<number>): Float64Array {
  const n = lat.length, deg = Math.PI / 180, w = new Float64Array(n);
  if (n === 1) return w.fill(1);
  const clip = (x: number) => Math.max(-90, Math.min(90, x));
  const bound = (i: number) =>
    i === 0
      ? clip(lat[0] - (lat[1] - lat[0]) / 2)
      : i === n
      ? clip(lat[n - 1] + (lat[n - 1] - lat[n - 2]) / 2)
      : (lat[i - 1] + lat[i]) / 2;
  for (let i = 0; i < n; i++) w[i] = Math.abs(Math.sin(bound(i) * deg) - Math.sin(bound(i + 1) * deg));
  const mean = w.reduce((a, b) => a + b, 0) / n;
  for (let i = 0; i < n; i++) w[i] /= mean;
  return w;
}

/** Weighted mean of squared differences over the valid points of a (rows, cols) field. */
export function weightedMse(a: Float32Array, b: Float32Array, rowWeights: Float64Array): number {
  const cols = a.length / rowWeights.length;
  let s = 0, ws = 0;
  for (let i = 0; i < rowWeights.length; i++) {
    for (let j = 0; j < cols; j++) {
      const k = i * cols + j, d = a[k] - b[k];
      if (Number.isNaN(d)) continue;
      s += rowWeights[i] * d * d;
      ws += rowWeights[i];
    }
  }
  return ws > 0 ? s / ws : NaN;
}

/** Anomaly correlation of `f` against `truth`, both relative to `clim`, weighted. */
export function anomalyCorrelation(
  f: Float32Array,
  truth: Float32Array,
  clim: Float32Array,
  rowWeights: Float64Array,
): number {
  const cols = f.length / rowWeights.length;
  let fa = 0, ff = 0, aa = 0;
  for (let i = 0; i < rowWeights.length; i++) {
    for (let j = 0; j < cols; j++) {
      const k = i * cols + j, x = f[k] - clim[k], y = truth[k] - clim[k];
      if (Number.isNaN(x) || Number.isNaN(y)) continue;
      fa += rowWeights[i] * x * y;
      ff += rowWeights[i] * x * x;
      aa += rowWeights[i] * y * y;
    }
  }
  return ff > 0 && aa > 0 ? fa / Math.sqrt(ff * aa) : NaN;
}

/** Weighted mean CRPS of an ensemble (members' empirical distribution) and its mean ensemble variance. */
export function ensembleCrps(
  members: Float32Array[],
  truth: Float32Array,
  rowWeights: Float64Array,
): { crps: number; variance: number } {
  const M = members.length, cols = truth.length / rowWeights.length;
  let s = 0, v = 0, ws = 0;
  const x = new Float64Array(M);
  for (let i = 0; i < rowWeights.length; i++) {
    for (let j = 0; j < cols; j++) {
      const k = i * cols + j, y = truth[k];
      if (Number.isNaN(y) || Number.isNaN(members[0][k])) continue;
      let skill = 0, mu = 0;
      for (let m = 0; m < M; m++) (x[m] = members[m][k], skill += Math.abs(x[m] - y), mu += x[m]);
      mu /= M;
      let pair = 0, sq = 0;
      for (let m = 0; m < M; m++) {
        sq += (x[m] - mu) ** 2;
        for (let n = m + 1; n < M; n++) pair += Math.abs(x[m] - x[n]);
      }
      s += rowWeights[i] * (skill / M - pair / (M * M));
      v += rowWeights[i] * (M > 1 ? sq / (M - 1) : 0);
      ws += rowWeights[i];
    }
  }
  return { crps: ws > 0 ? s / ws : NaN, variance: ws > 0 ? v / ws : NaN };
}

/** Scores of one field level against lead time. */
export interface PlaneScores {
  /** Field. */
  field: string;
  /** Level. */
  level: number;
  /** Units. */
  units: string;
  /** Lead times (hours). */
  leads: number[];
  /** Latitude-weighted RMSE: forecast (ensemble mean), persistence, climatology. */
  rmse: { forecast: number[]; persistence: number[]; climatology: number[] };
  /**
   * Anomaly correlation (mean over initial times): forecast, persistence,
   * and climatology — 0 by construction (its anomaly against itself is zero
   * everywhere; reported as 0, not computed); `forecastByInit` [lead][init]
   * in the order the initial times were scored.
   */
  acc: { forecast: number[]; persistence: number[]; climatology: number[]; forecastByInit: number[][] };
  /** Ensemble: CRPS and spread/skill ratio (members > 1). */
  crps?: number[];
  /** Spread (sqrt of the mean ensemble variance) over the RMSE of the ensemble mean. */
  spreadSkill?: number[];
  /** Initial times scored. */
  inits: number;
  /**
   * Per lead, the initial times scored whose initial or valid time falls
   * inside a time range the checkpoint's stages trained or validated on
   * (in-sample: not a fair skill score); all 0 when none does.
   */
  inSample: number[];
}

/** The fields of one lead of one init to score. */
export interface ScoreSample {
  /** Ensemble members (one for a deterministic forecast) [lat·lon]. */
  members: Float32Array[];
  /** Truth at the valid time. */
  truth: Float32Array;
  /** Truth at the initial time. */
  persistence: Float32Array;
  /** Climatology of the valid time. */
  climatology: Float32Array;
  /** The initial or valid time lies inside a range the model trained or validated on. */
  inSample?: boolean;
}

/** Running sums of one field level and lead. */
interface Sums {
  n: number;
  mse: number[];
  acc: number[];
  accByInit: number[];
  crps: number;
  variance: number;
  inSample: number;
}

/** Accumulates scores over initial times, per field level and lead. */
export class ScoreBoard {
  private readonly acc = new Map<string, {
    field: string;
    level: number;
    sums: Map<number, Sums>;
  }>();
  private readonly units: Record<string, string>;

  constructor(private readonly rowWeights: Float64Array, units: Record<string, string> = {}) {
    this.units = units;
  }

  /** Score one field level at one lead of one init. */
  add(field: string, level: number, lead: number, s: ScoreSample): void {
    const key = `${field}/${level}`;
    let a = this.acc.get(key);
    if (!a) this.acc.set(key, a = { field, level, sums: new Map() });
    let t = a.sums.get(lead);
    if (!t) {
      a.sums.set(
        lead,
        t = {
          n: 0,
          mse: [0, 0, 0],
          acc: [0, 0],
          accByInit: [],
          crps: 0,
          variance: 0,
          inSample: 0,
        },
      );
    }
    const w = this.rowWeights, M = s.members.length;
    const mean = M === 1 ? s.members[0] : s.members[0].map((_, i) => s.members.reduce((x, m) => x + m[i], 0) / M);
    t.n++;
    if (s.inSample) t.inSample++;
    t.mse[0] += weightedMse(mean, s.truth, w);
    t.mse[1] += weightedMse(s.persistence, s.truth, w);
    t.mse[2] += weightedMse(s.climatology, s.truth, w);
    const acc = anomalyCorrelation(mean, s.truth, s.climatology, w);
    t.acc[0] += acc;
    t.accByInit.push(acc);
    t.acc[1] += anomalyCorrelation(s.persistence, s.truth, s.climatology, w);
    if (M > 1) {
      const c = ensembleCrps(s.members, s.truth, w);
      t.crps += c.crps;
      t.variance += c.variance;
    }
  }

  /** Scores per field level. */
  result(ensemble: boolean): PlaneScores[] {
    return [...this.acc.values()].map((a) => {
      const leads = [...a.sums.keys()].sort((x, y) => x - y);
      const get = <T>(f: (t: Sums) => T) => leads.map((l) => f(a.sums.get(l)!));
      const out: PlaneScores = {
        field: a.field,
        level: a.level,
        units: this.units[a.field] ?? "",
        leads,
        rmse: {
          forecast: get((t) => Math.sqrt(t.mse[0] / t.n)),
          persistence: get((t) => Math.sqrt(t.mse[1] / t.n)),
          climatology: get((t) => Math.sqrt(t.mse[2] / t.n)),
        },
        acc: {
          forecast: get((t) => t.acc[0] / t.n),
          persistence: get((t) => t.acc[1] / t.n),
          climatology: leads.map(() => 0),
          forecastByInit: get((t) => t.accByInit.slice()),
        },
        inits: Math.max(...get((t) => t.n)),
        inSample: get((t) => t.inSample),
      };
      if (ensemble) {
        out.crps = get((t) => t.crps / t.n);
        out.spreadSkill = get((t) => Math.sqrt(t.variance / t.n) / Math.sqrt(t.mse[0] / t.n));
      }
      return out;
    });
  }
}
