/**
 * A GRIB file seen as a netCDF-like dataset, so `convert era5` takes GRIB
 * inputs exactly like netCDF ones: messages are indexed by (parameter, valid
 * time, level) and presented as variables (valid_time, [isobaricInhPa |
 * hybrid], latitude, longitude) named as cfgrib names them. Values are
 * unpacked only when read.
 *
 * @module
 */
import type { FormatReader, NumericArray, SourceDataset, SourceVariable } from "../dataset.ts";
import { InputError } from "../../../errors.ts";
import { axes, decodeMessage, FileReader, GribError, type GribMessage, gridPoints, scanGrib } from "./message.ts";

const LEVELLED = ["isobaricInhPa", "hybrid"];

/** Refuse messages on different grids. */
function checkOneGrid(path: string, ms: GribMessage[]): void {
  const g0 = ms[0].grid;
  for (const m of ms) {
    const g = m.grid;
    if (
      g.type !== g0.type || g.ni !== g0.ni || g.nj !== g0.nj || g.la1 !== g0.la1 || g.lo1 !== g0.lo1 ||
      g.scan !== g0.scan
    ) {
      throw new InputError(
        path,
        `messages on different grids (${m.param.shortName} at byte ${m.offset}); split the file with grib_copy`,
      );
    }
  }
}

/** The one level type with levels (isobaricInhPa or hybrid) of the messages, if any; two are refused. */
function levelTypeOf(path: string, ms: GribMessage[]): string | undefined {
  const levelTypes = [...new Set(ms.filter((m) => LEVELLED.includes(m.levelType)).map((m) => m.levelType))];
  if (levelTypes.length > 1) {
    throw new InputError(
      path,
      `mixes ${levelTypes.join(" and ")} levels; split the file with grib_copy -w typeOfLevel=…`,
    );
  }
  return levelTypes[0];
}

/** A GRIB file as a dataset. */
export class GribDataset implements SourceDataset {
  readonly path: string;
  readonly format: string;
  readonly dims: Record<string, number> = {};
  readonly variables: Map<string, SourceVariable> = new Map();
  readonly attrs: Record<string, unknown>;
  /** Every message, in file order. */
  readonly messages: GribMessage[];
  private readonly reader: FileReader;
  private readonly index = new Map<string, GribMessage>();
  private readonly times: number[];
  private readonly levels: number[];
  private readonly coords: Record<string, NumericArray>;
  private readonly order: Int32Array | undefined;

  constructor(path: string) {
    this.path = path;
    this.reader = new FileReader(path);
    try {
      this.messages = scanGrib(this.reader);
    } catch (e) {
      this.reader.close();
      throw new InputError(path, (e as Error).message);
    }
    const ms = this.messages;
    const editions = [...new Set(ms.map((m) => m.edition))];
    this.format = `grib${editions.join("+")}`;
    const g0 = ms[0].grid;
    checkOneGrid(path, ms);
    const levelDim = levelTypeOf(path, ms);
    this.times = [...new Set(ms.map((m) => m.validTime))].sort((a, b) => a - b);
    this.levels = [...new Set(ms.filter((m) => m.levelType === levelDim).map((m) => m.level))].sort((a, b) => a - b);
    this.checkPackings(ms);
    this.attrs = {
      GRIB_edition: editions.join(","),
      GRIB_gridType: g0.type,
      ...(ms.find((m) => m.pv) ? { GRIB_pv: Array.from(ms.find((m) => m.pv)!.pv!) } : {}),
    };
    const nt = this.times.length;
    this.dims.valid_time = nt;
    this.coords = { valid_time: BigInt64Array.from(this.times, BigInt) };
    const timeDims = ["valid_time"];
    const { space, order } = this.addGridCoordinates(g0);
    this.order = order;
    this.variables.set("valid_time", {
      name: "valid_time",
      dims: timeDims,
      shape: [nt],
      dtype: "int64",
      attrs: { units: "seconds since 1970-01-01", calendar: "proleptic_gregorian", standard_name: "time" },
    });
    if (levelDim) {
      this.dims[levelDim] = this.levels.length;
      this.coords[levelDim] = Float64Array.from(this.levels);
      this.variables.set(
        levelDim,
        coordVar(levelDim, [levelDim], [this.levels.length], { units: levelDim === "hybrid" ? "1" : "hPa" }),
      );
    }
    this.indexMessages(ms, levelDim, [...timeDims], space);
  }

