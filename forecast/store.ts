/**
 * The forecast output store (zarr v2, readable by xarray): `forecast`
 * (init_time, lead_time, field, level, lat, lon) float32 in physical units
 * — the ensemble mean —, `spread` (the members' standard deviation) of the
 * same shape, `members` (init_time, lead_time, member, field, level, lat,
 * lon) on request; coordinates `init_time` (datetime64), `lead_time`
 * (hours with CF units: xarray decodes a timedelta), `field` (strings),
 * `level`, `lat`, `lon`; units per field, provenance. A field without a
 * level of the union stays NaN there. Chunks (one per init, lead, field,
 * level) are written as the rollout makes them into `OUT.partial`, and the
 * store is published by renaming at the end, like every store of the
 * project: a failed run never leaves a store that looks complete. The
 * output follows the rules of every output (zarr/outputs.ts): one writer
 * at a time (`OUT.lock`), `--overwrite` replaces only a forecast store this
 * project wrote and never one holding an input, a folder `OUT.partial` that
 * is not ours is refused, and a killed run's `OUT.partial` is marked as a
 * partial forecast (which `inspect` reports).
 *
 * @module
 */
import { join } from "node:path";
import { ArrayWriter } from "../zarr/writer.ts";
import { finalizeStore, publishStore, removeStore } from "../zarr/publish.ts";
import { checkReplaceable, clearStage, lockPath, markStaged, stagePath, unmarkStaged } from "../zarr/outputs.ts";
import { acquireLock, type OutputLock } from "../zarr/lock.ts";
import { StoreError } from "../errors.ts";
import { VERSION } from "../version.ts";

/** What a forecast store holds. */
export interface ForecastStoreOptions {
  /** Output path (`.zarr`). */
  out: string;
  /** Replace an existing store (only a forecast store this project wrote). */
  overwrite?: boolean;
  /** The files and stores the forecast reads: the output may neither be nor contain one. */
  inputs?: string[];
  /** Initial times, seconds since 1970. */
  inits: number[];
  /** Lead times in hours. */
  leads: number[];
  /** Fields. */
  fields: string[];
  /** Levels (the union of the fields' levels; 0 for a single-level field). */
  levels: number[];
  /** Latitudes of the rows (degrees, north to south). */
  lat: Float64Array;
  /** Longitudes of the columns (degrees). */
  lon: Float64Array;
  /** Units and long names per field (the data store's `field_metadata`). */
  fieldMetadata?: Record<string, { units?: string; long_name?: string }>;
  /** Ensemble members kept (`members` array); 0 = mean and spread only. Default 0. */
  members?: number;
  /** Root attributes: provenance (checkpoint, coefficient set, stores, command). */
  attributes?: Record<string, unknown>;
  /** Mesh fields (FESOM nodes): written as `mesh_forecast` (init_time, lead_time, mesh_field, mesh_level, node). */
  mesh?: MeshStoreOptions;
}

/** The mesh part of a forecast store. */
export interface MeshStoreOptions {
  /** Mesh fields. */
  fields: string[];
  /** Their levels (union; 0 for a single-level field). */
  levels: number[];
  /** Latitude of every node (the mesh store's `lat`). */
  lat: Float64Array;
  /** Longitude of every node (the mesh store's `lon`). */
  lon: Float64Array;
  /** Units per mesh field. */
  fieldMetadata?: Record<string, { units?: string; long_name?: string }>;
}

/** Writes a forecast store as the rollout goes; {@link finish} publishes it. */
export class ForecastStoreWriter {
  /** Options. */
  readonly options: ForecastStoreOptions;
  /** Staging directory. */
  readonly staged: string;
  private mean!: ArrayWriter;
  private spread!: ArrayWriter;
  private members?: ArrayWriter;
  private meshArrays?: { mean: ArrayWriter; spread: ArrayWriter; members?: ArrayWriter };

  private readonly lock: OutputLock;

