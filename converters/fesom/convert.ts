/**
 * FESOM2 output → zarr, on the native mesh (no regridding), with the mesh,
 * its wet mask, HEALPix ids and normalization in a separate store.
 *
 * Time: FESOM stamps a mean with the start of the last model step of its
 * averaging window (`seconds since <year>-01-01`, no calendar attribute).
 * The store's `time` is the end of the averaging period (stamp + model step;
 * by default the next whole hour after the stamp, right for any step of at
 * most an hour), decoded
 * in the run's calendar (`FESOM_include_fleapyear`: standard, else noleap),
 * and `time_stamp` keeps the stamp as written.
 *
 * Dry cells: values outside a column's wet layers (from nlevels) are NaN in
 * every FESOM version; inside them the 2.7.x fill value stands for a real
 * zero (2.7.x replaced |x| < 1e-30 by the fill value) and becomes 0.
 *
 * @module
 */
import { basename, resolve } from "node:path";
import { decodeTimes, isoTime, monthIndex, parseTimeUnits } from "../cf.ts";
import { openDataset } from "../formats/registry.ts";
import { ConfigError, InputError } from "../../errors.ts";
import type { ZarrFormat } from "../../zarr/metadata.ts";
import type { ArrayWriter } from "../../zarr/writer.ts";
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
import { eulerMatrix, rotateVectorsToGeo } from "../../geometry/sphere.ts";
import { type FesomMesh, readMesh } from "./mesh.ts";
import {
  arrayMaker,
  coefficientSetAttrs,
  type MakeArray,
  type OutputPaths,
  provenance,
  publishStaged,
  stagedConversion,
} from "../output.ts";

export { HEALPIX_ORDERS } from "../healpix_ids.ts";

/** Vector component pairs FESOM writes (u-name → v-name). */
const VECTOR_PAIRS: Record<string, string> = {
  u: "v",
  uice: "vice",
  unod: "vnod",
  tx_sur: "ty_sur",
  bolus_u: "bolus_v",
};

/** Options of {@link convertFesom}. */
export interface FesomOptions {
  /** Mesh directory (ASCII) or `fesom.mesh.diag.nc`. */
  mesh: string;
  /** FESOM output files. */
  inputs: string[];
  /** Output store. */
  out: string;
  /** Normalization store (default OUT with `.zarr` → `.norm.zarr`). */
  norm?: string;
  /**
   * The model time step in seconds: period end = stamp + step. Default: the
   * next whole hour after the stamp (right for any step of at most an hour).
   */
  modelStep?: number;
  /** Rotate vector fields from the model frame to geographic (when the files are rotated). */
  rotateToGeo?: boolean;
  /** Zarr format, default 2. */
  zarrFormat?: ZarrFormat;
  /** Codec spec. */
  codec?: string;
  /** Replace existing outputs. */
  overwrite?: boolean;
  /** Command line for provenance. */
  command?: string;
  /** Called after each time step of each input file is written: `done` of `total` such steps. */
  onProgress?: (done: number, total: number) => void;
}

type Location = "node" | "elem";
type Vertical = "layers" | "interfaces" | "none";

interface FileInfo {
  path: string;
  variable: string;
  location: Location;
  vertical: Vertical;
  /** True when the point dimension comes before the vertical one (FESOM 2.0/2.1). */
  pointsFirst: boolean;
  stamps: number[];
  ends: number[];
  fill?: number;
  attrs: Record<string, unknown>;
  global: Record<string, unknown>;
  units: string;
  longName: string;
}

/** Array name for a group of fields. */
function arrayName(location: Location, vertical: Vertical): string {
  const base = location === "node" ? "data" : "data_elem";
  return vertical === "none" ? `${base}_sfc` : vertical === "interfaces" ? `${base}_nz` : base;
}

function flag(v: unknown): boolean | undefined {
  if (v === undefined || v === null || v === "") return undefined;
  const n = Number(v);
  if (!Number.isNaN(n)) return n !== 0; // 1 or −1 mean true
  return String(v).toLowerCase().startsWith("t");
}

