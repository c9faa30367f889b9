/**
 * The forecast rollout on a device (issue 21, item 4): a tiny random
 * Multiformer and forecast engine (weights moved with `toDevice`) roll the
 * converted ERA5 sample two steps on each device of tests/_helpers/devices.ts,
 * and the tiles' predictions agree with the same networks on the CPU, with
 * one device read per step; perturbed members are refused there.
 *
 * @module
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { convertEra5 } from "../../converters/era5/convert.ts";
import { expandInputs } from "../../cli/inputs.ts";
import { checkTrainConfig } from "../../training/config.ts";
import { Multiformer } from "../../models/multiformer.ts";
import { ForecastEngine } from "../../models/forecast_engine.ts";
import { MultifieldSampler } from "../../samplers/sampler.ts";
import { GlobalRollout, type RolloutState } from "../../forecast/rollout.ts";
import { engineFields, EngineStepper, type EngineStepperOptions } from "../../forecast/stepper.ts";
import { Random } from "../../ops/mod.ts";
import type { Device } from "../../ops/device.ts";
import { deviceTests } from "../_helpers/devices.ts";
import { SAMPLE, tempDir } from "../_helpers/common.ts";

const INIT = "2020-01-31T17";
const STEPS = 2;

let setup: Promise<ReturnType<typeof checkTrainConfig>> | undefined;
/** The sample converted, and a tiny two-field Multiformer's configuration on it. */
function tiny() {
  setup ??= (async () => {
    const dir = await tempDir();
    const store = (await convertEra5({
      inputs: expandInputs([SAMPLE.legacy, SAMPLE.new]),
      out: join(dir, "era5.zarr"),
      workers: 0,
    })).out;
    const tokens = { numTokens: [2, 2, 4], tokenSize: [3, 9, 9] };
    return checkTrainConfig({
      sampler: {
        datasets: [{
          store,
          fields: [
            { name: "t", levels: [500, 850], tokens, normalization: "local" },
            { name: "t2m", levels: [0], tokens, normalization: "local" },
          ],
        }],
        batchSize: 1,
        masking: { strategy: "forecast" },
        seed: 1,
      },
      loader: { workers: 0 },
      model: {
        dropout: 0,
        fields: [
          { field: "t", width: 32, encoderLayers: 1, decoderLayers: 1, heads: 2, coupledWith: ["t2m"], ensemble: 2 },
          { field: "t2m", width: 32, encoderLayers: 1, decoderLayers: 1, heads: 2, coupledWith: ["t"], ensemble: 2 },
        ],
      },
      optimizer: { lrMax: 1e-3, warmupSteps: 0 },
      schedule: { steps: 1, seed: 3 },
      checkpoints: { dir: join(dir, "ck"), every: 1 },
    });
  })();
  return setup;
}

/**
 * A fresh random base + engine stepper (same seeds each call); the engine's zero-initialized layers get weights
 * unless `persistence` (then the engine predicts the last input step).
 */
async function stepper(options: EngineStepperOptions = {}, persistence = false): Promise<EngineStepper> {
  const { config, layouts } = await tiny();
  const rollout = new GlobalRollout(new MultifieldSampler(config.sampler), [0, 1]);
  const model = new Multiformer(config.model, layouts, 1);
  const engine = new ForecastEngine(
    engineFields(model, rollout.tokens),
    { latentWidth: 16, forecasterLayers: 1, heads: 2, neighbours: 3, queryFields: "all" },
    1,
  );
  // Untrained, the engine is persistence (zero out-projections): give every weight a part of its own.
  let k = 0;
  for (const t of persistence ? [] : engine.params.map.values()) {
    for (let i = 0; i < t.size; i++) t.data[i] += 0.05 * Math.sin(1.3 * i + 0.7 * k);
    k++;
  }
  return new EngineStepper(model, engine, rollout, options);
}

function onDevice(s: EngineStepper, d: Device): EngineStepper {
  for (const t of [...s.model.params.map.values(), ...s.engine.params.map.values()]) t.toDevice(d);
  return s;
}

