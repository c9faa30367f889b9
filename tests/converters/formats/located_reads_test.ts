/**
 * Located reads: the scan records where each netCDF4/HDF5 variable's values
 * lie (its object header), and conversion tasks read them there with the
 * own chunk reader alone, never loading h5wasm. The store is the same as
 * one read through h5wasm, with worker threads too and with a build.json
 * written before locations existed; an input changed between init and a
 * part is an InputError naming the file and variable, not wrong values.
 *
 * @module
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { openHdf5 } from "../../../converters/formats/hdf5/dataset.ts";
import { openLocatedHdf5 } from "../../../converters/formats/hdf5/located.ts";
import { type LocatedVariable, openLocated } from "../../../converters/formats/registry.ts";
import { unpackInto } from "../../../converters/cf.ts";
import { InputError } from "../../../errors.ts";
import { assertSameStore, PYTHON, ROOT, run, type RunResult, runTask, SAMPLE, tempDir } from "../../_helpers/common.ts";

const SFC_NEW = join(SAMPLE.new, "era5_single_levels_20200201.nc");
const SFC_LEGACY = join(SAMPLE.legacy, "era5_single_levels_20200131.nc");

/** Run the convert verb, with extra environment variables. */
function convert(args: string[], env: Record<string, string> = {}): Promise<RunResult> {
  return runTask("convert", ["era5", ...args], { env });
}

/**
 * Run part 1/1 in this thread (`--workers 0`) in a fresh process and say
 * whether that process loaded h5wasm.
 */
async function partLoadsH5wasm(dir: string, out: string, env: Record<string, string> = {}): Promise<boolean> {
  const script = join(dir, "part.ts");
  Deno.writeTextFileSync(
    script,
    `import { runConversionPart } from "${ROOT}converters/era5/convert.ts";
import { h5wasmLoaded } from "${ROOT}converters/formats/hdf5/h5wasm.ts";
await runConversionPart(Deno.args[0], 1, 1, { workers: 0 });
console.log(JSON.stringify({ h5wasm: h5wasmLoaded() }));`,
  );
  const r = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--allow-read",
      "--allow-write",
      "--allow-env",
      "--allow-ffi",
      `--config=${ROOT}deno.json`,
      script,
      out,
    ],
    env,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const dec = new TextDecoder();
  assert.equal(r.code, 0, dec.decode(r.stderr));
  return JSON.parse(dec.decode(r.stdout).trim().split("\n").at(-1)!).h5wasm;
}

interface SavedRun {
  file: string;
  variable: string;
  located?: LocatedVariable;
}

/** The read runs of every task in a staged build. */
function savedRuns(out: string): SavedRun[] {
  const build = JSON.parse(Deno.readTextFileSync(join(`${out}.partial`, ".build", "build.json")));
  return build.tasks.flatMap((t: { runs: SavedRun[] }) => t.runs);
}

/** Remove the locations from a staged build, as in a build.json written before they existed. */
function stripLocations(out: string): void {
  const path = join(`${out}.partial`, ".build", "build.json");
  const build = JSON.parse(Deno.readTextFileSync(path));
  for (const t of build.tasks) for (const r of t.runs) delete r.located;
  Deno.writeTextFileSync(path, JSON.stringify(build));
}

Deno.test("located reads: parts read netCDF4 without loading h5wasm and write the store h5wasm reads write (workers, old build.json)", async () => {
  const dir = await tempDir();
  const ways = ["located", "located-workers", "old-build", "h5wasm"] as const;
  const stores: Record<string, string> = {};
  for (const way of ways) {
    const out = join(dir, `${way}.zarr`);
    const env: Record<string, string> = way === "h5wasm" ? { ATMOREP_HDF5_READER: "h5wasm" } : {};
    const init = await convert(["-q", "--init", "--chunks", "time=4", "--out", out, SAMPLE.new], env);
    assert.equal(init.code, 0, init.stderr);
    const runs = savedRuns(out);
    assert.ok(runs.length >= 4, `only ${runs.length} runs`);
    if (way === "h5wasm") assert.ok(runs.every((r) => r.located === undefined), "h5wasm asked for: nothing located");
    else {
      for (const r of runs) {
        assert.equal(r.located?.format, "netcdf4/hdf5", `${r.file} ${r.variable}`);
        assert.ok(r.located.at.headerAddress > 0 && r.located.dtype === "float32" && r.located.shape.length >= 3);
      }
    }
    if (way === "old-build") stripLocations(out);
    if (way === "located-workers") {
      const part = await convert(["-q", "--part", "1/1", "--workers", "2", "--out", out]);
      assert.equal(part.code, 0, part.stderr);
    } else {
      // The flag can fail: with h5wasm asked for the part loads h5wasm; without locations it opens the files
      // again, their metadata read by the own reader (no h5wasm either).
      assert.equal(await partLoadsH5wasm(dir, out, env), way === "h5wasm", `${way}: h5wasm loaded`);
    }
    const fin = await convert(["-q", "--finalize", "--out", out]);
    assert.equal(fin.code, 0, fin.stderr);
    stores[way] = out;
  }
  for (const way of ways.slice(0, -1)) {
    assertSameStore(stores[way], stores.h5wasm);
    assertSameStore(stores[way].replace(/\.zarr$/, ".norm.zarr"), join(dir, "h5wasm.norm.zarr"));
  }
});

