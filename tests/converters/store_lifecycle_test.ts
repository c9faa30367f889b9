/**
 * The converters' shared store life cycle: entry points see every input
 * format, and nothing outlives a store (a second conversion to the same
 * output in one process works).
 *
 * @module
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { convertEra5 } from "../../converters/era5/convert.ts";
import { convertGaussian } from "../../converters/gaussian/convert.ts";
import { expandInputs } from "../../cli/inputs.ts";
import { ArrayReader, readRootAttributes } from "../../zarr/reader.ts";
import { cleanupAfter, cleanupErrorsOf } from "../../converters/output.ts";
import { InputError } from "../../errors.ts";
import { exists, gribFiles, ROOT, run, SAMPLE, tempDir } from "../_helpers/common.ts";

Deno.test("convertGaussian imported on its own reads GRIB (a process that imports nothing else)", async () => {
  const grib = await gribFiles();
  const out = join(await tempDir(), "alone.zarr");
  const r = await run(Deno.execPath(), [
    "run",
    "--allow-read",
    "--allow-write",
    "--allow-env",
    `${ROOT}tests/_helpers/gaussian_alone.ts`,
    join(grib, "gaussian.grib2"),
    out,
  ]);
  assert.equal(r.code, 0, r.stderr);
  const summary = JSON.parse(r.stdout.trim());
  assert.ok(summary.points > 0 && summary.times > 0, r.stdout);
  assert.equal(readRootAttributes(out).mesh_type, "reduced_gaussian");
});

Deno.test("two conversions to the same output in one process both succeed (ERA5 and Gaussian)", async () => {
  const dir = await tempDir();
  const inputs = expandInputs([`${SAMPLE.new}/era5_single_levels_20200201.nc`]);
  const out = join(dir, "twice.zarr");
  const first = await convertEra5({ inputs, out, workers: 0 });
  const firstT2m = new ArrayReader(first.out, "data_sfc").read();
  const second = await convertEra5({ inputs, out, workers: 0, overwrite: true });
  assert.deepEqual(new ArrayReader(second.out, "data_sfc").read(), firstT2m);
  // A third, with workers, after the store directories were removed and made again.
  await convertEra5({ inputs, out, workers: 1, overwrite: true });
  assert.ok(!exists(`${out}.partial`) && !exists(`${out}.lock`));

  const grib = join(await gribFiles(), "gaussian.grib2");
  const gout = join(dir, "gauss.zarr");
  await convertGaussian({ inputs: [grib], out: gout });
  await convertGaussian({ inputs: [grib], out: gout, overwrite: true });
  assert.equal(readRootAttributes(gout).mesh_type, "reduced_gaussian");
});

Deno.test("the first error wins: a failing cleanup is attached to it, never thrown over it", () => {
  const cause = new InputError("in.nc", "t2m holds +Inf");
  const thrown = cleanupAfter(cause, () => {
    throw new Error("Directory not empty (os error 39): remove out.zarr.partial");
  }, () => {});
  assert.equal(thrown, cause);
  const [cleanup] = cleanupErrorsOf(thrown);
  assert.match((cleanup as Error).message, /Directory not empty/);
});