async function scanOutput(path: string, mesh: FesomMesh, modelStep?: number): Promise<FileInfo> {
  const ds = await openDataset(path);
  try {
    const nodes = mesh.lon.length, elems = mesh.triangles.length / 3;
    const candidates = [...ds.variables.values()].filter((v) =>
      v.dims[0] === "time" && v.dims.some((d) => d === "nod2" || d === "elem")
    );
    if (candidates.length === 0) {
      throw new InputError(path, "no FESOM variable on (time, [nz1|nz], nod2|elem) in this file");
    }
    const v = candidates[0];
    const location: Location = v.dims.includes("nod2") ? "node" : "elem";
    const pointDim = location === "node" ? "nod2" : "elem";
    const expected = location === "node" ? nodes : elems;
    if (ds.dims[pointDim] !== expected) {
      throw new InputError(
        path,
        `output from a different mesh: ${pointDim} = ${ds.dims[pointDim]}, the mesh has ${expected} ${
          location === "node" ? "nodes" : "elements"
        }`,
      );
    }
    const vdim = v.dims.find((d) => d === "nz1" || d === "nz");
    const vertical: Vertical = vdim === "nz1" ? "layers" : vdim === "nz" ? "interfaces" : "none";
    if (vdim) {
      const want = vdim === "nz1" ? mesh.layers.length : mesh.interfaces.length;
      if (ds.dims[vdim] !== want) {
        throw new InputError(path, `output from a different mesh: ${vdim} = ${ds.dims[vdim]}, the mesh has ${want}`);
      }
    }
    const extra = v.dims.filter((d) => !["time", pointDim, vdim].includes(d));
    if (extra.length) throw new InputError(path, `${v.name} has unsupported dimension(s) ${extra.join(", ")}`);
    const tv = ds.variables.get("time");
    if (!tv) throw new InputError(path, "no time variable");
    const global = ds.attrs;
    const leap = flag(global.FESOM_include_fleapyear ?? global.include_fleapyear);
    const calendar = String(tv.attrs.calendar ?? (leap === false ? "noleap" : "standard"));
    let stamps: number[];
    try {
      stamps = decodeTimes(ds.readAll("time") as Float64Array, parseTimeUnits(String(tv.attrs.units ?? ""), calendar));
    } catch (e) {
      throw new InputError(path, `time: ${(e as Error).message}`);
    }
    const fillAttr = v.attrs._FillValue;
    return {
      path,
      variable: v.name,
      location,
      vertical,
      pointsFirst: vdim !== undefined && v.dims.indexOf(pointDim) < v.dims.indexOf(vdim),
      stamps,
      ends: stamps.map((s) => modelStep ? s + modelStep : (Math.floor(s / 3600) + 1) * 3600),
      fill: typeof fillAttr === "number" ? fillAttr : undefined,
      attrs: v.attrs,
      global,
      units: String(v.attrs.units ?? ""),
      longName: String(v.attrs.long_name ?? v.attrs.description ?? ""),
    };
  } finally {
    ds.close();
  }
}

/** What a FESOM conversion made. */
export interface FesomSummary {
  /** Data store. */
  out: string;
  /** Normalization store. */
  norm: string;
  /** Fields per array. */
  arrays: Record<string, string[]>;
  /** Number of time steps. */
  times: number;
  /** Frame of vector fields in the store. */
  vectorFrame: string;
}

/** Convert FESOM2 output on its mesh. */
export function convertFesom(opts: FesomOptions): Promise<FesomSummary> {
  if (opts.inputs.length === 0) throw new ConfigError("inputs", "no FESOM output files given");
  return stagedConversion(
    {
      out: opts.out,
      norm: opts.norm,
      overwrite: opts.overwrite,
      inputs: [...opts.inputs, opts.mesh],
      purpose: "convert fesom",
    },
    (paths) => convertStaged(opts, paths),
  );
}

/** Fields stored in one data array: where their points are and their vertical axis. */
interface ArrayGroup {
  location: Location;
  vertical: Vertical;
  fields: string[];
}