  constructor(options: ForecastStoreOptions) {
    const o = this.options = options;
    this.staged = stagePath(o.out);
    this.lock = acquireLock(lockPath(o.out), o.out, "forecast");
    try {
      checkReplaceable(o.out, "forecast", { overwrite: o.overwrite, inputs: o.inputs });
      clearStage(this.staged);
      Deno.mkdirSync(this.staged, { recursive: true });
      markStaged(this.staged, {
        kind: "forecast store",
        redo: "rerun the forecast command (with --overwrite if the store exists): it replaces this partial store",
      });
    } catch (e) {
      this.lock.release();
      throw e;
    }
    try {
      this.openArrays();
    } catch (e) {
      this.abort();
      throw e;
    }
  }

  /** Create the arrays and write the coordinates in the staged store. */
  private openArrays(): void {
    const o = this.options;
    const units = Object.fromEntries(o.fields.map((f) => [f, o.fieldMetadata?.[f]?.units ?? ""]));
    const codec = "shuffle,zstd:1";
    [this.mean, this.spread, this.members] = gridWriters(this.staged, o, units, codec);
    for (const w of [this.mean, this.spread, this.members]) w?.writeMetadata();
    if (o.mesh) this.meshArrays = meshWriters(this.staged, o, codec);
    writeCoordinates(this.staged, o, units);
  }

  /**
   * Write one lead of one init for a mesh field level: members [m][node]
   * (physical units); their mean, spread and (when kept) the members.
   */
  writeMesh(init: number, lead: number, field: string, level: number, members: Float32Array[]): void {
    const m = this.options.mesh, a = this.meshArrays;
    const f = m?.fields.indexOf(field) ?? -1, l = m?.levels.indexOf(level) ?? -1;
    if (!a || f < 0 || l < 0) {
      throw new StoreError(this.staged, `no mesh plane ${field}/${level} in the forecast store`);
    }
    const { mean, spread } = meanAndSpread(members);
    a.mean.writeChunk([init, lead, f, l, 0], mean);
    a.spread.writeChunk([init, lead, f, l, 0], spread);
    if (a.members) { for (const [k, x] of members.entries()) a.members.writeChunk([init, lead, k, f, l, 0], x); }
  }

  /** Index of (field, level); an error when the store has no such plane. */
  private plane(field: string, level: number): [number, number] {
    const f = this.options.fields.indexOf(field), l = this.options.levels.indexOf(level);
    if (f < 0 || l < 0) throw new StoreError(this.staged, `no plane ${field}/${level} in the forecast store`);
    return [f, l];
  }

  /**
   * Write one lead of one init for a field level: members [m][lat·lon]
   * (physical units); their mean, spread and (when kept) the members.
   */
  write(init: number, lead: number, field: string, level: number, members: Float32Array[]): void {
    const [f, l] = this.plane(field, level);
    const { mean, spread } = meanAndSpread(members);
    this.mean.writeChunk([init, lead, f, l, 0, 0], mean);
    this.spread.writeChunk([init, lead, f, l, 0, 0], spread);
    if (this.members) {
      for (const [k, m] of members.entries()) {
        this.members.writeChunk([init, lead, k, f, l, 0, 0], m);
      }
    }
  }

  /** Write the root metadata last and publish the store at `out` (replacing the old one); releases the lock. */
  finish(): string {
    try {
      finalizeStore(this.staged, 2, {
        kind: "forecast",
        fields: this.options.fields,
        levels: this.options.levels,
        field_metadata: this.options.fieldMetadata ?? {},
        ...this.options.attributes,
        software: "atmorep-ts",
        version: VERSION,
        created: new Date().toISOString(),
      });
      unmarkStaged(this.staged);
      publishStore(this.staged, this.options.out);
    } finally {
      this.lock.release();
    }
    return this.options.out;
  }

  /** Remove the staged store (a failed run) and release the lock. */
  abort(): void {
    try {
      removeStore(this.staged);
    } finally {
      this.lock.release();
    }
  }
}

