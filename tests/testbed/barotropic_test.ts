/**
 * The barotropic testbed: its spectral transforms are exact, a single
 * Rossby–Haurwitz wave travels at the analytic phase speed, the forced run
 * is deterministic and settles into realistic turbulent flow, and its
 * store opens in xarray as an ERA5-like global store.
 *
 * @module
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { BarotropicModel, EARTH_RADIUS, gaussianLatitudes, OMEGA, Transform } from "../../testbed/barotropic.ts";
import { testbedGrid, testbedStore } from "../../testbed/store.ts";
import { latitudeWeights } from "../../forecast/scores.ts";
import { PYTHON, run, tempDir } from "../_helpers/common.ts";

/** Deterministic pseudo-random coefficients (m = 0 real, as a real field needs). */
function coefficients(tr: Transform, seed: number) {
  const s = tr.zeros();
  let x = seed;
  const r = () => ((x = (Math.imul(x, 1664525) + 1013904223) >>> 0) / 2 ** 32 - 0.5);
  for (let k = 0; k < tr.t.size; k++) (s.re[k] = r(), s.im[k] = tr.t.m[k] === 0 ? 0 : r());
  return s;
}

Deno.test("testbed transforms: analysis inverts synthesis; the curl of ψ's wind is ∇²ψ and its divergence is zero", () => {
  const { mu, w } = gaussianLatitudes(48);
  assert.ok(Math.abs(w.reduce((a, b) => a + b, 0) - 2) < 1e-12, "Gaussian weights sum to 2");
  const tr = new Transform(31, mu, 128, w), G = 48 * 128;
  const s = coefficients(tr, 7), g = new Float64Array(G), back = tr.zeros();
  tr.synthesis(s, g);
  tr.analysis(g, back);
  const err = (a: Float64Array, b: Float64Array) => Math.max(...a.map((x, i) => Math.abs(x - b[i])));
  assert.ok(err(back.re, s.re) < 1e-12 && err(back.im, s.im) < 1e-12, "round trip");
  // ψ → (U, V) = (u cos φ, v cos φ); curl = divergence of (V, −U) = ∇²ψ; divergence of (U, V) = 0.
  const a = EARTH_RADIUS, U = new Float64Array(G), V = new Float64Array(G);
  tr.synthesis(s, U, "H", -1 / a);
  tr.synthesis(s, V, "dlon", 1 / a);
  const curl = tr.zeros(), div = tr.zeros();
  tr.divergence(V, U.map((x) => -x), a, curl);
  tr.divergence(U, V, a, div);
  const lap = s.re.map((x, k) => -x * tr.t.n[k] * (tr.t.n[k] + 1) / (a * a));
  const scale = Math.max(...lap.map(Math.abs));
  assert.ok(err(curl.re, lap) / scale < 1e-10, `curl = ∇²ψ (${err(curl.re, lap) / scale})`);
  assert.ok(Math.max(...div.re.map(Math.abs), ...div.im.map(Math.abs)) / scale < 1e-10, "non-divergent");
});

Deno.test("a single Rossby–Haurwitz wave travels west at ω = −2Ωm/(n(n+1)) and keeps its amplitude", () => {
  const m = new BarotropicModel({ tau: Infinity, stir: 0, jet: 0, stationary: 0, diffusionHours: Infinity });
  const tr = m.tr, k = tr.t.index(4, 6), z = tr.zeros();
  z.re[k] = 2e-5; // ζ = 2·10⁻⁵ P̄₆⁴ cos 4λ (and the conjugate): J(ψ, ζ) = 0, only β acts
  m.setState(z);
  const days = 5, steps = Math.round(days * 86400 / m.dt);
  for (let s = 0; s < steps; s++) m.step();
  const out = m.vorticity(), T = steps * m.dt;
  const phase = Math.atan2(out.im[k], out.re[k]), want = 2 * OMEGA * 4 * T / (6 * 7);
  const wrap = (x: number) => Math.atan2(Math.sin(x), Math.cos(x));
  assert.ok(Math.abs(wrap(phase - want)) < 0.01, `phase ${phase} rad, analytic ${wrap(want)} rad after ${days} days`);
  assert.ok(Math.abs(Math.hypot(out.re[k], out.im[k]) / 2e-5 - 1) < 0.01, "amplitude kept within 1 %");
  const others = Math.max(...out.re.map((x, i) => (i === k ? 0 : Math.abs(x))));
  assert.ok(others < 1e-9, `no other mode excited (${others})`);
});

