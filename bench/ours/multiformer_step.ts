/**
 * One training step of a shipped configuration's Multiformer on a
 * synthetic batch (no stores needed): does the model fit and run forward
 * and backward on this machine, and how long does a step take?
 *
 *     deno run --allow-read --allow-ffi bench/ours/multiformer_step.ts configs/era5-multiformer.json [--fields u,v] [--batch 1] [--steps 1]
 *
 * `--fields` keeps a subset of the fields (coupling restricted to them), to
 * fit a smaller machine. Prints parameter count and seconds per phase; for
 * the peak RSS run it under `/usr/bin/python3 bench/tools/peak_rss.py`.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { checkTrainConfig } from "../../training/config.ts";
import { Multiformer } from "../../models/multiformer.ts";
import { AdamW } from "../../training/adamw.ts";
import { trainStep } from "../../training/step.ts";
import { gemm, Random } from "../../ops/mod.ts";
import { syntheticBatch } from "../inputs/synthetic_batch.ts";

const { values: o, positionals } = parseArgs({
  args: Deno.args,
  allowPositionals: true,
  options: {
    fields: { type: "string" },
    batch: { type: "string", default: "1" },
    steps: { type: "string", default: "1" },
    threads: { type: "string", default: "2" },
  },
});
const raw = JSON.parse(Deno.readTextFileSync(positionals[0]));
if (o.fields) {
  const keep = new Set(o.fields.split(","));
  for (const d of raw.sampler.datasets) d.fields = d.fields.filter((f: { name: string }) => keep.has(f.name));
  raw.sampler.datasets = raw.sampler.datasets.filter((d: { fields: unknown[] }) => d.fields.length);
  raw.model.fields = raw.model.fields.filter((f: { field: string }) => keep.has(f.field));
  for (const f of raw.model.fields) f.coupledWith = (f.coupledWith ?? []).filter((c: string) => keep.has(c));
}
raw.sampler.batchSize = Number(o.batch);
const { config, layouts } = checkTrainConfig(raw, positionals[0]);
gemm().setThreads(Number(o.threads));
const t0 = performance.now();
const model = new Multiformer(config.model, layouts, 1);
const opt = new AdamW(model.params.map, config.optimizer);
const rng = new Random(1);
const B = config.sampler.batchSize;
const batch = syntheticBatch(layouts, config.sampler.datasets.flatMap((d) => d.fields), B, rng);
console.log(
  `${model.params.count().toLocaleString("en")} parameters, fields ${
    layouts.map((l) => `${l.field} ${l.levels * l.tokens}×${l.values}`).join(", ")
  }, batch ${B}, built in ${((performance.now() - t0) / 1000).toFixed(1)} s, matmul ${gemm().name}`,
);
for (let s = 0; s < Number(o.steps); s++) {
  const t = performance.now();
  const r = trainStep(model, opt, batch, config.schedule.losses ?? ["mse_ensemble", "stats"], rng);
  const ph = Object.entries(r.timings).map(([k, v]) => `${k} ${(v / 1000).toFixed(1)} s`).join(", ");
  console.log(`step ${s + 1}: loss ${r.loss.toFixed(4)} in ${((performance.now() - t) / 1000).toFixed(1)} s (${ph})`);
}
console.log(
  `RSS now ${(Deno.memoryUsage().rss / 2 ** 30).toFixed(2)} GiB (peak: run it under bench/tools/peak_rss.py)`,
);
