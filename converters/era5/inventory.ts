/**
 * Scan ERA5 input files (headers and coordinates only) and plan the store:
 * fields, levels, the joint time axis, which file holds each
 * (field, level, time), gaps and duplicates.
 *
 * @module
 */
import { decodeTimes, isoTime, type Packing, packingOf, parseTimeUnits } from "../cf.ts";
import type { LocatedVariable, SourceDataset } from "../formats/registry.ts";
import { openInput } from "./remote/open.ts";
import { ConfigError, InputError } from "../../errors.ts";
import { describeGrid, type Grid, normalizeGrid, sameGrid } from "./grid.ts";

const TIME_NAMES = ["valid_time", "time"];
const LAT_NAMES = ["latitude", "lat"];
const LON_NAMES = ["longitude", "lon"];
/** Level coordinate names and the level type they imply. */
const LEVEL_NAMES: Record<string, "pressure" | "model"> = {
  level: "pressure",
  pressure_level: "pressure",
  isobaricInhPa: "pressure",
  plev: "pressure",
  model_level: "model",
  hybrid: "model",
};
/** Variables that are coordinates or bookkeeping, never fields. */
const NOT_FIELDS = new Set(["number", "step", "expver", "surface", "time_bnds", "forecast_reference_time"]);

/** One data variable of one file. */
export interface FileVariable {
  /** Name in the file. */
  name: string;
  /** Dimension names. */
  dims: string[];
  /** CF packing. */
  packing: Packing;
  /** `units` attribute. */
  units: string;
  /** `long_name` attribute. */
  longName: string;
  /** Where its values lie, when the format plug-in can say (workers then read them without a full open). */
  located?: LocatedVariable;
}

/** What one input file holds. */
export interface FileEntry {
  /** Path. */
  path: string;
  /** Format name. */
  format: string;
  /** Decoded times, seconds since 1970. */
  times: number[];
  /** Level values (hPa or model level), empty for single-level files. */
  levels: number[];
  /** Level type implied by the level coordinate's name. */
  levelType?: "pressure" | "model";
  /** Name of the level dimension. */
  levelDim?: string;
  /** Name of a legacy `expver` dimension, merged on read. */
  expverDim?: string;
  /** Length of the expver dimension (1 when absent). */
  expverCount: number;
  /** Number of ERA5T (expver 5) time steps, when recorded per time. */
  era5tSteps: number;
  /** Hybrid coefficients (a then b per half level) from GRIB model-level messages. */
  pv?: number[];
  /** The grid. */
  grid: Grid;
  /** Data variables. */
  variables: Map<string, FileVariable>;
}

function findVar(ds: SourceDataset, names: string[]): string | undefined {
  return names.find((n) => ds.variables.has(n));
}

/** Names of a file's coordinate variables and of their dimensions. */
interface Coordinates {
  timeName: string;
  latName: string;
  lonName: string;
  timeDim: string;
  latDim: string;
  lonDim: string;
  /** The level coordinate, when the file has levels. */
  levelName?: string;
}

/** Read the header and coordinates of one input file. */
export async function scanFile(path: string): Promise<FileEntry> {
  const ds = await openInput(path);
  try {
    checkRegularGrid(ds, path);
    const names = coordinateNames(ds, path);
    const { timeName, latName, lonName, levelName } = names;
    const tv = ds.variables.get(timeName)!;
    const units = String(tv.attrs.units ?? "");
    let times: number[];
    try {
      const raw = ds.readAll(timeName) as ArrayLike<number>;
      times = decodeTimes(raw, parseTimeUnits(units, String(tv.attrs.calendar ?? "standard")));
    } catch (e) {
      throw new InputError(path, `time coordinate ${timeName}: ${(e as Error).message}`);
    }
    let grid: Grid;
    try {
      grid = normalizeGrid(ds.readAll(latName) as Float64Array, ds.readAll(lonName) as Float64Array);
    } catch (e) {
      throw new InputError(path, `grid: ${(e as Error).message}`);
    }
    const levels = levelName ? levelValues(ds, levelName) : [];
    const { expverDim, era5tSteps } = expverOf(ds, names.timeDim);
    const variables = fieldVariables(ds, path, names, expverDim);
    if (variables.size === 0) throw new InputError(path, "no data variables on a (time, [level], lat, lon) grid");
    return {
      path,
      format: ds.format,
      times,
      levels,
      levelType: levelName ? LEVEL_NAMES[levelName] : undefined,
      levelDim: levelName,
      expverDim,
      expverCount: expverDim ? ds.dims[expverDim] : 1,
      era5tSteps,
      pv: Array.isArray(ds.attrs.GRIB_pv) ? ds.attrs.GRIB_pv as number[] : undefined,
      grid,
      variables,
    };
  } finally {
    ds.close();
  }
}

