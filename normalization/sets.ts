/**
 * Normalization coefficient sets (AtmoRep's layout) and the mergeable
 * partial statistics they are derived from.
 *
 * A set holds, per month entry: `norm` (month, 2, field, level, lat, lon) and
 * `global_norm` (month, 2, field, level), index 0 = mean and 1 = standard
 * deviation, plus `*_sfc` variants for single-level fields. Entry 0 is
 * January of the first year of the data store's time axis.
 *
 * @module
 */
import type { ZarrFormat } from "../zarr/metadata.ts";
import { ArrayWriter } from "../zarr/writer.ts";
import { type Moments, stdOf } from "./moments.ts";

/** Shape of a coefficient set. */
export interface NormLayout {
  /** Month entries as yyyymm. */
  months: number[];
  /** 3-D fields. */
  fields: string[];
  /** Single-level fields. */
  fieldsSfc: string[];
  /** Levels. */
  levels: number[];
  /** Shape of one field level's points: [lat, lon] for grids, [points] for meshes. */
  pointShape: number[];
  /** Dimension names of the points, e.g. ["lats", "lons"] or ["node"]. */
  pointDims: string[];
  /** Name suffix of the arrays: "" (norm, norm_sfc, …) or e.g. "_elem" (norm_elem, norm_elem_sfc, …). */
  kind?: string;
}

const NORM_CODEC = "shuffle,zstd:1";

/** Writers for the arrays of one coefficient set. */
export interface NormArrays {
  /** Per-point coefficients of 3-D fields. */
  norm: ArrayWriter;
  /** Per-point coefficients of single-level fields. */
  normSfc: ArrayWriter;
  /** Global coefficients of 3-D fields. */
  globalNorm: ArrayWriter;
  /** Global coefficients of single-level fields. */
  globalNormSfc: ArrayWriter;
}

/** Create the arrays of a coefficient set under `prefix` of a store. */
export function createNormArrays(root: string, format: ZarrFormat, prefix: string, l: NormLayout): NormArrays {
  const p = (name: string) => (prefix ? `${prefix}/${name}` : name);
  const k = l.kind ?? "";
  const nm = l.months.length, nf = l.fields.length, ns = l.fieldsSfc.length, nl = l.levels.length;
  const pts = l.pointShape;
  const at = (name: string, shape: number[], chunks: number[], dims: string[]) => {
    const w = new ArrayWriter(root, p(name), format, {
      shape,
      chunks: chunks.map((c) => Math.max(1, c)),
      dtype: "float32",
      dimensions: dims,
      codec: NORM_CODEC,
      attributes: { coefficients: ["mean", "std"] },
    });
    w.writeMetadata();
    return w;
  };
  const months = new ArrayWriter(root, p("months"), format, {
    shape: [nm],
    chunks: [Math.max(1, nm)],
    dtype: "int32",
    dimensions: ["month"],
    attributes: { long_name: "month of each coefficient entry", units: "yyyymm" },
  });
  months.writeMetadata();
  months.writeAll(Int32Array.from(l.months));
  const fieldDim = `field${k}`, sfcDim = `field${k}_sfc`;
  return {
    norm: at(`norm${k}`, [nm, 2, nf, nl, ...pts], [1, 2, 1, 1, ...pts], [
      "month",
      "coefficient",
      fieldDim,
      "level",
      ...l.pointDims,
    ]),
    normSfc: at(`norm${k}_sfc`, [nm, 2, ns, ...pts], [1, 2, 1, ...pts], [
      "month",
      "coefficient",
      sfcDim,
      ...l.pointDims,
    ]),
    globalNorm: at(`global_norm${k}`, [nm, 2, nf, nl], [nm, 2, nf, nl], ["month", "coefficient", fieldDim, "level"]),
    globalNormSfc: at(`global_norm${k}_sfc`, [nm, 2, ns], [nm, 2, ns], ["month", "coefficient", sfcDim]),
  };
}

/** Write the per-point coefficients of one (month, field[, level]). */
export function writeLocalCoefficients(
  arrays: Pick<NormArrays, "norm" | "normSfc">,
  sfc: boolean,
  month: number,
  field: number,
  level: number,
  mean: Float32Array,
  std: Float32Array,
): void {
  const both = new Float32Array(mean.length * 2);
  both.set(mean, 0);
  both.set(std, mean.length);
  writeLocalCoefficientChunk(arrays, sfc, month, field, level, both);
}

/**
 * {@link writeLocalCoefficients} from one buffer holding the mean plane
 * then the std plane (as {@link PointMoments.coefficientsInto} fills it).
 */
export function writeLocalCoefficientChunk(
  arrays: Pick<NormArrays, "norm" | "normSfc">,
  sfc: boolean,
  month: number,
  field: number,
  level: number,
  meanThenStd: Float32Array,
): void {
  const zeros = arrays.norm.spec.shape.slice(4).map(() => 0);
  if (sfc) arrays.normSfc.writeChunk([month, 0, field, ...zeros], meanThenStd);
  else arrays.norm.writeChunk([month, 0, field, level, ...zeros], meanThenStd);
}

/**
 * Write the global coefficients from moments indexed [month][field][level]
 * (`sfc` moments indexed [month][field][0]).
 */
export function writeGlobalCoefficients(
  arrays: Pick<NormArrays, "globalNorm" | "globalNormSfc">,
  l: NormLayout,
  moments: Moments[][][],
  sfc: Moments[][][],
): void {
  const nm = l.months.length, nf = l.fields.length, ns = l.fieldsSfc.length, nl = l.levels.length;
  const g = new Float32Array(nm * 2 * nf * nl).fill(NaN);
  const gs = new Float32Array(nm * 2 * ns).fill(NaN);
  for (let m = 0; m < nm; m++) {
    for (let f = 0; f < nf; f++) {
      for (let v = 0; v < nl; v++) {
        const mo = moments[m][f][v];
        g[((m * 2 + 0) * nf + f) * nl + v] = mo.count ? mo.mean : NaN;
        g[((m * 2 + 1) * nf + f) * nl + v] = stdOf(mo);
      }
    }
    for (let f = 0; f < ns; f++) {
      const mo = sfc[m][f][0];
      gs[(m * 2 + 0) * ns + f] = mo.count ? mo.mean : NaN;
      gs[(m * 2 + 1) * ns + f] = stdOf(mo);
    }
  }
  if (g.length) arrays.globalNorm.writeAll(g);
  if (gs.length) arrays.globalNormSfc.writeAll(gs);
}

/** A month entry (yyyymm) as `YYYY-MM`, for messages and attributes. */
export function monthLabel(yyyymm: number): string {
  return `${Math.floor(yyyymm / 100)}-${String(yyyymm % 100).padStart(2, "0")}`;
}

/** Month entries from January of `first`'s year through `last` (month indices year*12+m). */
export function monthEntries(firstMonthIndex: number, lastMonthIndex: number): number[] {
  const start = Math.floor(firstMonthIndex / 12) * 12;
  const out: number[] = [];
  for (let m = start; m <= lastMonthIndex; m++) out.push(Math.floor(m / 12) * 100 + (m % 12) + 1);
  return out;
}

/** Default path of the coefficient set next to a data store. */
export function defaultNormPath(storePath: string): string {
  const trimmed = storePath.replace(/\/+$/, "");
  return trimmed.endsWith(".zarr") ? trimmed.slice(0, -5) + ".norm.zarr" : trimmed + ".norm.zarr";
}
