/**
 * A small, deterministic generator of physically realistic global fields:
 * the barotropic vorticity equation on the rotating sphere, solved with the
 * spectral transform method (triangular truncation T31 on a 48 × 128
 * Gaussian grid by default: FFT in longitude, Gauss–Legendre quadrature in
 * latitude; T42 on 64 × 128 on request),
 *
 *   ∂ζ/∂t = −∇·((ζ + f) v) + (ζ_eq − ζ)/τ + S − ν∇⁸ζ,
 *   ∂q/∂t = −∇·(q v) + (q_eq − q)/τ_q − ν∇⁸q,
 *
 * with v = k × ∇ψ, ∇²ψ = ζ and f = 2Ω sin φ (the β-effect makes Rossby
 * waves). The flow is relaxed towards two mid-latitude westerly jets
 * (barotropically unstable: they break into eddies) and stirred by a
 * deterministic red-noise vorticity source S in total wavenumbers 8–14,
 * so it settles into turbulent, Rossby-wave-dominated flow with a
 * realistic 500 hPa-like energy spectrum. q is a passive tracer relaxed
 * towards a pole-to-equator profile (a humidity- or temperature-like field
 * that the flow stirs into filaments). Leapfrog steps of 36 min with a
 * Robert–Asselin filter; hyperdiffusion exact per step.
 *
 * Output at any latitudes (the transform is exact there): winds u, v
 * (m/s), geopotential Φ = Φ₀ + Φ′ with Φ′ from the linear balance
 * equation ∇²Φ′ = ∇·(f∇ψ) (m²/s², a 500 hPa-like field; Φ₀ = g · 5500 m),
 * and the tracer (scaled to a specific-humidity-like 0–0.01 kg/kg).
 *
 * @module
 */

/** Earth radius (m) and rotation rate (1/s). */
export const EARTH_RADIUS = 6.371e6, OMEGA = 7.292e-5;

/** Gaussian latitudes (μ = sin φ, north to south) and weights (sum 2) of `n` points. */
export function gaussianLatitudes(n: number): { mu: Float64Array; w: Float64Array } {
  const mu = new Float64Array(n), w = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    let x = Math.cos(Math.PI * (i + 0.75) / (n + 0.5)), dp = 0;
    for (let it = 0; it < 100; it++) {
      let p0 = 1, p1 = x;
      for (let k = 2; k <= n; k++) [p0, p1] = [p1, ((2 * k - 1) * x * p1 - (k - 1) * p0) / k];
      dp = n * (x * p1 - p0) / (x * x - 1);
      const dx = p1 / dp;
      x -= dx;
      if (Math.abs(dx) < 1e-15) break;
    }
    mu[i] = x;
    w[i] = 2 / ((1 - x * x) * dp * dp);
  }
  return { mu, w };
}

/** Spectral layout of triangular truncation T`N`: coefficient (m, n), n = m … N, at `index(m, n)`. */
export class Truncation {
  /** Coefficients. */
  readonly size: number;
  /** Offset of order m. */
  readonly start: Int32Array;
  /** m and n of every coefficient. */
  readonly m: Int32Array;
  readonly n: Int32Array;

  constructor(readonly N: number) {
    this.start = new Int32Array(N + 2);
    for (let m = 0; m <= N; m++) this.start[m + 1] = this.start[m] + (N - m + 1);
    this.size = this.start[N + 1];
    this.m = new Int32Array(this.size);
    this.n = new Int32Array(this.size);
    for (let m = 0; m <= N; m++) {
      for (let n = m; n <= N; n++) (this.m[this.start[m] + n - m] = m, this.n[this.start[m] + n - m] = n);
    }
  }

  /** Index of (m, n). */
  index(m: number, n: number): number {
    return this.start[m] + n - m;
  }
}

/**
 * Normalized associated Legendre functions P̄ₙᵐ(μ) (∫₋₁¹ P̄² dμ = 1) and
 * Hₙᵐ = (1 − μ²) dP̄ₙᵐ/dμ at each μ, for the coefficients of `t`:
 * [latitude][coefficient].
 */
