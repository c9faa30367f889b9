/**
 * The Multiformer: finite-difference gradients through every layer and loss,
 * the loss counting only masked valid tokens, field coupling, learning
 * advected waves, and a 2160-token field run block-wise.
 *
 * @module
 */
import assert from "node:assert/strict";
import { Multiformer } from "../../models/multiformer.ts";
import { fieldLayouts, type MultiformerConfig } from "../../models/config.ts";
import { parameter, Random, type Tensor, valueAndGrad } from "../../ops/mod.ts";
import { fieldLoss, LOSSES } from "../../training/losses.ts";
import { modelInputs } from "../../models/inputs.ts";
import { modelLoss } from "../../training/step.ts";
import { AdamW } from "../../training/adamw.ts";
import { MASK } from "../../samplers/batch.ts";
import { gradCheck, synthBatch, type SynthField } from "../_helpers/model.ts";

const GRID: SynthField = { name: "t", levels: [500, 850], tokens: { numTokens: [2, 2, 3], tokenSize: [2, 3, 3] } };
const GRID2: SynthField = { name: "u", levels: [850], tokens: { numTokens: [2, 2, 3], tokenSize: [2, 3, 3] } };
const MESH: SynthField = {
  name: "sst",
  levels: [0],
  tokens: { pointsPerToken: 5, healpixOrder: 3, maxTokens: 4, timeSteps: 2 },
};

function tinyConfig(fields: SynthField[], coupled = true, extra: Partial<MultiformerConfig> = {}): MultiformerConfig {
  return {
    dropout: 0,
    tokenInfoWidth: 4,
    fields: fields.map((f) => ({
      field: f.name,
      width: 12,
      encoderLayers: 2,
      decoderLayers: 2,
      heads: 2,
      ensemble: 3,
      coupledWith: coupled ? fields.filter((g) => g !== f).map((g) => g.name) : [],
    })),
    ...extra,
  };
}

Deno.test("model: finite-difference gradients through every layer type, grid and points fields, every loss but stats", () => {
  const fields = [GRID, MESH];
  const model = new Multiformer(tinyConfig(fields), fieldLayouts(fields), 1);
  const batch = synthBatch(fields, { batchSize: 2, seed: 3, nanRate: 0.05 });
  const inputs = modelInputs(model, batch);
  const params = [...model.params.map.values()];
  // stats is checked on its own below: at initialization the members barely differ, so σ is tiny and
  // (t − μ)/σ so steep that a finite difference in float32 says nothing (stats_area, with (t − μ)/σ², even
  // more so). kernel_crps's gradient is AtmoRep's (its spread term carries none), not the finite difference:
  // both are checked against AtmoRep's own gradients in atmorep_parity_test.ts.
  for (const loss of LOSSES.filter((l) => l !== "stats" && l !== "stats_area" && l !== "kernel_crps")) {
    // Check a handful of parameters per loss (all of them for the default loss).
    const some = loss === "mse_ensemble" ? params : params.filter((_, i) => i % 5 === 0);
    try {
      gradCheck(some, () => modelLoss(model, inputs, [loss]).loss, new Random(4), 1e-2, 3e-2);
    } catch (e) {
      throw new Error(`loss ${loss}: ${(e as Error).message}`);
    }
  }
});

