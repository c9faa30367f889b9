/**
 * `deno task bench:grib`: GRIB decode speed of this project's reader vs
 * cfgrib/xarray (Debian python3-cfgrib, ecCodes underneath) on the same
 * files, in one run: 0.25° fields (t, u × 5 levels × 24 h = 240 messages,
 * ≈1 GB decoded) in GRIB1 and GRIB2 simple packing (16 bits, as ERA5) and
 * GRIB2 complex packing, made by CDO and ecCodes from the conversion
 * benchmark's input.
 *
 * @module
 */
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { decodeMessage, FileReader, scanGrib } from "../../converters/formats/grib/message.ts";
import { pathExists as exists } from "../../zarr/publish.ts";

const PYTHON = "/usr/bin/python3";
const here = fileURLToPath(new URL(".", import.meta.url));

async function sh(cmd: string, args: string[]): Promise<string> {
  const out = await new Deno.Command(cmd, { args, stdout: "piped", stderr: "piped" }).output();
  const text = new TextDecoder().decode(out.stdout);
  if (out.code !== 0) throw new Error(`${cmd} ${args.join(" ")}: ${new TextDecoder().decode(out.stderr)}`);
  return text;
}

const dir = join(here, "..", "data", "grib");
Deno.mkdirSync(dir, { recursive: true });
const nc = join(here, "..", "data", "era5_1d");
if (!exists(join(nc, "era5_t_day000.nc"))) {
  console.error("generating the netCDF input (bench/inputs/gen_era5.py) …");
  await sh(PYTHON, [join(here, "..", "inputs", "gen_era5.py"), nc, "1"]);
}
const files: Record<string, string> = {
  "GRIB1 simple 16 bit": join(dir, "era5.grib1"),
  "GRIB2 simple 16 bit": join(dir, "era5.grib2"),
  "GRIB2 complex": join(dir, "era5_complex.grib2"),
};
if (!exists(files["GRIB1 simple 16 bit"])) {
  console.error("writing GRIB with CDO and ecCodes …");
  const merged = join(dir, "merged.nc");
  await sh("cdo", ["-s", "-O", "merge", join(nc, "era5_t_day000.nc"), join(nc, "era5_u_day000.nc"), merged]);
  await sh("cdo", ["-s", "-O", "-f", "grb1", "-b", "P16", "copy", merged, files["GRIB1 simple 16 bit"]]);
  await sh("cdo", ["-s", "-O", "-f", "grb2", "-b", "P16", "copy", merged, files["GRIB2 simple 16 bit"]]);
  await sh("grib_set", [
    "-r",
    "-s",
    "packingType=grid_complex_spatial_differencing",
    files["GRIB2 simple 16 bit"],
    files["GRIB2 complex"],
  ]);
  Deno.removeSync(merged);
}

const lines = ["file                    size MB  decoded MB   ours MB/s  cfgrib MB/s  ours/cfgrib"];
for (const [label, path] of Object.entries(files)) {
  // Ours: index + decode every message, one thread.
  const t0 = performance.now();
  const reader = new FileReader(path);
  let decoded = 0;
  for (const m of scanGrib(reader)) decoded += decodeMessage(reader, m).byteLength;
  reader.close();
  const ours = (performance.now() - t0) / 1000;
  // cfgrib: open_dataset + load (float32 values in memory), index file disabled.
  const py = `
import time, xarray as xr
t0 = time.perf_counter()
ds = xr.open_dataset("${path}", engine="cfgrib", backend_kwargs={"indexpath": ""})
n = sum(v.load().astype("float32").nbytes for v in ds.data_vars.values())
print(time.perf_counter() - t0, n)`;
  const [cfSeconds, cfBytes] = (await sh(PYTHON, ["-c", py])).trim().split(/\s+/).map(Number);
  const mb = decoded / 1e6;
  lines.push(
    `${label.padEnd(22)} ${(Deno.statSync(path).size / 1e6).toFixed(0).padStart(8)} ${mb.toFixed(0).padStart(11)} ${
      (mb / ours).toFixed(0).padStart(11)
    } ${(cfBytes / 1e6 / cfSeconds).toFixed(0).padStart(12)} ${
      ((cfSeconds / ours) * (decoded / cfBytes)).toFixed(2).padStart(11)
    }×`,
  );
}
console.log(lines.join("\n"));
