/**
 * The names and shapes of the forecast store's two layouts, and its
 * coordinates. `native`: one variable per field, named by the field's ERA5
 * short name as our data stores name it (`t`, `t2m`), dims (init_time,
 * lead_time[, level], lat, lon) with only that field's levels. `wb2`:
 * WeatherBench 2's forecast schema — dims `time` (init), `prediction_timedelta`,
 * `level` (int, hPa), `longitude` (0…360, ascending), `latitude` (ascending),
 * variables by their long names (`temperature`, `2m_temperature`; the table of
 * era5_names.ts), ensemble members on a `number` dim.
 *
 * Level dimensions follow one rule in both layouts: fields whose level lists
 * are equal share one dimension; the first list met (in field order) is
 * `level`, each other list is `level_<name>` after the first field holding
 * it. A single-level field (levels [0]) has no level dimension. xarray needs
 * one coordinate per dimension name, and a union of levels would pad the
 * fields lacking one with NaN.
 *
 * @module
 */
import { ArrayWriter } from "../zarr/writer.ts";
import { cloudName, standardName } from "../era5_names.ts";
import { ConfigError } from "../errors.ts";

/** The layouts of the forecast store. */
export type ForecastLayout = "native" | "wb2";

/** Every layout, for option checks and help. */
export const FORECAST_LAYOUTS: readonly ForecastLayout[] = ["native", "wb2"];

/** A layout named on the command line (`key` names the option in the error). */
export function checkLayout(text: string, key: string): ForecastLayout {
  const l = FORECAST_LAYOUTS.find((x) => x === text);
  if (!l) throw new ConfigError(key, `"${text}" is not a forecast store layout; one of ${FORECAST_LAYOUTS.join(", ")}`);
  return l;
}

/** The dimension names of one layout. */
export interface LayoutNames {
  /** Initial time. */
  init: string;
  /** Lead time. */
  lead: string;
  /** Ensemble member. */
  member: string;
  /** Base name of the level dimensions. */
  level: string;
  /** Latitude of the grid rows. */
  lat: string;
  /** Longitude of the grid columns. */
  lon: string;
}

/** Dimension names per layout. */
export const LAYOUT_NAMES: Readonly<Record<ForecastLayout, LayoutNames>> = {
  native: { init: "init_time", lead: "lead_time", member: "member", level: "level", lat: "lat", lon: "lon" },
  wb2: {
    init: "time",
    lead: "prediction_timedelta",
    member: "number",
    level: "level",
    lat: "latitude",
    lon: "longitude",
  },
};

/** The variable name of a field: its short name (native) or its WeatherBench 2 long name, when known (wb2). */
export function variableName(field: string, layout: ForecastLayout): string {
  return layout === "wb2" ? cloudName(field) ?? field : field;
}

/** One field's level dimension: its name and levels; undefined for a single-level field. */
export interface LevelDim {
  /** Dimension (and coordinate) name. */
  dim: string;
  /** The field's levels, in the order written. */
  levels: number[];
}

/** True when the levels are those of a single-level field. */
function singleLevel(levels: number[]): boolean {
  return levels.length === 1 && levels[0] === 0;
}

/**
 * The level dimension of each field by the rule of this module: equal level
 * lists share a dimension, the first is `base`, each other `base_<name>` (the
 * variable name of its first field).
 */
export function levelDims(
  fields: string[],
  levels: Readonly<Record<string, number[]>>,
  base: string,
  nameOf: (field: string) => string,
): Map<string, LevelDim | undefined> {
  const out = new Map<string, LevelDim | undefined>();
  const seen: LevelDim[] = [];
  for (const f of fields) {
    const ls = levels[f];
    if (!ls?.length) throw new Error(`no levels given for field ${f}`);
    if (singleLevel(ls)) {
      out.set(f, undefined);
      continue;
    }
    const key = ls.join(",");
    let d = seen.find((s) => s.levels.join(",") === key);
    if (!d) {
      d = { dim: seen.length === 0 ? base : `${base}_${nameOf(f)}`, levels: [...ls] };
      seen.push(d);
    }
    out.set(f, d);
  }
  return out;
}

/** The horizontal part of a variable: dimension names, shape, and the reordering of a plane into it. */
export interface Space {
  /** Dimension names. */
  dims: string[];
  /** Shape. */
  shape: number[];
  /** A plane as the rollout makes it → as the store holds it. */
  reorder(plane: Float32Array): Float32Array;
}

/** The grid's space and coordinates in a layout: native keeps the rows and columns, wb2 sorts them and stores (longitude, latitude). */
export interface GridSpace extends Space {
  /** Latitude coordinate values, in store order. */
  lat: Float64Array;
  /** Longitude coordinate values, in store order. */
  lon: Float64Array;
}

/** The grid as a layout stores it. */
export function gridSpace(lat: Float64Array, lon: Float64Array, layout: ForecastLayout): GridSpace {
  const R = lat.length, C = lon.length, n = LAYOUT_NAMES[layout];
  if (layout === "native") return { dims: [n.lat, n.lon], shape: [R, C], lat, lon, reorder: (p) => p };
  const wrap = (x: number) => ((x % 360) + 360) % 360;
  const rows = Array.from({ length: R }, (_, i) => i).sort((a, b) => lat[a] - lat[b]);
  const cols = Array.from({ length: C }, (_, j) => j).sort((a, b) => wrap(lon[a]) - wrap(lon[b]));
  return {
    dims: [n.lon, n.lat],
    shape: [C, R],
    lat: Float64Array.from(rows, (i) => lat[i]),
    lon: Float64Array.from(cols, (j) => wrap(lon[j])),
    reorder: (p) => {
      const out = new Float32Array(R * C);
      for (const [jj, j] of cols.entries()) {
        for (const [ii, i] of rows.entries()) out[jj * R + ii] = p[i * C + j];
      }
      return out;
    },
  };
}

