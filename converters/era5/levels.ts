/**
 * Model levels: full-level pressures from the hybrid coefficients that GRIB
 * model-level messages carry (`pv` = a₀…a_L then b₀…b_L on half levels).
 *
 * @module
 */

/** Reference surface pressure for the approximate level pressures (Pa). */
export const REFERENCE_SURFACE_PRESSURE = 101325;

/** Hybrid coefficients split into half-level a (Pa) and b (1). */
export function splitPv(pv: number[]): { a: number[]; b: number[] } {
  if (pv.length % 2 !== 0 || pv.length < 4) {
    throw new Error(`pv array of ${pv.length} values is not a and b per half level`);
  }
  const n = pv.length / 2;
  return { a: pv.slice(0, n), b: pv.slice(n) };
}

/**
 * Full-level pressure (hPa) of model level `k` (1 = top) at surface
 * pressure `ps` (Pa): the mean of the half levels k−1 and k, p = a + b·ps.
 */
export function fullLevelPressure(pv: number[], k: number, ps = REFERENCE_SURFACE_PRESSURE): number {
  const { a, b } = splitPv(pv);
  if (k < 1 || k >= a.length) throw new Error(`model level ${k} is outside 1..${a.length - 1}`);
  return ((a[k - 1] + b[k - 1] * ps) + (a[k] + b[k] * ps)) / 2 / 100;
}
