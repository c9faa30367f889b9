/**
 * A synthetic training batch for the model benchmarks: normal token values,
 * half the tokens masked (zeroed), uniform token info — the shapes of the
 * sampler's batch for the given layouts, without reading a store.
 *
 * @module
 */
import type { Random } from "../../ops/mod.ts";
import type { FieldLayout } from "../../models/config.ts";
import { type Batch, type FieldBatch, MASK, noStats, noTimings } from "../../samplers/batch.ts";
import type { FieldConfig } from "../../samplers/sampler.ts";

/** A batch of `batchSize` samples for `layouts`, the fields' levels and token layouts taken from `fields`. */
export function syntheticBatch(
  layouts: FieldLayout[],
  fields: Pick<FieldConfig, "name" | "levels" | "tokens">[],
  batchSize: number,
  rng: Random,
): Batch {
  const out: FieldBatch[] = layouts.map((l) => {
    const n = batchSize * l.levels * l.tokens;
    const f = fields.find((x) => x.name === l.field)!;
    const mask = new Uint8Array(n);
    for (let i = 0; i < n; i++) mask[i] = rng.next() < 0.5 ? MASK.zeroed : MASK.visible;
    return {
      dataset: 0,
      field: l.field,
      levels: f.levels,
      layout: f.tokens,
      tokenizer: "pointsPerToken" in f.tokens ? "healpix-points" : "regular",
      tokens: Float32Array.from({ length: n * l.values }, () => rng.normal()),
      mask,
      replaced: new Int32Array(0),
      replacements: new Float32Array(0),
      tokenInfo: Float32Array.from({ length: n * 8 }, () => rng.next()),
    };
  });
  return { index: 0, timings: noTimings(), stats: noStats(), samples: [], fields: out };
}
