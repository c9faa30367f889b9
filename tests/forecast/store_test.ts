/**
 * The forecast store's layouts as xarray (zarr-python) reads them: one
 * variable per field with only its own levels (no NaN from levels a field
 * lacks), CF-decoded times, per-field level dimensions by the documented
 * rule; WeatherBench 2's schema with `--layout wb2` (its dims, names and
 * dtypes as its documentation states them: `time` datetime64[ns],
 * `prediction_timedelta` timedelta64[ns], `level` int, `latitude` ascending,
 * `longitude` 0…360, long variable names, float32, ensemble on `number`).
 * Values are checked at every point against the planes written, recomputed
 * in Python from the decoded coordinates (tests/oracles/forecast_store_read.py).
 *
 * @module
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { type ForecastLayout, ForecastStoreWriter } from "../../forecast/store.ts";
import { levelDims } from "../../forecast/store_layout.ts";
import { isPipelineError } from "../../errors.ts";
import { exists, python, tempDir } from "../_helpers/common.ts";

/** Demo-like fields: t on two levels, z on one of them, t2m and sst single-level. */
const FIELDS = ["t", "t2m", "sst", "z"];
const LEVELS: Record<string, number[]> = { t: [500, 850], t2m: [0], sst: [0], z: [500] };
const LAT = [60, 30, 0, -30, -60];
const LON = [-90, 0, 90, 180]; // wb2 wraps and sorts: 0, 90, 180, 270
const INITS = [Date.UTC(2020, 0, 1, 0) / 1000, Date.UTC(2020, 0, 1, 12) / 1000];
const LEADS = [6, 12, 18];

/** The pattern of tests/oracles/forecast_store_read.py for one plane (+ member k). */
function plane(field: string, level: number, init: number, lead: number, k: number): Float32Array {
  const f = FIELDS.indexOf(field), C = LON.length;
  return Float32Array.from(
    { length: LAT.length * C },
    (_, p) => 1000 * f + 0.5 * level + 10 * LEADS[lead] + 100 * init + 0.25 * Math.floor(p / C) + 0.0625 * (p % C) + k,
  );
}

interface Described {
  vars: Record<string, { dims: string[]; dtype: string; nan: number; max_diff: number; attrs: Record<string, string> }>;
  coords: Record<string, { dims: string[]; dtype: string; values: (number | string)[] }>;
  attrs: {
    layout: string;
    levels: number[];
    field_levels: Record<string, number[]>;
    variables: Record<string, string>;
  };
}

/** Write the demo-like store in `layout` with `members` members (kept or not) and describe it with xarray. */
async function written(layout: ForecastLayout, members: number, keep: boolean): Promise<Described> {
  const out = join(await tempDir(), `f_${layout}.zarr`);
  const w = new ForecastStoreWriter({
    out,
    inits: INITS,
    leads: LEADS,
    fields: FIELDS,
    levels: LEVELS,
    lat: Float64Array.from(LAT),
    lon: Float64Array.from(LON),
    fieldMetadata: { t: { units: "K" }, t2m: { units: "K" }, sst: { units: "K" }, z: { units: "m**2 s**-2" } },
    members: keep ? members : 0,
    layout,
  });
  for (const [i] of INITS.entries()) {
    for (const [l] of LEADS.entries()) {
      for (const f of FIELDS) {
        for (const lev of LEVELS[f]) {
          w.write(
            i,
            l,
            f,
            lev,
            Array.from({ length: members }, (_, k) => plane(f, lev, i, l, k)),
          );
        }
      }
    }
  }
  w.finish();
  const spec = {
    fields: Object.fromEntries(FIELDS.map((f, i) => [layout === "wb2" ? wb2[f] : f, [f, i]])),
    lat: LAT,
    lon: LON,
  };
  return await python<Described>("forecast_store_read.py", [
    out,
    JSON.stringify({ ...spec, members: keep ? 0 : members }),
  ]);
}

const wb2: Record<string, string> = {
  t: "temperature",
  t2m: "2m_temperature",
  sst: "sea_surface_temperature",
  z: "geopotential",
};