/** Refuse GRIB data on another grid than regular lat-lon. */
function checkRegularGrid(ds: SourceDataset, path: string): void {
  const gridType = ds.attrs.GRIB_gridType;
  if (gridType && gridType !== "regular_ll") {
    throw new InputError(
      path,
      `${gridType} grid: convert era5 needs a regular lat-lon grid (the GRIB reader gives the points of this grid ` +
        "with their lat/lon for unstructured use; or regrid with `cdo -R remapbil,r1440x721 IN OUT`)",
    );
  }
}

/** The time, latitude, longitude (each present and not empty) and level coordinates. */
function coordinateNames(ds: SourceDataset, path: string): Coordinates {
  const timeName = findVar(ds, TIME_NAMES);
  if (!timeName) throw new InputError(path, `no time coordinate (looked for ${TIME_NAMES.join(", ")})`);
  const latName = findVar(ds, LAT_NAMES);
  const lonName = findVar(ds, LON_NAMES);
  if (!latName || !lonName) throw new InputError(path, "no latitude/longitude coordinates");
  for (const name of [timeName, latName, lonName]) {
    const len = ds.variables.get(name)!.shape[0];
    if (len === 0) throw new InputError(path, `${name} has length 0: the file holds no data`);
  }
  return {
    timeName,
    latName,
    lonName,
    timeDim: ds.variables.get(timeName)!.dims[0] ?? timeName,
    latDim: ds.variables.get(latName)!.dims[0] ?? latName,
    lonDim: ds.variables.get(lonName)!.dims[0] ?? lonName,
    levelName: Object.keys(LEVEL_NAMES).find((n) => ds.variables.has(n) && n in ds.dims),
  };
}

/** Level values in hPa (pressure given in Pa converted) or model levels, rounded to 1e-6. */
function levelValues(ds: SourceDataset, levelName: string): number[] {
  const lv = ds.variables.get(levelName)!;
  const scale = String(lv.attrs.units ?? "") === "Pa" ? 0.01 : 1;
  return [...(ds.readAll(levelName) as Float64Array)].map((v) => Math.round(Number(v) * scale * 1e6) / 1e6);
}

/**
 * The legacy `expver` dimension (merged on read), or, when `expver` is a
 * per-time coordinate instead, the number of ERA5T (expver 5) time steps.
 */
function expverOf(ds: SourceDataset, timeDim: string): { expverDim?: string; era5tSteps: number } {
  const expverDim = "expver" in ds.dims && ds.variables.get("expver")?.dims.length === 1 &&
      ds.variables.get("expver")?.dims[0] === "expver"
    ? "expver"
    : undefined;
  let era5tSteps = 0;
  const ev = ds.variables.get("expver");
  if (ev && !expverDim && ev.dims[0] === timeDim) {
    const tags = ds.readAll("expver") as unknown as ArrayLike<unknown>;
    for (let i = 0; i < tags.length; i++) if (Number(String(tags[i]).trim()) === 5) era5tSteps++;
  }
  return { expverDim, era5tSteps };
}

/** The data variables on (time, [expver], [level], lat, lon); other dimensions are refused. */
function fieldVariables(
  ds: SourceDataset,
  path: string,
  c: Coordinates,
  expverDim: string | undefined,
): Map<string, FileVariable> {
  const { timeName, latName, lonName, levelName, timeDim, latDim, lonDim } = c;
  const variables = new Map<string, FileVariable>();
  for (const v of ds.variables.values()) {
    if (NOT_FIELDS.has(v.name) || v.name === timeName || v.name === latName || v.name === lonName) continue;
    if (v.name === levelName || v.dims.length < 3) continue;
    const allowed = [timeDim, expverDim, levelName, latDim, lonDim].filter(Boolean);
    if (v.dims[0] !== timeDim || v.dims.at(-2) !== latDim || v.dims.at(-1) !== lonDim) {
      throw new InputError(
        path,
        `variable ${v.name} has dimensions (${
          v.dims.join(", ")
        }); expected (${timeDim}, [level], ${latDim}, ${lonDim})`,
      );
    }
    const extra = v.dims.filter((d) => !allowed.includes(d));
    if (extra.length) {
      throw new InputError(path, `variable ${v.name} has unexpected dimension(s) ${extra.join(", ")}`);
    }
    variables.set(v.name, {
      name: v.name,
      dims: v.dims,
      packing: packingOf(v.attrs),
      units: String(v.attrs.units ?? ""),
      longName: String(v.attrs.long_name ?? ""),
      located: ds.locate?.(v.name),
    });
  }
  return variables;
}

