/**
 * bench:train's configurations and the spec both sides of a timed step read
 * (the network resolved, its token layouts, batch and step counts), shared
 * with the GPU run's PyTorch side (bench/gpu/spec.ts) so both time the same
 * network.
 *
 * @module
 */
import type { TrainConfig } from "../../training/config.ts";
import { fieldLayouts, resolveConfig } from "../../models/config.ts";

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

/** How a spec is run: warm-up and timed steps, BLAS threads. */
export interface SpecRun {
  warmup: number;
  steps: number;
  threads: number;
}

/** The spec of `c` for bench/ours/train_ours.ts and the PyTorch peers, with the tokens one step processes. */
export function trainSpec(c: BenchConfig, run: SpecRun): Record<string, unknown> & { tokensPerStep: number } {
  const layouts = fieldLayouts(c.sampler as never);
  const resolved = resolveConfig(c.model, layouts);
  return {
    model: c.model,
    sampler: c.sampler,
    fields: resolved.fields,
    layouts,
    dropout: resolved.dropout,
    tokenInfoWidth: resolved.tokenInfoWidth,
    batch: c.batch,
    ...run,
    tokensPerStep: c.batch * layouts.reduce((a, l) => a + l.levels * l.tokens, 0),
  };
}