/** One coefficient set being written, and the global moments of its fields per month. */
interface NormSet {
  arrays: NormArrays;
  layout: NormLayout;
  moments: Moments[][][];
  momentsSfc: Moments[][][];
}

/** What the steps of one conversion share. */
interface Conversion {
  opts: FesomOptions;
  mesh: FesomMesh;
  /** The files of each field. */
  byField: Map<string, FileInfo[]>;
  /** The store's time axis: every period end of the inputs, sorted. */
  allEnds: number[];
  /** Month index of each store time (from its stamp). */
  monthOfTime: number[];
  /** Month index of the store's month entry 0. */
  firstMonth: number;
  /** Month entries of the coefficient sets. */
  months: number[];
  /** The files hold vectors in the rotated model frame. */
  rotated: boolean;
  codec: string;
  mk: MakeArray;
  /** Time steps of input files written, of all of them (progress). */
  progress: { done: number; total: number };
}

async function convertStaged(opts: FesomOptions, paths: OutputPaths): Promise<FesomSummary> {
  const { out, norm: normPath, stageOut: stage, stageNorm } = paths;
  const mesh = await readMesh(opts.mesh);
  const files: FileInfo[] = [];
  for (const p of opts.inputs) files.push(await scanOutput(p, mesh, opts.modelStep));

  // Fields, grouped by array; one time axis shared by all.
  const byField = filesByField(files);
  const allEnds = [...new Set(files.flatMap((f) => f.ends))].sort((a, b) => a - b);
  checkFieldTimes(byField, allEnds);
  const groups = arrayGroups(byField);
  const rotated = inRotatedFrame(files);
  const vectorFrame = rotated && !opts.rotateToGeo ? "rotated model frame (Euler angles 50, 15, -90)" : "geographic";

  const format = opts.zarrFormat ?? 2;
  const codec = opts.codec ?? DEFAULT_CODEC;
  const nt = allEnds.length;
  const mk = arrayMaker(stage, format);
  writeMeshArrays(mk, mesh);
  const stampOf = new Map<number, number>();
  for (const f of files) f.ends.forEach((e, i) => stampOf.set(e, f.stamps[i]));
  writeTimes(mk, format, allEnds, stampOf);

  // Months: entry 0 = January of the first year, months of the periods' stamps.
  const monthOfTime = allEnds.map((e) => monthIndex(stampOf.get(e)!));
  const firstMonth = Math.floor(Math.min(...monthOfTime) / 12) * 12;
  const months = monthEntries(firstMonth, Math.max(...monthOfTime));
  const normSets = new Map<string, NormSet>();
  const normSet = (kind: string) => {
    let set = normSets.get(kind);
    if (!set) normSets.set(kind, set = createNormSet(kind, groups, mesh, months, stageNorm, format));
    return set;
  };
  const progress = { done: 0, total: files.reduce((a, f) => a + f.ends.length, 0) };
  const conversion: Conversion = {
    opts,
    mesh,
    byField,
    allEnds,
    monthOfTime,
    firstMonth,
    months,
    rotated,
    codec,
    mk,
    progress,
  };
  const attrs: Record<string, unknown> = {};
  for (const [key, g] of groups) {
    await convertArray(conversion, key, g, () => normSet(kindOf(key)));
    attrs[key.replace(/^data/, "fields")] = g.fields;
  }
  for (const set of normSets.values()) {
    writeGlobalCoefficients(set.arrays, set.layout, set.moments, set.momentsSfc);
  }

  Object.assign(attrs, storeAttrs(opts, mesh, files, vectorFrame, normPath));
  publishStaged(stage, out, format, attrs);
  const period: [string, string] = [
    isoTime(stampOf.get(allEnds[0])!).slice(0, 7),
    isoTime(stampOf.get(allEnds[nt - 1])!).slice(0, 7),
  ];
  publishStaged(stageNorm, normPath, format, coefficientSetAttrsOf(paths, normSets, mesh, months, period));
  return {
    out,
    norm: normPath,
    arrays: Object.fromEntries([...groups].map(([k, g]) => [k, g.fields])),
    times: allEnds.length,
    vectorFrame,
  };
}