Deno.test("losses: finite-difference gradients of every loss on a spread ensemble", () => {
  const rng = new Random(6);
  const [M, E, V] = [5, 4, 3];
  const members = parameter(Float32Array.from({ length: M * E * V }, () => rng.normal()), [M, E, V]);
  const targets = {
    rows: new Int32Array(M),
    values: Float32Array.from({ length: M * V }, () => rng.normal()),
    valid: Float32Array.from({ length: M * V }, (_, i) => (i % 7 === 3 ? 0 : 1)),
    latWeight: Float32Array.from({ length: M }, () => rng.next()),
  };
  // kernel_crps: AtmoRep's gradient leaves out the spread term (checked against AtmoRep's in atmorep_parity_test.ts).
  for (const loss of LOSSES.filter((l) => l !== "kernel_crps")) {
    try {
      gradCheck([members], () => fieldLoss(loss, members, targets), new Random(7), 1e-2, 2e-2);
    } catch (e) {
      throw new Error(`loss ${loss}: ${(e as Error).message}`);
    }
  }
  // Known values: one member pair, Gaussian CRPS at z = 0 is σ(2φ(0) − 1/√π).
  const two = parameter(Float32Array.of(1, 3), [1, 2, 1]);
  const t = {
    rows: new Int32Array(1),
    values: Float32Array.of(2),
    valid: Float32Array.of(1),
    latWeight: Float32Array.of(1),
  };
  const sigma = Math.SQRT2;
  const crps = sigma * (2 / Math.sqrt(2 * Math.PI) - 1 / Math.sqrt(Math.PI));
  assert.ok(Math.abs(fieldLoss("crps", two, t).data[0] - crps) < 1e-5);
  assert.ok(Math.abs(fieldLoss("mse_ensemble", two, t).data[0] - 1) < 1e-6);
  assert.ok(Math.abs(fieldLoss("mse", two, t).data[0]) < 1e-6);
  assert.ok(Math.abs(fieldLoss("stats", two, t).data[0] - Math.sqrt(sigma)) < 1e-5);
});

Deno.test("model: the loss counts only masked tokens and valid values (visible tokens, NaN and padding ignored)", () => {
  const fields = [GRID, MESH];
  const model = new Multiformer(tinyConfig(fields), fieldLayouts(fields), 2);
  const batch = synthBatch(fields, { batchSize: 2, seed: 5, nanRate: 0.1 });
  const inputs = modelInputs(model, batch);
  const outputs = model.forward(inputs);
  for (const [fi, o] of outputs.entries()) {
    const fb = batch.fields[fi];
    const masked = [...fb.mask].flatMap((m, r) => m !== MASK.visible ? [r] : []);
    assert.deepEqual([...o.targets.rows], masked, `${o.field}: targets are exactly the masked tokens`);
    assert.ok(o.members.data.every(Number.isFinite), `${o.field}: NaN never reaches the network`);
    const nan = o.targets.values.length - o.targets.valid.reduce((x, y) => x + y, 0);
    assert.ok(nan > 0, `${o.field}: some masked values are NaN or padding, and are not counted`);
  }
  // The total is the mean over fields (equal weights) of those references.
  const total = modelLoss(model, inputs, ["mse_ensemble"]).loss.data[0];
  const refs = outputs.map((o, fi) => {
    const fb = batch.fields[fi];
    const V = fb.tokens.length / fb.mask.length;
    const [M, E] = o.members.shape;
    let s = 0, n = 0;
    for (let i = 0; i < M; i++) {
      for (let v = 0; v < V; v++) {
        if (!o.targets.valid[i * V + v]) continue;
        const truth = fb.tokens[o.targets.rows[i] * V + v];
        assert.ok(!Number.isNaN(truth), "a NaN truth is never a valid target");
        for (let e = 0; e < E; e++) s += (o.members.data[(i * E + e) * V + v] - truth) ** 2 / E;
        n++;
      }
    }
    return s / n;
  });
  assert.ok(Math.abs(total - (refs[0] + refs[1]) / 2) < 1e-5 * Math.max(1, total), `${total} vs ${refs}`);
});