Deno.test("native layout: one variable per field with its own levels, no NaN, CF times, values as written", async () => {
  const d = await written("native", 2, false);
  assert.deepEqual(
    Object.keys(d.vars).sort(),
    ["sst", "sst_spread", "t", "t2m", "t2m_spread", "t_spread", "z", "z_spread"],
  );
  assert.deepEqual(d.vars.t.dims, ["init_time", "lead_time", "level", "lat", "lon"]);
  assert.deepEqual(d.vars.t2m.dims, ["init_time", "lead_time", "lat", "lon"]);
  assert.deepEqual(d.vars.sst.dims, ["init_time", "lead_time", "lat", "lon"]);
  assert.deepEqual(d.vars.z.dims, ["init_time", "lead_time", "level_z", "lat", "lon"], "z's levels differ from t's");
  assert.deepEqual(d.coords.level.values, [500, 850]);
  assert.deepEqual(d.coords.level_z.values, [500]);
  for (const [name, v] of Object.entries(d.vars)) {
    assert.equal(v.dtype, "float32", name);
    assert.equal(v.nan, 0, `${name}: no NaN (no level padding)`);
    assert.ok(v.max_diff < 1e-6, `${name}: xarray reads the planes written (largest difference ${v.max_diff})`);
  }
  assert.deepEqual(d.vars.t.attrs, { units: "K", long_name: "temperature", standard_name: "air_temperature" });
  assert.deepEqual(d.vars.z.attrs.units, "m**2 s**-2");
  assert.equal(d.coords.init_time.dtype, "datetime64[ns]");
  assert.deepEqual(d.coords.init_time.values, ["2020-01-01T00:00:00", "2020-01-01T12:00:00"]);
  assert.equal(d.coords.lead_time.dtype, "timedelta64[ns]");
  assert.deepEqual(d.coords.lead_time.values, LEADS);
  assert.equal(d.coords.valid_time.dtype, "datetime64[ns]");
  assert.deepEqual(d.coords.valid_time.dims, ["init_time", "lead_time"]);
  assert.equal(d.coords.valid_time.values[5], "2020-01-02T06:00:00");
  assert.deepEqual(d.coords.lat.values, LAT, "rows as the data store orders them");
  assert.deepEqual(d.coords.lon.values, LON);
  assert.equal(d.attrs.layout, "native");
  assert.deepEqual(d.attrs.field_levels, LEVELS);
  assert.deepEqual(d.attrs.levels, [0, 500, 850], "the union, as every store has it (inspect reads it)");
});

Deno.test("native layout with members: `t_members` on a member dim next to mean and spread", async () => {
  const d = await written("native", 2, true);
  assert.deepEqual(d.vars.t_members.dims, ["init_time", "lead_time", "member", "level", "lat", "lon"]);
  assert.deepEqual(d.vars.sst_members.dims, ["init_time", "lead_time", "member", "lat", "lon"]);
  for (const f of FIELDS) assert.ok(d.vars[`${f}_members`].max_diff < 1e-6, f);
  assert.deepEqual(d.coords.member.values, [0, 1]);
});