  /** Fail while scanning, before any conversion work, on a packing the decoder does not read. */
  private checkPackings(ms: GribMessage[]): void {
    const unsupported = [...new Set(ms.map((m) => m.packing))].filter((p) =>
      !["grid_simple", "grid_complex", "grid_complex_spatial_differencing"].includes(p)
    );
    if (!unsupported.length) return;
    // decodeMessage names the packing and the fix.
    const m = ms.find((x) => x.packing === unsupported[0])!;
    try {
      decodeMessage(this.reader, m);
    } catch (e) {
      this.reader.close();
      throw new InputError(this.path, (e as Error).message.replace(`${this.path}: `, ""));
    }
  }

  /**
   * The horizontal coordinates: latitude and longitude per point on a
   * reduced Gaussian grid (dimension `values`), else latitude and longitude
   * axes; the spatial dimensions, and the order that transposes a
   * column-major scan to rows on read.
   */
  private addGridCoordinates(g0: GribMessage["grid"]): { space: string[]; order?: Int32Array } {
    if (g0.type === "reduced_gg") {
      const { lat, lon } = gridPoints(g0);
      this.dims.values = g0.points;
      this.coords.latitude = lat;
      this.coords.longitude = lon;
      this.variables.set("latitude", coordVar("latitude", ["values"], [g0.points], { units: "degrees_north" }));
      this.variables.set("longitude", coordVar("longitude", ["values"], [g0.points], { units: "degrees_east" }));
      return { space: ["values"] };
    }
    const { lats, lons } = axes(g0);
    this.dims.latitude = g0.nj;
    this.dims.longitude = g0.ni;
    this.coords.latitude = lats;
    this.coords.longitude = lons;
    this.variables.set("latitude", coordVar("latitude", ["latitude"], [g0.nj], { units: "degrees_north" }));
    this.variables.set("longitude", coordVar("longitude", ["longitude"], [g0.ni], { units: "degrees_east" }));
    // Column-major scans are transposed to rows on read.
    let order: Int32Array | undefined;
    if (g0.scan & 0x20) {
      order = new Int32Array(g0.points);
      for (let j = 0, k = 0; j < g0.nj; j++) for (let i = 0; i < g0.ni; i++, k++) order[k] = i * g0.nj + j;
    }
    return { space: ["latitude", "longitude"], order };
  }

  /**
   * Index every message by (parameter, valid time, level) and make a
   * variable of each parameter; a message twice, or a parameter on several
   * level types, is refused.
   */
  private indexMessages(ms: GribMessage[], levelDim: string | undefined, timeDims: string[], space: string[]): void {
    for (const m of ms) {
      const levelled = m.levelType === levelDim && levelDim !== undefined;
      const key = `${m.param.cfName}|${m.validTime}|${levelled ? m.level : ""}`;
      if (this.index.has(key)) {
        throw new InputError(
          this.path,
          `duplicate message: ${m.param.shortName} at ${new Date(m.validTime * 1000).toISOString()}${
            levelled ? ` level ${m.level}` : ""
          } appears twice`,
        );
      }
      this.index.set(key, m);
      const prev = this.variables.get(m.param.cfName);
      if (prev && prev.dims.includes(levelDim ?? "-") !== levelled) {
        throw new InputError(this.path, `${m.param.shortName} is on several level types`);
      }
      if (!prev) {
        const dims = [...timeDims, ...(levelled ? [levelDim!] : []), ...space];
        this.variables.set(m.param.cfName, {
          name: m.param.cfName,
          dims,
          shape: dims.map((d) => this.dims[d]),
          dtype: "float32",
          attrs: {
            GRIB_shortName: m.param.shortName,
            GRIB_paramId: m.param.paramId,
            GRIB_typeOfLevel: m.levelType,
            GRIB_packingType: m.packing,
            _FillValue: NaN,
          },
        });
      }
    }
  }

