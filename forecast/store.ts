/**
 * The forecast output store (zarr v2, readable by xarray): one variable per
 * field with only that field's levels — in the `native` layout `t`
 * (init_time, lead_time, level, lat, lon), `t2m` (init_time, lead_time, lat,
 * lon), the ensemble mean in physical units, with `t_spread` (the members'
 * standard deviation) and on request `t_members` (…, member, …); in the
 * `wb2` layout WeatherBench 2's schema (forecast/store_layout.ts has both
 * and the rule naming the level dimensions). Coordinates are CF-encoded
 * (xarray decodes datetime64 / timedelta64), variables carry units, long
 * and standard names. Mesh fields (FESOM nodes) are variables on a `node`
 * dimension. Chunks (one per init, lead, member and level) are written as
 * the rollout makes them into `OUT.partial`, and the store is published by
 * renaming at the end, like every store of the project: a failed run never
 * leaves a store that looks complete. The output follows the rules of every
 * output (zarr/outputs.ts): one writer at a time (`OUT.lock`), `--overwrite`
 * replaces only a forecast store this project wrote and never one holding
 * an input, a folder `OUT.partial` that is not ours is refused, and a killed
 * run's `OUT.partial` is marked as a partial forecast (which `inspect`
 * reports).
 *
 * @module
 */
import { finalizeStore, publishStore, removeStore } from "../zarr/publish.ts";
import { checkReplaceable, clearStage, lockPath, markStaged, stagePath, unmarkStaged } from "../zarr/outputs.ts";
import { acquireLock, type OutputLock } from "../zarr/lock.ts";
import { ConfigError, StoreError } from "../errors.ts";
import { VERSION } from "../version.ts";
import { FieldArrays } from "./store_arrays.ts";
import {
  fieldAttributes,
  type ForecastLayout,
  gridCoordinates,
  gridSpace,
  LAYOUT_NAMES,
  levelCoordinate,
  type LevelDim,
  levelDims,
  meshCoordinates,
  timeCoordinates,
  variableName,
} from "./store_layout.ts";

export { checkLayout, FORECAST_LAYOUTS, type ForecastLayout, levelsByField } from "./store_layout.ts";

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
  /** Each field's levels (hPa or model levels; [0] for a single-level field). */
  levels: Record<string, number[]>;
  /** Latitudes of the rows (degrees, as the data store orders them). */
  lat: Float64Array;
  /** Longitudes of the columns (degrees). */
  lon: Float64Array;
  /** Units and long names per field (the data store's `field_metadata`). */
  fieldMetadata?: Record<string, { units?: string; long_name?: string }>;
  /** Ensemble members kept; 0 = mean and spread only. Default 0. */
  members?: number;
  /** Layout: `native` (default) or `wb2` (WeatherBench 2's schema). */
  layout?: ForecastLayout;
  /** Root attributes: provenance (checkpoint, coefficient set, stores, command). */
  attributes?: Record<string, unknown>;
  /** Mesh fields (FESOM nodes): variables on (init_time, lead_time[, depth], node); native layout only. */
  mesh?: MeshStoreOptions;
}

/** The mesh part of a forecast store. */
export interface MeshStoreOptions {
  /** Mesh fields. */
  fields: string[];
  /** Each mesh field's levels (depths in m; [0] for a surface field). */
  levels: Record<string, number[]>;
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
  private grid!: FieldArrays;
  private mesh?: FieldArrays;

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