/** Whether the files' vectors are in FESOM's rotated frame (rotation forced and not rotated back to geographic). */
function inRotatedFrame(files: FileInfo[]): boolean {
  return files.some((f) => flag(f.global.FESOM_force_rotation ?? f.global.force_rotation) === true) &&
    !files.every((f) => flag(f.global.FESOM_autorotate_back_to_geo ?? f.global.autorotate_back_to_geo) === true);
}

/** The coefficient set's attributes: node fields as the set's fields, element fields beside them. */
function coefficientSetAttrsOf(
  paths: OutputPaths,
  normSets: Map<string, NormSet>,
  mesh: FesomMesh,
  months: ReturnType<typeof monthEntries>,
  period: [string, string],
): Record<string, unknown> {
  const nodeSet = normSets.get(""), elemSet = normSets.get("_elem");
  return coefficientSetAttrs(paths, {
    fields: nodeSet?.layout.fields ?? [],
    fieldsSfc: nodeSet?.layout.fieldsSfc ?? [],
    levels: [...mesh.layers],
    months,
    period,
  }, {
    fields_elem: elemSet?.layout.fields ?? [],
    fields_elem_sfc: elemSet?.layout.fieldsSfc ?? [],
    masked: "dry cells excluded",
  });
}

/** The input files of each field, in input order. */
function filesByField(files: FileInfo[]): Map<string, FileInfo[]> {
  const byField = new Map<string, FileInfo[]>();
  for (const f of files) {
    const list = byField.get(f.variable);
    if (list) list.push(f);
    else byField.set(f.variable, [f]);
  }
  return byField;
}

/** Refuse a field with a time given twice or missing, or on different grids in different files. */
function checkFieldTimes(byField: Map<string, FileInfo[]>, allEnds: number[]): void {
  for (const [name, fs] of byField) {
    const seen = new Map<number, string>();
    for (const f of fs) {
      for (const t of f.ends) {
        if (seen.has(t)) {
          throw new InputError(f.path, `duplicate data: ${name} at ${isoTime(t)} is also in ${seen.get(t)}`);
        }
        seen.set(t, f.path);
      }
    }
    const missing = allEnds.filter((t) => !seen.has(t));
    if (missing.length) {
      throw new InputError(
        fs[0].path,
        `${name} has no data for ${missing.length} of the ${allEnds.length} times (first ${isoTime(missing[0])}); ` +
          "give the same periods for every variable",
      );
    }
    const kinds = new Set(fs.map((f) => `${f.location}/${f.vertical}`));
    if (kinds.size > 1) {
      throw new InputError(fs[0].path, `${name} is on different grids in different files: ${[...kinds].join(", ")}`);
    }
  }
}

/** The fields of each data array, by array name. */
function arrayGroups(byField: Map<string, FileInfo[]>): Map<string, ArrayGroup> {
  const groups = new Map<string, ArrayGroup>();
  for (const [name, fs] of byField) {
    const key = arrayName(fs[0].location, fs[0].vertical);
    const g = groups.get(key) ?? { location: fs[0].location, vertical: fs[0].vertical, fields: [] };
    g.fields.push(name);
    groups.set(key, g);
  }
  return groups;
}

/** The time axis (period ends) and FESOM's stamps as written. */
function writeTimes(mk: MakeArray, format: ZarrFormat, allEnds: number[], stampOf: Map<number, number>): void {
  const nt = allEnds.length;
  mk("time", {
    shape: [nt],
    chunks: [Math.max(1, nt)],
    dtype: format === 2 ? "datetime64[s]" : "int64",
    dimensions: ["time"],
    attributes: {
      long_name: "end of the averaging period",
      ...(format === 3 ? { units: "seconds since 1970-01-01", calendar: "proleptic_gregorian" } : {}),
    },
  }).writeAll(BigInt64Array.from(allEnds, BigInt));
  mk("time_stamp", {
    shape: [nt],
    chunks: [Math.max(1, nt)],
    dtype: format === 2 ? "datetime64[s]" : "int64",
    dimensions: ["time"],
    attributes: {
      long_name: "FESOM's time stamp as written: start of the last model step of the averaging period",
      ...(format === 3 ? { units: "seconds since 1970-01-01", calendar: "proleptic_gregorian" } : {}),
    },
  }).writeAll(BigInt64Array.from(allEnds, (e) => BigInt(stampOf.get(e)!)));
}