Deno.test("the forced testbed is deterministic and settles into realistic turbulent flow", () => {
  const { lat } = testbedGrid();
  const out = new Transform(
    31,
    Array.from(lat, (x) => Math.sin(Math.max(-89.9999, Math.min(89.9999, x)) * Math.PI / 180)),
    128,
  );
  const a = new BarotropicModel(), b = new BarotropicModel();
  for (let s = 0; s < 40 * 30; s++) a.step(), b.step(); // 30 days of spin-up
  assert.deepEqual(a.fields(out).z, b.fields(out).z, "same options, same fields");
  const w = latitudeWeights(lat), series: Float32Array[] = [];
  let vmax = 0, zmin = Infinity, zmax = -Infinity, v2 = 0, n = 0;
  for (let t = 0; t < 4 * 20; t++) { // 20 days, 6-hourly
    for (let s = 0; s < 10; s++) a.step();
    const f = a.fields(out);
    series.push(f.z);
    for (let i = 0; i < f.v.length; i++) {
      vmax = Math.max(vmax, Math.hypot(f.u[i], f.v[i]));
      (zmin = Math.min(zmin, f.z[i]), zmax = Math.max(zmax, f.z[i]));
      (v2 += w[Math.floor(i / 128)] * f.v[i] ** 2, n += w[Math.floor(i / 128)]);
    }
  }
  const vrms = Math.sqrt(v2 / n);
  // 500 hPa-like: meridional wind 5–15 m/s rms, jets below 100 m/s, heights within 4–6.5 km.
  assert.ok(vrms > 4 && vrms < 15, `v rms ${vrms} m/s`);
  assert.ok(vmax > 30 && vmax < 100, `max wind ${vmax} m/s`);
  assert.ok(zmin / 9.80665 > 4000 && zmax / 9.80665 < 6500, `z ${zmin / 9.80665}–${zmax / 9.80665} gpm`);
  // Turbulent but coherent: persistence ACC of z anomalies (vs the period's mean) ≈ 0.9 at 1 day, lower at 3 days.
  const G = series[0].length, mean = new Float64Array(G);
  for (const z of series) for (let i = 0; i < G; i++) mean[i] += z[i] / series.length;
  const acc = (lag: number) => {
    let fa = 0, ff = 0, aa = 0;
    for (let t = 0; t + lag < series.length; t++) {
      for (let i = 0; i < G; i++) {
        const ww = w[Math.floor(i / 128)], x = series[t][i] - mean[i], y = series[t + lag][i] - mean[i];
        (fa += ww * x * y, ff += ww * x * x, aa += ww * y * y);
      }
    }
    return fa / Math.sqrt(ff * aa);
  };
  const a1 = acc(4), a3 = acc(12);
  assert.ok(a1 > 0.75 && a1 < 0.97, `persistence ACC at 1 day ${a1}`);
  assert.ok(a3 < a1 - 0.2, `persistence ACC at 3 days ${a3} falls well below 1 day's ${a1}`);
});

Deno.test("the testbed store is an ERA5-like global store (u, v, z, q at 500 hPa, 6-hourly) that xarray opens; cached", async () => {
  const cache = await tempDir();
  Deno.env.set("TESTBED_CACHE", cache);
  try {
    const first = await testbedStore({ days: 3, spinUpDays: 2 });
    assert.ok(first.built);
    const again = await testbedStore({ days: 3, spinUpDays: 2 });
    assert.equal(again.built, false);
    assert.equal(again.store, first.store);
    const r = await run(PYTHON, [
      "-c",
      `import xarray as xr, numpy as np, json, sys
s = xr.open_zarr(sys.argv[1])
print(json.dumps({"fields": s.attrs["fields"], "levels": s.attrs["levels"], "global": s.attrs["is_global"],
  "sizes": dict(s.data.sizes), "dt": float((s.time[1] - s.time[0]) / np.timedelta64(1, "h")),
  "first": str(s.time.values[0]), "units": {k: v["units"] for k, v in s.attrs["field_metadata"].items()},
  "finite": bool(np.isfinite(s.data.values).all())}))`,
      first.store,
    ]);
    assert.equal(r.code, 0, r.stderr);
    const j = JSON.parse(r.stdout.trim().split("\n").at(-1)!);
    assert.deepEqual(j.fields, ["u", "v", "z", "q"]);
    assert.deepEqual(j.levels, [500]);
    assert.equal(j.global, true);
    assert.deepEqual(j.sizes, { time: 12, field: 4, level: 1, lats: 65, lons: 128 });
    assert.equal(j.dt, 6);
    assert.match(j.first, /^2021-01-01T00:00/);
    assert.deepEqual(j.units, { u: "m s**-1", v: "m s**-1", z: "m**2 s**-2", q: "kg kg**-1" });
    assert.ok(j.finite);
    assert.ok(Deno.statSync(join(first.store, "..", "testbed.norm.zarr")).isDirectory, "a coefficient set beside it");
  } finally {
    Deno.env.delete("TESTBED_CACHE");
  }
});
