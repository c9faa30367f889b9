/**
 * FESOM2 meshes: the ASCII mesh directory (`nod2d.out`, `elem2d.out`,
 * `aux3d.out`, optional `nlvls.out`/`elvls.out`) and the mesh diagnostics
 * file `fesom.mesh.diag.nc` in both generations (UGRID `face_nodes`,
 * `lon`/`lat`, `nz` positive down, −999 fill; legacy `elements`/`elem`,
 * `nodes(n2, nod2)`, negative `nz`).
 *
 * @module
 */
import { join } from "node:path";
import { openDataset } from "../formats/registry.ts";
import { InputError } from "../../errors.ts";
import { EARTH_RADIUS_M, nodeAreas, triangleAreas, triangleCentroids } from "../../geometry/sphere.ts";

/** A FESOM2 mesh with everything the store keeps. */
export interface FesomMesh {
  /** Where it was read from. */
  source: { kind: "ascii" | "diag"; path: string };
  /** Node longitudes, degrees, −180..180. */
  lon: Float64Array;
  /** Node latitudes, degrees. */
  lat: Float64Array;
  /** Triangles, 0-based node indices, 3 per element (as in the source, not reordered). */
  triangles: Int32Array;
  /** Level interface depths, m, positive down (nz). */
  interfaces: Float64Array;
  /** Layer mid-depths, m, positive down (nz1). */
  layers: Float64Array;
  /** Number of levels (interfaces) below each node: wet layers are 0 .. n−2. */
  nlevelsNode: Int32Array;
  /** Number of levels below each element. */
  nlevelsElem: Int32Array;
  /** Whether nlevels came from files (nlvls/elvls or the diag) or were derived. */
  nlevelsSource: string;
  /** Node control-volume area at the surface, m². */
  nodeArea: Float64Array;
  /** Element area, m². */
  elemArea: Float64Array;
  /** Whether the areas come from the model (diag) or were computed here on the sphere. */
  areaSource: string;
  /** Element centroids (lon −180..180, lat), computed on the sphere. */
  centroidLon: Float64Array;
  /** Element centroid latitudes. */
  centroidLat: Float64Array;
}

/** Parse all whitespace-separated numbers of a text file (fast, for meshes with millions of nodes). */
export function readNumbers(path: string): Float64Array {
  let bytes: Uint8Array;
  try {
    bytes = Deno.readFileSync(path);
  } catch (e) {
    throw new InputError(path, e instanceof Deno.errors.NotFound ? "mesh file not found" : String(e));
  }
  const out: number[] = [];
  let i = 0;
  const n = bytes.length;
  while (i < n) {
    let c = bytes[i];
    if (c <= 32) {
      i++;
      continue;
    }
    const start = i;
    while (i < n && bytes[i] > 32) i++;
    // Fast path for plain integers and decimals; anything else goes to Number().
    let sign = 1, j = start, value = 0, ok = true, frac = 0, scale = 1;
    c = bytes[j];
    if (c === 45) (sign = -1, j++);
    else if (c === 43) j++;
    let digits = 0;
    for (; j < i; j++) {
      c = bytes[j];
      if (c >= 48 && c <= 57) {
        if (frac) (scale /= 10, value += (c - 48) * scale);
        else value = value * 10 + (c - 48);
        digits++;
      } else if (c === 46 && !frac) frac = 1;
      else {
        ok = false;
        break;
      }
    }
    if (ok && digits > 0) out.push(sign * value);
    else {
      const text = new TextDecoder().decode(bytes.subarray(start, i));
      const v = Number(text.replace(/[dD]/, "e"));
      if (!Number.isFinite(v)) throw new InputError(path, `"${text}" is not a number`);
      out.push(v);
    }
  }
  return Float64Array.from(out);
}

function countError(path: string, what: string, header: number, found: string): InputError {
  return new InputError(path, `the first line says ${header} ${what}, but ${found}`);
}

/**
 * Refuse a triangle that repeats a node (a degenerate triangle has no
 * area and no centroid of its own): the error names the file, the
 * triangle and the node, counted from `base` as in the file.
 */
function assertProperTriangles(triangles: Int32Array, path: string, base: number): void {
  for (let e = 0; e < triangles.length / 3; e++) {
    const [a, b, c] = [triangles[3 * e], triangles[3 * e + 1], triangles[3 * e + 2]];
    if (a === b || a === c || b === c) {
      const repeated = a === b || a === c ? a : b;
      throw new InputError(
        path,
        `triangle ${e + 1} (nodes ${a + base}, ${b + base}, ${c + base}) repeats node ${repeated + base}`,
      );
    }
  }
}

