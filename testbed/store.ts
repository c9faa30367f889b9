/**
 * The testbed as an ERA5-like store: {@link BarotropicModel} spun up, then
 * run for the asked number of days and sampled 6-hourly on a regular
 * 65 × 128 grid (2.8125°, 90° N … 90° S with the poles as rows, as the
 * project's converter needs for a global store; 0° E … 357.1875° E; winds
 * at a pole are their limit there, evaluated 10⁻⁴° from it), written as one NetCDF-3 file in ERA5's layout (`u`, `v`,
 * `z` (geopotential), `q` (the tracer) at 500 hPa; `valid_time`,
 * `pressure_level`, `latitude`, `longitude`) and converted by the project's
 * own `convert era5` (store + coefficient set). Deterministic: the same
 * options give the same bytes. Cached: a store built for the same options
 * is reused (the key is the options' JSON and {@link TESTBED_VERSION}), in
 * `TESTBED_CACHE` or `out/testbed/`.
 *
 * @module
 */
import { join } from "node:path";
import { parseTime } from "../time.ts";
import { convertEra5 } from "../converters/era5/convert.ts";
import { BarotropicModel, type BarotropicOptions, Transform } from "./barotropic.ts";

/** What to simulate. */
export interface TestbedOptions extends BarotropicOptions {
  /** Days written (6-hourly). Default 365. */
  days?: number;
  /** Days simulated first and discarded (the jets break up into eddies). Default 30. */
  spinUpDays?: number;
  /** First time written (ISO). Default 2021-01-01T00:00Z. */
  start?: string;
}

/** Bumped whenever the model or the file changes, so cached stores of older code are not reused. */
const TESTBED_VERSION = 1;

/** The latitudes (north to south, poles included) and longitudes of the testbed's grid. */
export function testbedGrid(): { lat: Float64Array; lon: Float64Array } {
  return {
    lat: Float64Array.from({ length: 65 }, (_, i) => 90 - 2.8125 * i),
    lon: Float64Array.from({ length: 128 }, (_, j) => 2.8125 * j),
  };
}

/** NetCDF-3 classic: big-endian header pieces. */
class Header {
  private readonly parts: number[] = [];
  int(x: number): this {
    this.parts.push((x >>> 24) & 255, (x >>> 16) & 255, (x >>> 8) & 255, x & 255);
    return this;
  }
  name(s: string): this {
    const b = new TextEncoder().encode(s);
    this.int(b.length);
    this.parts.push(...b);
    while (this.parts.length % 4) this.parts.push(0);
    return this;
  }
  text(s: string): this {
    return this.int(2).name(s); // NC_CHAR, length, bytes, padding
  }
  get length(): number {
    return this.parts.length;
  }
  bytes(): Uint8Array {
    return Uint8Array.from(this.parts);
  }
}

/** One variable of the file. */
interface NcVar {
  name: string;
  dims: number[];
  type: 5 | 6; // float, double
  attrs: Record<string, string>;
  record: boolean;
  size: number; // bytes (per record for record variables)
}

/** Encode the whole NetCDF-3 header. */
function encodeHeader(dims: [string, number][], vars: NcVar[], numrecs: number, begins: number[]): Uint8Array {
  const h = new Header();
  const magic = new TextEncoder().encode("CDF\x01");
  const out: number[] = [...magic];
  h.int(numrecs);
  h.int(0x0a).int(dims.length);
  for (const [n, len] of dims) h.name(n).int(len);
  h.int(0).int(0); // no global attributes
  h.int(0x0b).int(vars.length);
  for (const [i, v] of vars.entries()) {
    h.name(v.name).int(v.dims.length);
    for (const d of v.dims) h.int(d);
    const attrs = Object.entries(v.attrs);
    if (attrs.length) {
      h.int(0x0c).int(attrs.length);
      for (const [k, s] of attrs) h.name(k).text(s);
    } else h.int(0).int(0);
    h.int(v.type).int(v.size).int(begins[i]);
  }
  const b = h.bytes();
  const all = new Uint8Array(out.length + b.length);
  all.set(out, 0);
  all.set(b, out.length);
  return all;
}

/** Big-endian bytes of float32 / float64 values. */
function be(values: ArrayLike<number>, type: 5 | 6): Uint8Array {
  const size = type === 5 ? 4 : 8, out = new Uint8Array(values.length * size), dv = new DataView(out.buffer);
  for (let i = 0; i < values.length; i++) {
    if (type === 5) dv.setFloat32(i * 4, values[i], false);
    else dv.setFloat64(i * 8, values[i], false);
  }
  return out;
}

/** The testbed file's dimensions and variables (ERA5's new-CDS names): coordinates, then u, v, z, q per record. */
function testbedLayout(plane: number): { dims: [string, number][]; vars: NcVar[] } {
  const fieldAttrs = {
    u: { units: "m s**-1", long_name: "U component of wind" },
    v: { units: "m s**-1", long_name: "V component of wind" },
    z: { units: "m**2 s**-2", long_name: "Geopotential" },
    q: { units: "kg kg**-1", long_name: "Specific humidity (passive tracer of the barotropic testbed)" },
  };
  const dims: [string, number][] = [["valid_time", 0], ["pressure_level", 1], ["latitude", 65], ["longitude", 128]];
  const vars: NcVar[] = [
    { name: "pressure_level", dims: [1], type: 6, attrs: { units: "hPa" }, record: false, size: 8 },
    {
      name: "latitude",
      dims: [2],
      type: 6,
      attrs: { units: "degrees_north", standard_name: "latitude" },
      record: false,
      size: 65 * 8,
    },
    {
      name: "longitude",
      dims: [3],
      type: 6,
      attrs: { units: "degrees_east", standard_name: "longitude" },
      record: false,
      size: 128 * 8,
    },
    {
      name: "valid_time",
      dims: [0],
      type: 6,
      attrs: { units: "seconds since 1970-01-01", calendar: "proleptic_gregorian", standard_name: "time" },
      record: true,
      size: 8,
    },
    ...Object.entries(fieldAttrs).map(([name, attrs]): NcVar => ({
      name,
      dims: [0, 1, 2, 3],
      type: 5,
      attrs,
      record: true,
      size: plane * 4,
    })),
  ];
  return { dims, vars };
}