/**
 * Roll `STEPS` steps from INIT: per step, the stepper's predictions (normalized), the step's input state and
 * seconds. With `inputs`, each step starts from the given state instead (another stepper's rollout).
 */
async function roll(s: EngineStepper, afterStep = () => {}, inputs?: RolloutState[]) {
  const r = s.rollout, tiles = r.tiles(INIT);
  let state = r.stateAt(INIT);
  const steps: { next: Map<string, Float32Array>; state: RolloutState; seconds: number }[] = [];
  for (let n = 0; n < STEPS; n++) {
    if (inputs) state = inputs[n];
    const t0 = performance.now();
    const next = await s.next(r.fieldBatches(state, tiles), { step: n, tiles, times: state.times });
    const seconds = (performance.now() - t0) / 1000;
    afterStep();
    steps.push({ next, state, seconds });
    const { slab, times } = r.physicalSlab(state, next, tiles);
    state = r.advance(state, slab, times);
  }
  return { steps, tiles: tiles.length };
}

const rms = (x: Float32Array) => Math.sqrt(x.reduce((a, v) => a + v * v, 0) / x.length);

// The CPU reference, once for every device (here, so the libraries the conversion loads are not a test's leak).
const cpu = await roll(await stepper());
// What an engine that changes nothing predicts from the same states: the network's part is the difference.
const still = await roll(await stepper({}, true), () => {}, cpu.steps.map((x) => x.state));

deviceTests("forecast rollout", "2 steps of a tiny engine agree with cpu, one read per step", async (d, kind) => {
  const s = onDevice(await stepper(), d);
  assert.equal(s.device, d);
  let reads = 0;
  const read = d.read.bind(d);
  d.read = (...a) => (reads++, read(...a));
  const perStep: number[] = [];
  // Each step from the CPU's state: a rollout of its own would compare float32 rounding of the physical state
  // (a 1e-6 difference in a step's output moves a 250 K value by an ulp, 1.5e-5 K, tens of 1e-6 normalized).
  const dev = await roll(s, () => (perStep.push(reads), reads = 0), cpu.steps.map((x) => x.state));
  assert.deepEqual(perStep, Array(STEPS).fill(1), "one read per step");
  let ratio = 0;
  for (let n = 0; n < STEPS; n++) {
    for (const [field, want] of cpu.steps[n].next) {
      const got = dev.steps[n].next.get(field)!, scale = rms(want);
      assert.equal(got.length, want.length, field);
      let worst = 0;
      for (let i = 0; i < want.length; i++) worst = Math.max(worst, Math.abs(got[i] - want[i]));
      ratio = Math.max(ratio, worst / scale);
      // Tolerance 1e-5 of the field's RMS (normalized units), far below the engine's own change.
      assert.ok(worst <= 1e-5 * scale, `${kind} step ${n} ${field}: |Δ| ${worst} > 1e-5 × RMS ${scale}`);
      const change = rms(want.map((v, i) => v - still.steps[n].next.get(field)![i]));
      assert.ok(change > 1e-2 * scale, `${field}: the engine changes its input by ${change} only`);
    }
  }
  const sec = (r: typeof cpu) => (r.steps.slice(1).reduce((a, x) => a + x.seconds, 0) / (STEPS - 1)).toFixed(3);
  console.log(
    `${cpu.tiles} tiles · max |Δ|/RMS ${ratio.toExponential(1)} · s/step (after the first): ` +
      `cpu ${sec(cpu)}, ${kind} ${sec(dev)}`,
  );
});

deviceTests("forecast rollout", "a perturbed member is refused on the device", async (d) => {
  const s = onDevice(await stepper({ noise: { std: 0.1, rng: new Random(2) } }), d);
  const r = s.rollout, tiles = r.tiles(INIT), state = r.stateAt(INIT);
  await assert.rejects(
    s.next(r.fieldBatches(state, tiles), { step: 0, tiles, times: state.times }),
    /without latent noise or tail perturbation/,
  );
});
