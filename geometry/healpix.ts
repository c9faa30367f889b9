/**
 * HEALPix cell ids in the NESTED scheme (Górski et al. 2005), for bucketing
 * unstructured points without regridding. Order k has nside = 2^k and
 * 12·4^k cells; the id of a point at order k is its id at order k+1 >> 2.
 *
 * @module
 */

/** Interleave the bits of x (even positions) and y (odd positions). */
function interleave(x: number, y: number): number {
  let out = 0;
  for (let b = 0; b < 16; b++) {
    out += (((x >>> b) & 1) + 2 * ((y >>> b) & 1)) * 4 ** b;
  }
  return out;
}

/**
 * NESTED cell id at `order` (0..15) of a point given in degrees
 * (longitude any range, latitude −90..90).
 */
export function healpixNested(order: number, lonDeg: number, latDeg: number): number {
  const nside = 2 ** order;
  // As healpy: z = cos(colatitude), so points on cell boundaries fall the same way.
  const z = Math.cos((90 - latDeg) * Math.PI / 180);
  const za = Math.abs(z);
  let phi = ((lonDeg % 360) + 360) % 360 * Math.PI / 180;
  if (phi >= 2 * Math.PI) phi = 0;
  const tt = phi / (Math.PI / 2); // in [0, 4)
  let face: number, ix: number, iy: number;
  if (za <= 2 / 3) {
    // Equatorial region.
    const t1 = nside * (0.5 + tt);
    const t2 = nside * z * 0.75;
    const jp = Math.floor(t1 - t2); // ascending edge line
    const jm = Math.floor(t1 + t2); // descending edge line
    const ifp = Math.floor(jp / nside), ifm = Math.floor(jm / nside);
    face = ifp === ifm ? (ifp % 4) + 4 : ifp < ifm ? ifp % 4 : (ifm % 4) + 8;
    ix = ((jm % nside) + nside) % nside;
    iy = nside - (((jp % nside) + nside) % nside) - 1;
  } else {
    // Polar caps.
    const ntt = Math.min(3, Math.floor(tt));
    const tp = tt - ntt;
    const tmp = nside * Math.sqrt(3 * (1 - za));
    const jp = Math.min(nside - 1, Math.floor(tp * tmp));
    const jm = Math.min(nside - 1, Math.floor((1 - tp) * tmp));
    if (z >= 0) {
      face = ntt;
      ix = nside - jm - 1;
      iy = nside - jp - 1;
    } else {
      face = ntt + 8;
      ix = jp;
      iy = jm;
    }
  }
  return face * nside * nside + interleave(ix, iy);
}

/** Cell ids of many points at several orders: result[o][i] for orders[o]. */
export function healpixIds(orders: number[], lon: ArrayLike<number>, lat: ArrayLike<number>): Int32Array[] {
  return orders.map((order) => {
    const out = new Int32Array(lon.length);
    for (let i = 0; i < lon.length; i++) out[i] = healpixNested(order, lon[i], lat[i]);
    return out;
  });
}