/** Simulate and write the NetCDF-3 file `path`; returns the seconds simulated and steps written. */
export async function writeTestbedNetcdf(
  path: string,
  o: TestbedOptions = {},
): Promise<{ seconds: number; steps: number }> {
  const t0 = performance.now();
  const days = o.days ?? 365;
  const start = parseTime(o.start ?? "2021-01-01T00:00:00Z", "start");
  const { lat, lon } = testbedGrid();
  const steps = days * 4, plane = lat.length * lon.length;
  const { dims, vars } = testbedLayout(plane);
  // Header length does not depend on the begin values (fixed-width ints): size it with zeros, then fill them in.
  const headerLength = encodeHeader(dims, vars, steps, vars.map(() => 0)).length;
  const begins: number[] = [];
  let at = headerLength;
  for (const v of vars.filter((v) => !v.record)) (begins[vars.indexOf(v)] = at, at += v.size);
  for (const v of vars.filter((v) => v.record)) (begins[vars.indexOf(v)] = at, at += v.size);
  const file = await Deno.open(path, { write: true, create: true, truncate: true });
  try {
    const write = async (b: Uint8Array) => {
      for (let o = 0; o < b.length;) o += await file.write(b.subarray(o));
    };
    await write(encodeHeader(dims, vars, steps, begins));
    await write(be([500], 6));
    await write(be(lat, 6));
    await write(be(lon, 6));
    for (const { t, model, grid } of testbedTrajectory(o, steps)) {
      const f = model.fields(grid);
      await write(be([start + t * 6 * 3600], 6));
      for (const x of [f.u, f.v, f.z, f.q]) await write(be(x, 5));
    }
  } finally {
    file.close();
  }
  return { seconds: (performance.now() - t0) / 1000, steps };
}

/**
 * The written trajectory: the model after its spin-up, then every 6 h,
 * `steps` times (step t is the store's time t), with the grid it is written
 * on. The same model object is yielded each time: copy what must outlive a
 * step ({@link BarotropicModel.expectedCopy}).
 */
export function* testbedTrajectory(
  o: TestbedOptions,
  steps: number,
): Generator<{ t: number; model: BarotropicModel; grid: Transform }> {
  const model = new BarotropicModel(o), { lat, lon } = testbedGrid();
  const per6h = Math.round(6 * 3600 / model.dt);
  if (Math.abs(per6h * model.dt - 6 * 3600) > 1e-6) throw new Error(`dt ${model.dt} s does not divide 6 h`);
  // The poles are rows of the grid: a pole's winds are their limit there, 10⁻⁴° from it.
  const mu = (x: number) => Math.sin(Math.max(-90 + 1e-4, Math.min(90 - 1e-4, x)) * Math.PI / 180);
  const grid = new Transform(model.tr.t.N, Array.from(lat, mu), lon.length);
  for (let s = 0; s < (o.spinUpDays ?? 30) * 4 * per6h; s++) model.step();
  for (let t = 0; t < steps; t++) {
    if (t > 0) { for (let s = 0; s < per6h; s++) model.step(); }
    yield { t, model, grid };
  }
}

/** The cache directory of testbed stores (TESTBED_CACHE, else out/testbed under the repository). */
export function testbedCacheDir(): string {
  return Deno.env.get("TESTBED_CACHE") ?? join(new URL("..", import.meta.url).pathname, "out", "testbed");
}

/**
 * The testbed store for `o`: built (simulate, write NetCDF, convert with
 * `convert era5`) unless the cache holds it; its path and whether it was
 * built now, with the seconds taken.
 */
export async function testbedStore(
  o: TestbedOptions = {},
): Promise<{ store: string; built: boolean; simulateSeconds?: number; convertSeconds?: number }> {
  const key = Array.from(new TextEncoder().encode(JSON.stringify({ v: TESTBED_VERSION, ...o }))).reduce(
    (h, b) => (h * 31 + b) >>> 0,
    7,
  );
  const dir = join(testbedCacheDir(), `bvt-${o.days ?? 365}d-${key.toString(16)}`);
  const store = join(dir, "testbed.zarr");
  try {
    Deno.statSync(join(store, ".zattrs"));
    return { store, built: false };
  } catch { /* build it */ }
  await Deno.mkdir(dir, { recursive: true });
  const nc = join(dir, "testbed_pl.nc");
  const sim = await writeTestbedNetcdf(nc, o);
  const t1 = performance.now();
  await convertEra5({ inputs: [nc], out: store, workers: 0, overwrite: true });
  const convertSeconds = (performance.now() - t1) / 1000;
  await Deno.remove(nc);
  return { store, built: true, simulateSeconds: sim.seconds, convertSeconds };
}
