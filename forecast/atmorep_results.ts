/**
 * AtmoRep's results layout, as its `datasets/data_writer.py` writes it, so
 * that AtmoRep's analysis code reads our evaluations unchanged:
 * `results_id<ID>_epoch<EEEEE>_{source,target,pred,ens}.zarr`, each a zarr
 * v2 zip store (`zarr.ZipStore`) with one group per field and, under it, one
 * group per sample `sample=<NNNNN>` holding the arrays `data`, `ml` (the
 * model levels), `datetime` (`datetime64[ns]`), `lat` and `lon` (float32),
 * values denormalized.
 *
 * - `forecast` (`write_forecast`): every store has `<field>/sample=<N>/…`;
 *   the source's `data` is [levels, time, lat, lon] over the whole window,
 *   the target's and the prediction's are [levels, forecast time, lat, lon]
 *   with the forecast's datetimes, the ensemble's [members, levels, …].
 * - `BERT` (`write_BERT`): the source as above; target, prediction and
 *   ensemble have one more group per level, `<field>/sample=<N>/ml=<LLLLL>/…`,
 *   whose `data` are the masked tokens of that level and whose `ml` is the
 *   level (a scalar).
 *
 * The stores are written in memory through the project's zarr v2 metadata
 * (zarr/metadata.ts) as one chunk per array, uncompressed, and zipped as
 * the entries Python's `zipfile` reads.
 *
 * @module
 */
import { join } from "node:path";
import { arrayDocs, groupDocs, jsonBytes } from "../zarr/metadata.ts";
import { parseCodecSpec } from "../zarr/codecs.ts";
import { zipStoredBytes } from "../models/torch_archive.ts";
import { writeFileDurable } from "../zarr/durable.ts";

/** One `write_item` group: the values and their coordinates. */
export interface ResultsItem {
  /** Values, C order, denormalized. */
  data: Float32Array;
  /** Shape of `data`. */
  shape: number[];
  /** `ml`: the levels (an array), or one level (a scalar, BERT's per-level groups). */
  levels: number[] | number;
  /** `datetime`: milliseconds since 1970 (UTC); shape `datetimeShape` (default [n]). */
  datetime: number[];
  /** Shape of `datetime` (default [datetime.length]). */
  datetimeShape?: number[];
  /** `lat` in degrees north; shape `latShape` (default [n]). */
  lat: ArrayLike<number>;
  /** Shape of `lat` (default [lat.length]). */
  latShape?: number[];
  /** `lon` in degrees east; shape `lonShape` (default [n]). */
  lon: ArrayLike<number>;
  /** Shape of `lon` (default [lon.length]). */
  lonShape?: number[];
}

/** A forecast-layout field: one item per sample. */
export interface ResultsField {
  /** Field name (AtmoRep's, e.g. `temperature`). */
  name: string;
  /** Per sample. */
  samples: ResultsItem[];
}

/** A BERT-layout field: per sample, one item per level. */
export interface BertResultsField {
  /** Field name. */
  name: string;
  /** Per sample, per level (the item's `levels` is that level). */
  samples: ResultsItem[][];
}

/** What one `results_id…` store of the four holds. */
export type ResultsKind = "source" | "target" | "pred" | "ens";

/** AtmoRep's epoch in file names (`{epoch:05d}`). */
function epochText(epoch: number): string {
  return epoch < 0 ? `-${String(-epoch).padStart(4, "0")}` : String(epoch).padStart(5, "0");
}

/** The file name AtmoRep gives a results store. */
export function resultsName(id: string, epoch: number, kind: ResultsKind | "attention"): string {
  return `results_id${id}_epoch${epochText(epoch)}_${kind}.zarr`;
}

/**
 * The name (without extension) of the blended global forecast of a
 * `global_forecast` evaluation — not one of AtmoRep's results stores, so
 * not named `results_…`: `global_forecast_id<ID>_epoch<EEEEE>`.
 */
export function globalForecastName(id: string, epoch: number): string {
  return `global_forecast_id${id}_epoch${epochText(epoch)}`;
}

/** Files of a zarr v2 store built in memory. */
class MemoryStore {
  readonly files: [string, Uint8Array][] = [];
  private readonly groups = new Set<string>();

  constructor() {
    this.group("");
  }

  group(path: string): void {
    if (this.groups.has(path)) return;
    this.groups.add(path);
    if (path.includes("/")) this.group(path.slice(0, path.lastIndexOf("/")));
    else if (path) this.group("");
    for (const [k, doc] of Object.entries(groupDocs(path, 2, {}))) {
      if (k.endsWith(".zattrs")) continue; // zarr.group() writes only .zgroup
      this.files.push([k, jsonBytes(doc)]);
    }
  }

