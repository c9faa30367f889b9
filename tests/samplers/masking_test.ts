/**
 * Forecast and temporal-interpolation masking against AtmoRep's own code:
 * tests/fixtures/atmorep/slab_masks/golden.json holds, for several token
 * grids, `forecast_num_tokens` and `idx_time_mask` settings, the masked
 * token indices (`tokens_masked_idx_list`) and the zeroed tokens that
 * AtmoRep's `prepare_batch_BERT_forecast_field` and
 * `prepare_batch_BERT_temporal_field` produced (written by
 * tests/oracles/atmorep_golden.py, case slab_masks). Ours must give the
 * same indices in the same order, and mask exactly those tokens.
 *
 * @module
 */
import { deepStrictEqual as assertEquals, throws as assertThrows } from "node:assert/strict";
import { join } from "node:path";
import { ROOT } from "../_helpers/common.ts";
import { type MaskingConfig, maskTokens, slabTokens } from "../../samplers/masking.ts";
import { MASK } from "../../samplers/batch.ts";
import { Random } from "../../random.ts";
import { ConfigError } from "../../errors.ts";

interface Setting {
  strategy: "forecast" | "temporal_interpolation";
  num_tokens: [number, number, number];
  forecast_num_tokens?: number;
  idx_time_mask?: number[];
  masked: number[][];
  zeroed: number[][];
}

const golden = JSON.parse(
  Deno.readTextFileSync(join(ROOT, "tests", "fixtures", "atmorep", "slab_masks", "golden.json")),
) as { token_size: [number, number, number]; settings: Setting[] };

function configOf(s: Setting): MaskingConfig {
  return s.strategy === "forecast"
    ? { strategy: "forecast", forecastSlabs: s.forecast_num_tokens }
    : { strategy: "temporal_interpolation", ...(s.idx_time_mask ? { slabs: s.idx_time_mask } : {}) };
}

Deno.test("slab masks: forecast_num_tokens and temporal_interpolation (idx_time_mask) mask AtmoRep's tokens in AtmoRep's order", () => {
  assertEquals(golden.settings.length >= 15, true);
  for (const s of golden.settings) {
    const what = `${s.strategy} ${s.num_tokens} ${s.forecast_num_tokens ?? s.idx_time_mask ?? "default"}`;
    const idx = slabTokens(s.num_tokens, configOf(s));
    for (const b of s.masked.keys()) assertEquals(idx, s.masked[b], what);
    const ntok = s.num_tokens[0] * s.num_tokens[1] * s.num_tokens[2];
    const len = golden.token_size[0] * golden.token_size[1] * golden.token_size[2];
    const mask = new Uint8Array(ntok);
    maskTokens(new Float32Array(ntok * len), mask, s.num_tokens, golden.token_size, configOf(s), new Random(1), () => {
      throw new Error("slab masking replaces no token");
    });
    const zeroed = [...mask.keys()].filter((k) => mask[k] === MASK.zeroed);
    for (const b of s.zeroed.keys()) assertEquals(zeroed, s.zeroed[b], what);
  }
});

Deno.test("slab masks: a slab outside the window, a repeated slab or a forecast longer than the window is a ConfigError naming the key", () => {
  const isKey = (key: string) => (e: unknown) => e instanceof ConfigError && e.message.includes(key);
  assertThrows(() => slabTokens([4, 2, 2], { strategy: "temporal_interpolation", slabs: [4] }), isKey("masking.slabs"));
  assertThrows(
    () => slabTokens([4, 2, 2], { strategy: "temporal_interpolation", slabs: [1, 1] }),
    isKey("masking.slabs"),
  );
  assertThrows(() => slabTokens([4, 2, 2], { strategy: "forecast", forecastSlabs: 5 }), isKey("masking.forecastSlabs"));
});
