/**
 * The per-field variables of the forecast store: for each field its
 * ensemble mean, spread and (when kept) members, each with only that field's
 * levels (forecast/store_layout.ts), one chunk per init, lead, member and
 * level, written as the rollout makes the planes.
 *
 * @module
 */
import { ArrayWriter } from "../zarr/writer.ts";
import { StoreError } from "../errors.ts";
import { type ForecastLayout, LAYOUT_NAMES, type LevelDim, type Space } from "./store_layout.ts";

/** What a set of field variables holds and how they are named. */
export interface FieldArraysOptions {
  /** Fields (our short names). */
  fields: string[];
  /** Each field's level dimension (undefined: single-level). */
  levelDims: Map<string, LevelDim | undefined>;
  /** The variable name of a field. */
  nameOf: (field: string) => string;
  /** Attributes of a field's variable (units, long_name, standard_name). */
  attributesOf: (field: string) => Record<string, string>;
  /** The horizontal dimensions. */
  space: Space;
  /** Layout (dimension names). */
  layout: ForecastLayout;
  /** Initial and lead times. */
  inits: number;
  leads: number;
  /** Members kept (0: none). */
  members: number;
  /** Write the mean and the spread (false: members only, the WeatherBench 2 ensemble form). */
  meanAndSpread: boolean;
  /** Extra attributes of every variable (e.g. `coordinates`). */
  extra?: Record<string, string>;
}

/** One field's writers. */
interface FieldWriters {
  levels: number[];
  mean?: ArrayWriter;
  spread?: ArrayWriter;
  members?: ArrayWriter;
}

const CODEC = "shuffle,zstd:1";

/** The variables of a set of fields on one space (the grid or the mesh). */
export class FieldArrays {
  private readonly byField = new Map<string, FieldWriters>();

  constructor(root: string, private readonly o: FieldArraysOptions) {
    for (const f of o.fields) this.byField.set(f, this.open(root, f));
  }

  /** The writers of one field, with their metadata written. */
  private open(root: string, f: string): FieldWriters {
    const o = this.o, n = LAYOUT_NAMES[o.layout], d = o.levelDims.get(f);
    const lev = d ? { dims: [d.dim], shape: [d.levels.length] } : { dims: [], shape: [] };
    const make = (suffix: string, member: boolean, attributes: Record<string, unknown>) => {
      const m = member ? { dims: [n.member], shape: [o.members] } : { dims: [], shape: [] };
      const w = new ArrayWriter(root, o.nameOf(f) + suffix, 2, {
        shape: [o.inits, o.leads, ...m.shape, ...lev.shape, ...o.space.shape],
        chunks: [1, 1, ...m.shape.map(() => 1), ...lev.shape.map(() => 1), ...o.space.shape],
        dtype: "float32",
        dimensions: [n.init, n.lead, ...m.dims, ...lev.dims, ...o.space.dims],
        codec: CODEC,
        attributes: { ...o.attributesOf(f), ...o.extra, ...attributes },
      });
      w.writeMetadata();
      return w;
    };
    const a = o.attributesOf(f);
    return {
      levels: d?.levels ?? [0],
      mean: o.meanAndSpread ? make("", false, { cell_methods: `${n.member}: mean` }) : undefined,
      spread: o.meanAndSpread
        ? make("_spread", false, {
          long_name: `ensemble spread of ${a.long_name} (standard deviation of the members)`,
          cell_methods: `${n.member}: standard_deviation`,
        })
        : undefined,
      members: o.members ? make(o.meanAndSpread ? "_members" : "", true, {}) : undefined,
    };
  }

  /** True when this set holds the field. */
  has(field: string): boolean {
    return this.byField.has(field);
  }

  /** Write one lead of one init of a field level: members [m][plane] (physical units). */
  write(where: string, init: number, lead: number, field: string, level: number, members: Float32Array[]): void {
    const w = this.byField.get(field);
    const l = w?.levels.indexOf(level) ?? -1;
    if (!w || l < 0) {
      throw new StoreError(
        where,
        `no plane ${field}/${level} in the forecast store (its levels: ${w?.levels ?? "none"})`,
      );
    }
    const lev = this.o.levelDims.get(field) ? [l] : [];
    const space = this.o.space.shape.map(() => 0);
    if (w.mean && w.spread) {
      const { mean, spread } = meanAndSpread(members);
      w.mean.writeChunk([init, lead, ...lev, ...space], this.o.space.reorder(mean));
      w.spread.writeChunk([init, lead, ...lev, ...space], this.o.space.reorder(spread));
    }
    if (w.members) {
      for (const [k, m] of members.entries()) {
        w.members.writeChunk([init, lead, k, ...lev, ...space], this.o.space.reorder(m));
      }
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
