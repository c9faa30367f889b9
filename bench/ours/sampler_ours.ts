/**
 * Our side of the sampler benchmark (run by bench/ours/sampler.ts as its own
 * process so its peak RSS can be measured): BATCHES batches of BATCH_SIZE
 * samples with AtmoRep's batch shape, loaded by WORKERS workers, each
 * sample with its own time window (`own`) or one per batch (`shared`).
 *
 *     sampler_ours.ts STORE BATCHES BATCH_SIZE WORKERS own|shared
 *
 * @module
 */
import { BatchLoader } from "../../samplers/loader.ts";
import type { SamplerConfig } from "../../samplers/sampler.ts";

const [store, batches, batchSize, workers] = [
  Deno.args[0],
  Number(Deno.args[1]),
  Number(Deno.args[2]),
  Number(Deno.args[3]),
];
const tokens = {
  numTokens: [12, 3, 6] as [number, number, number],
  tokenSize: [3, 18, 18] as [number, number, number],
};
const config: SamplerConfig = {
  datasets: [{
    store,
    fields: [
      { name: "t", levels: [500, 700, 850, 925, 1000], tokens },
      { name: "u", levels: [500, 700, 850, 925, 1000], tokens },
      { name: "t2m", levels: [0], tokens },
    ],
  }],
  batchSize,
  masking: { strategy: "bert", rate: 0.5 },
  seed: 1,
  cacheBytes: 256e6,
  centers: "uniform",
  sharedTimeWindow: Deno.args[4] === "shared",
};
const loader = new BatchLoader(config, { workers });
await loader.start();
const t0 = performance.now();
let decoded = 0, delivered = 0;
for (let i = 0; i < batches; i++) {
  const { stats } = (await loader.nextBatch()).batch;
  decoded += stats.bytesDecoded;
  delivered += stats.bytesDelivered;
}
const seconds = (performance.now() - t0) / 1000;
loader.close();
console.log(
  JSON.stringify({
    samples_per_second: (batches * batchSize) / seconds,
    bytes_decoded: decoded,
    bytes_delivered: delivered,
    seconds,
  }),
);