/** A store field: where each of its (level, time) values comes from. */
export interface FieldPlan {
  /** Field name. */
  name: string;
  /** True for a 3-D field (in `data`), false for single-level (in `data_sfc`). */
  hasLevels: boolean;
  /** Units. */
  units: string;
  /** Long name. */
  longName: string;
  /** Per store level (one entry for single-level fields): file index per store time, −1 if missing. */
  owner: Int32Array[];
  /** Same shape: time index inside that file. */
  local: Int32Array[];
  /** Per store level: level index inside the owning file (−1 for no level dimension), per file. */
  levelIndex: Int32Array[];
}

/** The conversion plan. */
export interface Plan {
  /** Scanned files. */
  files: FileEntry[];
  /** The common grid. */
  grid: Grid;
  /** Store time axis, seconds since 1970. */
  times: number[];
  /** Time step in seconds. */
  step: number;
  /** Store levels. */
  levels: number[];
  /** Level type. */
  levelType: "pressure" | "model" | "none";
  /** 3-D fields in store order. */
  fields: FieldPlan[];
  /** Single-level fields in store order. */
  fieldsSfc: FieldPlan[];
  /** Store time indices with no data for some field (only when gaps are allowed). */
  missing: { time: string; fields: string[] }[];
  /** ERA5T time steps seen (new-CDS `expver` coordinate). */
  era5tSteps: number;
  /** Hybrid coefficients of model levels, when the inputs carry them. */
  pv?: number[];
}

/** Options that shape the plan. */
export interface PlanOptions {
  /** Fields to keep (default: all found). */
  fields?: string[];
  /** Levels to keep (default: all found). */
  levels?: number[];
  /** Allow gaps in the time axis (filled with NaN and listed). */
  allowGaps?: boolean;
}

/** A field as the scan found it: whether it has levels, its units and name, the first file holding it. */
interface FoundField {
  hasLevels: boolean;
  units: string;
  longName: string;
  path: string;
}

/** The store's time axis: every `step` seconds from `t0`, `times` in all. */
interface TimeAxis {
  times: number[];
  step: number;
  t0: number;
}

/** Join scanned files into a plan; throws {@link InputError} on inconsistent input. */
export function planConversion(files: FileEntry[], opts: PlanOptions = {}): Plan {
  if (files.length === 0) throw new ConfigError("inputs", "no input files");
  const grid = files[0].grid;
  checkSameGrid(files);
  checkOneLevelType(files);
  const found = foundFields(files);
  const wanted = opts.fields ?? [...found.keys()];
  for (const name of wanted) {
    if (!found.has(name)) {
      throw new ConfigError(
        "--fields",
        `field "${name}" is in none of the ${files.length} input file(s) (found: ${[...found.keys()].join(", ")})`,
      );
    }
  }
  const levels = wantedLevels(files, wanted, found, opts.levels);
  const hasLevelFields = wanted.some((n) => found.get(n)!.hasLevels);
  const axis = timeAxis(files, wanted);
  const makeField = (name: string) => fieldPlan(name, found.get(name)!, files, levels, axis);
  const fields = wanted.filter((n) => found.get(n)!.hasLevels).map(makeField);
  const fieldsSfc = wanted.filter((n) => !found.get(n)!.hasLevels).map(makeField);
  const missing = missingTimes([...fields, ...fieldsSfc], levels, axis.times);
  if (missing.length && !opts.allowGaps) throw gapError(files, fields, fieldsSfc, missing, axis);
  return {
    files,
    grid,
    times: axis.times,
    step: axis.step,
    levels: hasLevelFields ? levels : [],
    levelType: hasLevelFields ? (files.find((f) => f.levelType)?.levelType ?? "pressure") : "none",
    fields,
    fieldsSfc,
    missing,
    era5tSteps: files.reduce((a, f) => a + f.era5tSteps, 0),
    pv: files.find((f) => f.pv)?.pv,
  };
}

