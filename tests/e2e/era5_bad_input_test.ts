/**
 * `convert era5` on broken or inconsistent inputs (empty, truncated, missing
 * variables or levels, mixed grids, duplicate times, gaps), bad options and
 * existing stores: each run fails with a clear message and publishes nothing,
 * or keeps what was there.
 *
 * @module
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { cases, exists, runTask, SAMPLE, tempDir } from "../_helpers/common.ts";
import { detectFormat, formatRegistry, openDataset } from "../../converters/formats/registry.ts";

const PL_NEW = `${SAMPLE.new}/era5_pressure_levels_20200201.nc`;
const SFC_NEW = `${SAMPLE.new}/era5_single_levels_20200201.nc`;
const SFC_OLD = `${SAMPLE.legacy}/era5_single_levels_20200131.nc`;

/** Run `convert era5` expecting failure; returns stderr after checking nothing was published. */
async function failingConvert(dir: string, args: string[]): Promise<string> {
  const out = join(dir, "out.zarr");
  const r = await runTask("convert", ["era5", "-q", "--out", out, ...args]);
  assert.notEqual(r.code, 0, `expected failure, got success:\n${r.stdout}`);
  assert.match(r.stderr, /^error: /m);
  assert.doesNotMatch(r.stderr, /\n\s+at /, "no stack trace");
  for (const p of [out, join(dir, "out.norm.zarr"), `${out}.partial`, join(dir, "out.norm.zarr.partial")]) {
    assert.ok(!exists(p), `${p} must not exist after a failed run`);
  }
  return r.stderr;
}

async function copyPrefix(src: string, dest: string, bytes: number): Promise<void> {
  const data = await Deno.readFile(src);
  await Deno.writeFile(dest, data.subarray(0, bytes));
}

Deno.test("empty file", async () => {
  const dir = await tempDir();
  const f = join(dir, "empty.nc");
  await Deno.writeFile(f, new Uint8Array());
  const err = await failingConvert(dir, [f]);
  assert.match(err, /empty\.nc: the file is empty/);
});

