/**
 * The testbed's predictability ceiling: forecasts by the testbed's own
 * model from its exact state at given times, knowing the current stirring
 * but not its future (the stirring decays as its expected value; see
 * {@link BarotropicModel.expectedCopy}). A data-driven forecast of the
 * store can at best approach these; how far below them a model stays says
 * more than its distance from persistence.
 *
 * @module
 */
import { BarotropicModel, Transform } from "./barotropic.ts";
import { testbedGrid, type TestbedOptions } from "./store.ts";

/** Forecast fields [init][step] of u, v, z and q on the testbed's grid (north to south, float32). */
export type PerfectForecasts = { u: Float32Array; v: Float32Array; z: Float32Array; q: Float32Array }[][];

/**
 * Forecasts from the written steps `inits` (indices of the store's 6-hourly
 * times, ascending), `steps` steps of 6 h each; the trajectory is the one
 * {@link writeTestbedNetcdf} writes for the same options.
 */
export function perfectModelForecasts(o: TestbedOptions, inits: number[], steps: number): PerfectForecasts {
  if (inits.some((t, i) => !Number.isInteger(t) || t < 0 || (i > 0 && t < inits[i - 1]))) {
    throw new Error(`perfect-model inits must be ascending step indices, not ${inits.join(", ")}`);
  }
  const truth = new BarotropicModel(o), per6h = Math.round(6 * 3600 / truth.dt), { lat, lon } = testbedGrid();
  const mu = (x: number) => Math.sin(Math.max(-90 + 1e-4, Math.min(90 - 1e-4, x)) * Math.PI / 180);
  const grid = new Transform(truth.tr.t.N, Array.from(lat, mu), lon.length);
  for (let s = 0; s < (o.spinUpDays ?? 30) * 4 * per6h; s++) truth.step();
  const out: PerfectForecasts = [];
  let t = 0;
  for (const init of inits) {
    for (; t < init; t++) for (let s = 0; s < per6h; s++) truth.step();
    const f = truth.expectedCopy(), run = [];
    for (let n = 0; n < steps; n++) {
      for (let s = 0; s < per6h; s++) f.step();
      run.push(f.fields(grid));
    }
    out.push(run);
  }
  return out;
}
