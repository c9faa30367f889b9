/**
 * The ERA5 converter on the bundled samples: values equal netCDF-C's as read
 * by xarray and zarr-python, AtmoRep's loader requirements, grid
 * orientations, expver merging, calendars, field and level selection, zarr
 * v3, the CLI with inspect, and statistics merged across tasks.
 *
 * @module
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import {
  convertEra5,
  finalizeConversion,
  initConversion,
  runConversionPart,
} from "../../../converters/era5/convert.ts";
import { statisticsTargets } from "../../../converters/era5/merge.ts";
import { expandInputs } from "../../../cli/inputs.ts";
import { ArrayReader, readRootAttributes } from "../../../zarr/reader.ts";
import {
  assertSameStore,
  cases,
  exists,
  PYTHON,
  python,
  run,
  runTask,
  SAMPLE,
  tempDir,
} from "../../_helpers/common.ts";

interface StoreCheck {
  values: Record<string, { max_abs_diff: number; nan_match: boolean; compared: number }>;
  atmorep: Record<string, unknown>;
  stats: { global_rel: number; local_rel: number };
}

const sampleFiles = () => expandInputs([SAMPLE.legacy, SAMPLE.new]);

Deno.test("sample (netCDF3 packed + netCDF4) converts; xarray/zarr-python read exactly the netCDF-C values", async () => {
  const dir = await tempDir();
  const out = join(dir, "era5.zarr");
  const s = await convertEra5({ inputs: sampleFiles(), out, embedNormalization: true, workers: 2 });
  assert.equal(s.norm, join(dir, "era5.norm.zarr"));
  assert.deepEqual(s.plan.fields.map((f) => f.name), ["t", "u", "v"]);
  assert.deepEqual(s.plan.fieldsSfc.map((f) => f.name), ["t2m", "msl", "sst"]);
  assert.equal(s.plan.times.length, 24);
  const check = await python<StoreCheck>("check_era5_store.py", [out, s.norm, ...sampleFiles()]);
  for (const [name, v] of Object.entries(check.values)) {
    assert.ok(v.compared > 0, `${name} compared`);
    // float64 unpacking rounded once to float32, as netCDF-C does: bit-identical.
    assert.equal(v.max_abs_diff, 0, `${name} values`);
    assert.ok(v.nan_match, `${name} NaN mask (sst over land)`);
  }
  assert.deepEqual(Object.keys(check.values).sort(), ["msl", "sst", "t", "t2m", "u", "v"]);
  // Coefficients vs a two-pass float64 computation.
  assert.ok(check.stats.global_rel < 1e-6, `global ${check.stats.global_rel}`);
  assert.ok(check.stats.local_rel < 1e-6, `local ${check.stats.local_rel}`);
});

Deno.test("the store meets AtmoRep's loader requirements (with --embed-normalization)", async () => {
  const dir = await tempDir();
  const out = join(dir, "era5.zarr");
  const s = await convertEra5({ inputs: sampleFiles(), out, embedNormalization: true, workers: 0 });
  const a = (await python<StoreCheck>("check_era5_store.py", [out, s.norm])).atmorep;
  assert.equal(a.fields_list, true);
  assert.equal(a.levels_numbers, true);
  assert.equal(a.is_global, true);
  assert.deepEqual(a.res, [3, 3]);
  assert.equal(a.data_f32, true);
  assert.equal(a.data_sfc_f32, true);
  assert.equal(a.time_dtype, "datetime64[s]");
  assert.equal(a.hourly_contiguous, true);
  assert.equal(a.lats_colat_ascending, true);
  assert.equal(a.lons_ascending_0_360, true);
  // Months from January of the first year (2020-01) to the last (2020-02).
  assert.equal(a.months_expected, 2);
  assert.deepEqual(a.global_norm_shape, [2, 2, 3, 3]);
  assert.equal(a.global_norm_f32, true);
  assert.deepEqual(a.norm_shape, [2, 2, 3, 3, 61, 120]);
  assert.deepEqual(a.norm_sfc_shape, [2, 2, 3, 61, 120]);
  assert.deepEqual(a.global_norm_sfc_shape, [2, 2, 3]);
  assert.equal(a.crop_normalized_finite, true);
});

Deno.test("data_sfc exists even without single-level fields; worker count does not change the bytes", async () => {
  const dir = await tempDir();
  const inputs = expandInputs([`${SAMPLE.new}/era5_pressure_levels_20200201.nc`]);
  const a = await convertEra5({ inputs, out: join(dir, "a.zarr"), workers: 0 });
  const b = await convertEra5({ inputs, out: join(dir, "b.zarr"), workers: 2 });
  const sfc = new ArrayReader(a.out, "data_sfc");
  assert.deepEqual(sfc.shape, [12, 0, 61, 120]);
  for (const name of ["0.0.0.0.0", "1.2.1.0.0", "0.1.2.0.0"]) {
    assert.deepEqual(
      Deno.readFileSync(join(a.out, "data", name)),
      Deno.readFileSync(join(b.out, "data", name)),
      name,
    );
  }
});

Deno.test("latitude south→north and longitude −180..180 land in the same store layout", async () => {
  const dir = await tempDir();
  const c = await cases();
  const ref = await convertEra5({
    inputs: [`${SAMPLE.new}/era5_single_levels_20200201.nc`],
    out: join(dir, "ref.zarr"),
    workers: 0,
  });
  const flipped = await convertEra5({ inputs: [`${c}/flipped_grid.nc`], out: join(dir, "flip.zarr"), workers: 0 });
  const x = new ArrayReader(ref.out, "data_sfc").read();
  const y = new ArrayReader(flipped.out, "data_sfc").read();
  assert.deepEqual(y, x);
  assert.deepEqual(new ArrayReader(flipped.out, "lons").read(), new ArrayReader(ref.out, "lons").read());
  const check = await python<StoreCheck>("check_era5_store.py", [flipped.out, flipped.norm, `${c}/flipped_grid.nc`]);
  assert.equal(check.values.t2m.max_abs_diff, 0);
});

Deno.test("old-CDS expver dimension: ERA5 and ERA5T halves are merged", async () => {
  const dir = await tempDir();
  const c = await cases();
  const s = await convertEra5({ inputs: [`${c}/expver_legacy.nc`], out: join(dir, "x.zarr"), workers: 0 });
  const data = new ArrayReader(s.out, "data_sfc").read() as Float32Array;
  assert.equal(data.filter((v) => Number.isNaN(v)).length, 0, "no NaN left after merging");
  const check = await python<StoreCheck>("check_era5_store.py", [s.out, s.norm, `${c}/expver_legacy.nc`]);
  assert.equal(check.values.t2m.max_abs_diff, 0);
});

Deno.test("netCDF3 classic with a noleap calendar in days decodes times", async () => {
  const dir = await tempDir();
  const c = await cases();
  const s = await convertEra5({ inputs: [`${c}/classic.nc`], out: join(dir, "c.zarr"), workers: 0 });
  const t = new ArrayReader(s.out, "time").read() as BigInt64Array;
  assert.deepEqual([...t].map((v) => new Date(Number(v) * 1000).toISOString()), [
    "2020-02-01T12:00:00.000Z",
    "2020-02-01T13:00:00.000Z",
  ]);
  assert.deepEqual(readRootAttributes(s.out).fields_sfc, ["tcc"]);
});

Deno.test("--fields and --levels select; v3 stores hold the same values", async () => {
  const dir = await tempDir();
  const s = await convertEra5({
    inputs: sampleFiles(),
    out: join(dir, "sel.zarr"),
    fields: ["u", "t2m"],
    levels: [850],
    zarrFormat: 3,
    chunks: { time: 4, lat: 16, lon: 50 },
    workers: 0,
  });
  const attrs = readRootAttributes(s.out);
  assert.deepEqual(attrs.fields, ["u"]);
  assert.deepEqual(attrs.fields_sfc, ["t2m"]);
  assert.deepEqual(attrs.levels, [850]);
  const meta = JSON.parse(Deno.readTextFileSync(join(s.out, "data", "zarr.json")));
  assert.deepEqual(meta.chunk_grid.configuration.chunk_shape, [4, 1, 1, 16, 50]);
  const full = await convertEra5({ inputs: sampleFiles(), out: join(dir, "full.zarr"), workers: 0 });
  const u850 = new ArrayReader(full.out, "data").read([[0, 24], [1, 2], [1, 2], [0, 61], [0, 120]]);
  assert.deepEqual(new ArrayReader(s.out, "data").read(), u850);
  // Chunk files decoded by numcodecs independently of our reader.
  const r = await python<{ equal: boolean; chunks: number }>("check_v3_chunks.py", [s.out, full.out]);
  assert.ok(r.chunks > 0);
  assert.equal(r.equal, true);
});

Deno.test("CLI: convert, then inspect prints layout, chunks, codec and the norm set", async () => {
  const dir = await tempDir();
  const out = join(dir, "cli.zarr");
  const conv = await runTask("convert", ["era5", "-q", "--out", out, SAMPLE.legacy, SAMPLE.new]);
  assert.equal(conv.code, 0, conv.stderr);
  assert.match(conv.stdout, /wrote .*cli\.zarr: 3 fields × 3 levels \+ 3 single-level fields, 24 times/);
  const ins = await runTask("inspect", [out]);
  assert.equal(ins.code, 0, ins.stderr);
  for (
    const re of [
      /fields +t, u, v/,
      /levels +500, 850, 1000 \(pressure\)/,
      /time +2020-01-31T12:00:00 \.\. 2020-02-01T11:00:00, step 1 h, 24 steps/,
      /missing +none/,
      /data +\(time, field, level, lats, lons\) shape \[24,3,3,61,120\] chunks \[6,1,1,61,120\] codec shuffle,zstd:1/,
      /norm set .*cli\.norm\.zarr: monthly, 2 months/,
    ]
  ) assert.match(ins.stdout, re);
  assert.ok(exists(join(dir, "cli.norm.zarr", ".zgroup")));
});

Deno.test("a month split over several tasks is merged at finalize: coefficients equal numpy's, with and without workers", async () => {
  const dir = await tempDir();
  // 5 days of hourly t2m and sst (NaN over "land") in one month: more steps than one task takes (96).
  const input = join(dir, "five_days.nc");
  const made = await run(PYTHON, [
    "-c",
    `
import numpy as np, netCDF4, sys
d = netCDF4.Dataset(sys.argv[1], "w")
d.createDimension("valid_time", 120); d.createDimension("latitude", 7); d.createDimension("longitude", 12)
t = d.createVariable("valid_time", "i8", ("valid_time",)); t.units = "seconds since 1970-01-01"; t.calendar = "proleptic_gregorian"
t[:] = 1577836800 + 3600 * np.arange(120)
la = d.createVariable("latitude", "f8", ("latitude",)); la.units = "degrees_north"; la[:] = np.linspace(90, -90, 7)
lo = d.createVariable("longitude", "f8", ("longitude",)); lo.units = "degrees_east"; lo[:] = np.arange(12) * 30.0
rng = np.random.default_rng(3)
for name, base in (("t2m", 280.0), ("sst", 290.0)):
    v = d.createVariable(name, "f4", ("valid_time", "latitude", "longitude"), fill_value=np.float32(np.nan), zlib=True)
    v.units = "K"
    x = base + 20 * rng.standard_normal((120, 7, 12)) + np.linspace(0, 5, 120)[:, None, None]
    if name == "sst": x[:, 2:4, 3:6] = np.nan
    v[:] = x.astype(np.float32)
d.close()
`,
    input,
  ]);
  assert.equal(made.code, 0, made.stderr);
  const stores: string[] = [];
  for (const workers of [0, 2]) {
    const out = join(dir, `split${workers}.zarr`);
    const state = await initConversion({ inputs: [input], out, chunks: { time: 6 } });
    // The premise: each field's January is shared by more than one task.
    for (const { target, tasks, ownMonths } of statisticsTargets(state)) {
      assert.ok(tasks.length > 1 && ownMonths.size === 0, `${tasks.length} tasks, ${ownMonths.size} own months`);
      assert.equal(target.months[0], "2020-01", "months are named YYYY-MM in messages");
    }
    await runConversionPart(out, 1, 1, { workers });
    await finalizeConversion(out, { workers });
    const check = await python<StoreCheck>("check_era5_store.py", [out, join(dir, `split${workers}.norm.zarr`), input]);
    assert.equal(check.values.t2m.max_abs_diff, 0);
    assert.ok(check.values.sst.nan_match);
    assert.ok(check.stats.global_rel < 1e-6, `global ${check.stats.global_rel}`);
    assert.ok(check.stats.local_rel < 1e-6, `local ${check.stats.local_rel}`);
    stores.push(out);
  }
  assertSameStore(stores[0], stores[1]);
});
