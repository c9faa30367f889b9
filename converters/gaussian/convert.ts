/**
 * `convert gaussian`: GRIB fields on a reduced Gaussian grid (IFS's native
 * grid, e.g. N320 or O1280) into a points store, without regridding. The
 * store has the layout of the FESOM mesh stores, so the sampler reads it
 * as an unstructured dataset and the `healpix-points` tokenizer cuts it:
 * data (time, field, level, node), data_sfc (time, field, node), lat/lon
 * per point, nested HEALPix ids per point; coefficients (monthly global and
 * per point) in a separate `.norm.zarr`.
 *
 * @module
 */
import { basename } from "node:path";
import { openDataset, type SourceDataset } from "../formats/registry.ts";
import { ConfigError, InputError } from "../../errors.ts";
import { isoTime, monthIndex, packingOf, unpackInto } from "../cf.ts";
import type { ArrayWriter } from "../../zarr/writer.ts";
import type { ZarrFormat } from "../../zarr/metadata.ts";
import { refuseImplausible } from "../../normalization/plausible.ts";
import { DEFAULT_CODEC } from "../../zarr/codecs.ts";
import { emptyMoments, type Moments, ShiftedPointSums } from "../../normalization/moments.ts";
import {
  createNormArrays,
  monthEntries,
  type NormArrays,
  type NormLayout,
  writeGlobalCoefficients,
  writeLocalCoefficients,
} from "../../normalization/sets.ts";
import { HEALPIX_ORDERS, writeHealpixIds } from "../healpix_ids.ts";
import { checkInfinite } from "../finite.ts";
import {
  arrayMaker,
  coefficientSetAttrs,
  type MakeArray,
  type OutputPaths,
  provenance,
  publishStaged,
  stagedConversion,
} from "../output.ts";

/** Options of {@link convertGaussian}. */
export interface GaussianOptions {
  /** GRIB files on one reduced Gaussian grid. */
  inputs: string[];
  /** Output store. */
  out: string;
  /** Coefficient store (default OUT with .zarr → .norm.zarr). */
  norm?: string;
  /** Replace existing stores. */
  overwrite?: boolean;
  /** Zarr format (default 2). */
  zarrFormat?: ZarrFormat;
  /** Chunk codec. */
  codec?: string;
  /** Command line, for provenance. */
  command?: string;
  /** Publish coefficients outside their field's plausible range (normalization/plausible.ts) instead of refusing. */
  allowImplausible?: boolean;
}

/** What a conversion wrote. */
export interface GaussianSummary {
  /** Store path. */
  out: string;
  /** Coefficient store path. */
  norm: string;
  /** Fields with levels. */
  fields: string[];
  /** Single-level fields. */
  fieldsSfc: string[];
  /** Levels. */
  levels: number[];
  /** Grid points. */
  points: number;
  /** Time steps. */
  times: number;
}

/** Where one time step of one field lives. */
interface Source {
  path: string;
  variable: string;
  index: number;
  levels: number[];
}

/** Convert reduced Gaussian GRIB files into a points store and its coefficient set. */
export function convertGaussian(opts: GaussianOptions): Promise<GaussianSummary> {
  if (opts.inputs.length === 0) throw new ConfigError("inputs", "no GRIB files given");
  return stagedConversion(
    { out: opts.out, norm: opts.norm, overwrite: opts.overwrite, inputs: opts.inputs, purpose: "convert gaussian" },
    (paths) => convertStaged(opts, paths),
  );
}

/** What the inputs hold: the grid of the first file, and where each field's time steps are. */
interface Inventory {
  lat: Float64Array;
  lon: Float64Array;
  /** Per field, per time: the file and index. */
  sources: Map<string, Map<number, Source>>;
  /** Per field: its levels, null for single-level fields (in the order fields were met). */
  levelsOf: Map<string, number[] | null>;
}

/** The fields of a conversion and the levels they share. */
interface FieldSet {
  fields: string[];
  fieldsSfc: string[];
  levels: number[];
}