export function legendre(t: Truncation, mu: ArrayLike<number>): { P: Float64Array; H: Float64Array } {
  const N = t.N, J = mu.length, K = t.size;
  const P = new Float64Array(J * K), H = new Float64Array(J * K);
  const eps = (m: number, n: number) => Math.sqrt((n * n - m * m) / (4 * n * n - 1));
  const col = new Float64Array(N + 3);
  for (let j = 0; j < J; j++) {
    const x = mu[j], s = Math.sqrt(Math.max(0, 1 - x * x));
    let pmm = Math.sqrt(0.5);
    for (let m = 0; m <= N; m++) {
      if (m > 0) pmm *= -Math.sqrt((2 * m + 1) / (2 * m)) * s;
      // col[n - m] = P̄ₙᵐ for n = m … N + 1
      col[0] = pmm;
      col[1] = Math.sqrt(2 * m + 3) * x * pmm;
      for (let n = m + 2; n <= N + 1; n++) {
        col[n - m] = (x * col[n - m - 1] - eps(m, n - 1) * col[n - m - 2]) / eps(m, n);
      }
      for (let n = m; n <= N; n++) {
        const k = j * K + t.index(m, n);
        P[k] = col[n - m];
        H[k] = -n * eps(m, n + 1) * col[n - m + 1] + (n + 1) * eps(m, n) * (n > m ? col[n - m - 1] : 0);
      }
    }
  }
  return { P, H };
}

/** Bit reversal and twiddles of radix-2 FFTs, by size. */
const fftTables = new Map<number, { rev: Int32Array; cos: Float64Array; sin: Float64Array }>();

/** In-place radix-2 complex FFT of a power-of-two length (sign −1: forward, +1: inverse without 1/n). */
function fft(re: Float64Array, im: Float64Array, sign: number): void {
  const n = re.length;
  let tab = fftTables.get(n);
  if (!tab) {
    const rev = new Int32Array(n), bits = Math.log2(n);
    for (let i = 0; i < n; i++) {
      let r = 0;
      for (let b = 0; b < bits; b++) r |= ((i >> b) & 1) << (bits - 1 - b);
      rev[i] = r;
    }
    const cos = Float64Array.from({ length: n / 2 }, (_, k) => Math.cos(2 * Math.PI * k / n));
    const sin = Float64Array.from({ length: n / 2 }, (_, k) => Math.sin(2 * Math.PI * k / n));
    fftTables.set(n, tab = { rev, cos, sin });
  }
  const { rev, cos, sin } = tab;
  for (let i = 0; i < n; i++) {
    const j = rev[i];
    if (i < j) {
      const tr = re[i], ti = im[i];
      re[i] = re[j], im[i] = im[j], re[j] = tr, im[j] = ti;
    }
  }
  for (let len = 2; len <= n; len <<= 1) {
    const half = len >> 1, stride = n / len;
    for (let i = 0; i < n; i += len) {
      for (let k = 0; k < half; k++) {
        const cr = cos[k * stride], ci = sign * sin[k * stride];
        const p = i + k, q = p + half;
        const tr = re[q] * cr - im[q] * ci, ti = re[q] * ci + im[q] * cr;
        re[q] = re[p] - tr, im[q] = im[p] - ti;
        re[p] += tr, im[p] += ti;
      }
    }
  }
}

/** A spectral field: real and imaginary parts of the coefficients (m ≥ 0). */
export interface Spectral {
  re: Float64Array;
  im: Float64Array;
}

/** Spectral transforms between T`N` coefficients and a grid of `mu` latitudes × `nlon` longitudes. */
export class Transform {
  readonly t: Truncation;
  readonly P: Float64Array;
  readonly H: Float64Array;
  readonly J: number;
  private readonly fr: Float64Array;
  private readonly fi: Float64Array;
  /** Fourier coefficients per latitude [j][m] (scratch). */
  private readonly Fr: Float64Array;
  private readonly Fi: Float64Array;
  private readonly Gr: Float64Array;
  private readonly Gi: Float64Array;

