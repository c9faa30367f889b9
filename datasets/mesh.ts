/**
 * An unstructured-mesh store written by `convert fesom` opened for sampling:
 * fields on nodes or elements, depth levels, times, point coordinates and
 * their HEALPix ids, and window placement by a box in degrees.
 *
 * @module
 */
import { ArrayReader, readRootAttributes, readTimeCoordinate } from "../zarr/reader.ts";
import { assertComplete } from "../zarr/publish.ts";
import { ConfigError, StoreError } from "../errors.ts";
import { CachedArray, type ChunkCache } from "./cache.ts";
import type { RandomSource, SampleDataset } from "./dataset.ts";
import type { Window, WindowShape } from "./window.ts";

/** Where a field of a mesh store lives. */
export interface FieldPlace {
  /** Array name (data, data_sfc, data_elem, data_elem_sfc). */
  array: string;
  /** Field index in that array. */
  index: number;
  /** Whether the field has depth levels. */
  levels: boolean;
  /** Nodes or elements. */
  location: "node" | "elem";
}

/** A mesh dataset. */
export class MeshDataset implements SampleDataset {
  /** Store path. */
  readonly root: string;
  /** The store's grid kind. */
  readonly grid = "unstructured";
  /** Layer depths. */
  readonly levels: number[];
  /** Times (period ends), seconds since 1970. */
  readonly times: Float64Array;
  /** HEALPix orders whose ids are stored. */
  readonly healpixOrders: number[];
  private readonly places = new Map<string, FieldPlace>();
  private readonly arrays = new Map<string, CachedArray>();
  private readonly coords = new Map<string, { lat: Float64Array; lon: Float64Array; healpix: Int32Array }>();

  constructor(root: string, cache: ChunkCache) {
    assertComplete(root);
    const a = readRootAttributes(root);
    if (a.grid !== "unstructured") throw new StoreError(root, "not an unstructured-mesh store");
    this.root = root;
    this.levels = a.levels as number[];
    this.healpixOrders = a.healpix_orders as number[];
    this.times = readTimeCoordinate(root);
    for (
      const [key, array, levels, location] of [
        ["fields", "data", true, "node"],
        ["fields_sfc", "data_sfc", false, "node"],
        ["fields_elem", "data_elem", true, "elem"],
        ["fields_elem_sfc", "data_elem_sfc", false, "elem"],
      ] as const
    ) {
      ((a[key] as string[] | undefined) ?? []).forEach((f, index) =>
        this.places.set(f, { array, index, levels, location })
      );
      if (a[key]) this.arrays.set(array, new CachedArray(root, array, cache));
    }
    // Reduced Gaussian stores have points (nodes) only; FESOM stores also have elements.
    const locations = a.fields_elem || a.fields_elem_sfc ? ["node", "elem"] as const : ["node"] as const;
    for (const loc of locations) {
      const lat = new ArrayReader(root, loc === "node" ? "lat" : "elem_lat").read() as Float64Array;
      const lon = new ArrayReader(root, loc === "node" ? "lon" : "elem_lon").read() as Float64Array;
      const healpix = new ArrayReader(root, `healpix_${loc}`).read() as Int32Array;
      this.coords.set(loc, { lat, lon: lon.map((x) => ((x % 360) + 360) % 360), healpix });
    }
  }

  /** @inheritdoc */
  get gridKey(): string {
    return [this.grid, this.root, ...[...this.coords.values()].map((c) => c.lat.length)].join("|");
  }

  /** @inheritdoc */
  pointShape(field: string): number[] {
    return [this.coords.get(this.place(field).location)!.lat.length];
  }

  /** Where a field lives; throws for unknown fields. */
  place(field: string): FieldPlace {
    const p = this.places.get(field);
    if (!p) {
      throw new StoreError(this.root, `no field "${field}" (fields: ${[...this.places.keys()].join(", ")})`, { field });
    }
    return p;
  }

  /** Coordinates (lon in [0, 360)) and HEALPix ids at `order` of a field's points. */
  points(field: string, order: number): { lat: Float64Array; lon: Float64Array; cell: Int32Array } {
    const c = this.coords.get(this.place(field).location)!;
    const o = this.healpixOrders.indexOf(order);
    if (o < 0) {
      throw new StoreError(
        this.root,
        `HEALPix order ${order} is not stored (orders: ${this.healpixOrders.join(", ")})`,
      );
    }
    const n = c.lat.length;
    return { lat: c.lat, lon: c.lon, cell: c.healpix.subarray(o * n, (o + 1) * n) };
  }

  /** Values of a field at depth `level` (ignored for 2-D fields) for times [t0, t0+nt): (nt, points). */
  read(field: string, level: number, t0: number, nt: number): Float32Array {
    const p = this.place(field);
    const arr = this.arrays.get(p.array)!;
    const points = arr.shape.at(-1)!;
    if (!p.levels) return arr.read([[t0, t0 + nt], [p.index, p.index + 1], [0, points]]);
    const l = this.levels.indexOf(level);
    if (l < 0) throw new StoreError(this.root, `no depth level ${level}`, { field });
    return arr.read([[t0, t0 + nt], [p.index, p.index + 1], [l, l + 1], [0, points]]);
  }

  /** Index of the last time at or before `seconds`, or −1. */
  lastTimeAtOrBefore(seconds: number): number {
    let k = -1;
    for (let i = 0; i < this.times.length; i++) if (this.times[i] <= seconds) k = i;
    return k;
  }

  /** @inheritdoc */
  checkField(field: string, _levels: number[], surface?: string): void {
    const own = this.place(field);
    if (surface === undefined) return;
    const sfc = this.place(surface);
    if (sfc.levels || sfc.location !== own.location) {
      throw new StoreError(
        this.root,
        `${field}'s surface ${surface} must be a single-level field on ${own.location}s`,
        {
          field,
        },
      );
    }
  }

  /** @inheritdoc */
  checkShape(shape: WindowShape): void {
    if (!shape.box) {
      throw new ConfigError(
        "box",
        `${this.root}: sampling a mesh alone needs \`box\`: [latitude, longitude] extent in degrees`,
      );
    }
  }

  /** @inheritdoc */
  randomWindow(rng: RandomSource, end: number, lat: number, shape: WindowShape): Window {
    return this.windowOfBox(end, lat, rng.next() * 360, shape);
  }

  /** @inheritdoc */
  windowAt(end: number, lat: number, lon: number, shape: WindowShape): Window {
    return this.windowOfBox(end, lat, lon - shape.box![1] / 2, shape);
  }

  /** @inheritdoc */
  tiles(): Window[] {
    throw new ConfigError(this.root, "tiling places windows on a regular grid: put a regular dataset first");
  }

  private windowOfBox(end: number, lat: number, west: number, shape: WindowShape): Window {
    const [h, w] = shape.box!;
    const south = Math.min(Math.max(-90, lat - h / 2), 90 - h);
    return { t0: end - shape.steps + 1, i0: -1, j0: -1, end: this.times[end], box: [south, south + h, west, w] };
  }
}
