/**
 * Training one coupled Multiformer on ERA5 and FESOM (point tokens) from the
 * bundled samples.
 *
 * @module
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { checkTrainConfig, type TrainConfig } from "../../training/config.ts";
import { train } from "../../training/train.ts";
import { era5AndFesomStores, tempDir } from "../_helpers/common.ts";

Deno.test("train: ERA5 and FESOM (point tokens) train as one coupled Multiformer on the bundled samples", async () => {
  const dir = await tempDir();
  const { era5, fesom } = await era5AndFesomStores(dir);
  const grid = { numTokens: [2, 2, 4] as [number, number, number], tokenSize: [3, 9, 9] as [number, number, number] };
  const raw: TrainConfig = {
    sampler: {
      datasets: [
        { store: era5, fields: [{ name: "t2m", levels: [0], tokens: grid }] },
        {
          store: fesom,
          fields: [{
            name: "sst",
            levels: [0],
            tokens: { pointsPerToken: 16, healpixOrder: 4, maxTokens: 24, timeSteps: 1 },
          }],
        },
      ],
      batchSize: 4,
      masking: { strategy: "bert", rate: 0.5 },
      seed: 3,
    },
    loader: { workers: 1 },
    model: {
      fields: ["t2m", "sst"].map((f) => ({
        field: f,
        width: 32,
        encoderLayers: 1,
        decoderLayers: 1,
        heads: 4,
        coupledWith: [f === "t2m" ? "sst" : "t2m"],
        ensemble: 3,
      })),
    },
    optimizer: { lrMax: 1e-3 },
    schedule: { steps: 4 },
    checkpoints: { dir: join(dir, "ck") },
  };
  const { config, layouts } = checkTrainConfig(raw);
  assert.deepEqual(layouts.map((l) => l.kind), ["grid", "points"]);
  const lines: { mse: Record<string, number> }[] = [];
  const s = await train(config, layouts, { onStep: (_s, _t, m) => lines.push(m) });
  assert.equal(s.losses.length, 4);
  assert.ok(s.losses.every(Number.isFinite), `losses ${s.losses}`);
  // Both fields are predicted and scored on real points (sst over land / padding never count).
  assert.ok(lines.some((l) => Number.isFinite(l.mse.sst)), "sst has valid masked points in some batch");
  assert.ok(lines.every((l) => Number.isFinite(l.mse.t2m)));
});