  constructor(N: number, readonly mu: ArrayLike<number>, readonly nlon: number, readonly w?: ArrayLike<number>) {
    this.t = new Truncation(N);
    ({ P: this.P, H: this.H } = legendre(this.t, mu));
    this.J = mu.length;
    this.fr = new Float64Array(nlon);
    this.fi = new Float64Array(nlon);
    this.Fr = new Float64Array(this.J * (N + 1));
    this.Fi = new Float64Array(this.J * (N + 1));
    this.Gr = new Float64Array(this.J * (N + 1));
    this.Gi = new Float64Array(this.J * (N + 1));
  }

  /** A zero spectral field. */
  zeros(): Spectral {
    return { re: new Float64Array(this.t.size), im: new Float64Array(this.t.size) };
  }

  /**
   * Grid values [lat][lon] of Σ c·(L ⊙ e^{imλ}) where L is P̄ (`kind` P),
   * H (`kind` H), or i·m·P̄ (`kind` dlon: the λ derivative), each
   * coefficient multiplied by `scale`.
   */
  synthesis(s: Spectral, out: Float64Array, kind: "P" | "H" | "dlon" = "P", scale = 1): void {
    const { t, J, nlon } = this, N = t.N, K = t.size, L = kind === "H" ? this.H : this.P;
    for (let j = 0; j < J; j++) {
      this.fr.fill(0), this.fi.fill(0);
      for (let m = 0; m <= N; m++) {
        let ar = 0, ai = 0;
        for (let k = t.start[m]; k < t.start[m + 1]; k++) {
          const p = L[j * K + k];
          ar += s.re[k] * p, ai += s.im[k] * p;
        }
        if (kind === "dlon") {
          const r = ar;
          ar = -m * ai, ai = m * r;
        }
        ar *= scale, ai *= scale;
        this.fr[m] = ar, this.fi[m] = ai;
        if (m > 0) this.fr[nlon - m] = ar, this.fi[nlon - m] = -ai;
      }
      fft(this.fr, this.fi, 1);
      out.set(this.fr, j * nlon);
    }
  }

  /** Fourier coefficients (m ≤ N, divided by nlon) of grid rows into F (or G). */
  private fourier(g: Float64Array, Fr: Float64Array, Fi: Float64Array): void {
    const { J, nlon } = this, M = this.t.N + 1;
    for (let j = 0; j < J; j++) {
      this.fr.set(g.subarray(j * nlon, (j + 1) * nlon));
      this.fi.fill(0);
      fft(this.fr, this.fi, -1);
      for (let m = 0; m < M; m++) Fr[j * M + m] = this.fr[m] / nlon, Fi[j * M + m] = this.fi[m] / nlon;
    }
  }

  /** Spectral coefficients of a grid field (Gaussian quadrature; needs the weights). */
  analysis(g: Float64Array, out: Spectral): void {
    const { t, J } = this, M = t.N + 1, K = t.size, w = this.w!;
    this.fourier(g, this.Fr, this.Fi);
    out.re.fill(0), out.im.fill(0);
    for (let j = 0; j < J; j++) {
      for (let m = 0; m < M; m++) {
        const fr = this.Fr[j * M + m] * w[j], fi = this.Fi[j * M + m] * w[j];
        for (let k = t.start[m]; k < t.start[m + 1]; k++) {
          const p = this.P[j * K + k];
          out.re[k] += fr * p, out.im[k] += fi * p;
        }
      }
    }
  }