Deno.test("text file named .nc", async () => {
  const dir = await tempDir();
  const f = join(dir, "download.nc");
  await Deno.writeTextFile(f, "<html><body>Request queued</body></html>\n");
  const err = await failingConvert(dir, [f]);
  assert.match(err, /download\.nc: not a netCDF or HDF5 file \(it starts with the text "<html><body>Reque/);
});

Deno.test("netCDF CDF-5 is refused with the command that converts it, not as an unknown file", async () => {
  const dir = await tempDir();
  const f = join(dir, "cdf5.nc");
  await Deno.writeFile(f, new Uint8Array([0x43, 0x44, 0x46, 5, ...new Uint8Array(60)]));
  const err = await failingConvert(dir, [f]);
  assert.match(err, /cdf5\.nc: netCDF CDF-5 \(64-bit data\) is not supported; convert it with `nccopy -k nc4 IN OUT`/);
  // The refusal is a field of the netCDF3 entry, which the format detection reports; it is not a format of its own.
  const match = detectFormat(new Uint8Array([0x43, 0x44, 0x46, 5]));
  assert.equal(match?.reader.name, "netcdf3");
  assert.equal(match?.refusal?.variant, "cdf5");
  assert.equal(detectFormat(new Uint8Array([0x43, 0x44, 0x46, 2]))?.refusal, undefined);
  assert.deepEqual(formatRegistry.map((r) => r.name), ["netcdf3", "netcdf4/hdf5", "grib"]);
  await assert.rejects(openDataset(f), /netCDF CDF-5 \(64-bit data\) is not supported/);
});

Deno.test("a file of no known format lists the formats understood", async () => {
  const dir = await tempDir();
  const f = join(dir, "zeros.nc");
  await Deno.writeFile(f, new Uint8Array(64));
  await assert.rejects(
    openDataset(f),
    /zeros\.nc: not a netCDF or HDF5 file \(it starts with bytes 00 00 00 00 00 00 00 00\); formats understood: netcdf3, netcdf4\/hdf5, grib$/,
  );
});

Deno.test("truncated netCDF3 (data cut off)", async () => {
  const dir = await tempDir();
  const f = join(dir, "cut3.nc");
  await copyPrefix(SFC_OLD, f, 200_000);
  const err = await failingConvert(dir, [f]);
  assert.match(err, /cut3\.nc: truncated netCDF3 file: the header describes \d+ bytes of data but the file has 200000/);
});

Deno.test("truncated netCDF4", async () => {
  const dir = await tempDir();
  const f = join(dir, "cut4.nc");
  const size = (await Deno.stat(SFC_NEW)).size;
  await copyPrefix(SFC_NEW, f, Math.floor(size / 2));
  const err = await failingConvert(dir, [f]);
  assert.match(err, /cut4\.nc: truncated netCDF4\/HDF5 file: the superblock says \d+ bytes, the file has \d+/);
});

Deno.test("missing variable", async () => {
  const dir = await tempDir();
  const err = await failingConvert(dir, ["--fields", "t,q", PL_NEW]);
  assert.match(err, /field "q" is in none of the 1 input file\(s\) \(found: t, u, v\)/);
});

Deno.test("missing level", async () => {
  const dir = await tempDir();
  const err = await failingConvert(dir, ["--levels", "700", PL_NEW]);
  assert.match(err, /level 700 is in none of the input files/);
});

Deno.test("two files with different grids", async () => {
  const dir = await tempDir();
  const c = await cases();
  const err = await failingConvert(dir, ["--fields", "t2m", SFC_NEW, `${c}/other_grid.nc`]);
  assert.match(err, /other_grid\.nc: grid differs from .*era5_single_levels_20200201\.nc: 91×180 points/);
});

Deno.test("duplicate times (the same data twice)", async () => {
  const dir = await tempDir();
  const copy = join(dir, "copy_of_sfc.nc");
  await Deno.copyFile(SFC_NEW, copy);
  const err = await failingConvert(dir, [SFC_NEW, copy]);
  assert.match(err, /duplicate data: t2m at 2020-02-01T00:00:00 is also in .*era5_single_levels_20200201\.nc/);
});

Deno.test("a gap in time fails by default, --allow-gaps fills NaN and lists it", async () => {
  const dir = await tempDir();
  const c = await cases();
  const err = await failingConvert(dir, ["--fields", "t2m", SFC_NEW, `${c}/gap_20200202.nc`]);
  assert.match(
    err,
    /gap in the time axis .*no data at all for 12 time step\(s\): 2020-02-01T12:00:00 \.\. 2020-02-01T23:00:00/,
  );
  assert.match(err, /--allow-gaps/);
  const out = join(dir, "gaps.zarr");
  const ok = await runTask("convert", [
    "era5",
    "-q",
    "--out",
    out,
    "--fields",
    "t2m",
    "--allow-gaps",
    SFC_NEW,
    `${c}/gap_20200202.nc`,
  ]);
  assert.equal(ok.code, 0, ok.stderr);
  const attrs = JSON.parse(await Deno.readTextFile(join(out, ".zattrs")));
  assert.equal(attrs.missing_times.length, 12);
  assert.equal(attrs.missing_times[0].time, "2020-02-01T12:00:00");
  const ins = await runTask("inspect", [out]);
  assert.match(ins.stdout, /missing +12 time steps filled with NaN, first 2020-02-01T12:00:00/);
});

Deno.test("an existing store is kept unless --overwrite, and kept when the replacement fails", async () => {
  const dir = await tempDir();
  const out = join(dir, "keep.zarr");
  const first = await runTask("convert", ["era5", "-q", "--out", out, SFC_NEW]);
  assert.equal(first.code, 0, first.stderr);
  const before = await Deno.readFile(join(out, "data_sfc", "0.0.0.0"));
  const again = await runTask("convert", ["era5", "-q", "--out", out, SFC_NEW]);
  assert.notEqual(again.code, 0);
  assert.match(again.stderr, /keep\.zarr:? already exists; pass --overwrite/);
  const bad = join(dir, "bad.nc");
  await Deno.writeTextFile(bad, "not netcdf");
  const failed = await runTask("convert", ["era5", "-q", "--overwrite", "--out", out, SFC_NEW, bad]);
  assert.notEqual(failed.code, 0);
  assert.deepEqual(await Deno.readFile(join(out, "data_sfc", "0.0.0.0")), before);
  assert.ok(exists(join(out, ".zgroup")));
});

Deno.test("inspect refuses a store whose conversion did not finish", async () => {
  const dir = await tempDir();
  const partial = join(dir, "half.zarr");
  await Deno.mkdir(join(partial, "data"), { recursive: true });
  await Deno.writeTextFile(join(partial, "data", ".zarray"), "{}");
  const r = await runTask("inspect", [partial]);
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /half\.zarr: incomplete store: the root group metadata is missing/);
});

Deno.test("bad options: unknown codec, bad chunks", async () => {
  const dir = await tempDir();
  let err = await failingConvert(dir, ["--codec", "lz5", SFC_NEW]);
  assert.match(err, /unknown codec "lz5"/);
  err = await failingConvert(dir, ["--chunks", "time=0", SFC_NEW]);
  assert.match(err, /--chunks: "time=0"/);
});