async function convertStaged(opts: GaussianOptions, paths: OutputPaths): Promise<GaussianSummary> {
  const { out, norm: normPath, stageOut: stage, stageNorm } = paths;
  const { lat, lon, sources, levelsOf } = await takeInventory(opts.inputs);
  const times = commonTimes(sources);
  const fieldSet = sharedLevels(levelsOf, opts.inputs[0]);
  const { fields, fieldsSfc, levels } = fieldSet;
  const np = lat.length, nt = times.length;

  const format = opts.zarrFormat ?? 2;
  const mk = arrayMaker(stage, format);
  writeCoordinates(mk, format, lat, lon, levels, times);
  const arrays = createDataArrays(mk, opts.codec ?? DEFAULT_CODEC, fieldSet, np, nt);
  const monthOf = times.map(monthIndex);
  const firstMonth = Math.floor(Math.min(...monthOf) / 12) * 12;
  const months = monthEntries(firstMonth, Math.max(...monthOf));
  const layout: NormLayout = { months, fields, fieldsSfc, levels, pointShape: [np], pointDims: ["node"], kind: "" };
  const normArrays = createNormArrays(stageNorm, format, "", layout);
  await convertValues(fieldSet, times, sources, arrays, normArrays, layout, (ti) => monthOf[ti] - firstMonth);
  const normAttrs = coefficientSetAttrs(paths, {
    fields,
    fieldsSfc,
    levels,
    months,
    period: [isoTime(times[0]).slice(0, 7), isoTime(times[nt - 1]).slice(0, 7)],
  }, { instantaneous: true });
  // A fill value read as data gives finite but absurd coefficients: refuse before anything is published.
  if (!opts.allowImplausible) refuseImplausible(stageNorm, normPath, { attrs: normAttrs, format });
  publishStaged(stage, out, format, {
    grid: "unstructured",
    mesh_type: "reduced_gaussian",
    fields,
    fields_sfc: fieldsSfc,
    levels,
    nodes: np,
    healpix_orders: HEALPIX_ORDERS,
    healpix_scheme: "nested",
    normalization: basename(normPath),
    provenance: provenance(opts.command, opts.inputs),
  });
  publishStaged(stageNorm, normPath, format, normAttrs);
  return { out, norm: normPath, fields, fieldsSfc, levels, points: np, times: nt };
}

/** The data arrays: fields with levels (data) and single-level fields (data_sfc), each only when there are any. */
function createDataArrays(
  mk: MakeArray,
  codec: string,
  { fields, fieldsSfc, levels }: FieldSet,
  np: number,
  nt: number,
): { data?: ArrayWriter; dataSfc?: ArrayWriter } {
  const data = fields.length
    ? mk("data", {
      shape: [nt, fields.length, levels.length, np],
      chunks: [1, 1, 1, np],
      dtype: "float32",
      dimensions: ["time", "field", "level", "node"],
      codec,
      complete: true,
    })
    : undefined;
  const dataSfc = fieldsSfc.length
    ? mk("data_sfc", {
      shape: [nt, fieldsSfc.length, np],
      chunks: [1, 1, np],
      dtype: "float32",
      dimensions: ["time", "field_sfc", "node"],
      codec,
      complete: true,
    })
    : undefined;
  return { data, dataSfc };
}

/**
 * Every field level's values into the data arrays, and their coefficients
 * (per point each month, then global) into the coefficient set.
 * `monthOf` gives the month entry of a time index.
 */
async function convertValues(
  { fields, fieldsSfc, levels }: FieldSet,
  times: number[],
  sources: Map<string, Map<number, Source>>,
  arrays: { data?: ArrayWriter; dataSfc?: ArrayWriter },
  normArrays: NormArrays,
  layout: NormLayout,
  monthOf: (ti: number) => number,
): Promise<void> {
  const months = layout.months, np = layout.pointShape[0];
  const moments: Moments[][][] = months.map(() => fields.map(() => levels.map(emptyMoments)));
  const momentsSfc: Moments[][][] = months.map(() => fieldsSfc.map(() => [emptyMoments()]));
  const open = new Map<string, SourceDataset>();
  const values = new Float32Array(np);
  for (const [sfc, names] of [[false, fields], [true, fieldsSfc]] as const) {
    for (const [fi, name] of names.entries()) {
      for (let li = 0; li < Math.max(1, sfc ? 1 : levels.length); li++) {
        // One field level at a time in time order, so one month of per-point sums is alive.
        const finish = (month: number, sums: ShiftedPointSums) => {
          const { points, global } = sums.finish();
          (sfc ? momentsSfc : moments)[month][fi][li] = global;
          const { mean, std } = points.coefficients();
          writeLocalCoefficients(normArrays, sfc, month, fi, li, mean, std);
        };
        const level: FieldLevel = { name, fi, li, sfc, target: sfc ? arrays.dataSfc! : arrays.data! };
        await convertFieldLevel(level, times, sources.get(name)!, open, values, monthOf, finish);
      }
    }
  }
  for (const ds of open.values()) ds.close();
  writeGlobalCoefficients(normArrays, layout, moments, momentsSfc);
}