/**
 * The coefficient set of one point kind and vertical axis: "" (nodes on
 * layers + surface), "_elem", "_nz", "_elem_nz"; each holds its 3-D and 2-D
 * fields.
 */
function createNormSet(
  kind: string,
  groups: Map<string, ArrayGroup>,
  mesh: FesomMesh,
  months: number[],
  stageNorm: string,
  format: ZarrFormat,
): NormSet {
  const base = kind.includes("_elem") ? "data_elem" : "data";
  const nz = kind.endsWith("_nz");
  const threeD = groups.get(nz ? `${base}_nz` : base);
  const twoD = nz ? undefined : groups.get(`${base}_sfc`);
  const elem = kind.includes("_elem");
  const layout: NormLayout = {
    months,
    fields: threeD?.fields ?? [],
    fieldsSfc: twoD?.fields ?? [],
    levels: [...(nz ? mesh.interfaces : mesh.layers)],
    pointShape: [elem ? mesh.triangles.length / 3 : mesh.lon.length],
    pointDims: [elem ? "elem" : "node"],
    kind,
  };
  return {
    arrays: createNormArrays(stageNorm, format, "", layout),
    layout,
    moments: months.map(() => []),
    momentsSfc: months.map(() => []),
  };
}

/** Where the values of one data array lie: points, levels and the wet layers of each point. */
interface ArrayShape {
  points: number;
  /** Levels (0 for surface fields). */
  nl: number;
  hasLevels: boolean;
  /** Wet levels of point `p`. */
  wetLevels: (p: number) => number;
}

/**
 * One data array: created, then each of its fields converted; the monthly
 * moments of its fields go to its coefficient set (`normSet`, made on first
 * use).
 */
async function convertArray(c: Conversion, key: string, g: ArrayGroup, normSet: () => NormSet): Promise<void> {
  const { mesh, allEnds, months } = c;
  const nt = allEnds.length;
  const points = g.location === "node" ? mesh.lon.length : mesh.triangles.length / 3;
  const levels = g.vertical === "layers" ? mesh.layers : g.vertical === "interfaces" ? mesh.interfaces : null;
  const nl = levels?.length ?? 0;
  const pointDim = g.location === "node" ? "node" : "elem";
  const levelDim = g.vertical === "interfaces" ? "interface" : "level";
  const nf = g.fields.length;
  const arr = c.mk(key, {
    shape: levels ? [nt, nf, nl, points] : [nt, nf, points],
    chunks: levels ? [1, 1, nl, Math.min(points, 262144)] : [1, 1, Math.min(points, 262144)],
    dtype: "float32",
    dimensions: levels
      ? ["time", key.replace("data", "field"), levelDim, pointDim]
      : ["time", key.replace("data", "field"), pointDim],
    codec: c.codec,
    complete: true,
  });
  const nlev = g.location === "node" ? mesh.nlevelsNode : mesh.nlevelsElem;
  const wetLevels = (p: number) => g.vertical === "layers" ? nlev[p] - 1 : g.vertical === "interfaces" ? nlev[p] : 1;
  const shape: ArrayShape = { points, nl, hasLevels: !!levels, wetLevels };
  // Coefficients (dry cells are NaN, so excluded). Files are processed in
  // time order, so one month of sums per field is alive at a time.
  const set = normSet();
  const moments: Moments[][][] = months.map(() =>
    g.fields.map(() => Array.from({ length: Math.max(1, nl) }, emptyMoments))
  );
  for (const [fi, name] of g.fields.entries()) {
    const sums = new MonthlySums(shape, (month, l, acc) => {
      const { points: pm, global } = acc.finish();
      moments[month][fi][l] = global;
      const { mean, std } = pm.coefficients();
      writeLocalCoefficients(set.arrays, !levels, month, fi, l, mean, std);
    });
    await convertField(c, g, arr, shape, fi, name, sums);
    sums.flush();
  }
  if (levels) set.moments = moments;
  else set.momentsSfc = moments;
}

