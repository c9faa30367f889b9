/**
 * One gradient step ({@link gradientStep}: zero the gradients, forward,
 * backward, optimizer update, with the time of each phase; every training
 * task steps through it), and the Multiformer's training or evaluation
 * step on a sampler batch: model inputs per field, forward, the configured
 * losses on the masked tokens weighted per field (for the progress line,
 * the profiler and the benches).
 *
 * With the optimizer's parameters on a device, a gradient step runs there
 * from the first op to the update inside one buffer scope (the step's
 * activations, gradients and batch uploads go back to the pool at its
 * end) and reads nothing back: the loss, the metrics and the gradient norm
 * are kept on the device and come back when {@link GradientStep.read} is
 * awaited (the loop does it every N steps).
 *
 * @module
 */
import type { Batch } from "../samplers/batch.ts";
import { backward, type DeviceBuffer, type Random, type Tensor, valueAndGrad } from "../ops/mod.ts";
import type { Multiformer } from "../models/multiformer.ts";
import { type FieldInput, modelInputs } from "../models/inputs.ts";
import { deviceEnsembleMeanMse, ensembleMeanMse, fieldLoss, type LossName, weightedSum } from "./losses.ts";
import type { AdamW } from "./adamw.ts";

/** Result of a step. */
export interface StepResult {
  /** Total loss. */
  loss: number;
  /** Per field: MSE of the ensemble mean on the masked values that count. */
  mse: Record<string, number>;
  /** Milliseconds: inputs, forward, backward, optimizer. */
  timings: { inputs: number; forward: number; backward: number; optimizer: number };
  /** Learning rate and gradient norm (training steps). */
  lr?: number;
  /** Gradient norm before clipping. */
  gradNorm?: number;
}

/**
 * The weighted loss of the model on `inputs` (a scalar tensor), and per-field metrics: on the host `mse`, on a
 * device `metrics` ([mse, count] per field, there) and `mse` empty.
 */
export function modelLoss(
  model: Multiformer,
  inputs: Map<string, FieldInput>,
  losses: LossName[],
  rng?: Random,
): { loss: Tensor; mse: Record<string, number>; metrics?: Map<string, Tensor> } {
  const outputs = model.forward(inputs, { rng });
  const parts: { loss: Tensor; weight: number }[] = [];
  const mse: Record<string, number> = {};
  const metrics = new Map<string, Tensor>();
  const wsum = model.fields.filter((f) => f.predict).reduce((a, f) => a + f.lossWeight, 0);
  for (const o of outputs) {
    const w = model.fields.find((f) => f.field === o.field)!.lossWeight / wsum;
    for (const name of losses) parts.push({ loss: fieldLoss(name, o.members, o.targets), weight: w / losses.length });
    if (o.members.device) metrics.set(o.field, deviceEnsembleMeanMse(o.members, o.targets));
    else mse[o.field] = ensembleMeanMse(o.members, o.targets).mse;
  }
  return { loss: weightedSum(parts), mse, ...(metrics.size ? { metrics } : {}) };
}

/** What {@link gradientStep} did. */
export interface GradientStep<R> {
  /** The loss. */
  loss: number;
  /** What the loss function returned besides the loss tensor (metrics). */
  result: R;
  /** Learning rate of the update. */
  lr: number;
  /** Gradient norm before clipping. */
  gradNorm: number;
  /** Milliseconds: forward, backward, optimizer (on a device: recording the work, not running it). */
  timings: { forward: number; backward: number; optimizer: number };
  /**
   * Device steps: `loss` and `gradNorm` above are NaN until this is awaited; it reads the loss, the gradient
   * norm and the metrics tensors back (waiting for the device), fills `loss`, `gradNorm` and `result.mse`,
   * and refuses a loss or norm that is not finite. Host steps: already done.
   */
  read(): Promise<void>;
}

/**
 * One optimization step of `optimizer`'s parameters on the scalar loss
 * `lossOf` computes; a loss that is not finite is handed to `refuse`
 * (which throws) before any update.
 */
