/**
 * bench:train's `medium` configuration (two coupled fields of 648 tokens,
 * width 128, 2 + 2 layers, batch 2), shared with the GPU run's PyTorch side
 * (bench/gpu/spec.ts) so both time the same network.
 *
 * @module
 */
import type { TrainConfig } from "../../training/config.ts";

/** Sampler fields, model and batch of a benchmark configuration. */
export interface BenchConfig {
  sampler: unknown[];
  model: TrainConfig["model"];
  batch: number;
}

/** The `medium` configuration. */
export const MEDIUM: BenchConfig = {
  sampler: ["t", "u"].map((name) => ({
    name,
    levels: [500, 850, 1000],
    tokens: { numTokens: [6, 3, 12], tokenSize: [3, 9, 9] },
  })),
  model: {
    dropout: 0.05,
    fields: ["t", "u"].map((f) => ({
      field: f,
      width: 128,
      encoderLayers: 2,
      decoderLayers: 2,
      heads: 8,
      coupledWith: f === "t" ? ["u"] : ["t"],
      ensemble: 4,
    })),
  },
  batch: 2,
};