  read(name: string, start: number[], count: number[]): NumericArray {
    const v = this.variables.get(name);
    if (!v) throw new InputError(this.path, `no variable ${name}`);
    if (this.coords[name]) {
      const all = this.coords[name];
      return all.subarray(start[0] ?? 0, (start[0] ?? 0) + (count[0] ?? all.length)) as NumericArray;
    }
    const levelled = v.dims.length === (this.dims.values ? 3 : 4);
    const spaceRank = this.dims.values ? 1 : 2;
    const plane = this.dims.values ?? this.dims.latitude * this.dims.longitude;
    const sStart = start.slice(-spaceRank), sCount = count.slice(-spaceRank);
    const partial = sCount.some((c, i) => c !== v.shape[v.shape.length - spaceRank + i]);
    const nl = levelled ? count[1] : 1;
    const outPlane = sCount.reduce((a, b) => a * b, 1);
    const out = new Float32Array(count[0] * nl * outPlane).fill(NaN);
    for (let t = 0; t < count[0]; t++) {
      for (let l = 0; l < nl; l++) {
        const time = this.times[start[0] + t];
        const key = `${name}|${time}|${levelled ? this.levels[start[1] + l] : ""}`;
        const m = this.index.get(key);
        if (!m) continue;
        let values: Float32Array;
        try {
          values = decodeMessage(this.reader, m);
        } catch (e) {
          throw new InputError(this.path, (e as Error).message.replace(`${this.path}: `, ""));
        }
        if (this.order) values = Float32Array.from(this.order, (k) => values[k]);
        const dst = (t * nl + l) * outPlane;
        if (!partial) out.set(values.subarray(0, plane), dst);
        else if (spaceRank === 1) out.set(values.subarray(sStart[0], sStart[0] + sCount[0]), dst);
        else {
          const ni = this.dims.longitude;
          for (let r = 0; r < sCount[0]; r++) {
            const s = (sStart[0] + r) * ni + sStart[1];
            out.set(values.subarray(s, s + sCount[1]), dst + r * sCount[1]);
          }
        }
      }
    }
    return out;
  }

  readAll(name: string): NumericArray | string[] {
    const v = this.variables.get(name);
    if (!v) throw new InputError(this.path, `no variable ${name}`);
    return this.read(name, v.shape.map(() => 0), v.shape);
  }

  close(): void {
    this.reader.close();
  }
}

function coordVar(name: string, dims: string[], shape: number[], attrs: Record<string, unknown>): SourceVariable {
  return { name, dims, shape, dtype: "float64", attrs };
}

/** "GRIB" at byte `i` of `h`. */
function gribAt(h: Uint8Array, i: number): boolean {
  return h[i] === 0x47 && h[i + 1] === 0x52 && h[i + 2] === 0x49 && h[i + 3] === 0x42;
}

/**
 * A GRIB message preceded by a WMO bulletin header (NCEP's `…eta.grb`
 * style: SOH, CR CR LF, a sequence number and an abbreviated heading such
 * as `YTQA50 KWBC 010000` before each message): the head holds only such
 * text before the first "GRIB". The message index skips the headers
 * between messages as ecCodes does.
 */
function afterBulletinHeader(h: Uint8Array): boolean {
  for (let i = 0; i + 3 < h.length; i++) {
    if (gribAt(h, i)) return i > 0;
    const b = h[i];
    if (!(b === 0x01 || b === 0x03 || b === 0x0d || b === 0x0a || (b >= 0x20 && b < 0x7f))) return false;
  }
  return false;
}

/** The GRIB format plug-in (editions 1 and 2). */
export const gribReader: FormatReader = {
  name: "grib",
  sniff: (h: Uint8Array): boolean => gribAt(h, 0) || afterBulletinHeader(h),
  open(path: string): Promise<SourceDataset> {
    try {
      return Promise.resolve(new GribDataset(path));
    } catch (e) {
      return Promise.reject(e instanceof GribError ? new InputError(path, e.message) : e);
    }
  },
};