export function gradientStep<R extends { loss: Tensor; mse?: Record<string, number>; metrics?: Map<string, Tensor> }>(
  optimizer: AdamW,
  lossOf: () => R,
  refuse: (loss: number) => never,
): GradientStep<R> {
  if (optimizer.device) return deviceGradientStep(optimizer, lossOf, refuse);
  const t1 = performance.now();
  optimizer.zeroGrad();
  let result: R | undefined;
  let t2 = 0;
  const loss = valueAndGrad(() => {
    result = lossOf();
    t2 = performance.now();
    return result.loss;
  });
  const t3 = performance.now();
  if (!Number.isFinite(loss)) refuse(loss);
  const { lr, gradNorm } = optimizer.update();
  const t4 = performance.now();
  return {
    loss,
    result: result!,
    lr,
    gradNorm,
    timings: { forward: t2 - t1, backward: t3 - t2, optimizer: t4 - t3 },
    read: () => Promise.resolve(),
  };
}

/** {@link gradientStep} with the parameters on a device: one scope, no read until `read()`. */
function deviceGradientStep<R extends { loss: Tensor; mse?: Record<string, number>; metrics?: Map<string, Tensor> }>(
  optimizer: AdamW,
  lossOf: () => R,
  refuse: (loss: number) => never,
): GradientStep<R> {
  const d = optimizer.device!;
  const t1 = performance.now();
  let result: R | undefined;
  let t2 = 0, t3 = 0, lr = 0;
  let report: DeviceBuffer | undefined, fields: string[] = [];
  d.beginScope();
  try {
    optimizer.zeroGrad();
    const l = backward(() => {
      result = lossOf();
      t2 = performance.now();
      return result.loss;
    });
    t3 = performance.now();
    lr = optimizer.update().lr;
    // What the step reports, copied into one persistent buffer (one read): loss, ‖g‖², then [mse, count] per field.
    const metrics = result!.metrics ?? new Map<string, Tensor>();
    fields = [...metrics.keys()];
    report = d.alloc(2 + 2 * fields.length, true);
    const copy = (src: DeviceBuffer, at: number, n: number) =>
      d.strided({
        src,
        srcOff: 0,
        srcStride: n,
        dst: report!,
        dstOff: at,
        dstStride: n,
        rows: 1,
        width: n,
        accumulate: false,
        alpha: 1,
      });
    copy(l.buffer!, 0, 1);
    copy(optimizer.normSqBuffer!, 1, 1);
    for (const [i, f] of fields.entries()) copy(metrics.get(f)!.buffer!, 2 + 2 * i, 2);
  } finally {
    d.endScope();
  }
  d.flush();
  const t4 = performance.now();
  let done = false;
  const step: GradientStep<R> = {
    loss: NaN,
    result: result!,
    lr,
    gradNorm: NaN,
    timings: { forward: t2 - t1, backward: t3 - t2, optimizer: t4 - t3 },
    read: async () => {
      if (done) return;
      done = true;
      const v = await d.read(report!);
      d.release(report!);
      step.loss = v[0];
      step.gradNorm = Math.sqrt(v[1]);
      const mse: Record<string, number> = result!.mse ?? {};
      for (const [i, f] of fields.entries()) mse[f] = v[2 + 2 * i];
      if (!Number.isFinite(step.loss)) refuse(step.loss);
      if (!Number.isFinite(step.gradNorm)) throw new Error(`gradient norm is ${step.gradNorm}: the step diverged`);
    },
  };
  return step;
}

/** One optimization step. */
export function trainStep(
  model: Multiformer,
  optimizer: AdamW,
  batch: Batch,
  losses: LossName[],
  rng: Random,
): StepResult {
  const t0 = performance.now();
  const inputs = modelInputs(model, batch);
  const t1 = performance.now();
  const g = gradientStep(optimizer, () => modelLoss(model, inputs, losses, rng), (loss) => {
    throw new Error(`loss is ${loss}`);
  });
  return {
    loss: g.loss,
    mse: g.result.mse,
    lr: g.lr,
    gradNorm: g.gradNorm,
    timings: { inputs: t1 - t0, ...g.timings },
  };
}

/** The loss and metrics of a batch without gradients or dropout. */
export function evalStep(model: Multiformer, batch: Batch, losses: LossName[]): StepResult {
  const t0 = performance.now();
  const inputs = modelInputs(model, batch);
  const t1 = performance.now();
  const r = modelLoss(model, inputs, losses);
  const t2 = performance.now();
  return {
    loss: r.loss.data[0],
    mse: r.mse,
    timings: { inputs: t1 - t0, forward: t2 - t1, backward: 0, optimizer: 0 },
  };
}