  /** Create the variables and write the coordinates in the staged store. */
  private openArrays(): void {
    const o = this.options, layout = o.layout ?? "native", n = LAYOUT_NAMES[layout];
    if (layout !== "native" && o.mesh?.fields.length) {
      throw new ConfigError(
        "--layout",
        `${layout} has no unstructured mesh: the mesh fields ${o.mesh.fields.join(", ")} need --layout native`,
      );
    }
    const members = o.members ?? 0, nameOf = (f: string) => variableName(f, layout);
    const grid = gridSpace(o.lat, o.lon, layout);
    const dims = levelDims(o.fields, o.levels, n.level, nameOf);
    this.grid = new FieldArrays(this.staged, {
      fields: o.fields,
      levelDims: dims,
      nameOf,
      attributesOf: (f) => fieldAttributes(f, o.fieldMetadata?.[f]),
      space: grid,
      layout,
      inits: o.inits.length,
      leads: o.leads.length,
      members,
      // WeatherBench 2's ensemble forecasts hold the members under the variable's name, on a `number` dimension.
      meanAndSpread: layout === "native" || members === 0,
      extra: layout === "native" ? { coordinates: "valid_time" } : undefined,
    });
    timeCoordinates(this.staged, { inits: o.inits, leads: o.leads, members }, layout);
    gridCoordinates(this.staged, grid, layout);
    const levelAttributes = layout === "wb2"
      ? { units: "hPa", long_name: "pressure level" }
      : { long_name: "level (the data store's: hPa for pressure levels)" };
    for (const d of distinct(dims)) levelCoordinate(this.staged, d, levelAttributes);
    if (o.mesh?.fields.length) this.mesh = this.openMesh(o.mesh, members);
  }

  /** The mesh fields' variables on the `node` dimension, and their coordinates. */
  private openMesh(m: MeshStoreOptions, members: number): FieldArrays {
    const o = this.options;
    const clash = m.fields.find((f) => o.fields.includes(f));
    if (clash) throw new StoreError(this.staged, `field ${clash} is both a grid and a mesh field`);
    const dims = levelDims(m.fields, m.levels, "depth", (f) => f);
    const N = m.lat.length;
    const arrays = new FieldArrays(this.staged, {
      fields: m.fields,
      levelDims: dims,
      nameOf: (f) => f,
      attributesOf: (f) => fieldAttributes(f, m.fieldMetadata?.[f]),
      space: { dims: ["node"], shape: [N], reorder: (p) => p },
      layout: "native",
      inits: o.inits.length,
      leads: o.leads.length,
      members,
      meanAndSpread: true,
      extra: { coordinates: "valid_time node_lat node_lon" },
    });
    meshCoordinates(this.staged, m.lat, m.lon);
    for (const d of distinct(dims)) {
      levelCoordinate(this.staged, d, { units: "m", long_name: "depth below the sea surface", positive: "down" });
    }
    return arrays;
  }

  /**
   * Write one lead of one init for a mesh field level: members [m][node]
   * (physical units); their mean, spread and (when kept) the members.
   */
  writeMesh(init: number, lead: number, field: string, level: number, members: Float32Array[]): void {
    if (!this.mesh) throw new StoreError(this.staged, `no mesh plane ${field}/${level} in the forecast store`);
    this.mesh.write(this.staged, init, lead, field, level, members);
  }

  /**
   * Write one lead of one init for a field level: members [m][lat·lon]
   * (physical units, rows as {@link ForecastStoreOptions.lat}); their mean,
   * spread and (when kept) the members.
   */
  write(init: number, lead: number, field: string, level: number, members: Float32Array[]): void {
    this.grid.write(this.staged, init, lead, field, level, members);
  }

  /** Write the root metadata last and publish the store at `out` (replacing the old one); releases the lock. */
  finish(): string {
    try {
      finalizeStore(this.staged, 2, {
        kind: "forecast",
        layout: this.options.layout ?? "native",
        fields: this.options.fields,
        // `levels` stays the union (what readers of every store, `inspect` among them, expect); per field below.
        levels: [...new Set(Object.values(this.options.levels).flat())].sort((a, b) => a - b),
        field_levels: this.options.levels,
        variables: Object.fromEntries(
          this.options.fields.map((f) => [f, variableName(f, this.options.layout ?? "native")]),
        ),
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

/** The distinct level dimensions of a field set. */
function distinct(dims: Map<string, LevelDim | undefined>): LevelDim[] {
  return [...new Set([...dims.values()].filter((d): d is LevelDim => d !== undefined))];
}