  /**
   * Spectral coefficients of the divergence (`sign` 1) or of the curl
   * (`sign` −1, with A and B swapped by the caller) of a vector field given
   * as A = X cos φ, B = Y cos φ on the grid, on a sphere of radius a:
   * (1/a) Σ w/(1−μ²) [i m A P̄ − B H]. For the curl of (U, V) call with
   * (V, −U).
   */
  divergence(A: Float64Array, B: Float64Array, a: number, out: Spectral): void {
    const { t, J } = this, M = t.N + 1, K = t.size, w = this.w!;
    this.fourier(A, this.Fr, this.Fi);
    this.fourier(B, this.Gr, this.Gi);
    out.re.fill(0), out.im.fill(0);
    for (let j = 0; j < J; j++) {
      const c = w[j] / ((1 - this.mu[j] * this.mu[j]) * a);
      for (let m = 0; m < M; m++) {
        // i m A: (−m Ai, m Ar)
        const ar = -m * this.Fi[j * M + m] * c, ai = m * this.Fr[j * M + m] * c;
        const br = this.Gr[j * M + m] * c, bi = this.Gi[j * M + m] * c;
        for (let k = t.start[m]; k < t.start[m + 1]; k++) {
          const p = this.P[j * K + k], h = this.H[j * K + k];
          out.re[k] += ar * p - br * h, out.im[k] += ai * p - bi * h;
        }
      }
    }
  }
}

/** Options of the {@link BarotropicModel}. */
export interface BarotropicOptions {
  /** Truncation. Default 31. */
  truncation?: number;
  /** Gaussian latitudes. Default 48. */
  nlat?: number;
  /** Longitudes (a power of two). Default 128. */
  nlon?: number;
  /** Time step (s; leapfrog: stable while u·N/a·dt < 1). Default 2160 (10 steps per 6 h). */
  dt?: number;
  /** Seed of the stirring. Default 1. */
  seed?: number;
  /** Jet speed (m/s) the flow relaxes to. Default 45. */
  jet?: number;
  /** Relaxation time (days). Default 12. */
  tau?: number;
  /** Stirring amplitude per coefficient (1/s²) and decorrelation time (days). Default 4e-12, 2. */
  stir?: number;
  stirDays?: number;
  /** Stationary waves the flow relaxes to: vorticity amplitude (1/s) of P̄₆² e^{2iλ} and P̄₇³ e^{3iλ}. Default 3e-6. */
  stationary?: number;
  /** Hyperdiffusion e-folding time at the truncation wavenumber (hours). Default 4. */
  diffusionHours?: number;
}

/** A small xorshift generator with Gaussian draws (deterministic across platforms). */
class Rng {
  private s: number;
  constructor(seed: number) {
    this.s = (seed * 2654435761) >>> 0 || 1;
  }
  next(): number {
    let x = this.s;
    x ^= x << 13, x >>>= 0, x ^= x >>> 17, x ^= x << 5, x >>>= 0;
    this.s = x;
    return (x + 0.5) / 4294967296;
  }
  gauss(): number {
    return Math.sqrt(-2 * Math.log(this.next())) * Math.cos(2 * Math.PI * this.next());
  }
}

/** The forced, damped barotropic vorticity model with a passive tracer. */
export class BarotropicModel {
  readonly tr: Transform;
  readonly dt: number;
  /** Seconds simulated. */
  time = 0;
  private zeta: Spectral;
  private zetaOld: Spectral;
  private q: Spectral;
  private qOld: Spectral;
  private readonly zetaEq: Spectral;
  private readonly qEq: Spectral;
  private readonly stir: Spectral;
  private readonly damp: Float64Array;
  private readonly lap: Float64Array;
  private readonly rng: Rng;
  private readonly o: Required<BarotropicOptions>;
  // Grid scratch
  private readonly U: Float64Array;
  private readonly V: Float64Array;
  private readonly g: Float64Array;
  private readonly A: Float64Array;
  private readonly B: Float64Array;
  private readonly tend: Spectral;
  private readonly tendQ: Spectral;
  private first = true;
  /** Whether the stirring draws new noise (false: it decays as its expected value). */
  private noise = true;