/** Point sums of one field over the current month, handed to `finish` level by level when the month changes. */
class MonthlySums {
  private month = -1;
  private sums: ShiftedPointSums[] = [];
  constructor(
    private readonly shape: ArrayShape,
    private readonly finish: (month: number, level: number, acc: ShiftedPointSums) => void,
  ) {}

  /** Add one time step (levels × points) of month `month`. */
  add(month: number, values: Float32Array): void {
    const { points, nl } = this.shape;
    if (month !== this.month) {
      this.flush();
      this.month = month;
      this.sums = Array.from({ length: Math.max(1, nl) }, () => new ShiftedPointSums(points));
    }
    this.sums.forEach((acc, l) => acc.addPlanes(values, l * points, 1));
  }

  /** Finish the current month (nothing before the first step). */
  flush(): void {
    if (this.month < 0) return;
    this.sums.forEach((acc, l) => this.finish(this.month, l, acc));
  }
}

/**
 * One field of a data array: its files in time order, each time step read
 * (rotated to geographic with its partner component when asked), masked,
 * added to the monthly sums and written.
 */
async function convertField(
  c: Conversion,
  g: ArrayGroup,
  arr: ArrayWriter,
  shape: ArrayShape,
  fi: number,
  name: string,
  sums: MonthlySums,
): Promise<void> {
  const { points, nl } = shape;
  const pair = Object.entries(VECTOR_PAIRS).find(([a, b]) => a === name || b === name);
  const partnerName = pair && (pair[0] === name ? pair[1] : pair[0]);
  const doRotate = c.opts.rotateToGeo && c.rotated && pair !== undefined;
  const ordered = [...c.byField.get(name)!].sort((x, y) => x.ends[0] - y.ends[0]);
  for (const f of ordered) {
    const ds = await openDataset(f.path);
    let partner: { ds: Awaited<ReturnType<typeof openDataset>>; info: FileInfo } | undefined;
    if (doRotate) {
      const info = c.byField.get(partnerName!)?.find((x) => x.ends.join() === f.ends.join());
      if (!info) {
        throw new InputError(f.path, `--rotate-to-geo: ${name} needs ${partnerName} for the same periods`);
      }
      partner = { ds: await openDataset(info.path), info };
    }
    try {
      for (let k = 0; k < f.ends.length; k++) {
        const ti = c.allEnds.indexOf(f.ends[k]);
        const values = readSlab(ds, f, k, nl, points);
        if (partner) {
          const other = readSlab(partner.ds, partner.info, k, nl, points);
          rotateToGeo(c.mesh, g.location, nl, points, pair![0] === name ? [values, other] : [other, values]);
        }
        applyWetMask(values, f.fill, nl, points, shape.wetLevels);
        sums.add(c.monthOfTime[ti] - c.firstMonth, values);
        writeRows(arr, ti, fi, values, nl, points, shape.hasLevels);
        c.opts.onProgress?.(++c.progress.done, c.progress.total);
      }
    } finally {
      ds.close();
      partner?.ds.close();
    }
  }
}

/** The model frame's Euler angles (degrees) of FESOM's rotated grid. */
const ROTATION = eulerMatrix(50, 15, -90);

/** Rotate the (u, v) components of one time step (levels × points) from the model frame to geographic, in place. */
function rotateToGeo(
  mesh: FesomMesh,
  location: Location,
  nl: number,
  points: number,
  [u, v]: [Float32Array, Float32Array],
): void {
  const lon = location === "node" ? mesh.lon : mesh.centroidLon;
  const lat = location === "node" ? mesh.lat : mesh.centroidLat;
  for (let l = 0; l < Math.max(1, nl); l++) {
    const a = l * points, b = (l + 1) * points;
    rotateVectorsToGeo(ROTATION, lon, lat, u.subarray(a, b), v.subarray(a, b));
  }
}