Deno.test("located reads: an input replaced between init and part is an InputError naming the file and variable", async () => {
  const dir = await tempDir();
  const other = join(dir, "other_shape.nc");
  // A netCDF-C file with the same fields of another shape (3 steps on a 4 × 5 grid).
  const py = await run(PYTHON, [
    "-c",
    `import netCDF4, numpy as np
d = netCDF4.Dataset(${JSON.stringify(other)}, "w")
for n, k in (("valid_time", 3), ("latitude", 4), ("longitude", 5)): d.createDimension(n, k)
d.createVariable("valid_time", "i8", ("valid_time",))[:] = [0, 3600, 7200]
d["valid_time"].units = "seconds since 2020-02-01"
d.createVariable("latitude", "f8", ("latitude",))[:] = [90, 45, 0, -45]
d.createVariable("longitude", "f8", ("longitude",))[:] = [0, 72, 144, 216, 288]
for v in ("t2m", "msl", "sst"): d.createVariable(v, "f4", ("valid_time", "latitude", "longitude"), zlib=True)[:] = 1.0
d.close()`,
  ]);
  assert.equal(py.code, 0, py.stderr);
  const replacements = [
    { by: SFC_LEGACY, found: /is int16 \[\d+, \d+, \d+\], the scan found float32/ }, // netCDF3 shorts
    { by: other, found: /is float32 \[3, 4, 5\], the scan found float32 \[\d+, \d+, \d+\]/ },
  ];
  for (const [k, { by, found }] of replacements.entries()) {
    const input = join(dir, `in${k}`, "sfc.nc");
    Deno.mkdirSync(join(dir, `in${k}`));
    Deno.copyFileSync(SFC_NEW, input);
    const out = join(dir, `r${k}.zarr`);
    const init = await convert(["-q", "--init", "--out", out, input]);
    assert.equal(init.code, 0, init.stderr);
    Deno.copyFileSync(by, input);
    for (const workers of ["0", "2"]) {
      const part = await convert(["-q", "--part", "1/1", "--workers", workers, "--out", out]);
      assert.notEqual(part.code, 0, `replaced by ${by}: the part must fail`);
      assert.match(
        part.stderr,
        new RegExp(`${input.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&")}.*variable (t2m|msl|sst) `),
      );
      assert.match(part.stderr, found);
      assert.match(part.stderr, /the file changed since the inputs were scanned/);
    }
  }
});

Deno.test("located reads: values equal the full reader's; a located place that no longer holds the variable is an InputError", async () => {
  const dir = await tempDir();
  const file = join(dir, "sfc.nc");
  Deno.copyFileSync(SFC_NEW, file);
  const ds = await openHdf5(file, "own");
  const at = ds.locate("t2m")!;
  const v = ds.variables.get("t2m")!;
  assert.equal(at.format, "netcdf4/hdf5");
  assert.deepEqual([at.dtype, at.shape], [v.dtype, v.shape]);
  const start = [1, 0, 0], count = [2, v.shape[1], v.shape[2]];
  const want = ds.read("t2m", start, count).slice();
  ds.close();
  assert.equal((await openHdf5(file, "h5wasm")).locate("t2m"), undefined, "h5wasm asked for: nothing located");
  assert.equal(openLocatedHdf5(file, "h5wasm"), undefined);

  const located = openLocated(file, at)!;
  assert.ok(located, "an unchanged file is read at its located places");
  assert.deepEqual(located.read("t2m", at, start, count).slice(), want);
  const decoded = new Float32Array(want.length);
  located.readDecoded("t2m", at, start, count, { scale: 1, offset: 0, fills: [] }, decoded);
  assert.deepEqual(decoded, want);
  // Packing is applied as by the full reader's path.
  const packing = { scale: 2, offset: -1, fills: [] };
  const expected = new Float32Array(want.length);
  unpackInto(want, packing, expected);
  located.readDecoded("t2m", at, start, count, packing, decoded);
  assert.deepEqual(decoded, expected);

  const refused = (bad: LocatedVariable, why: RegExp) =>
    assert.throws(() => located.read("t2m", bad, start, count), (e: unknown) => {
      assert.ok(e instanceof InputError, `not an InputError: ${e}`);
      assert.equal(e.file, file);
      assert.equal(e.field, "t2m");
      assert.match(e.message, why);
      assert.match(e.message, /the file changed since the inputs were scanned/);
      return true;
    });
  refused({ ...at, dtype: "int16" }, /holds float32 \[.*\], the scan found int16/);
  refused({ ...at, shape: [at.shape[0] + 1, ...at.shape.slice(1)] }, /the scan found float32 \[/);
  refused({ ...at, at: { headerAddress: at.at.headerAddress + 3 } }, /no readable dataset header at byte \d+/);
  located.close();

  // A file whose size or modification time changed is not read at located places (it is opened again).
  assert.equal(
    openLocated(file, { ...at, stamp: { ...at.stamp, mtimeMs: (at.stamp.mtimeMs ?? 0) - 1000 } }),
    undefined,
  );
  assert.equal(openLocated(file, { ...at, stamp: { ...at.stamp, size: at.stamp.size + 1 } }), undefined);
  assert.equal(openLocated(join(dir, "gone.nc"), at), undefined);
});
