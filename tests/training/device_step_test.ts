/**
 * Full training steps on the device against the CPU, the reference: a
 * tiny Multiformer (a grid field and a points field, coupled), its
 * parameters and AdamW moments on the device, forward, backward
 * and update there with nothing read back until the losses are asked for
 * after the last step. Two networks: this project's (tanh GELU, folded
 * tail, no QK-norm) and AtmoRep's options (erf GELU, QK-LayerNorm with
 * affine, per-member tails, extra GELU), with four losses between them.
 * Agreement: each step's loss to 1e-4 relative, every final parameter to
 * 1e-4 of the largest parameter (AdamW's eps raised to 1e-3, see below).
 * Runs per device of tests/_helpers/devices.ts: `webgpu` (lavapipe in CI),
 * `cuda-emulated` (the CUDA backend's kernels on the CPU emulator), `cuda`
 * (a real GPU; ignored, loudly, where none is).
 *
 * @module
 */
import assert from "node:assert/strict";
import { Multiformer } from "../../models/multiformer.ts";
import { ATMOREP_NETWORK, fieldLayouts, type MultiformerConfig, type NetworkOptions } from "../../models/config.ts";
import { modelInputs } from "../../models/inputs.ts";
import { Random } from "../../ops/mod.ts";
import type { Device } from "../../ops/device.ts";
import { deviceTests } from "../_helpers/devices.ts";
import { AdamW } from "../../training/adamw.ts";
import type { LossName } from "../../training/losses.ts";
import { type GradientStep, gradientStep, modelLoss } from "../../training/step.ts";
import { synthBatch, type SynthField } from "../_helpers/model.ts";

const GRID: SynthField = { name: "t", levels: [500, 850], tokens: { numTokens: [2, 2, 3], tokenSize: [2, 3, 3] } };
const MESH: SynthField = {
  name: "sst",
  levels: [0],
  tokens: { pointsPerToken: 5, healpixOrder: 3, maxTokens: 4, timeSteps: 2 },
};
const FIELDS = [GRID, MESH];
const STEPS = 4;

function config(network?: NetworkOptions): MultiformerConfig {
  return {
    dropout: 0,
    tokenInfoWidth: 4,
    network,
    fields: FIELDS.map((f) => ({
      field: f.name,
      width: 16,
      encoderLayers: 2,
      decoderLayers: 2,
      heads: 2,
      ensemble: 3,
      coupledWith: FIELDS.filter((g) => g !== f).map((g) => g.name),
    })),
  };
}

/** STEPS steps of a fresh model (on `d` when given): each step's loss, then the final parameters. */
async function train(
  network: NetworkOptions | undefined,
  losses: LossName[],
  d?: Device,
): Promise<{ losses: number[]; params: Map<string, Float32Array> }> {
  const model = new Multiformer(config(network), fieldLayouts(FIELDS), 5);
  if (d) { for (const p of model.params.map.values()) p.toDevice(d); }
  // eps 1e-3, not 1e-8: a parameter whose gradient is zero but for rounding (the key biases: softmax ignores a
  // shift of every score) would otherwise move by ±lr on the sign of that rounding, on either backend.
  const opt = new AdamW(model.params.map, { lrMax: 3e-3, warmupSteps: 0, clipNorm: 0.5, eps: 1e-3 });
  const steps: GradientStep<unknown>[] = [];
  for (let s = 0; s < STEPS; s++) {
    // The same batch each step (so the loss must fall), its arrays new each step (uploaded once per step).
    const inputs = modelInputs(model, synthBatch(FIELDS, { batchSize: 2, seed: 6, nanRate: 0.05 }));
    steps.push(gradientStep(opt, () => modelLoss(model, inputs, losses, new Random(7)), (l) => {
      throw new Error(`loss ${l}`);
    }));
  }
  if (d) assert.ok(steps.every((s) => Number.isNaN(s.loss)), "a device step read its loss before being asked");
  for (const s of steps) await s.read();
  const params = new Map<string, Float32Array>();
  for (const [k, p] of model.params.map) params.set(k, (await p.read()).slice());
  return { losses: steps.map((s) => s.loss), params };
}

async function agree(d: Device, network: NetworkOptions | undefined, losses: LossName[]): Promise<void> {
  const cpu = await train(network, losses);
  const dev = await train(network, losses, d);
  assert.ok(cpu.losses[STEPS - 1] < cpu.losses[0], `cpu loss does not fall: ${cpu.losses}`);
  for (let s = 0; s < STEPS; s++) {
    const [a, b] = [cpu.losses[s], dev.losses[s]];
    assert.ok(Math.abs(a - b) <= 1e-4 * Math.abs(a), `step ${s}: loss cpu ${a} ${d.name} ${b}`);
  }
  let largest = 0;
  for (const v of cpu.params.values()) for (const x of v) largest = Math.max(largest, Math.abs(x));
  for (const [k, want] of cpu.params) {
    const got = dev.params.get(k)!;
    for (let i = 0; i < want.length; i++) {
      assert.ok(Math.abs(got[i] - want[i]) <= 1e-4 * largest, `${k}[${i}]: cpu ${want[i]} ${d.name} ${got[i]}`);
    }
  }
}

deviceTests(
  "device training",
  "4 steps of the tiny Multiformer match cpu (losses, final parameters)",
  (d) => agree(d, undefined, ["mse_ensemble", "stats"]),
);

deviceTests(
  "device training",
  "AtmoRep's network options (erf GELU, QK-norm, per-member tails) match cpu",
  (d) => agree(d, { ...ATMOREP_NETWORK }, ["weighted_mse", "kernel_crps"]),
);