/** Read the ASCII mesh in `dir`. */
export function readAsciiMesh(dir: string): FesomMesh {
  const nodPath = join(dir, "nod2d.out"), elemPath = join(dir, "elem2d.out"), auxPath = join(dir, "aux3d.out");
  for (const p of [nodPath, elemPath, auxPath]) {
    try {
      Deno.statSync(p);
    } catch {
      throw new InputError(p, "mesh file not found (a FESOM mesh needs nod2d.out, elem2d.out and aux3d.out)");
    }
  }
  const nod = readNumbers(nodPath);
  const nn = nod[0];
  if ((nod.length - 1) % 4 !== 0 || (nod.length - 1) / 4 !== nn) {
    throw countError(
      nodPath,
      "nodes",
      nn,
      `the file holds ${((nod.length - 1) / 4).toFixed(2)} lines of "index lon lat flag"`,
    );
  }
  const lon = new Float64Array(nn), lat = new Float64Array(nn);
  for (let i = 0; i < nn; i++) {
    if (nod[1 + 4 * i] !== i + 1) throw new InputError(nodPath, `node line ${i + 1} has index ${nod[1 + 4 * i]}`);
    lon[i] = wrapLon(nod[2 + 4 * i]);
    lat[i] = nod[3 + 4 * i];
  }
  const el = readNumbers(elemPath);
  const ne = el[0];
  if ((el.length - 1) / 3 !== ne) {
    throw countError(
      elemPath,
      "triangles",
      ne,
      `the file holds ${((el.length - 1) / 3).toFixed(2)} lines of 3 node indices`,
    );
  }
  const triangles = new Int32Array(3 * ne);
  for (let k = 0; k < 3 * ne; k++) {
    const v = el[1 + k] - 1;
    if (v < 0 || v >= nn) {
      throw new InputError(elemPath, `triangle ${Math.floor(k / 3) + 1} refers to node ${v + 1} of ${nn}`);
    }
    triangles[k] = v;
  }
  assertProperTriangles(triangles, elemPath, 1);
  const aux = readNumbers(auxPath);
  const nz = aux[0];
  if (aux.length !== 1 + nz + nn) {
    throw countError(
      auxPath,
      "level interfaces",
      nz,
      `with ${nn} nodes ${1 + nz + nn} values are expected and the file holds ${aux.length}`,
    );
  }
  const interfaces = Float64Array.from(aux.subarray(1, 1 + nz), Math.abs);
  const bottom = Float64Array.from(aux.subarray(1 + nz), Math.abs);
  let nlevelsNode: Int32Array, nlevelsElem: Int32Array, nlevelsSource: string;
  const nlvls = optionalInts(join(dir, "nlvls.out"), nn, nz);
  const elvls = optionalInts(join(dir, "elvls.out"), ne, nz);
  if (nlvls && elvls) {
    nlevelsNode = nlvls;
    nlevelsElem = elvls;
    nlevelsSource = "nlvls.out, elvls.out";
  } else {
    // Without the partitioner's files: the interfaces down to the bottom depth.
    nlevelsNode = Int32Array.from(bottom, (d) => {
      let k = 0;
      while (k < nz && interfaces[k] < d - 1e-6) k++;
      return Math.min(nz, k + 1);
    });
    nlevelsElem = new Int32Array(ne);
    for (let e = 0; e < ne; e++) {
      const [a, b, c] = [triangles[3 * e], triangles[3 * e + 1], triangles[3 * e + 2]];
      nlevelsElem[e] = Math.min(nlevelsNode[a], nlevelsNode[b], nlevelsNode[c]);
    }
    nlevelsSource = "derived from aux3d.out bottom depths (nlvls.out/elvls.out absent)";
  }
  return finish({ kind: "ascii", path: dir }, lon, lat, triangles, interfaces, nlevelsNode, nlevelsElem, nlevelsSource);
}

/** Level counts per point from nlvls.out/elvls.out: whole numbers within the mesh's `levels` interfaces. */
function optionalInts(path: string, expected: number, levels: number): Int32Array | undefined {
  try {
    Deno.statSync(path);
  } catch {
    return undefined;
  }
  const v = readNumbers(path);
  if (v.length !== expected) throw new InputError(path, `holds ${v.length} values, the mesh has ${expected}`);
  const bad = v.findIndex((x) => !Number.isInteger(x) || x < 0 || x > levels);
  if (bad >= 0) {
    throw new InputError(
      path,
      `value ${bad + 1} (line ${bad + 1}) is ${
        v[bad]
      }, outside 0..${levels}: the mesh (aux3d.out) has ${levels} levels`,
    );
  }
  return Int32Array.from(v);
}

function wrapLon(x: number): number {
  const w = ((x + 180) % 360 + 360) % 360 - 180;
  return w === -180 && x > 0 ? 180 : w;
}

function finish(
  source: FesomMesh["source"],
  lon: Float64Array,
  lat: Float64Array,
  triangles: Int32Array,
  interfaces: Float64Array,
  nlevelsNode: Int32Array,
  nlevelsElem: Int32Array,
  nlevelsSource: string,
  areas?: { node: Float64Array; elem: Float64Array },
): FesomMesh {
  const layers = new Float64Array(Math.max(0, interfaces.length - 1));
  for (let k = 0; k < layers.length; k++) layers[k] = (interfaces[k] + interfaces[k + 1]) / 2;
  const c = triangleCentroids(lon, lat, triangles);
  const elemArea = areas?.elem ?? triangleAreas(lon, lat, triangles, EARTH_RADIUS_M);
  const nodeArea = areas?.node ?? nodeAreas(lon.length, triangles, elemArea);
  return {
    source,
    lon,
    lat,
    triangles,
    interfaces,
    layers,
    nlevelsNode,
    nlevelsElem,
    nlevelsSource,
    nodeArea,
    elemArea,
    areaSource: areas ? "mesh diagnostics (nod_area, elem_area)" : `computed on a sphere of radius ${EARTH_RADIUS_M} m`,
    centroidLon: c.lon,
    centroidLat: c.lat,
  };
}