  constructor(options: BarotropicOptions = {}) {
    const o = this.o = {
      truncation: 31,
      nlat: 48,
      nlon: 128,
      dt: 2160,
      seed: 1,
      jet: 45,
      tau: 12,
      stir: 4e-12,
      stationary: 3e-6,
      stirDays: 2,
      diffusionHours: 4,
      ...options,
    };
    const { mu, w } = gaussianLatitudes(o.nlat);
    this.tr = new Transform(o.truncation, mu, o.nlon, w);
    this.dt = o.dt;
    const t = this.tr.t, a = EARTH_RADIUS;
    this.lap = Float64Array.from({ length: t.size }, (_, k) => -t.n[k] * (t.n[k] + 1) / (a * a));
    const nn = t.N * (t.N + 1);
    this.damp = Float64Array.from(
      { length: t.size },
      (_, k) => Math.exp(-o.dt / (o.diffusionHours * 3600) * Math.pow(t.n[k] * (t.n[k] + 1) / nn, 4)),
    );
    const G = o.nlat * o.nlon;
    [this.U, this.V, this.g, this.A, this.B] = [0, 1, 2, 3, 4].map(() => new Float64Array(G));
    this.tend = this.tr.zeros();
    this.tendQ = this.tr.zeros();
    this.rng = new Rng(o.seed);
    // The equilibrium jets: u_eq(φ) = U (e^{−((φ−45°)/10°)²} + e^{−((φ+45°)/10°)²}) − 0.25 U cos⁸φ·… (weak easterlies).
    const U = this.U, V = this.V.fill(0);
    for (let j = 0; j < o.nlat; j++) {
      const phi = Math.asin(mu[j]) * 180 / Math.PI, c = Math.sqrt(1 - mu[j] * mu[j]);
      const u = o.jet * (Math.exp(-(((phi - 45) / 10) ** 2)) + Math.exp(-(((phi + 45) / 10) ** 2))) -
        0.2 * o.jet * Math.exp(-((phi / 12) ** 2));
      for (let i = 0; i < o.nlon; i++) U[j * o.nlon + i] = u * c;
    }
    this.zetaEq = this.tr.zeros();
    // ζ = curl: divergence of (V, −U)
    this.tr.divergence(V, U.map((x) => -x), a, this.zetaEq);
    // Stationary waves (as mountains and land–sea contrast make them): troughs and ridges that stay put.
    this.zetaEq.re[t.index(2, 6)] += o.stationary;
    this.zetaEq.im[t.index(3, 7)] += 0.7 * o.stationary;
    // Tracer equilibrium: 1 at the equator, 0 at the poles (cos² φ), with a weak zonal wave 1 (a "continent").
    for (let j = 0; j < o.nlat; j++) {
      for (let i = 0; i < o.nlon; i++) {
        const lam = 2 * Math.PI * i / o.nlon;
        this.g[j * o.nlon + i] = (1 - mu[j] * mu[j]) * (1 + 0.15 * Math.cos(lam));
      }
    }
    this.qEq = this.tr.zeros();
    this.tr.analysis(this.g, this.qEq);
    this.stir = this.tr.zeros();
    this.zeta = { re: this.zetaEq.re.slice(), im: this.zetaEq.im.slice() };
    // A small deterministic perturbation starts the instability.
    for (let k = 0; k < t.size; k++) {
      if (t.n[k] >= 4 && t.n[k] <= 12 && t.m[k] > 0) {
        this.zeta.re[k] += 5e-7 * this.rng.gauss(), this.zeta.im[k] += 5e-7 * this.rng.gauss();
      }
    }
    this.zetaOld = { re: this.zeta.re.slice(), im: this.zeta.im.slice() };
    this.q = { re: this.qEq.re.slice(), im: this.qEq.im.slice() };
    this.qOld = { re: this.q.re.slice(), im: this.q.im.slice() };
  }

  /** Replace the vorticity (and the tracer, if given) by `zeta` (spectral); the next step is a forward step. */
  setState(zeta: Spectral, q?: Spectral): void {
    this.zeta = { re: zeta.re.slice(), im: zeta.im.slice() };
    this.zetaOld = { re: zeta.re.slice(), im: zeta.im.slice() };
    if (q) (this.q = { re: q.re.slice(), im: q.im.slice() }, this.qOld = { re: q.re.slice(), im: q.im.slice() });
    this.first = true;
  }