Deno.test("model: coupling changes a field's prediction; field order does not", () => {
  const fields = [GRID, GRID2];
  const layouts = fieldLayouts(fields);
  const a = new Multiformer(tinyConfig(fields), layouts, 7);
  const batch = synthBatch(fields, { batchSize: 2, seed: 8 });
  const out = (m: Multiformer, b = batch) => m.forward(modelInputs(m, b)).find((o) => o.field === "t")!.members.data;
  // Same model with fields listed in the other order, weights copied by name.
  const cfg = tinyConfig(fields);
  const b = new Multiformer({ ...cfg, fields: [...cfg.fields].reverse() }, [...layouts].reverse(), 99);
  for (const [k, t] of a.params.map) b.params.map.get(k)!.data.set(t.data);
  const ya = out(a), yb = out(b);
  let worst = 0;
  for (let i = 0; i < ya.length; i++) worst = Math.max(worst, Math.abs(ya[i] - yb[i]));
  assert.ok(worst < 1e-5, `field order changed the prediction by ${worst}`);
  // Perturb u's values: t's prediction moves when coupled, not when uncoupled.
  const other = synthBatch(fields, { batchSize: 2, seed: 8 });
  other.fields[1].tokens.forEach((v, i, arr) => (arr[i] = v + Math.sin(i)));
  const moved = (m: Multiformer) => {
    const y0 = out(m), y1 = out(m, other);
    return Math.max(...y0.map((v, i) => Math.abs(v - y1[i])));
  };
  assert.ok(moved(a) > 1e-3, "coupled: another field's values change the prediction");
  const solo = new Multiformer(tinyConfig(fields, false), layouts, 7);
  assert.equal(moved(solo), 0, "uncoupled: another field's values do not matter");
});

Deno.test("model: loss falls on advected waves and beats predicting zeros by ≥ 40%", () => {
  const fields = [GRID, MESH];
  const cfg = tinyConfig(fields);
  cfg.fields.forEach((f) => (f.width = 32, f.heads = 4, f.encoderLayers = 1, f.decoderLayers = 1));
  const model = new Multiformer(cfg, fieldLayouts(fields), 11);
  const opt = new AdamW(model.params.map, { lrMax: 3e-3, warmupSteps: 10, weightDecay: 0.01 });
  const held = synthBatch(fields, { batchSize: 8, seed: 10_000 });
  const heldInputs = modelInputs(model, held);
  const evalMse = () => {
    const r = modelLoss(model, heldInputs, ["mse"]);
    return r.loss.data[0];
  };
  // Predicting zeros (the normalized mean): mean of the targets' squares.
  const zero = (() => {
    let s = 0, n = 0;
    for (const x of heldInputs.values()) {
      for (let i = 0; i < x.targets.values.length; i++) {
        if (x.targets.valid[i]) (s += x.targets.values[i] ** 2, n++);
      }
    }
    return s / n;
  })();
  const before = evalMse();
  const rng = new Random(1);
  for (let step = 0; step < 150; step++) {
    const inputs = modelInputs(model, synthBatch(fields, { batchSize: 4, seed: step }));
    opt.zeroGrad();
    valueAndGrad(() => modelLoss(model, inputs, ["mse_ensemble"], rng).loss);
    opt.update();
  }
  const after = evalMse();
  assert.ok(after < before, `loss fell: ${before} → ${after}`);
  assert.ok(after < 0.6 * zero, `held-out MSE ${after} vs predicting zeros ${zero}: not 40% better`);
});

Deno.test("model: a field of 2160 tokens runs forward and backward (block-wise attention)", () => {
  const big: SynthField = {
    name: "t",
    levels: [500, 700, 850, 925, 1000],
    tokens: { numTokens: [12, 3, 12], tokenSize: [1, 2, 2] },
  };
  const cfg: MultiformerConfig = {
    dropout: 0.05,
    tokenInfoWidth: 4,
    fields: [{ field: "t", width: 16, encoderLayers: 1, decoderLayers: 1, heads: 2, ensemble: 2 }],
  };
  const model = new Multiformer(cfg, fieldLayouts([big]), 1);
  const inputs = modelInputs(model, synthBatch([big], { batchSize: 1, seed: 1 }));
  assert.equal(inputs.get("t")!.length, 2160);
  let loss = NaN;
  loss = valueAndGrad(() => modelLoss(model, inputs, ["mse_ensemble", "stats"], new Random(2)).loss);
  assert.ok(Number.isFinite(loss));
  const grads = [...model.params.map.values()].map((t: Tensor) => t.grad!);
  assert.ok(grads.every((g) => g && g.every(Number.isFinite)), "every parameter got a finite gradient");
  assert.ok(grads.some((g) => g.some((v) => v !== 0)));
});