/** Read `fesom.mesh.diag.nc` (UGRID or legacy generation). */
export async function readDiagMesh(path: string): Promise<FesomMesh> {
  const ds = await openDataset(path);
  try {
    const has = (n: string) => ds.variables.has(n);
    const read = (n: string) => ds.readAll(n) as unknown as ArrayLike<number>;
    let lon: Float64Array, lat: Float64Array;
    if (has("lon") && has("lat")) {
      lon = Float64Array.from(read("lon"), Number);
      lat = Float64Array.from(read("lat"), Number);
    } else if (has("nodes")) {
      const v = ds.variables.get("nodes")!;
      const raw = Float64Array.from(read("nodes"), Number);
      const n = v.shape[1];
      lon = raw.slice(0, n);
      lat = raw.slice(n, 2 * n);
      // Some old files hold radians.
      if (lat.every((x) => Math.abs(x) <= Math.PI / 2 + 1e-9) && lon.some((x) => Math.abs(x) > 1e-9)) {
        const maxLon = lon.reduce((a, b) => Math.max(a, Math.abs(b)), 0);
        if (maxLon <= 2 * Math.PI + 1e-9) {
          (lon = lon.map((x) => x * 180 / Math.PI), lat = lat.map((x) => x * 180 / Math.PI));
        }
      }
    } else throw new InputError(path, "no node coordinates (lon/lat or nodes) in the mesh diagnostics");
    lon = lon.map(wrapLon);
    const triName = ["face_nodes", "elements", "elem"].find((n) => has(n) && ds.variables.get(n)!.shape.length === 2);
    if (!triName) throw new InputError(path, "no triangles (face_nodes, elements or elem) in the mesh diagnostics");
    const tv = ds.variables.get(triName)!;
    const rawTri = Int32Array.from(read(triName), Number);
    const threeFirst = tv.shape[0] === 3;
    const ne = threeFirst ? tv.shape[1] : tv.shape[0];
    const startIndex = Number(tv.attrs.start_index ?? 1);
    const triangles = new Int32Array(3 * ne);
    for (let e = 0; e < ne; e++) {
      for (let k = 0; k < 3; k++) {
        const v = (threeFirst ? rawTri[k * ne + e] : rawTri[3 * e + k]) - startIndex;
        if (v < 0 || v >= lon.length) throw new InputError(path, `triangle ${e + 1} refers to node ${v + startIndex}`);
        triangles[3 * e + k] = v;
      }
    }
    assertProperTriangles(triangles, path, startIndex);
    if (!has("nz")) throw new InputError(path, "no nz (level interfaces) in the mesh diagnostics");
    const interfaces = Float64Array.from(read("nz"), (x) => Math.abs(Number(x)));
    for (const n of ["nlevels_nod2D", "nlevels"]) {
      if (!has(n)) throw new InputError(path, `no ${n} in the mesh diagnostics`);
    }
    const nlevelsNode = Int32Array.from(read("nlevels_nod2D"), Number);
    const nlevelsElem = Int32Array.from(read("nlevels"), Number);
    if (nlevelsNode.length !== lon.length || nlevelsElem.length !== ne) {
      throw new InputError(path, "nlevels_nod2D/nlevels sizes do not match the nodes/triangles");
    }
    let areas: { node: Float64Array; elem: Float64Array } | undefined;
    if (has("nod_area") && has("elem_area")) {
      const na = ds.variables.get("nod_area")!;
      const raw = read("nod_area");
      const nodes = lon.length;
      // nod_area(nz, nod2): the surface row; legacy files may hold (nod2, nz).
      const node = na.shape[1] === nodes
        ? Float64Array.from({ length: nodes }, (_, i) => Number(raw[i]))
        : Float64Array.from({ length: nodes }, (_, i) => Number(raw[i * na.shape[1]]));
      areas = { node, elem: Float64Array.from(read("elem_area"), Number) };
    }
    return finish(
      { kind: "diag", path },
      lon,
      lat,
      triangles,
      interfaces,
      nlevelsNode,
      nlevelsElem,
      "mesh diagnostics (nlevels_nod2D, nlevels)",
      areas,
    );
  } finally {
    ds.close();
  }
}

/** Read a mesh from a directory (ASCII) or a mesh diagnostics file. */
export async function readMesh(path: string): Promise<FesomMesh> {
  let st: Deno.FileInfo;
  try {
    st = Deno.statSync(path);
  } catch {
    throw new InputError(path, "mesh not found (give the mesh directory or fesom.mesh.diag.nc)");
  }
  return st.isDirectory ? readAsciiMesh(path) : await readDiagMesh(path);
}