  /**
   * A copy of the current state whose stirring then evolves without new
   * noise, as its expected value: the forecast of a perfect model that knows
   * the current forcing but not its future (the testbed's ceiling for a
   * deterministic forecast).
   */
  expectedCopy(): BarotropicModel {
    const c = new BarotropicModel(this.o), copy = (x: Spectral) => ({ re: x.re.slice(), im: x.im.slice() });
    [c.zeta, c.zetaOld, c.q, c.qOld] = [copy(this.zeta), copy(this.zetaOld), copy(this.q), copy(this.qOld)];
    c.stir.re.set(this.stir.re);
    c.stir.im.set(this.stir.im);
    [c.first, c.time, c.noise] = [this.first, this.time, false];
    return c;
  }

  /** The vorticity (spectral, a copy). */
  vorticity(): Spectral {
    return { re: this.zeta.re.slice(), im: this.zeta.im.slice() };
  }

  /** The stream function ψ = ∇⁻²ζ. */
  private psi(z: Spectral, out: Spectral): Spectral {
    for (let k = 0; k < z.re.length; k++) {
      const l = this.lap[k];
      out.re[k] = l ? z.re[k] / l : 0, out.im[k] = l ? z.im[k] / l : 0;
    }
    return out;
  }

  /** Tendencies of ζ and q at the state (z, q) into tend, tendQ. */
  private tendencies(z: Spectral, q: Spectral): void {
    const tr = this.tr, a = EARTH_RADIUS, o = this.o, G = o.nlat * o.nlon;
    const psi = this.psi(z, tr.zeros());
    // U = u cos φ = −(1/a) Σ ψ H;  V = v cos φ = (1/a) Σ i m ψ P̄
    tr.synthesis(psi, this.U, "H", -1 / a);
    tr.synthesis(psi, this.V, "dlon", 1 / a);
    tr.synthesis(z, this.g);
    for (let j = 0, p = 0; j < o.nlat; j++) {
      const f = 2 * OMEGA * tr.mu[j];
      for (let i = 0; i < o.nlon; i++, p++) {
        const eta = this.g[p] + f;
        this.A[p] = eta * this.U[p], this.B[p] = eta * this.V[p];
      }
    }
    tr.divergence(this.A, this.B, a, this.tend);
    tr.synthesis(q, this.g);
    for (let p = 0; p < G; p++) this.A[p] = this.g[p] * this.U[p], this.B[p] = this.g[p] * this.V[p];
    tr.divergence(this.A, this.B, a, this.tendQ);
    const r = 1 / (o.tau * 86400), rq = 1 / (4 * 86400);
    for (let k = 0; k < z.re.length; k++) {
      this.tend.re[k] = -this.tend.re[k] + r * (this.zetaEq.re[k] - z.re[k]) + this.stir.re[k];
      this.tend.im[k] = -this.tend.im[k] + r * (this.zetaEq.im[k] - z.im[k]) + this.stir.im[k];
      this.tendQ.re[k] = -this.tendQ.re[k] + rq * (this.qEq.re[k] - q.re[k]);
      this.tendQ.im[k] = -this.tendQ.im[k] + rq * (this.qEq.im[k] - q.im[k]);
    }
  }

  /** Advance the red-noise stirring by one step (AR(1) in total wavenumbers 8–14, m > 0). */
  private stirStep(): void {
    const t = this.tr.t, o = this.o, phi = Math.exp(-o.dt / (o.stirDays * 86400)), s = Math.sqrt(1 - phi * phi);
    for (let k = 0; k < t.size; k++) {
      if (t.n[k] < 8 || t.n[k] > 14 || t.m[k] === 0) continue;
      if (!this.noise) (this.stir.re[k] *= phi, this.stir.im[k] *= phi);
      else {
        this.stir.re[k] = phi * this.stir.re[k] + s * o.stir * this.rng.gauss();
        this.stir.im[k] = phi * this.stir.im[k] + s * o.stir * this.rng.gauss();
      }
    }
  }

