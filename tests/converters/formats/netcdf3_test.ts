/**
 * The netCDF3 one-pass decode of packed shorts (readDecoded) against
 * netCDF-C + NumPy's unpacking and against read + unpackInto, over all
 * 65536 short values, fill and missing values, and a record (unlimited)
 * variable read in slabs.
 *
 * @module
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import "../../../converters/formats/netcdf3.ts";
import { openDataset } from "../../../converters/formats/registry.ts";
import { packingOf, unpackInto } from "../../../converters/cf.ts";
import { PYTHON, run, SAMPLE, tempDir } from "../../_helpers/common.ts";

const WRITE = `
import sys, netCDF4, numpy as np
path, ref = sys.argv[1], sys.argv[2]
ds = netCDF4.Dataset(path, "w", format="NETCDF3_64BIT_OFFSET")
ds.createDimension("time", None)
ds.createDimension("y", 256)
ds.createDimension("x", 256)
v = ds.createVariable("v", "i2", ("time", "y", "x"), fill_value=np.int16(-32767))
v.scale_factor, v.add_offset = 0.0019837251, 265.1234567
v.missing_value = np.int16(-32768)
v.set_auto_maskandscale(False)
raw = np.arange(-32768, 32768, dtype=np.int16).reshape(256, 256)
for t in range(3):
    v[t] = np.roll(raw, t * 1000)
ds.close()
ds = netCDF4.Dataset(path)
w = ds["v"]
w.set_auto_mask(False)
w.set_auto_scale(False)
r = w[:].astype(np.float64)
out = (r * w.scale_factor + w.add_offset).astype(np.float32)
out[(r == -32767) | (r == -32768)] = np.nan
out.astype("<f4").tofile(ref)
`;

Deno.test("netCDF3: packed shorts decoded in one pass equal netCDF-C + NumPy's unpacking for all 65536 values", async () => {
  const dir = await tempDir();
  const path = join(dir, "all_shorts.nc"), ref = join(dir, "ref.f4");
  const r = await run(PYTHON, ["-c", WRITE, path, ref]);
  assert.equal(r.code, 0, r.stderr);
  const expected = new Float32Array(Deno.readFileSync(ref).buffer);
  const ds = await openDataset(path);
  const p = packingOf(ds.variables.get("v")!.attrs);
  assert.equal(p.fills.length, 2);
  const out = new Float32Array(3 * 65536);
  assert.equal(ds.readDecoded!("v", [0, 0, 0], [3, 256, 256], p, out), true);
  let nan = 0;
  for (let i = 0; i < out.length; i++) {
    if (Number.isNaN(expected[i])) (assert.ok(Number.isNaN(out[i]), `value ${i}`), nan++);
    else assert.equal(out[i], expected[i], `value ${i}`);
  }
  assert.equal(nan, 6);
  // A slab in the middle (one record, a window) equals the same window of the whole.
  const part = new Float32Array(2 * 10 * 7);
  assert.equal(ds.readDecoded!("v", [1, 100, 33], [2, 10, 7], p, part), true);
  for (let t = 0; t < 2; t++) {
    for (let y = 0; y < 10; y++) {
      for (let x = 0; x < 7; x++) {
        const a = part[(t * 10 + y) * 7 + x], b = expected[((1 + t) * 256 + 100 + y) * 256 + 33 + x];
        assert.ok(a === b || (Number.isNaN(a) && Number.isNaN(b)));
      }
    }
  }
  ds.close();
});

Deno.test("netCDF3: readDecoded equals read + unpackInto on the bundled old-CDS sample", async () => {
  let checked = 0;
  for (const e of Deno.readDirSync(SAMPLE.legacy)) {
    const ds = await openDataset(join(SAMPLE.legacy, e.name));
    for (const v of ds.variables.values()) {
      if (v.shape.length < 3) continue;
      const p = packingOf(v.attrs);
      const start = v.shape.map(() => 0);
      const n = v.shape.reduce((a, b) => a * b, 1);
      const fast = new Float32Array(n), slow = new Float32Array(n);
      if (!ds.readDecoded!(v.name, start, v.shape, p, fast)) continue;
      unpackInto(ds.read(v.name, start, v.shape), p, slow);
      assert.deepEqual(new Uint8Array(fast.buffer), new Uint8Array(slow.buffer), `${e.name} ${v.name}`);
      checked++;
    }
    ds.close();
  }
  assert.ok(checked >= 2, `only ${checked} packed variables`);
});