/** Refuse files on another grid than the first file's. */
function checkSameGrid(files: FileEntry[]): void {
  const grid = files[0].grid;
  for (const f of files.slice(1)) {
    if (!sameGrid(grid, f.grid)) {
      throw new InputError(
        f.path,
        `grid differs from ${files[0].path}: ${describeGrid(f.grid)} vs ${describeGrid(grid)}`,
      );
    }
  }
}

/** Refuse pressure-level and model-level inputs together. */
function checkOneLevelType(files: FileEntry[]): void {
  const levelTypes = new Set(files.filter((f) => f.levelType).map((f) => f.levelType));
  if (levelTypes.size > 1) {
    const a = files.find((f) => f.levelType === "pressure"), b = files.find((f) => f.levelType === "model");
    throw new InputError(
      b?.path ?? files[0].path,
      `model-level data, but ${a?.path ?? "other inputs"} holds pressure levels; convert them separately`,
    );
  }
}

/** Fields found, in first-seen order; a field with levels in one file and without in another is refused. */
function foundFields(files: FileEntry[]): Map<string, FoundField> {
  const found = new Map<string, FoundField>();
  for (const f of files) {
    for (const v of f.variables.values()) {
      const hasLevels = f.levelDim !== undefined && v.dims.includes(f.levelDim);
      const prev = found.get(v.name);
      if (prev && prev.hasLevels !== hasLevels) {
        throw new InputError(f.path, `${v.name} has levels here but not in ${prev.path}`);
      }
      if (!prev) found.set(v.name, { hasLevels, units: v.units, longName: v.longName, path: f.path });
    }
  }
  return found;
}

/** The levels to convert: those asked for (each must be in some file), else every level of the wanted fields, sorted. */
function wantedLevels(
  files: FileEntry[],
  wanted: string[],
  found: Map<string, FoundField>,
  asked: number[] | undefined,
): number[] {
  const allLevels = new Set<number>();
  for (const f of files) {
    if ([...f.variables.keys()].some((n) => wanted.includes(n) && found.get(n)!.hasLevels)) {
      f.levels.forEach((l) => allLevels.add(l));
    }
  }
  for (const l of asked ?? []) {
    if (!allLevels.has(l)) {
      throw new ConfigError(
        "--levels",
        `level ${l} is in none of the input files (found: ${[...allLevels].join(", ")})`,
      );
    }
  }
  return asked ?? [...allLevels].sort((a, b) => a - b);
}

/**
 * Time axis: every time any wanted field has, at the smallest step between
 * them (1 h for a single time); a time twice in one file or off the step is
 * refused.
 */
function timeAxis(files: FileEntry[], wanted: string[]): TimeAxis {
  const uniq = new Set<number>();
  for (const f of files) {
    if (![...f.variables.keys()].some((n) => wanted.includes(n))) continue;
    const seen = new Set<number>();
    for (const t of f.times) {
      if (seen.has(t)) throw new InputError(f.path, `time ${isoTime(t)} appears twice in the time coordinate`);
      seen.add(t);
      uniq.add(t);
    }
  }
  const sorted = [...uniq].sort((a, b) => a - b);
  let step = 3600;
  if (sorted.length > 1) {
    step = Infinity;
    for (let i = 1; i < sorted.length; i++) step = Math.min(step, sorted[i] - sorted[i - 1]);
  }
  const t0 = sorted[0];
  for (const t of sorted) {
    if ((t - t0) % step !== 0) {
      const holder = files.find((f) => f.times.includes(t))!;
      const first = files.find((f) => f.times.includes(t0))!;
      throw new InputError(
        holder.path,
        `irregular time axis: ${isoTime(t)} is not a multiple of the ${step / 3600} h step from ${isoTime(t0)}` +
          (first.path === holder.path ? "" : ` (in ${first.path})`),
      );
    }
  }
  const nt = (sorted.at(-1)! - t0) / step + 1;
  return { times: Array.from({ length: nt }, (_, i) => t0 + i * step), step, t0 };
}