  /** One leapfrog step (the first a forward step) with a Robert–Asselin filter and exact hyperdiffusion. */
  step(): void {
    this.stirStep();
    const dt = this.dt, ra = 0.05;
    if (this.first) {
      this.tendencies(this.zeta, this.q);
      for (const [x, tx] of [[this.zeta, this.tend], [this.q, this.tendQ]] as const) {
        for (let k = 0; k < x.re.length; k++) {
          x.re[k] = (x.re[k] + dt * tx.re[k]) * this.damp[k], x.im[k] = (x.im[k] + dt * tx.im[k]) * this.damp[k];
        }
      }
      this.first = false;
      this.time += dt;
      return;
    }
    this.tendencies(this.zeta, this.q);
    for (
      const [x, xo, tx] of [[this.zeta, this.zetaOld, this.tend], [this.q, this.qOld, this.tendQ]] as const
    ) {
      const d2 = this.damp.map((d) => d * d);
      for (let k = 0; k < x.re.length; k++) {
        const nr = (xo.re[k] + 2 * dt * tx.re[k]) * d2[k], ni = (xo.im[k] + 2 * dt * tx.im[k]) * d2[k];
        // Robert–Asselin: the current state, nudged towards the mean of its neighbours in time.
        xo.re[k] = x.re[k] + ra * (nr - 2 * x.re[k] + xo.re[k]);
        xo.im[k] = x.im[k] + ra * (ni - 2 * x.im[k] + xo.im[k]);
        x.re[k] = nr, x.im[k] = ni;
      }
    }
    this.time += dt;
  }

  /**
   * Fields on the grid of latitudes `lat` (degrees) × `nlon` longitudes from 0°:
   * u, v (m/s), geopotential (m²/s²) and the tracer; values [lat][lon], float32.
   */
  fields(out: Transform): { u: Float32Array; v: Float32Array; z: Float32Array; q: Float32Array } {
    const a = EARTH_RADIUS, J = out.J, C = out.nlon;
    const psi = this.psi(this.zeta, this.tr.zeros());
    // Linear balance ∇²Φ = ∇·(f∇ψ), on the model's grid: cos φ ∇ψ = (V, −U).
    const tr = this.tr;
    tr.synthesis(psi, this.U, "H", -1 / a);
    tr.synthesis(psi, this.V, "dlon", 1 / a);
    for (let j = 0, p = 0; j < tr.J; j++) {
      const f = 2 * OMEGA * tr.mu[j];
      for (let i = 0; i < tr.nlon; i++, p++) this.A[p] = f * this.V[p], this.B[p] = -f * this.U[p];
    }
    const phi = tr.zeros();
    tr.divergence(this.A, this.B, a, phi);
    for (let k = 0; k < phi.re.length; k++) {
      const l = this.lap[k];
      phi.re[k] = l ? phi.re[k] / l : 0, phi.im[k] = l ? phi.im[k] / l : 0;
    }
    const U = new Float64Array(J * C), V = new Float64Array(J * C), P = new Float64Array(J * C);
    const Q = new Float64Array(J * C);
    out.synthesis(psi, U, "H", -1 / a);
    out.synthesis(psi, V, "dlon", 1 / a);
    out.synthesis(phi, P);
    out.synthesis(this.q, Q);
    const u = new Float32Array(J * C), v = new Float32Array(J * C), z = new Float32Array(J * C);
    const q = new Float32Array(J * C);
    for (let j = 0; j < J; j++) {
      const c = Math.sqrt(Math.max(1e-12, 1 - out.mu[j] * out.mu[j]));
      for (let i = 0; i < C; i++) {
        const p = j * C + i;
        u[p] = U[p] / c, v[p] = V[p] / c;
        z[p] = 9.80665 * 5500 + P[p];
        q[p] = 0.01 * Q[p];
      }
    }
    return { u, v, z, q };
  }
}