Deno.test("wb2 layout: WeatherBench 2's names, dims and dtypes; latitude ascending, longitude 0…360; values as written", async () => {
  const d = await written("wb2", 2, false);
  assert.deepEqual(Object.keys(d.vars).sort(), [
    "2m_temperature",
    "2m_temperature_spread",
    "geopotential",
    "geopotential_spread",
    "sea_surface_temperature",
    "sea_surface_temperature_spread",
    "temperature",
    "temperature_spread",
  ]);
  assert.deepEqual(d.vars.temperature.dims, ["time", "prediction_timedelta", "level", "longitude", "latitude"]);
  assert.deepEqual(d.vars["2m_temperature"].dims, ["time", "prediction_timedelta", "longitude", "latitude"]);
  assert.deepEqual(d.vars.geopotential.dims, [
    "time",
    "prediction_timedelta",
    "level_geopotential",
    "longitude",
    "latitude",
  ]);
  assert.equal(d.coords.time.dtype, "datetime64[ns]");
  assert.equal(d.coords.prediction_timedelta.dtype, "timedelta64[ns]");
  assert.deepEqual(d.coords.prediction_timedelta.values, LEADS);
  assert.match(d.coords.level.dtype, /^int(32|64)$/);
  assert.deepEqual(d.coords.level.values, [500, 850]);
  assert.equal(d.coords.latitude.dtype, "float64");
  assert.deepEqual(d.coords.latitude.values, [...LAT].reverse(), "latitude ascending");
  assert.deepEqual(d.coords.longitude.values, [0, 90, 180, 270], "longitude 0…360, ascending");
  // WeatherBench 2 renames prediction_timedelta → lead_time and time → init_time and adds valid_time itself
  // (weatherbench2/schema.py, apply_time_conventions): none of these may exist already.
  for (const c of ["valid_time", "init_time", "lead_time", "lat", "lon"]) assert.ok(!(c in d.coords), c);
  for (const [name, v] of Object.entries(d.vars)) {
    assert.equal(v.dtype, "float32", name);
    assert.equal(v.nan, 0, name);
    assert.ok(v.max_diff < 1e-6, `${name}: flipped and transposed, still the planes written (${v.max_diff})`);
  }
  assert.deepEqual(d.attrs.variables, wb2);
});

Deno.test("wb2 layout with members: the members under the variable's name on WeatherBench 2's `number` dim", async () => {
  const d = await written("wb2", 2, true);
  assert.deepEqual(Object.keys(d.vars).sort(), Object.values(wb2).sort(), "members only: WB2 derives mean and spread");
  assert.deepEqual(d.vars.temperature.dims, [
    "time",
    "prediction_timedelta",
    "number",
    "level",
    "longitude",
    "latitude",
  ]);
  for (const v of Object.values(d.vars)) assert.ok(v.max_diff < 1e-6);
  assert.deepEqual(d.coords.number.values, [0, 1]);
});

Deno.test("level dimensions: equal level lists share one, another list gets its own; a field never gets another's levels", () => {
  const dims = levelDims(["a", "b", "c", "d"], { a: [1, 2], b: [0], c: [2], d: [1, 2] }, "level", (f) => f);
  assert.deepEqual(dims.get("a"), { dim: "level", levels: [1, 2] });
  assert.equal(dims.get("b"), undefined);
  assert.deepEqual(dims.get("c"), { dim: "level_c", levels: [2] });
  assert.equal(dims.get("d"), dims.get("a"));
});

Deno.test("a plane outside a field's levels is refused, naming the field's levels; wb2 refuses mesh fields", async () => {
  const dir = await tempDir();
  const w = new ForecastStoreWriter({
    out: join(dir, "f.zarr"),
    inits: [0],
    leads: [6],
    fields: ["t", "t2m"],
    levels: { t: [850], t2m: [0] },
    lat: Float64Array.of(0),
    lon: Float64Array.of(0),
  });
  assert.throws(() => w.write(0, 0, "t2m", 850, [new Float32Array(1)]), /no plane t2m\/850 .*its levels: 0/);
  assert.throws(() => w.write(0, 0, "t", 0, [new Float32Array(1)]), /no plane t\/0 .*its levels: 850/);
  w.abort();
  assert.throws(
    () =>
      new ForecastStoreWriter({
        out: join(dir, "m.zarr"),
        inits: [0],
        leads: [6],
        fields: ["t2m"],
        levels: { t2m: [0] },
        lat: Float64Array.of(0),
        lon: Float64Array.of(0),
        layout: "wb2",
        mesh: { fields: ["sst"], levels: { sst: [0] }, lat: Float64Array.of(0), lon: Float64Array.of(0) },
      }),
    (
      e: Error,
    ) => (assert.ok(isPipelineError(e, "config"), String(e)), assert.match(e.message, /--layout native/), true),
  );
  assert.ok(!exists(join(dir, "m.zarr")) && !exists(join(dir, "m.zarr.partial")), "nothing left behind");
});