/** Inventory of the inputs: per field, per time, which file and index; the grid of the first file. */
async function takeInventory(inputs: string[]): Promise<Inventory> {
  const grid: { lat?: Float64Array; lon?: Float64Array; file: string } = { file: "" };
  const sources = new Map<string, Map<number, Source>>();
  const levelsOf = new Map<string, number[] | null>();
  for (const path of inputs) {
    const ds = await openDataset(path);
    try {
      checkGrid(ds, path, grid);
      addFields(ds, path, sources, levelsOf);
    } finally {
      ds.close();
    }
  }
  const { lat, lon } = grid;
  if (!lat || !lon || sources.size === 0) {
    throw new InputError(inputs[0], "no fields on a reduced Gaussian grid in the inputs");
  }
  return { lat, lon, sources, levelsOf };
}

/** Refuse a file not on a reduced Gaussian grid or on another grid than the first file's (kept in `grid`). */
function checkGrid(
  ds: SourceDataset,
  path: string,
  grid: { lat?: Float64Array; lon?: Float64Array; file: string },
): void {
  if (ds.attrs.GRIB_gridType !== "reduced_gg") {
    throw new InputError(
      path,
      `${ds.attrs.GRIB_gridType ?? ds.format} data: convert gaussian reads GRIB on a reduced Gaussian grid ` +
        "(use convert era5 for regular lat-lon grids)",
    );
  }
  const la = Float64Array.from(ds.readAll("latitude") as Float64Array);
  const lo = Float64Array.from(ds.readAll("longitude") as Float64Array, (x) => ((x % 360) + 360) % 360);
  const { lat, lon } = grid;
  if (!lat) [grid.lat, grid.lon, grid.file] = [la, lo, path];
  else if (la.length !== lat.length || la.some((v, i) => v !== lat[i] || lo[i] !== lon![i])) {
    throw new InputError(path, `a different grid (${la.length} points) than ${grid.file} (${lat.length} points)`);
  }
}

/** Add the fields of one file to the inventory, refusing other levels than elsewhere and duplicate times. */
function addFields(
  ds: SourceDataset,
  path: string,
  sources: Map<string, Map<number, Source>>,
  levelsOf: Map<string, number[] | null>,
): void {
  const times = Array.from(ds.readAll("valid_time") as BigInt64Array, Number);
  for (const v of ds.variables.values()) {
    if (v.dims.at(-1) !== "values" || v.dims[0] !== "valid_time" || ["latitude", "longitude"].includes(v.name)) {
      continue;
    }
    const levels = v.dims.length === 3 ? Array.from(ds.readAll(v.dims[1]) as Float64Array) : null;
    const known = levelsOf.get(v.name);
    if (known !== undefined && (known?.join() ?? "") !== (levels?.join() ?? "")) {
      throw new InputError(
        path,
        `${v.name} has levels ${levels?.join(", ") ?? "none"}, elsewhere ${known?.join(", ") ?? "none"}`,
      );
    }
    levelsOf.set(v.name, levels);
    const byTime = sources.get(v.name) ?? new Map<number, Source>();
    times.forEach((t, index) => {
      const seen = byTime.get(t);
      if (seen) throw new InputError(path, `duplicate data: ${v.name} at ${isoTime(t)} is also in ${seen.path}`);
      byTime.set(t, { path, variable: v.name, index, levels: levels ?? [] });
    });
    sources.set(v.name, byTime);
  }
}

/** Every time of the inputs, sorted; a field missing one of them is refused. */
function commonTimes(sources: Map<string, Map<number, Source>>): number[] {
  const times = [...new Set([...sources.values()].flatMap((m) => [...m.keys()]))].sort((a, b) => a - b);
  for (const [name, byTime] of sources) {
    const missing = times.filter((t) => !byTime.has(t));
    if (missing.length) {
      throw new InputError(
        sources.get(name)!.values().next().value!.path,
        `${name} has no data for ${missing.length} of ${times.length} times (first ${isoTime(missing[0])})`,
      );
    }
  }
  return times;
}