  /** One array, one chunk (a scalar: shape [], chunks []). */
  array(path: string, shape: number[], bytes: Uint8Array, v2dtype: string, dtype: "float32" | "int64"): void {
    const docs = arrayDocs(path, 2, { shape, chunks: shape, dtype, dimensions: [] }, parseCodecSpec("none"));
    const zarray = docs[`${path}/.zarray`] as Record<string, unknown>;
    zarray.dtype = v2dtype;
    zarray.fill_value = dtype === "float32" ? 0 : null;
    delete zarray.dimension_separator;
    this.files.push([`${path}/.zarray`, jsonBytes(zarray)]);
    this.files.push([shape.length ? `${path}/${shape.map(() => 0).join(".")}` : `${path}/0`, bytes]);
  }

  float32(path: string, shape: number[], values: ArrayLike<number>): void {
    const n = shape.reduce((a, b) => a * b, 1);
    if (values.length !== n) throw new Error(`${path}: ${values.length} values for shape [${shape}]`);
    const b = new Uint8Array(4 * n), dv = new DataView(b.buffer);
    for (let i = 0; i < n; i++) dv.setFloat32(4 * i, values[i], true);
    this.array(path, shape, b, "<f4", "float32");
  }

  int64(path: string, shape: number[], values: ArrayLike<number>, v2dtype: string): void {
    const n = shape.reduce((a, b) => a * b, 1);
    if (values.length !== n) throw new Error(`${path}: ${values.length} values for shape [${shape}]`);
    const b = new Uint8Array(8 * n), dv = new DataView(b.buffer);
    for (let i = 0; i < n; i++) dv.setBigInt64(8 * i, BigInt(values[i]), true);
    this.array(path, shape, b, v2dtype, "int64");
  }

  /** AtmoRep's `write_item`: the group `<parent>/<name>=<idx:05d>` and its five arrays. */
  item(parent: string, name: string, idx: number, it: ResultsItem): void {
    const g = `${parent}/${name}=${String(idx).padStart(5, "0")}`;
    this.group(g);
    this.float32(`${g}/data`, it.shape, it.data);
    // `ml`: np.array of the levels (int64), or the one level (a 0-d int64 array)
    if (typeof it.levels === "number") this.int64(`${g}/ml`, [], [it.levels], "<i8");
    else this.int64(`${g}/ml`, [it.levels.length], it.levels, "<i8");
    // datetime64[ns]: nanoseconds since 1970
    this.int64(
      `${g}/datetime`,
      it.datetimeShape ?? [it.datetime.length],
      it.datetime.map((ms) => ms * 1e6),
      "<M8[ns]",
    );
    this.float32(`${g}/lat`, it.latShape ?? [it.lat.length], it.lat);
    this.float32(`${g}/lon`, it.lonShape ?? [it.lon.length], it.lon);
  }

  write(path: string): void {
    writeFileDurable(path, zipStoredBytes(this.files));
  }
}

/** AtmoRep's `write_forecast`: the four stores in `dir`, samples numbered from `first`; returns their paths. */
export function writeForecastResults(
  dir: string,
  id: string,
  epoch: number,
  stores: Record<ResultsKind, ResultsField[]>,
  first = 0,
): string[] {
  return (["source", "target", "pred", "ens"] as const).map((kind) => {
    const s = new MemoryStore();
    for (const f of stores[kind]) {
      s.group(f.name);
      f.samples.forEach((it, b) => s.item(f.name, "sample", first + b, it));
    }
    const path = join(dir, resultsName(id, epoch, kind));
    s.write(path);
    return path;
  });
}

/** AtmoRep's `write_BERT`: the source per sample, the rest per sample and level; returns the paths. */
export function writeBertResults(
  dir: string,
  id: string,
  epoch: number,
  source: ResultsField[],
  stores: Record<Exclude<ResultsKind, "source">, BertResultsField[]>,
  first = 0,
): string[] {
  const src = new MemoryStore();
  for (const f of source) {
    src.group(f.name);
    f.samples.forEach((it, b) => src.item(f.name, "sample", first + b, it));
  }
  const paths = [join(dir, resultsName(id, epoch, "source"))];
  src.write(paths[0]);
  for (const kind of ["target", "pred", "ens"] as const) {
    const s = new MemoryStore();
    for (const f of stores[kind]) {
      f.samples.forEach((levels, b) => {
        const g = `${f.name}/sample=${String(first + b).padStart(5, "0")}`;
        s.group(g);
        for (const it of levels) s.item(g, "ml", it.levels as number, it);
      });
    }
    const path = join(dir, resultsName(id, epoch, kind));
    s.write(path);
    paths.push(path);
  }
  return paths;
}
