/**
 * The GRIB reader: indexes and values of GRIB1 and GRIB2 files written by
 * ecCodes, CDO and NCEP g2c equal ecCodes' decode; CCSDS packing and
 * truncated files are refused clearly; GRIB and netCDF inputs convert alike.
 *
 * @module
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { decodeMessage, FileReader, gridPoints, scanGrib } from "../../../../converters/formats/grib/message.ts";
import { convertEra5 } from "../../../../converters/era5/convert.ts";
import { ArrayReader } from "../../../../zarr/reader.ts";
import { gribFiles, PYTHON, ROOT, run, runTask } from "../../../_helpers/common.ts";

interface EcMeta {
  shortName: string;
  cfVarName: string;
  level: number;
  typeOfLevel: string;
  valid: string;
  packing: string;
  n: number;
}

for (
  const file of [
    "pl.grib1",
    "pl.grib2",
    "complex.grib2",
    "complex1.grib2",
    "sfc_bitmap.grib1",
    "sfc_bitmap.grib2",
    "sn.grib2",
    "reduced.grib2",
    "spatial.grib2",
    "u_cdo.grib1",
  ]
) {
  Deno.test(`GRIB ${file}: index and values equal ecCodes' decode`, async () => {
    const dir = await gribFiles();
    const path = join(dir, file);
    const bin = join(dir, `${file}.bin`);
    const r = await run(PYTHON, [`${ROOT}tests/oracles/grib_values.py`, path, bin]);
    assert.equal(r.code, 0, r.stderr);
    const meta: EcMeta[] = JSON.parse(r.stdout);
    const ref = new Float64Array((await Deno.readFile(bin)).buffer);
    const reader = new FileReader(path);
    try {
      const msgs = scanGrib(reader);
      assert.equal(msgs.length, meta.length);
      let off = 0;
      for (const [i, m] of msgs.entries()) {
        const e = meta[i];
        assert.equal(m.param.shortName, e.shortName, `message ${i} shortName`);
        assert.equal(m.param.cfName, e.cfVarName, `message ${i} cfgrib name`);
        assert.equal(m.levelType, e.typeOfLevel);
        assert.equal(m.level, e.level);
        assert.equal(m.packing, e.packing);
        assert.equal(new Date(m.validTime * 1000).toISOString().replace(/[-:T]/g, "").slice(0, 12), e.valid);
        const values = decodeMessage(reader, m);
        const { lat, lon } = gridPoints(m.grid);
        assert.equal(values.length, e.n);
        let worst = 0;
        for (let k = 0; k < e.n; k++) {
          const want = ref[off + k];
          assert.equal(Number.isNaN(values[k]), Number.isNaN(want), `missing point ${k}`);
          if (!Number.isNaN(want)) worst = Math.max(worst, Math.abs(values[k] - want) / Math.max(1, Math.abs(want)));
          assert.ok(Math.abs(lat[k] - ref[off + e.n + k]) < 1e-6, `latitude ${k}`);
          assert.ok(Math.abs((((lon[k] - ref[off + 2 * e.n + k]) % 360) + 540) % 360 - 180) < 1e-6, `longitude ${k}`);
        }
        // Within float32 rounding of the same packed integers.
        assert.ok(worst < 2e-7, `message ${i}: relative difference ${worst}`);
        off += 3 * e.n;
      }
    } finally {
      reader.close();
    }
  });
}

Deno.test("GRIB: CCSDS packing is refused with the conversion command, before any work", async () => {
  const dir = await gribFiles();
  const out = join(dir, "ccsds.zarr");
  const r = await runTask("convert", ["era5", "-q", "--out", out, join(dir, "ccsds.grib2")]);
  assert.notEqual(r.code, 0);
  assert.match(
    r.stderr,
    /ccsds\.grib2: t is packed with grid_ccsds, which this reader does not decode; convert it with: grib_set -r -s packingType=grid_simple/,
  );
});

Deno.test("GRIB: a truncated file is reported with the message number", async () => {
  const dir = await gribFiles();
  const bytes = await Deno.readFile(join(dir, "pl.grib2"));
  const cut = join(dir, "cut.grib2");
  await Deno.writeFile(cut, bytes.subarray(0, Math.floor(bytes.length * 0.6)));
  const r = await runTask("convert", ["era5", "-q", "--out", join(dir, "cut.zarr"), cut]);
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /cut\.grib2: message \d+ at byte \d+: truncated/);
});

Deno.test("convert era5 takes GRIB1, GRIB2 and mixed GRIB + netCDF inputs alike", async () => {
  const dir = await gribFiles();
  const one = await convertEra5({ inputs: [join(dir, "pl.grib1")], out: join(dir, "g1.zarr"), workers: 0 });
  const two = await convertEra5({ inputs: [join(dir, "pl.grib2")], out: join(dir, "g2.zarr"), workers: 0 });
  const mixed = await convertEra5({
    inputs: [join(dir, "t_only.grib2"), join(dir, "u_cdo.nc")],
    out: join(dir, "mixed.zarr"),
    workers: 0,
  });
  const ref = new ArrayReader(one.out, "data").read();
  assert.deepEqual(new ArrayReader(two.out, "data").read(), ref);
  assert.deepEqual(new ArrayReader(mixed.out, "data").read(), ref);
  assert.deepEqual(one.plan.levels, [500, 850]);
  assert.equal(one.plan.levelType, "pressure");
  // Bitmapped sst: NaN where ecCodes has missing values.
  const sfc = await convertEra5({ inputs: [join(dir, "sfc_bitmap.grib1")], out: join(dir, "s.zarr"), workers: 0 });
  assert.deepEqual(sfc.plan.fieldsSfc.map((f) => f.name), ["sst", "t2m"]);
  const sst = new ArrayReader(sfc.out, "data_sfc").read([[0, 1], [0, 1], [0, 91], [0, 180]]) as Float32Array;
  assert.ok(sst.some((v) => Number.isNaN(v)) && sst.some((v) => !Number.isNaN(v)));
});