/** CF attributes of a field's variable: units, long name, standard name where the field has one. */
export function fieldAttributes(field: string, meta: { units?: string; long_name?: string } | undefined): Record<
  string,
  string
> {
  const long = meta?.long_name ?? cloudName(field)?.replaceAll("_", " ") ?? field;
  const std = standardName(field);
  return { units: meta?.units ?? "", long_name: long, ...(std ? { standard_name: std } : {}) };
}

/** CF time units: hours when every time is a whole hour, else seconds. */
function timeUnit(seconds: number[]): { unit: "hours" | "seconds"; scale: number } {
  return seconds.every((s) => s % 3600 === 0) ? { unit: "hours", scale: 3600 } : { unit: "seconds", scale: 1 };
}

/** A 1-D coordinate array. */
function coordinate(
  root: string,
  path: string,
  dtype: "float64" | "int64",
  data: Float64Array | BigInt64Array,
  attributes: Record<string, unknown>,
): void {
  const w = new ArrayWriter(root, path, 2, {
    shape: [data.length],
    chunks: [Math.max(1, data.length)],
    dtype,
    dimensions: [path],
    attributes,
  });
  w.writeMetadata();
  w.writeAll(data);
}

/** Integer levels as int64, others as float64. */
export function levelCoordinate(root: string, d: LevelDim, attributes: Record<string, unknown>): void {
  const ints = d.levels.every(Number.isInteger);
  coordinate(
    root,
    d.dim,
    ints ? "int64" : "float64",
    ints ? BigInt64Array.from(d.levels, BigInt) : Float64Array.from(d.levels),
    attributes,
  );
}

/** What {@link timeCoordinates} writes. */
export interface TimeAxes {
  /** Initial times, seconds since 1970. */
  inits: number[];
  /** Lead times in hours. */
  leads: number[];
  /** Ensemble members (0: no member dimension). */
  members: number;
}

/**
 * The time coordinates, CF-encoded so xarray decodes datetime64[ns] and
 * timedelta64[ns]: the init dimension ("hours since 1970-01-01"), the lead
 * dimension ("hours"), in the native layout `valid_time` (init, lead) too, and
 * the member dimension when there are members.
 */
export function timeCoordinates(root: string, t: TimeAxes, layout: ForecastLayout): void {
  const n = LAYOUT_NAMES[layout];
  const { unit, scale } = timeUnit([...t.inits, ...t.leads.map((h) => h * 3600)]);
  const since = { units: `${unit} since 1970-01-01 00:00:00`, calendar: "proleptic_gregorian" };
  const count = (s: number) => BigInt(Math.round(s / scale));
  coordinate(root, n.init, "int64", BigInt64Array.from(t.inits, count), {
    ...since,
    standard_name: "forecast_reference_time",
    long_name: "initial time",
  });
  coordinate(root, n.lead, "int64", BigInt64Array.from(t.leads, (h) => count(h * 3600)), {
    units: unit,
    standard_name: "forecast_period",
    long_name: "lead time",
  });
  if (t.members) {
    coordinate(root, n.member, "int64", BigInt64Array.from({ length: t.members }, (_, i) => BigInt(i)), {
      long_name: "ensemble member",
    });
  }
  if (layout !== "native") return; // WeatherBench 2 derives valid times itself; a coordinate of that name would clash.
  const valid = new ArrayWriter(root, "valid_time", 2, {
    shape: [t.inits.length, t.leads.length],
    chunks: [Math.max(1, t.inits.length), Math.max(1, t.leads.length)],
    dtype: "int64",
    dimensions: [n.init, n.lead],
    attributes: { ...since, standard_name: "time", long_name: "valid time (init_time + lead_time)" },
  });
  valid.writeMetadata();
  valid.writeAll(BigInt64Array.from(t.inits.flatMap((i) => t.leads.map((h) => count(i + h * 3600)))));
}

/** The grid's latitude and longitude coordinates. */
export function gridCoordinates(root: string, g: GridSpace, layout: ForecastLayout): void {
  const n = LAYOUT_NAMES[layout];
  coordinate(root, n.lat, "float64", g.lat, { units: "degrees_north", standard_name: "latitude" });
  coordinate(root, n.lon, "float64", g.lon, { units: "degrees_east", standard_name: "longitude" });
}

/** The mesh's coordinates: `node` (the mesh store's node index) and `node_lat` / `node_lon` on it. */
export function meshCoordinates(root: string, lat: Float64Array, lon: Float64Array): void {
  const N = lat.length;
  const on = (path: string, data: Float64Array, attributes: Record<string, unknown>) => {
    const w = new ArrayWriter(root, path, 2, {
      shape: [N],
      chunks: [N],
      dtype: "float64",
      dimensions: ["node"],
      attributes,
    });
    w.writeMetadata();
    w.writeAll(data);
  };
  coordinate(root, "node", "int64", BigInt64Array.from({ length: N }, (_, i) => BigInt(i)), {
    long_name: "node of the mesh store (0-based)",
  });
  on("node_lat", lat, { units: "degrees_north", standard_name: "latitude" });
  on("node_lon", lon, { units: "degrees_east", standard_name: "longitude" });
}

/** Each field's levels, ascending, from the planes a rollout makes. */
export function levelsByField(planes: readonly { field: string; level: number }[]): Record<string, number[]> {
  const out: Record<string, number[]> = {};
  for (const p of planes) (out[p.field] ??= []).includes(p.level) || out[p.field].push(p.level);
  for (const ls of Object.values(out)) ls.sort((a, b) => a - b);
  return out;
}
