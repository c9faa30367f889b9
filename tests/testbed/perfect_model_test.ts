/**
 * The testbed's perfect-model forecasts: without stirring they are the
 * trajectory itself (the branch copies the whole state, leapfrog's previous
 * step included); with it they know the current forcing, not its future, so
 * they drift from the truth, much less than persistence does.
 *
 * @module
 */
import assert from "node:assert/strict";
import { BarotropicModel, Transform } from "../../testbed/barotropic.ts";
import { testbedGrid } from "../../testbed/store.ts";
import { perfectModelForecasts } from "../../testbed/perfect_model.ts";

/** The written trajectory's fields at 6-hourly steps 0..n (as writeTestbedNetcdf steps it). */
function trajectory(o: { stir?: number; spinUpDays: number }, n: number) {
  const m = new BarotropicModel(o), { lat, lon } = testbedGrid();
  const mu = (x: number) => Math.sin(Math.max(-90 + 1e-4, Math.min(90 - 1e-4, x)) * Math.PI / 180);
  const grid = new Transform(m.tr.t.N, Array.from(lat, mu), lon.length);
  for (let s = 0; s < o.spinUpDays * 40; s++) m.step();
  const out = [m.fields(grid)];
  for (let t = 1; t <= n; t++) {
    for (let s = 0; s < 10; s++) m.step();
    out.push(m.fields(grid));
  }
  return out;
}

const rms = (a: Float32Array, b: Float32Array) => Math.sqrt(a.reduce((s, x, i) => s + (x - b[i]) ** 2, 0) / a.length);

Deno.test("perfect model: without stirring its forecasts are the trajectory itself", () => {
  const o = { stir: 0, spinUpDays: 3 };
  const truth = trajectory(o, 6), fc = perfectModelForecasts(o, [1, 3], 3);
  for (const [k, init] of [1, 3].entries()) {
    for (let n = 0; n < 3; n++) {
      for (const f of ["u", "v", "z", "q"] as const) {
        assert.deepEqual(fc[k][n][f], truth[init + n + 1][f], `${f} ${k} ${n}`);
      }
    }
  }
  assert.throws(() => perfectModelForecasts(o, [3, 1], 1), /ascending/);
});

Deno.test("perfect model: with stirring it knows the current forcing only; it drifts, far less than persistence", () => {
  const o = { spinUpDays: 10 };
  const truth = trajectory(o, 6), fc = perfectModelForecasts(o, [2], 4)[0];
  for (const f of ["u", "z"] as const) {
    const model = rms(fc[0][f], truth[3][f]), persistence = rms(truth[2][f], truth[3][f]);
    assert.ok(model > 0, `${f}: the stirring's future is unknown, so the forecast is not the truth`);
    assert.ok(model < 0.3 * persistence, `${f}: +6 h ${model} against persistence ${persistence}`);
  }
});
