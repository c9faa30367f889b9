/**
 * The FESOM converter: pi-mesh output in the 2.0/2.1 and 2.5+ layouts with
 * ASCII meshes or mesh diags, values, wet layers, fill values, calendars
 * without leap years, several months per file, bad inputs, the CLI, and the
 * rotation of vectors to geographic axes.
 *
 * @module
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { convertFesom } from "../../../converters/fesom/convert.ts";
import { ArrayReader, readRootAttributes } from "../../../zarr/reader.ts";
import { eulerMatrix, rotateVectorsToGeo } from "../../../geometry/sphere.ts";
import { exists, PYTHON, python, ROOT, run, runTask, tempDir } from "../../_helpers/common.ts";

const MESH = `${ROOT}samples/fesom/pi-mesh`;
const OUT = `${ROOT}samples/fesom/pi-output`;
const DIAG = `${OUT}/fesom.mesh.diag.nc`;
const FILES = ["sst", "temp", "v"].map((v) => `${OUT}/${v}.fesom.1985.nc`);

interface FesomCheck {
  values: Record<string, { max_abs_diff_wet: number; dry_all_nan: boolean; wet_none_nan: boolean; zeros_kept: number }>;
  wet_count_equal?: boolean;
  triangles_equal: boolean;
  healpix_equal: boolean;
  centroid_max_diff: number;
  lon_range: [number, number];
  global_rel?: number;
  time: string[];
  time_stamp: string[];
}

let casesDir: Promise<string> | undefined;
function fesomCases(): Promise<string> {
  casesDir ??= (async () => {
    const dir = await tempDir();
    const r = await run(PYTHON, [`${ROOT}tests/oracles/fesom_cases.py`, OUT, MESH, dir]);
    if (r.code !== 0) throw new Error(r.stderr);
    return dir;
  })();
  return casesDir;
}

Deno.test("FESOM pi output (2.5+ layout) with the ASCII mesh: values, wet layers, triangles, HEALPix, xarray", async () => {
  const dir = await tempDir();
  const s = await convertFesom({ mesh: MESH, inputs: FILES, out: join(dir, "pi.zarr") });
  assert.deepEqual(s.arrays, { data_sfc: ["sst"], data: ["temp"], data_elem: ["v"] });
  const c = await python<FesomCheck>("check_fesom_store.py", [s.out, s.norm, MESH, ...FILES]);
  for (const [name, v] of Object.entries(c.values)) {
    assert.equal(v.max_abs_diff_wet, 0, `${name} wet values equal netCDF-C's`);
    assert.ok(v.dry_all_nan, `${name} dry cells are NaN`);
    assert.ok(v.wet_none_nan, `${name} wet cells are not NaN`);
  }
  assert.equal(c.wet_count_equal, true, "wet layers per node = nlevels − 1");
  assert.equal(c.triangles_equal, true, "triangles = elem2d.out − 1");
  assert.equal(c.healpix_equal, true, "HEALPix nested ids = healpy's");
  assert.ok(c.centroid_max_diff < 1e-9);
  assert.ok(c.lon_range[0] >= -180 && c.lon_range[1] <= 180);
  assert.ok(c.global_rel! < 1e-6, `global coefficients ${c.global_rel}`);
  // January mean: stamped 360 s before the end of January; stored as the period end.
  assert.deepEqual(c.time, ["1985-02-01T00:00:00"]);
  assert.deepEqual(c.time_stamp, ["1985-01-31T23:54:00"]);
  const attrs = readRootAttributes(s.out);
  assert.equal(attrs.grid, "unstructured");
  assert.equal(attrs.vector_frame, "geographic");
  assert.deepEqual(attrs.fields_elem, ["v"]);
});

Deno.test("FESOM: the mesh diag and the ASCII mesh give the same store data", async () => {
  const dir = await tempDir();
  const a = await convertFesom({ mesh: MESH, inputs: FILES, out: join(dir, "a.zarr") });
  const b = await convertFesom({ mesh: DIAG, inputs: FILES, out: join(dir, "b.zarr") });
  for (const name of ["data", "data_sfc", "data_elem", "triangles", "nlevels_node", "nlevels_elem", "wet_node"]) {
    assert.deepEqual(new ArrayReader(b.out, name).read(), new ArrayReader(a.out, name).read(), name);
  }
  assert.equal((readRootAttributes(b.out).mesh as { source: string }).source, "diag");
});

Deno.test("FESOM 2.0/2.1 layout (time, nod2, nz1) with a legacy mesh diag gives the same store", async () => {
  const dir = await tempDir();
  const cases = await fesomCases();
  const ref = await convertFesom({ mesh: MESH, inputs: FILES, out: join(dir, "ref.zarr") });
  const legacyFiles = ["sst", "temp", "v"].map((v) => `${cases}/legacy/${v}.fesom.1985.nc`);
  const old = await convertFesom({
    mesh: `${cases}/legacy/fesom.mesh.diag.nc`,
    inputs: legacyFiles,
    out: join(dir, "old.zarr"),
  });
  for (const name of ["data", "data_sfc", "data_elem", "triangles", "wet_node", "wet_elem", "level", "time"]) {
    assert.deepEqual(new ArrayReader(old.out, name).read(), new ArrayReader(ref.out, name).read(), name);
  }
});

Deno.test("FESOM 2.7.x fill values: dry cells NaN, real zeros (sea ice) stay zeros", async () => {
  const dir = await tempDir();
  const cases = await fesomCases();
  const files = [`${cases}/fill27/a_ice.fesom.1985.nc`, `${cases}/fill27/temp.fesom.1985.nc`];
  const s = await convertFesom({ mesh: MESH, inputs: files, out: join(dir, "f.zarr") });
  const c = await python<FesomCheck>("check_fesom_store.py", [s.out, s.norm, MESH, ...files]);
  assert.equal(c.values.temp.max_abs_diff_wet, 0);
  assert.ok(c.values.temp.dry_all_nan);
  assert.ok(c.values.a_ice.zeros_kept > 1000, `zeros kept: ${c.values.a_ice.zeros_kept}`);
  assert.equal(c.values.a_ice.max_abs_diff_wet, 0);
  assert.ok(c.values.a_ice.wet_none_nan);
});

Deno.test("FESOM without leap years: a March mean of 1988 ends on 1 April, not a day early", async () => {
  const dir = await tempDir();
  const cases = await fesomCases();
  const s = await convertFesom({ mesh: MESH, inputs: [`${cases}/noleap/sst.fesom.1988.nc`], out: join(dir, "n.zarr") });
  const t = new ArrayReader(s.out, "time").read() as BigInt64Array;
  const stamp = new ArrayReader(s.out, "time_stamp").read() as BigInt64Array;
  assert.equal(new Date(Number(t[0]) * 1000).toISOString(), "1988-04-01T00:00:00.000Z");
  assert.equal(new Date(Number(stamp[0]) * 1000).toISOString(), "1988-03-31T23:54:00.000Z");
  assert.equal(readRootAttributes(s.out).calendar, "noleap");
});

Deno.test("FESOM: two months in one file give two time steps and two coefficient entries", async () => {
  const dir = await tempDir();
  const cases = await fesomCases();
  const s = await convertFesom({
    mesh: MESH,
    inputs: [`${cases}/twomonths/sst.fesom.1985.nc`],
    out: join(dir, "t.zarr"),
  });
  const t = new ArrayReader(s.out, "time").read() as BigInt64Array;
  assert.deepEqual([...t].map((x) => new Date(Number(x) * 1000).toISOString().slice(0, 10)), [
    "1985-02-01",
    "1985-03-01",
  ]);
  const g = new ArrayReader(s.norm, "global_norm_sfc").read() as Float32Array; // (month, 2, field)
  assert.equal(g.length, 4);
  assert.ok(Math.abs(g[2] - g[0] - 1) < 1e-4, `February mean = January mean + 1: ${g[0]}, ${g[2]}`);
  assert.ok(Math.abs(g[3] - g[1]) < 1e-4, "same spread");
});

Deno.test("FESOM bad input: another mesh's output, a wrong count in nod2d.out, a missing mesh", async () => {
  const dir = await tempDir();
  const cases = await fesomCases();
  const out = join(dir, "bad.zarr");
  let r = await runTask("convert", ["fesom", "--mesh", MESH, "--out", out, `${cases}/bad/sst.other.1985.nc`]);
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /sst\.other\.1985\.nc: output from a different mesh: nod2 = 100, the mesh has 3140 nodes/);
  r = await runTask("convert", ["fesom", "--mesh", `${cases}/bad/mesh`, "--out", out, FILES[0]]);
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /nod2d\.out: the first line says 3141 nodes, but the file holds 3140\.00 lines/);
  r = await runTask("convert", ["fesom", "--mesh", join(dir, "nowhere"), "--out", out, FILES[0]]);
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /nowhere: mesh not found/);
  assert.ok(!exists(out) && !exists(`${out}.partial`));
});

Deno.test("FESOM CLI and inspect", async () => {
  const dir = await tempDir();
  const out = join(dir, "cli.zarr");
  const r = await runTask("convert", ["fesom", "--mesh", DIAG, "--out", out, ...FILES]);
  assert.equal(r.code, 0, r.stderr);
  const ins = await runTask("inspect", [out]);
  assert.match(ins.stdout, /grid +unstructured fesom2: 3140 nodes, 5839 elements \(mesh diag/);
  assert.match(ins.stdout, /data_elem +\(time, field_elem, level, elem\) shape \[1,1,47,5839\]/);
  assert.match(ins.stdout, /norm set .*cli\.norm\.zarr: monthly, 1 months/);
});

Deno.test("vector rotation: identity for zero Euler angles, lengths preserved for FESOM's", () => {
  const lon = [0, 45, -120, 170], lat = [0, 30, -60, 80];
  const u = Float32Array.from([1, -2, 0.5, 3]), v = Float32Array.from([0, 1, -1, 2]);
  const u0 = u.slice(), v0 = v.slice();
  rotateVectorsToGeo(eulerMatrix(0, 0, 0), lon, lat, u, v);
  u.forEach((x, i) => assert.ok(Math.abs(x - u0[i]) < 1e-5 && Math.abs(v[i] - v0[i]) < 1e-5));
  rotateVectorsToGeo(eulerMatrix(50, 15, -90), lon, lat, u, v);
  u.forEach((x, i) => assert.ok(Math.abs(Math.hypot(x, v[i]) - Math.hypot(u0[i], v0[i])) < 1e-4));
  assert.ok(u.some((x, i) => Math.abs(x - u0[i]) > 0.01), "the rotation changes the components");
});