/** Root attributes of the data store (the arrays' field lists are added by the caller). */
function storeAttrs(
  opts: FesomOptions,
  mesh: FesomMesh,
  files: FileInfo[],
  vectorFrame: string,
  normPath: string,
): Record<string, unknown> {
  return {
    grid: "unstructured",
    mesh_type: "fesom2",
    levels: [...mesh.layers],
    level_type: "ocean_depth",
    level_units: "m, positive down (layer mid-depths; *_nz arrays use the interfaces)",
    nodes: mesh.lon.length,
    elements: mesh.triangles.length / 3,
    mesh: {
      source: mesh.source.kind,
      path: resolve(mesh.source.path),
      nlevels: mesh.nlevelsSource,
      areas: mesh.areaSource,
    },
    time_convention: `time = end of the averaging period (${
      opts.modelStep ? `stamp + ${opts.modelStep} s` : "the next whole hour after FESOM's stamp"
    }); time_stamp = the stamp as written`,
    calendar: files.some((f) => flag(f.global.FESOM_include_fleapyear ?? f.global.include_fleapyear) === false)
      ? "noleap"
      : "standard",
    vector_frame: vectorFrame,
    dry_cells: "NaN outside each column's wet layers (from nlevels); 2.7.x fill values inside them are real zeros",
    healpix_orders: HEALPIX_ORDERS,
    healpix_scheme: "nested",
    fesom: { git_sha: files[0].global.FESOM_git_SHA ?? files[0].global.git_SHA ?? "" },
    normalization: basename(normPath),
    provenance: provenance(opts.command, files.map((f) => ({ path: f.path, variable: f.variable }))),
  };
}

/** Coefficient-set suffix of a data array: data/data_sfc → "", data_elem_sfc → "_elem", data_nz → "_nz". */
function kindOf(key: string): string {
  return key.replace(/^data/, "").replace(/_sfc$/, "");
}

/** One time step of one file as (level, point) float32, whatever the file's dimension order. */
function readSlab(
  ds: Awaited<ReturnType<typeof openDataset>>,
  f: FileInfo,
  k: number,
  nl: number,
  points: number,
): Float32Array {
  const v = ds.variables.get(f.variable)!;
  const start = v.dims.map((d) => (d === "time" ? k : 0));
  const count = v.shape.map((s, i) => (v.dims[i] === "time" ? 1 : s));
  const raw = ds.read(f.variable, start, count);
  const out = new Float32Array(Math.max(1, nl) * points);
  if (f.pointsFirst) {
    // FESOM 2.0/2.1: (time, points, levels) → (levels, points).
    for (let p = 0; p < points; p++) for (let l = 0; l < nl; l++) out[l * points + p] = Number(raw[p * nl + l]);
  } else out.set(raw as Float32Array);
  checkInfinite(out, { file: f.path, variable: f.variable, where: (i) => `time step ${k}, value ${i}` });
  return out;
}

/** NaN below the wet layers; inside them, 2.7.x fill values are real zeros. */
function applyWetMask(
  values: Float32Array,
  fill: number | undefined,
  nl: number,
  points: number,
  wetLevels: (p: number) => number,
): void {
  const levels = Math.max(1, nl);
  const isFill = (x: number) => fill !== undefined && (x === fill || Math.abs(x - fill) <= Math.abs(fill) * 1e-6);
  for (let p = 0; p < points; p++) {
    const wet = nl === 0 ? 1 : wetLevels(p);
    for (let l = 0; l < levels; l++) {
      const i = l * points + p;
      if (l >= wet) values[i] = NaN;
      else if (isFill(values[i])) values[i] = 0;
    }
  }
}

