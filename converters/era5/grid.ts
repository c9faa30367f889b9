/**
 * Regular lat-lon grids: normalise any source orientation to the store's
 * (latitude north→south = colatitude ascending, longitude ascending in
 * [0, 360) for global grids) and remap planes accordingly.
 *
 * @module
 */

/** A source grid mapped onto the store's orientation. */
export interface Grid {
  /** Geographic latitudes in store order (north → south). */
  lats: Float64Array;
  /** Longitudes in store order. */
  lons: Float64Array;
  /** Store row → source row. */
  latPerm: Int32Array;
  /** Store column → source column. */
  lonPerm: Int32Array;
  /** Whether the grid covers the whole globe. */
  isGlobal: boolean;
  /** Grid spacing [dlat, dlon] in degrees. */
  res: [number, number];
}

function spacing(values: Float64Array, what: string): number {
  if (values.length < 2) return 0;
  const d = Math.abs(values[1] - values[0]);
  for (let i = 2; i < values.length; i++) {
    if (Math.abs(Math.abs(values[i] - values[i - 1]) - d) > 1e-4 * Math.max(d, 1e-9)) {
      throw new Error(`${what} is not evenly spaced (a regular lat-lon grid is required)`);
    }
  }
  return d;
}

/** Build the store grid from source latitude and longitude values. */
export function normalizeGrid(srcLat: ArrayLike<number>, srcLon: ArrayLike<number>): Grid {
  const lat = Float64Array.from(srcLat);
  const lon = Float64Array.from(srcLon);
  const dlat = spacing(lat, "latitude");
  const dlon = spacing(lon, "longitude");
  if ([...lat].some((v) => v < -90.0001 || v > 90.0001)) throw new Error("latitude values outside [-90, 90]");
  const latPerm = Int32Array.from(lat.keys()).sort((a, b) => lat[b] - lat[a]);
  const isGlobalLon = dlon > 0 && Math.abs(dlon * lon.length - 360) < 1e-3;
  const isGlobal = isGlobalLon && Math.abs(Math.max(...lat) - 90) < 1e-3 && Math.abs(Math.min(...lat) + 90) < 1e-3;
  let key: Float64Array;
  const wrapped = Float64Array.from(lon, (v) => ((v % 360) + 360) % 360);
  if (isGlobalLon) key = wrapped;
  else {
    // Regional: [0, 360) unless the region crosses the prime meridian.
    const sortedWrapped = [...wrapped].sort((a, b) => a - b);
    const crosses = sortedWrapped.at(-1)! - sortedWrapped[0] > dlon * lon.length + 1e-6;
    key = crosses ? Float64Array.from(lon, (v) => (v >= 180 ? v - 360 : v)) : wrapped;
  }
  const lonPerm = Int32Array.from(lon.keys()).sort((a, b) => key[a] - key[b]);
  return {
    lats: Float64Array.from(latPerm, (i) => lat[i]),
    lons: Float64Array.from(lonPerm, (i) => Math.round(key[i] * 1e6) / 1e6),
    latPerm,
    lonPerm,
    isGlobal,
    res: [dlat, dlon],
  };
}

/** True when two grids are the same to 1e-6 degrees. */
export function sameGrid(a: Grid, b: Grid): boolean {
  const eq = (x: Float64Array, y: Float64Array) =>
    x.length === y.length && x.every((v, i) => Math.abs(v - y[i]) < 1e-6);
  return eq(a.lats, b.lats) && eq(a.lons, b.lons);
}

/** Describe a grid for error messages. */
export function describeGrid(g: Grid): string {
  return `${g.lats.length}×${g.lons.length} points, lat ${g.lats[0]}..${g.lats.at(-1)}, lon ${g.lons[0]}..${
    g.lons.at(-1)
  }`;
}

/** Copy one source plane (nlat × nlon, source order) into store order. */
export function remapPlane(
  src: Float32Array,
  srcOffset: number,
  grid: Grid,
  dst: Float32Array,
  dstOffset: number,
): void {
  const nlat = grid.latPerm.length, nlon = grid.lonPerm.length;
  const lp = grid.lonPerm;
  // Common case: the longitude permutation is a rotation (−180..180 → 0..360) or identity.
  const k = lp[0];
  let rotation = true;
  for (let j = 0; j < nlon; j++) {
    if (lp[j] !== (j + k) % nlon) {
      rotation = false;
      break;
    }
  }
  for (let i = 0; i < nlat; i++) {
    const s = srcOffset + grid.latPerm[i] * nlon;
    const d = dstOffset + i * nlon;
    if (rotation) {
      dst.set(src.subarray(s + k, s + nlon), d);
      if (k > 0) dst.set(src.subarray(s, s + k), d + nlon - k);
    } else {
      for (let j = 0; j < nlon; j++) dst[d + j] = src[s + lp[j]];
    }
  }
}
