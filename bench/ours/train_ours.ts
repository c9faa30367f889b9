/**
 * One side of bench:train: this project's Multiformer training step on a
 * synthetic batch of the spec's shapes (bench/ours/train.ts writes the spec).
 * Prints one JSON line: parameter count, seconds per step (bench/tools/peak_rss.py
 * adds the peak RSS).
 *
 * @module
 */
import { type FieldLayout, fieldLayouts, type MultiformerConfig } from "../../models/config.ts";
import { Multiformer } from "../../models/multiformer.ts";
import { AdamW } from "../../training/adamw.ts";
import { trainStep } from "../../training/step.ts";
import { gemm, Random } from "../../ops/mod.ts";
import type { TokenGrid } from "../../tokenizers/patches.ts";
import { syntheticBatch } from "../inputs/synthetic_batch.ts";

interface Spec {
  model: MultiformerConfig;
  sampler: { name: string; levels: number[]; tokens: TokenGrid }[];
  batch: number;
  warmup: number;
  steps: number;
  threads: number;
}

const spec: Spec = JSON.parse(Deno.readTextFileSync(Deno.args[0]));
gemm().setThreads(spec.threads);
const layouts: FieldLayout[] = fieldLayouts(spec.sampler);
const model = new Multiformer(spec.model, layouts, 1);
const opt = new AdamW(model.params.map, { lrMax: 1e-4, lrStart: 1e-4, weightDecay: 0.025, clipNorm: 1 });
const rng = new Random(5);
const B = spec.batch;
const batch = syntheticBatch(layouts, spec.sampler, B, rng);
const times: number[] = [];
let loss = NaN;
const phases = { inputs: 0, forward: 0, backward: 0, optimizer: 0 };
for (let s = 0; s < spec.warmup + spec.steps; s++) {
  const t0 = performance.now();
  const r = trainStep(model, opt, batch, ["mse_ensemble", "stats"], rng);
  loss = r.loss;
  if (s >= spec.warmup) {
    times.push((performance.now() - t0) / 1000);
    for (const k of Object.keys(phases) as (keyof typeof phases)[]) phases[k] += r.timings[k] / spec.steps / 1000;
  }
}
console.log(
  JSON.stringify({
    parameters: model.params.count(),
    times,
    loss,
    phases,
    kernel: gemm().name,
    resolved: model.fields,
  }),
);