/** Fields with levels (which must share them) and single-level fields. */
function sharedLevels(levelsOf: Map<string, number[] | null>, firstInput: string): FieldSet {
  const fields = [...levelsOf].filter(([, l]) => l).map(([n]) => n);
  const levelSets = new Set(fields.map((f) => levelsOf.get(f)!.join(", ")));
  if (levelSets.size > 1) {
    throw new InputError(
      firstInput,
      `fields with levels must share them: ${fields.map((f) => `${f} (${levelsOf.get(f)!.join(", ")})`).join(", ")}`,
    );
  }
  const fieldsSfc = [...levelsOf].filter(([, l]) => !l).map(([n]) => n);
  const levels = fields.length ? levelsOf.get(fields[0])! : [];
  return { fields, fieldsSfc, levels };
}

/** The coordinate arrays: point latitudes and longitudes with their HEALPix ids, levels, times. */
function writeCoordinates(
  mk: MakeArray,
  format: ZarrFormat,
  lat: Float64Array,
  lon: Float64Array,
  levels: number[],
  times: number[],
): void {
  const np = lat.length, nt = times.length, nl = levels.length;
  mk("lat", {
    shape: [np],
    chunks: [np],
    dtype: "float64",
    dimensions: ["node"],
    attributes: { units: "degrees_north" },
  })
    .writeAll(lat);
  mk("lon", {
    shape: [np],
    chunks: [np],
    dtype: "float64",
    dimensions: ["node"],
    attributes: { units: "degrees_east" },
  })
    .writeAll(lon);
  writeHealpixIds(mk, "healpix_node", lon, lat, "node");
  mk("level", { shape: [nl], chunks: [Math.max(1, nl)], dtype: "float64", dimensions: ["level"] })
    .writeAll(Float64Array.from(levels));
  mk("time", {
    shape: [nt],
    chunks: [Math.max(1, nt)],
    dtype: format === 2 ? "datetime64[s]" : "int64",
    dimensions: ["time"],
    attributes: format === 3 ? { units: "seconds since 1970-01-01", calendar: "proleptic_gregorian" } : {},
  }).writeAll(BigInt64Array.from(times, BigInt));
}

/** One level of one field: its name, indexes in its array, and the array. */
interface FieldLevel {
  name: string;
  /** Field index in its array. */
  fi: number;
  /** Level index (0 for single-level fields). */
  li: number;
  /** A single-level field (data_sfc). */
  sfc: boolean;
  target: ArrayWriter;
}

/**
 * One field level over every time, in time order: read (files kept open in
 * `open`), decoded into `values`, checked, written, and added to the point
 * sums of its month; `finish` gets each month's sums when the month ends.
 */
async function convertFieldLevel(
  level: FieldLevel,
  times: number[],
  byTime: Map<number, Source>,
  open: Map<string, SourceDataset>,
  values: Float32Array,
  monthOf: (ti: number) => number,
  finish: (month: number, sums: ShiftedPointSums) => void,
): Promise<void> {
  const { name, fi, li, sfc, target } = level;
  const np = values.length;
  let month = -1, sums: ShiftedPointSums | undefined;
  for (const [ti, t] of times.entries()) {
    const src = byTime.get(t)!;
    let ds = open.get(src.path);
    if (!ds) open.set(src.path, ds = await openDataset(src.path));
    const v = ds.variables.get(name)!;
    const raw = sfc ? ds.read(name, [src.index, 0], [1, np]) : ds.read(name, [src.index, li, 0], [1, 1, np]);
    unpackInto(raw, packingOf(v.attrs), values);
    checkInfinite(values, { file: src.path, variable: name, where: (i) => `${isoTime(t)}, point ${i}` });
    const m = monthOf(ti);
    if (m !== month) {
      if (sums) finish(month, sums);
      month = m;
      sums = new ShiftedPointSums(np);
    }
    sums!.addPlanes(values, 0, 1);
    target.writeChunk(sfc ? [ti, fi, 0] : [ti, fi, li, 0], values);
  }
  if (sums) finish(month, sums);
}