/** Which file (and which time and level in it) holds each store time of each level of one field. */
function fieldPlan(name: string, info: FoundField, files: FileEntry[], levels: number[], axis: TimeAxis): FieldPlan {
  const { t0, step } = axis, nt = axis.times.length;
  const nl = info.hasLevels ? levels.length : 1;
  const plan: FieldPlan = {
    name,
    hasLevels: info.hasLevels,
    units: info.units,
    longName: info.longName,
    owner: Array.from({ length: nl }, () => new Int32Array(nt).fill(-1)),
    local: Array.from({ length: nl }, () => new Int32Array(nt).fill(-1)),
    levelIndex: Array.from({ length: nl }, () => new Int32Array(files.length).fill(-1)),
  };
  files.forEach((f, fi) => {
    if (!f.variables.has(name)) return;
    for (let li = 0; li < nl; li++) {
      let lidx = -1;
      if (info.hasLevels) {
        lidx = f.levels.indexOf(levels[li]);
        if (lidx < 0) continue;
      }
      plan.levelIndex[li][fi] = lidx;
      f.times.forEach((t, k) => {
        const ti = (t - t0) / step;
        const prev = plan.owner[li][ti];
        if (prev >= 0) {
          throw new InputError(
            f.path,
            `duplicate data: ${name}${info.hasLevels ? ` level ${levels[li]}` : ""} at ${isoTime(t)} is also in ${
              files[prev].path
            }`,
          );
        }
        plan.owner[li][ti] = fi;
        plan.local[li][ti] = k;
      });
    }
  });
  return plan;
}

/** The store times some field level has no data for, with those field levels. */
function missingTimes(all: FieldPlan[], levels: number[], times: number[]): Plan["missing"] {
  const missing: { time: string; fields: string[] }[] = [];
  for (let ti = 0; ti < times.length; ti++) {
    const absent: string[] = [];
    for (const f of all) {
      f.owner.forEach((o, li) => {
        if (o[ti] < 0) absent.push(f.hasLevels ? `${f.name}@${levels[li]}` : f.name);
      });
    }
    if (absent.length) missing.push({ time: isoTime(times[ti]), fields: absent });
  }
  return missing;
}

/** The error for gaps in the time axis: times with no data at all, and the first field levels lacking times. */
function gapError(
  files: FileEntry[],
  fields: FieldPlan[],
  fieldsSfc: FieldPlan[],
  missing: Plan["missing"],
  { times, step, t0 }: TimeAxis,
): InputError {
  const total = fields.reduce((n, f) => n + f.owner.length, 0) + fieldsSfc.reduce((n, f) => n + f.owner.length, 0);
  const empty = missing.filter((m) => m.fields.length === total).map((m) => Date.parse(m.time + "Z") / 1000);
  const parts: string[] = [];
  if (empty.length) parts.push(`no data at all for ${empty.length} time step(s): ${ranges(empty, step)}`);
  const byField = new Map<string, number[]>();
  for (const m of missing) {
    if (m.fields.length === total) continue;
    const t = Date.parse(m.time + "Z") / 1000;
    for (const f of m.fields) {
      const list = byField.get(f);
      if (list) list.push(t);
      else byField.set(f, [t]);
    }
  }
  for (const [f, ts] of [...byField].slice(0, 3)) {
    parts.push(`${f} lacks ${ts.length} time step(s) that other fields have: ${ranges(ts, step)}`);
  }
  if (byField.size > 3) parts.push(`and ${byField.size - 3} more field levels`);
  return new InputError(
    files.length === 1 ? files[0].path : `${files.length} input files`,
    `gap in the time axis (every ${step / 3600} h from ${isoTime(t0)} to ${isoTime(times[times.length - 1])}): ${
      parts.join("; ")
    }. ` +
      "Add the missing files, or pass --allow-gaps to fill them with NaN",
  );
}

/** `A .. B` ranges of consecutive times, the first three. */
function ranges(times: number[], step: number): string {
  const out: string[] = [];
  let start = times[0], prev = times[0];
  for (const t of [...times.slice(1), NaN]) {
    if (t === prev + step) {
      prev = t;
      continue;
    }
    out.push(start === prev ? isoTime(start) : `${isoTime(start)} .. ${isoTime(prev)}`);
    start = prev = t;
  }
  return out.slice(0, 3).join(", ") + (out.length > 3 ? `, … (${out.length} ranges)` : "");
}
