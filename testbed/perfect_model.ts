/**
 * The testbed's predictability ceiling: forecasts by the testbed's own
 * model from its exact state at given times, knowing the current stirring
 * but not its future (the stirring decays as its expected value; see
 * `BarotropicModel.expectedCopy`). A data-driven forecast of the
 * store can at best approach these; how far below them a model stays says
 * more than its distance from persistence.
 *
 * @module
 */
import { type TestbedOptions, testbedTrajectory } from "./store.ts";

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
  const out: PerfectForecasts = [], left = [...inits];
  for (const { t, model, grid } of testbedTrajectory(o, inits.length ? inits[inits.length - 1] + 1 : 0)) {
    while (left[0] === t) {
      left.shift();
      const f = model.expectedCopy(), per6h = Math.round(6 * 3600 / f.dt), run = [];
      for (let n = 0; n < steps; n++) {
        for (let s = 0; s < per6h; s++) f.step();
        run.push(f.fields(grid));
      }
      out.push(run);
    }
  }
  return out;
}
