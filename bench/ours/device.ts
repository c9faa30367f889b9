/**
 * `deno task bench:device [--rounds N] [--steps N] [--config tiny]
 * [--device webgpu|cuda] [--skip-cpu]`: a training step of a configuration's
 * Multiformer on `cpu` (OpenBLAS, 1 thread) against a device-resident
 * backend (`webgpu`, ops/webgpu_device.ts, or `cuda`, ops/cuda/device.ts)
 * in one process, interleaved rounds, on a synthetic batch: seconds per
 * step (min / median / max; a device step counted until its loss is read
 * back, i.e. all its work done), the ratio of medians, the dispatches and
 * submissions per step, the device memory its buffer pool holds, the cost
 * of one read-back, and the losses of both
 * (they agree without dropout; the config's dropout is set to 0). On a
 * software adapter (lavapipe) the device is expected to lose: it is the
 * correctness path CI runs. `--skip-cpu` times the device alone (a
 * configuration too large for a CPU step, on a GPU machine).
 *
 * @module
 */
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { fieldLayouts } from "../../models/config.ts";
import { Multiformer } from "../../models/multiformer.ts";
import { modelInputs } from "../../models/inputs.ts";
import { AdamW } from "../../training/adamw.ts";
import { gradientStep, modelLoss } from "../../training/step.ts";
import type { TrainConfig } from "../../training/config.ts";
import { openblasGemm, Random, selectBackend, typescriptGemm, useGemm } from "../../ops/mod.ts";
import { syntheticBatch } from "../inputs/synthetic_batch.ts";

const here = fileURLToPath(new URL(".", import.meta.url));
const { values: args } = parseArgs({
  args: Deno.args,
  options: {
    rounds: { type: "string", default: "3" },
    steps: { type: "string", default: "2" },
    config: { type: "string", default: "tiny" },
    device: { type: "string", default: "webgpu" },
    "skip-cpu": { type: "boolean", default: false },
  },
});
if (args.device !== "webgpu" && args.device !== "cuda") throw new Error(`--device: webgpu or cuda, not ${args.device}`);
const kind = args.device;
const rounds = Number(args.rounds), steps = Number(args.steps);

const device = (await selectBackend(kind, "--device", { device: true })).device!;
/** Counters the WebGPU device keeps (dispatches, submissions) and both keep (pooled bytes). */
const counters = device as unknown as { dispatches?: number; submits?: number; bytesCreated?: number };
const blas = openblasGemm();
blas?.setThreads(1);
useGemm(blas ?? typescriptGemm);
console.log(`device: ${kind} on "${device.description}"; cpu kernel: ${blas?.name ?? "typescript"} (1 thread)`);

const config = JSON.parse(
  Deno.readTextFileSync(join(here, "..", "..", "configs", `${args.config}.json`)),
) as TrainConfig;
config.model.dropout = 0;
const spec = config.sampler.datasets.flatMap((d) => d.fields);
const layouts = fieldLayouts(spec);
const batch = syntheticBatch(layouts, spec, config.sampler.batchSize, new Random(1));
const losses = config.schedule.losses ?? ["mse_ensemble", "stats"]; // as training/tasks/masked_token.ts

const names = args["skip-cpu"] ? [kind] : ["cpu", kind];
const runs = names.map((name) => {
  const model = new Multiformer(config.model, layouts, 1);
  if (name !== "cpu") { for (const p of model.params.map.values()) p.toDevice(device); }
  const opt = new AdamW(model.params.map, { lrMax: 1e-4, lrStart: 1e-4, weightDecay: 0.025, clipNorm: 1 });
  return { name, model, opt, times: [] as number[], losses: [] as number[], params: model.params.count() };
});

/** Milliseconds the last device step spent recording its work (forward, backward, optimizer), before the wait. */
let recording = 0;

/** One step, until its loss is on the host. */
async function step(r: typeof runs[number]): Promise<number> {
  const inputs = modelInputs(r.model, batch);
  const g = gradientStep(r.opt, () => modelLoss(r.model, inputs, losses, new Random(5)), (l) => {
    throw new Error(`loss ${l}`);
  });
  if (r.name !== "cpu") recording = g.timings.forward + g.timings.backward + g.timings.optimizer;
  await g.read();
  return g.loss;
}

for (const r of runs) await step(r); // warm-up: pipelines, buffer pool
let dispatches = 0, submits = 0;
for (let round = 0; round < rounds; round++) {
  for (const r of runs) {
    for (let s = 0; s < steps; s++) {
      const d0 = counters.dispatches ?? 0, s0 = counters.submits ?? 0, t0 = performance.now();
      r.losses.push(await step(r));
      r.times.push((performance.now() - t0) / 1000);
      if (r.name !== "cpu") (dispatches = (counters.dispatches ?? 0) - d0, submits = (counters.submits ?? 0) - s0);
    }
  }
}

const med = (x: number[]) => [...x].sort((a, b) => a - b)[Math.floor(x.length / 2)];
const mmm = (x: number[]) => `${Math.min(...x).toFixed(3)} / ${med(x).toFixed(3)} / ${Math.max(...x).toFixed(3)}`;
console.log(`\n${args.config} config (${runs[0].params} parameters, batch ${config.sampler.batchSize}, no dropout):`);
for (const r of runs) console.log(`  ${r.name}: s/step min / median / max ${mmm(r.times)} over ${rounds}×${steps}`);
const dev = runs.at(-1)!;
if (runs.length === 2) {
  console.log(`  ${kind} / cpu median ratio: ${(med(dev.times) / med(runs[0].times)).toFixed(2)}×`);
}
if (counters.dispatches !== undefined) {
  console.log(
    `  ${kind}: ${dispatches} dispatches and ${submits} submissions per step (one read at its end); ` +
      `recording them took ${recording.toFixed(0)} ms of the last step`,
  );
} else console.log(`  ${kind}: recording a step took ${recording.toFixed(0)} ms of the last step`);
if (counters.bytesCreated !== undefined) {
  console.log(
    `  ${kind}: ${(counters.bytesCreated / 2 ** 20).toFixed(1)} MiB of device buffers (pooled, reused every step)`,
  );
}
if (runs.length === 2) {
  const worst = Math.max(...runs[0].losses.map((l, i) => Math.abs(l - dev.losses[i]) / Math.abs(l)));
  console.log(
    `  losses: cpu ${runs[0].losses.at(-1)} ${kind} ${dev.losses.at(-1)} (largest relative gap ${
      worst.toExponential(1)
    })`,
  );
} else console.log(`  loss: ${kind} ${dev.losses.at(-1)}`);

// The read-back wait, on an idle queue.
const one = device.upload(Float32Array.of(1), true);
const reads: number[] = [];
for (let i = 0; i < 5; i++) {
  const t0 = performance.now();
  await device.read(one);
  reads.push(performance.now() - t0);
}
console.log(`  one read-back of 4 bytes: ${med(reads).toFixed(1)} ms (median of 5)`);
device.close();
