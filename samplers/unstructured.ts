/**
 * An unstructured-mesh store written by `convert fesom` opened for sampling:
 * fields on nodes or elements, depth levels, times, point coordinates and
 * their HEALPix ids, and its coefficient set.
 *
 * @module
 */
import { ArrayReader, assertComplete, readRootAttributes } from "../zarr/store.ts";
import { CachedArray, type ChunkCache } from "./cache.ts";

/** Where a field of a mesh store lives. */
interface FieldPlace {
  array: string;
  index: number;
  levels: boolean;
  location: "node" | "elem";
}

/** A mesh dataset. */
export class MeshDataset {
  /** Store path. */
  readonly root: string;
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
    if (a.grid !== "unstructured") throw new Error(`${root}: not an unstructured-mesh store`);
    this.root = root;
    this.levels = a.levels as number[];
    this.healpixOrders = a.healpix_orders as number[];
    this.times = Float64Array.from(new ArrayReader(root, "time").read() as BigInt64Array, Number);
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

  /** Where a field lives; throws for unknown fields. */
  place(field: string): FieldPlace {
    const p = this.places.get(field);
    if (!p) throw new Error(`${this.root}: no field "${field}" (fields: ${[...this.places.keys()].join(", ")})`);
    return p;
  }

  /** Coordinates (lon in [0, 360)) and HEALPix ids at `order` of a field's points. */
  points(field: string, order: number): { lat: Float64Array; lon: Float64Array; cell: Int32Array } {
    const c = this.coords.get(this.place(field).location)!;
    const o = this.healpixOrders.indexOf(order);
    if (o < 0) {
      throw new Error(`${this.root}: HEALPix order ${order} is not stored (orders: ${this.healpixOrders.join(", ")})`);
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
    if (l < 0) throw new Error(`${this.root}: no depth level ${level}`);
    return arr.read([[t0, t0 + nt], [p.index, p.index + 1], [l, l + 1], [0, points]]);
  }

  /** Index of the last time at or before `seconds`, or −1. */
  lastTimeAtOrBefore(seconds: number): number {
    let k = -1;
    for (let i = 0; i < this.times.length; i++) if (this.times[i] <= seconds) k = i;
    return k;
  }
}

/** The coefficient set of a mesh store. */
export class MeshNormSet {
  /** Store path. */
  readonly root: string;
  /** Month entries, yyyymm. */
  readonly months: number[];
  private readonly attrs: Record<string, unknown>;
  private readonly cache: ChunkCache;
  private readonly arrays = new Map<string, CachedArray>();

  constructor(root: string, cache: ChunkCache) {
    assertComplete(root);
    this.root = root;
    this.attrs = readRootAttributes(root);
    this.months = this.attrs.months as number[];
    this.cache = cache;
  }

  /** Month entry of a time. */
  entry(seconds: number): number {
    // A period end (FESOM means) belongs to the month before it; an instantaneous value to its own.
    const d = new Date((this.attrs.instantaneous ? seconds : seconds - 1) * 1000);
    const e = this.months.indexOf(d.getUTCFullYear() * 100 + d.getUTCMonth() + 1);
    if (e < 0) throw new Error(`${this.root}: no coefficients for ${d.toISOString().slice(0, 7)}`);
    return e;
  }

  /** An array of the set, opened once (this runs per sample, step and level). */
  private array(name: string): CachedArray {
    let a = this.arrays.get(name);
    if (!a) this.arrays.set(name, a = new CachedArray(this.root, name, this.cache));
    return a;
  }

  /** Mean and std per point of a field level (levelIndex ignored for 2-D fields). */
  coefficients(
    field: string,
    place: FieldPlace,
    levelIndex: number,
    entry: number,
    local: boolean,
  ): [Float32Array | number, Float32Array | number] {
    const kind = place.location === "elem" ? "_elem" : "";
    const sfc = place.levels ? "" : "_sfc";
    const fieldsKey = `fields${kind}${sfc}`;
    const f = (this.attrs[fieldsKey] as string[]).indexOf(field);
    if (!local) {
      const g = this.array(`global_norm${kind}${sfc}`);
      const box: [number, number][] = place.levels
        ? [[entry, entry + 1], [0, 2], [f, f + 1], [levelIndex, levelIndex + 1]]
        : [[entry, entry + 1], [0, 2], [f, f + 1]];
      const v = g.read(box);
      return [v[0], v[1]];
    }
    const arr = this.array(`norm${kind}${sfc}`);
    const points = arr.shape.at(-1)!;
    const box: [number, number][] = place.levels
      ? [[entry, entry + 1], [0, 2], [f, f + 1], [levelIndex, levelIndex + 1], [0, points]]
      : [[entry, entry + 1], [0, 2], [f, f + 1], [0, points]];
    const v = arr.read(box);
    return [v.subarray(0, points), v.subarray(points)];
  }
}
