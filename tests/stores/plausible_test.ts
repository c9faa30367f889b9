/**
 * Statistics that are finite but physically absurd (one input value of
 * 3.4e38, a fill value read as data) are an error in `convert` unless
 * allowed, and flagged by `inspect` per field, level and month against a
 * plausible-range table of ERA5 short names, which `--ranges FILE`
 * overrides.
 *
 * @module
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { convertEra5 } from "../../converters/era5/convert.ts";
import { inspectStore } from "../../stores/inspect.ts";
import { PLAUSIBLE_RANGES } from "../../normalization/plausible.ts";
import { PYTHON, ROOT, run, SAMPLE, tempDir } from "../_helpers/common.ts";

Deno.test("inspect warns of a monthly t2m std of ~1e36 from one value of 3.4e38 in the input, naming set, field and month", async () => {
  const dir = await tempDir();
  const input = join(dir, "sfc.nc");
  const py = await run(PYTHON, [
    "-c",
    `import xarray as xr, sys
ds = xr.load_dataset(sys.argv[1])
v = ds["t2m"].values
v[0, 10, 10] = 3.4e38
ds["t2m"].values = v
ds.to_netcdf(sys.argv[2])`,
    `${SAMPLE.new}/era5_single_levels_20200201.nc`,
    input,
  ]);
  assert.equal(py.code, 0, py.stderr);
  // convert refuses it, publishing nothing, unless allowed.
  await assert.rejects(
    () => convertEra5({ inputs: [input], out: join(dir, "s.zarr"), workers: 0 }),
    (e: Error) => {
      assert.match(
        e.message,
        /s\.norm\.zarr: 1 coefficient\(s\) outside the plausible range of their field, e\.g\. t2m in 2020-02/,
      );
      assert.match(e.message, /nothing was published: fix the input, or rerun with --allow-implausible/);
      return true;
    },
  );
  for (const p of ["s.zarr", "s.norm.zarr", "s.zarr.partial", "s.norm.zarr.partial"]) {
    assert.throws(() => Deno.statSync(join(dir, p)), p);
  }
  const { out } = await convertEra5({ inputs: [input], out: join(dir, "s.zarr"), workers: 0, allowImplausible: true });
  const s = inspectStore(out);
  assert.equal(s.warnings.length, 1, s.warnings.join("\n"));
  assert.match(
    s.warnings[0],
    /s\.norm\.zarr: t2m in 2020-02: mean .*, std \d\.\d+e\+3\d — implausible for t2m \(plausible values 170 \.\. 345\)/,
  );
  // The clean sample: no warning; a table that allows it: none either.
  const clean = await convertEra5({
    inputs: [`${SAMPLE.new}/era5_single_levels_20200201.nc`],
    out: join(dir, "c.zarr"),
    workers: 0,
  });
  assert.deepEqual(inspectStore(clean.out).warnings, []);
  assert.deepEqual(inspectStore(out, { ...PLAUSIBLE_RANGES, t2m: [-1e39, 1e39] }).warnings, []);
  // The CLI prints it, and takes --ranges.
  const ranges = join(dir, "ranges.json");
  await Deno.writeTextFile(ranges, JSON.stringify({ t2m: [-1e39, 1e39] }));
  const cli = (args: string[]) => run(Deno.execPath(), ["run", "--allow-read", `${ROOT}tasks/inspect.ts`, ...args]);
  assert.match((await cli([out])).stdout, /warning +.*implausible for t2m/);
  assert.doesNotMatch((await cli([out, "--ranges", ranges])).stdout, /warning/);
});