/** Ensemble mean and spread (standard deviation, n − 1) per point. */
function meanAndSpread(members: Float32Array[]): { mean: Float32Array; spread: Float32Array } {
  const n = members[0].length, M = members.length;
  const mean = new Float32Array(n), spread = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    let s = 0;
    for (const m of members) s += m[i];
    const mu = s / M;
    let v = 0;
    for (const m of members) v += (m[i] - mu) ** 2;
    mean[i] = mu;
    spread[i] = M > 1 ? Math.sqrt(v / (M - 1)) : 0;
  }
  return { mean, spread };
}

/** The grid arrays: ensemble mean, spread and (when kept) the members, one chunk per init, lead, field and level. */
function gridWriters(
  staged: string,
  o: ForecastStoreOptions,
  units: Record<string, string>,
  codec: string,
): [ArrayWriter, ArrayWriter, ArrayWriter | undefined] {
  const [R, C] = [o.lat.length, o.lon.length];
  const dims = ["init_time", "lead_time", "field", "level", "lat", "lon"];
  const shape = [o.inits.length, o.leads.length, o.fields.length, o.levels.length, R, C];
  const chunks = [1, 1, 1, 1, R, C];
  const mean = new ArrayWriter(staged, "forecast", 2, {
    shape,
    chunks,
    dtype: "float32",
    dimensions: dims,
    codec,
    attributes: { long_name: "forecast (ensemble mean)", units_by_field: units, coordinates: "valid_time" },
  });
  const spread = new ArrayWriter(staged, "spread", 2, {
    shape,
    chunks,
    dtype: "float32",
    dimensions: dims,
    codec,
    attributes: {
      long_name: "ensemble spread (standard deviation of the members)",
      units_by_field: units,
      coordinates: "valid_time",
    },
  });
  const members = o.members
    ? new ArrayWriter(staged, "members", 2, {
      shape: [shape[0], shape[1], o.members, ...shape.slice(2)],
      chunks: [1, 1, 1, 1, 1, R, C],
      dtype: "float32",
      dimensions: ["init_time", "lead_time", "member", ...dims.slice(2)],
      codec,
      attributes: { long_name: "ensemble members", units_by_field: units, coordinates: "valid_time" },
    })
    : undefined;
  return [mean, spread, members];
}

/** The coordinates: init_time, lead_time, valid_time (2-D), level, lat, lon, member, field (with units). */
function writeCoordinates(staged: string, o: ForecastStoreOptions, units: Record<string, string>): void {
  const coord = (
    path: string,
    dtype: "float64" | "int64" | "datetime64[s]",
    data: Float64Array | BigInt64Array,
    attributes: Record<string, unknown>,
  ) => {
    const w = new ArrayWriter(staged, path, 2, {
      shape: [data.length],
      chunks: [Math.max(1, data.length)],
      dtype,
      dimensions: [path],
      attributes,
    });
    w.writeMetadata();
    w.writeAll(data);
  };
  coord("init_time", "datetime64[s]", BigInt64Array.from(o.inits, (s) => BigInt(Math.round(s))), {
    long_name: "initial time",
  });
  coord("lead_time", "int64", BigInt64Array.from(o.leads, (h) => BigInt(Math.round(h))), {
    units: "hours",
    long_name: "lead time",
  });
  // valid_time = init_time + lead_time, a 2-D coordinate (the arrays name it in `coordinates`).
  const valid = new ArrayWriter(staged, "valid_time", 2, {
    shape: [o.inits.length, o.leads.length],
    chunks: [Math.max(1, o.inits.length), Math.max(1, o.leads.length)],
    dtype: "datetime64[s]",
    dimensions: ["init_time", "lead_time"],
    attributes: { long_name: "valid time (init_time + lead_time)" },
  });
  valid.writeMetadata();
  valid.writeAll(BigInt64Array.from(o.inits.flatMap((i) => o.leads.map((h) => BigInt(Math.round(i + h * 3600))))));
  coord("level", "float64", Float64Array.from(o.levels), { long_name: "level (hPa; 0 for single-level fields)" });
  coord("lat", "float64", o.lat, { units: "degrees_north", standard_name: "latitude" });
  coord("lon", "float64", o.lon, { units: "degrees_east", standard_name: "longitude" });
  if (o.members) {
    coord("member", "int64", BigInt64Array.from({ length: o.members }, (_, i) => BigInt(i)), {
      long_name: "ensemble member",
    });
  }
  writeStrings(staged, "field", o.fields, {
    long_name: "field",
    units: o.fields.map((f) => units[f]).join(","),
  });
}