function writeRows(
  arr: ArrayWriter,
  ti: number,
  fi: number,
  values: Float32Array,
  nl: number,
  points: number,
  hasLevels: boolean,
): void {
  const cp = arr.spec.chunks.at(-1)!;
  for (let p0 = 0, c = 0; p0 < points; p0 += cp, c++) {
    const w = Math.min(cp, points - p0);
    const chunk = new Float32Array(Math.max(1, nl) * cp).fill(NaN);
    for (let l = 0; l < Math.max(1, nl); l++) chunk.set(values.subarray(l * points + p0, l * points + p0 + w), l * cp);
    arr.writeChunk(hasLevels ? [ti, fi, 0, c] : [ti, fi, c], chunk);
  }
}

function writeMeshArrays(
  mk: MakeArray,
  mesh: FesomMesh,
): void {
  const nn = mesh.lon.length, ne = mesh.triangles.length / 3;
  const f64 = (name: string, data: Float64Array, dims: string[], attributes: Record<string, unknown>) =>
    mk(name, {
      shape: [data.length],
      chunks: [Math.max(1, data.length)],
      dtype: "float64",
      dimensions: dims,
      attributes,
    })
      .writeAll(data);
  f64("lon", mesh.lon, ["node"], { standard_name: "longitude", units: "degrees_east" });
  f64("lat", mesh.lat, ["node"], { standard_name: "latitude", units: "degrees_north" });
  f64("elem_lon", mesh.centroidLon, ["elem"], {
    long_name: "element centroid longitude (on the sphere)",
    units: "degrees_east",
  });
  f64("elem_lat", mesh.centroidLat, ["elem"], {
    long_name: "element centroid latitude (on the sphere)",
    units: "degrees_north",
  });
  f64("node_area", mesh.nodeArea, ["node"], { long_name: "surface control-volume area", units: "m2" });
  f64("elem_area", mesh.elemArea, ["elem"], { long_name: "element area", units: "m2" });
  f64("level", mesh.layers, ["level"], { long_name: "layer mid-depth", units: "m", positive: "down" });
  f64("interface", mesh.interfaces, ["interface"], {
    long_name: "level interface depth",
    units: "m",
    positive: "down",
  });
  mk("triangles", {
    shape: [ne, 3],
    chunks: [ne, 3],
    dtype: "int32",
    dimensions: ["elem", "vertex"],
    attributes: { start_index: 0 },
  })
    .writeAll(mesh.triangles);
  mk("nlevels_node", {
    shape: [nn],
    chunks: [nn],
    dtype: "int32",
    dimensions: ["node"],
    attributes: { long_name: "levels below the node; wet layers 0..n-2" },
  })
    .writeAll(mesh.nlevelsNode);
  mk("nlevels_elem", {
    shape: [ne],
    chunks: [ne],
    dtype: "int32",
    dimensions: ["elem"],
    attributes: { long_name: "levels below the element" },
  })
    .writeAll(mesh.nlevelsElem);
  writeWetMasks(mk, mesh);
  writeHealpixIds(mk, "healpix_node", mesh.lon, mesh.lat, "node");
  writeHealpixIds(mk, "healpix_elem", mesh.centroidLon, mesh.centroidLat, "elem");
}

/** The wet masks: 1 where a layer of a node or element column is wet. */
function writeWetMasks(mk: MakeArray, mesh: FesomMesh): void {
  const nn = mesh.lon.length, ne = mesh.triangles.length / 3, nz = mesh.interfaces.length;
  const mask = (nlev: Int32Array) => {
    const m = new Uint8Array((nz - 1) * nlev.length);
    for (let p = 0; p < nlev.length; p++) {
      for (let l = 0; l < nlev[p] - 1 && l < nz - 1; l++) m[l * nlev.length + p] = 1;
    }
    return m;
  };
  mk("wet_node", {
    shape: [nz - 1, nn],
    chunks: [nz - 1, nn],
    dtype: "uint8",
    dimensions: ["level", "node"],
    attributes: { long_name: "1 where the layer is wet" },
  })
    .writeAll(mask(mesh.nlevelsNode));
  mk("wet_elem", {
    shape: [nz - 1, ne],
    chunks: [nz - 1, ne],
    dtype: "uint8",
    dimensions: ["level", "elem"],
    attributes: { long_name: "1 where the layer is wet" },
  })
    .writeAll(mask(mesh.nlevelsElem));
}
