/**
 * Spherical geometry for meshes: centroids and areas computed with 3-D unit
 * vectors (safe across the date line and at the poles), and the rotation
 * between a rotated model frame and geographic coordinates.
 *
 * @module
 */

const RAD = Math.PI / 180;

/** FESOM's Earth radius in metres (`r_earth`). */
export const EARTH_RADIUS_M = 6367500;

function unit(lonDeg: number, latDeg: number): [number, number, number] {
  const lo = lonDeg * RAD, la = latDeg * RAD;
  return [Math.cos(la) * Math.cos(lo), Math.cos(la) * Math.sin(lo), Math.sin(la)];
}

function toLonLat(x: number, y: number, z: number): [number, number] {
  const r = Math.hypot(x, y, z);
  return [Math.atan2(y, x) / RAD, Math.asin(Math.max(-1, Math.min(1, z / r))) / RAD];
}

/** Centroids of triangles (normalised mean of the vertices' unit vectors), lon in −180..180. */
export function triangleCentroids(
  lon: ArrayLike<number>,
  lat: ArrayLike<number>,
  triangles: Int32Array,
): { lon: Float64Array; lat: Float64Array } {
  const n = triangles.length / 3;
  const outLon = new Float64Array(n), outLat = new Float64Array(n);
  for (let e = 0; e < n; e++) {
    let x = 0, y = 0, z = 0;
    for (let k = 0; k < 3; k++) {
      const v = triangles[3 * e + k];
      const u = unit(lon[v], lat[v]);
      x += u[0];
      y += u[1];
      z += u[2];
    }
    [outLon[e], outLat[e]] = toLonLat(x, y, z);
  }
  return { lon: outLon, lat: outLat };
}

/** Areas of spherical triangles in m² (Van Oosterom–Strackee solid angle). */
export function triangleAreas(
  lon: ArrayLike<number>,
  lat: ArrayLike<number>,
  triangles: Int32Array,
  radius = EARTH_RADIUS_M,
): Float64Array {
  const n = triangles.length / 3;
  const out = new Float64Array(n);
  for (let e = 0; e < n; e++) {
    const a = unit(lon[triangles[3 * e]], lat[triangles[3 * e]]);
    const b = unit(lon[triangles[3 * e + 1]], lat[triangles[3 * e + 1]]);
    const c = unit(lon[triangles[3 * e + 2]], lat[triangles[3 * e + 2]]);
    const triple = a[0] * (b[1] * c[2] - b[2] * c[1]) - a[1] * (b[0] * c[2] - b[2] * c[0]) +
      a[2] * (b[0] * c[1] - b[1] * c[0]);
    const dot = 1 + (a[0] * b[0] + a[1] * b[1] + a[2] * b[2]) + (b[0] * c[0] + b[1] * c[1] + b[2] * c[2]) +
      (c[0] * a[0] + c[1] * a[1] + c[2] * a[2]);
    out[e] = Math.abs(2 * Math.atan2(triple, dot)) * radius * radius;
  }
  return out;
}

/** Node control-volume areas: a third of each adjacent triangle (FESOM's median dual). */
export function nodeAreas(nodes: number, triangles: Int32Array, elemArea: Float64Array): Float64Array {
  const out = new Float64Array(nodes);
  for (let e = 0; e < elemArea.length; e++) {
    for (let k = 0; k < 3; k++) out[triangles[3 * e + k]] += elemArea[e] / 3;
  }
  return out;
}

/** Rotation matrix of the Euler angles (z-x-z, degrees) FESOM uses for its model frame. */
export function eulerMatrix(alphaDeg: number, betaDeg: number, gammaDeg: number): number[][] {
  const al = alphaDeg * RAD, be = betaDeg * RAD, ga = gammaDeg * RAD;
  const [ca, sa, cb, sb, cg, sg] = [Math.cos(al), Math.sin(al), Math.cos(be), Math.sin(be), Math.cos(ga), Math.sin(ga)];
  return [
    [cg * ca - sg * cb * sa, cg * sa + sg * cb * ca, sg * sb],
    [-sg * ca - cg * cb * sa, -sg * sa + cg * cb * ca, cg * sb],
    [sb * sa, -sb * ca, cb],
  ];
}

/** Geographic → rotated coordinates (degrees). */
export function geoToRotated(m: number[][], lonDeg: number, latDeg: number): [number, number] {
  const [x, y, z] = unit(lonDeg, latDeg);
  return toLonLat(
    m[0][0] * x + m[0][1] * y + m[0][2] * z,
    m[1][0] * x + m[1][1] * y + m[1][2] * z,
    m[2][0] * x + m[2][1] * y + m[2][2] * z,
  );
}

/**
 * Rotate vector components (u eastward, v northward) given in the rotated
 * model frame back to geographic, in place, at points with geographic
 * coordinates `lon`, `lat` (degrees).
 */
export function rotateVectorsToGeo(
  m: number[][],
  lon: ArrayLike<number>,
  lat: ArrayLike<number>,
  u: Float32Array,
  v: Float32Array,
): void {
  for (let i = 0; i < u.length; i++) {
    if (u[i] !== u[i] || v[i] !== v[i]) continue;
    const [rlon, rlat] = geoToRotated(m, lon[i], lat[i]);
    const rl = rlon * RAD, rp = rlat * RAD;
    // Rotated-frame vector in Cartesian coordinates of the rotated frame.
    const vx = -u[i] * Math.sin(rl) - v[i] * Math.sin(rp) * Math.cos(rl);
    const vy = u[i] * Math.cos(rl) - v[i] * Math.sin(rp) * Math.sin(rl);
    const vz = v[i] * Math.cos(rp);
    // Back to geographic Cartesian: the transpose of the rotation.
    const gx = m[0][0] * vx + m[1][0] * vy + m[2][0] * vz;
    const gy = m[0][1] * vx + m[1][1] * vy + m[2][1] * vz;
    const gz = m[0][2] * vx + m[1][2] * vy + m[2][2] * vz;
    const gl = lon[i] * RAD, gp = lat[i] * RAD;
    u[i] = -gx * Math.sin(gl) + gy * Math.cos(gl);
    v[i] = -gx * Math.sin(gp) * Math.cos(gl) - gy * Math.sin(gp) * Math.sin(gl) + gz * Math.cos(gp);
  }
}
