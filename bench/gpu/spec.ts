/**
 * Writes the bench:train spec of one configuration (the JSON that
 * bench/peers/train_torch.py reads) for the GPU run (bench/gpu/run.sh):
 * `tiny` (configs/tiny.json), `medium` (the same shapes as bench/ours/train.ts's
 * medium — keep the two equal) and `era5-multiformer` (configs/era5-multiformer.json's
 * fields, widths, depths and heads with this project's default network, since
 * the PyTorch side implements that network, not AtmoRep's exact one).
 * Usage: deno run --allow-read bench/gpu/spec.ts NAME STEPS > spec.json
 *
 * @module
 */
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { TrainConfig } from "../../training/config.ts";
import { type BenchConfig, MEDIUM, trainSpec } from "../inputs/train_configs.ts";

const root = fileURLToPath(new URL("../../", import.meta.url));
const read = (f: string) => JSON.parse(Deno.readTextFileSync(join(root, "configs", f))) as TrainConfig;

/** Sampler fields, model and batch of a named configuration. */
function config(name: string): BenchConfig {
  if (name === "medium") return MEDIUM;
  const c = read(name === "tiny" ? "tiny.json" : `${name}.json`);
  const model = { ...c.model };
  delete (model as { network?: unknown }).network; // the PyTorch reference implements the default network
  return { sampler: c.sampler.datasets.flatMap((d) => d.fields), model, batch: c.sampler.batchSize };
}

const [name, steps = "10"] = Deno.args;
if (!name) throw new Error("usage: spec.ts tiny|medium|era5-multiformer [STEPS]");
const c = config(name);
console.log(JSON.stringify({ name, ...trainSpec(c, { warmup: 3, steps: Number(steps), threads: 1 }) }));