/** The mesh arrays and coordinates of a forecast store (node dimension, the mesh store's lat/lon). */
function meshWriters(
  root: string,
  o: ForecastStoreOptions,
  codec: string,
): { mean: ArrayWriter; spread: ArrayWriter; members?: ArrayWriter } {
  const m = o.mesh!, N = m.lat.length;
  const dims = ["init_time", "lead_time", "mesh_field", "mesh_level", "node"];
  const shape = [o.inits.length, o.leads.length, m.fields.length, m.levels.length, N];
  const units = Object.fromEntries(m.fields.map((f) => [f, m.fieldMetadata?.[f]?.units ?? ""]));
  const coordinates = "valid_time node_lat node_lon";
  const make = (path: string, long_name: string, member: boolean) => {
    const w = new ArrayWriter(root, path, 2, {
      shape: member ? [shape[0], shape[1], o.members!, ...shape.slice(2)] : shape,
      chunks: member ? [1, 1, 1, 1, 1, N] : [1, 1, 1, 1, N],
      dtype: "float32",
      dimensions: member ? ["init_time", "lead_time", "member", ...dims.slice(2)] : dims,
      codec,
      attributes: { long_name, units_by_field: units, coordinates },
    });
    w.writeMetadata();
    return w;
  };
  const out = {
    mean: make("mesh_forecast", "mesh forecast (ensemble mean)", false),
    spread: make("mesh_spread", "mesh ensemble spread (standard deviation of the members)", false),
    members: o.members ? make("mesh_members", "mesh ensemble members", true) : undefined,
  };
  const coord = (
    path: string,
    dtype: "float64" | "int64",
    data: Float64Array | BigInt64Array,
    dim: string,
    a: Record<string, unknown>,
  ) => {
    const w = new ArrayWriter(root, path, 2, {
      shape: [data.length],
      chunks: [Math.max(1, data.length)],
      dtype,
      dimensions: [dim],
      attributes: a,
    });
    w.writeMetadata();
    w.writeAll(data);
  };
  coord("node", "int64", BigInt64Array.from({ length: N }, (_, i) => BigInt(i)), "node", {
    long_name: "node of the mesh store (0-based)",
  });
  coord("node_lat", "float64", m.lat, "node", { units: "degrees_north", standard_name: "latitude" });
  coord("node_lon", "float64", m.lon, "node", { units: "degrees_east", standard_name: "longitude" });
  coord("mesh_level", "float64", Float64Array.from(m.levels), "mesh_level", {
    long_name: "mesh level (depth in m; 0 for surface fields)",
  });
  writeStrings(root, "mesh_field", m.fields, {
    long_name: "mesh field",
    units: m.fields.map((f) => units[f]).join(","),
  });
  return out;
}

/** A 1-D fixed-width unicode array (numpy `<U`n, UTF-32LE), which our typed writer does not cover. */
function writeStrings(root: string, path: string, values: string[], attributes: Record<string, unknown>): void {
  const width = Math.max(1, ...values.map((v) => [...v].length));
  const dir = join(root, path);
  Deno.mkdirSync(dir, { recursive: true });
  Deno.writeTextFileSync(
    join(dir, ".zarray"),
    JSON.stringify({
      zarr_format: 2,
      shape: [values.length],
      chunks: [values.length],
      dtype: `<U${width}`,
      compressor: null,
      fill_value: "",
      order: "C",
      filters: null,
    }),
  );
  Deno.writeTextFileSync(join(dir, ".zattrs"), JSON.stringify({ ...attributes, _ARRAY_DIMENSIONS: [path] }));
  const bytes = new Uint32Array(values.length * width);
  for (const [i, v] of values.entries()) [...v].forEach((ch, k) => (bytes[i * width + k] = ch.codePointAt(0)!));
  Deno.writeFileSync(join(dir, "0"), new Uint8Array(bytes.buffer));
}
