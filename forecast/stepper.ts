/**
 * The forecast engine put together as a rollout stepper: the frozen
 * pre-trained Multiformer (loaded from its checkpoint, parameters excluded
 * from gradients) encodes every tile of the rolled-out window; the engine
 * network (models/forecast_engine.ts) adapts, forecasts and reads out the
 * next slab per tile. {@link EngineStepper} is the {@link Stepper} the
 * rollout calls; {@link baseSampler} reads the base run's data the way the
 * engine was trained on it.
 *
 * @module
 */
import { concatLast, type Random, type Tensor } from "../ops/mod.ts";
import type { Device } from "../ops/device.ts";
import { Multiformer } from "../models/multiformer.ts";
import { fieldInput } from "../models/inputs.ts";
import type { EngineField, ForecastEngine } from "../models/forecast_engine.ts";
import {
  type Checkpoint,
  fileSha256,
  loadParameters,
  readCheckpoint,
  type RecordedRunConfig,
} from "../models/checkpoint.ts";
import { type FieldBatch, MASK } from "../samplers/batch.ts";
import { MultifieldSampler } from "../samplers/sampler.ts";
import type { TokenGrid } from "../tokenizers/patches.ts";
import type { Window } from "../datasets/window.ts";
import { CheckpointError } from "../errors.ts";
import type { GlobalRollout, StepContext, Stepper } from "./rollout.ts";

/** A pre-trained Multiformer loaded from a checkpoint, frozen. */
export interface FrozenBase {
  /** The network (parameters do not require gradients). */
  model: Multiformer;
  /** The checkpoint it came from. */
  checkpoint: Checkpoint;
  /** SHA-256 of the checkpoint file. */
  sha256: string;
}

/** Load a Multiformer checkpoint and freeze it. */
export async function loadFrozenBase(path: string): Promise<FrozenBase> {
  const ck = await readCheckpoint(path);
  const h = ck.header;
  if (h.task === "engine-rollout") {
    const base = "forecast" in h ? ` (its base: ${h.forecast.base.path})` : "";
    throw new CheckpointError(
      path,
      `is a forecast-engine checkpoint (written by train --stage forecast), not a Multiformer one: ` +
        `pass the pre-trained Multiformer checkpoint (written by train)${base}`,
    );
  }
  if (!h.config?.model || !h.layouts) throw new CheckpointError(path, "is not a Multiformer checkpoint");
  const model = new Multiformer(h.config.model, h.layouts, h.config.schedule?.seed ?? 1);
  loadParameters(ck, model.params.map);
  // Frozen: no op on these records a backward step.
  for (const t of model.params.map.values()) (t as { requiresGrad: boolean }).requiresGrad = false;
  return { model, checkpoint: ck, sha256: await fileSha256(path) };
}

/** The engine's fields from the frozen model and the rollout's token grid. */
export function engineFields(model: Multiformer, tokens: TokenGrid): EngineField[] {
  return model.layouts.map((layout) => ({
    layout,
    width: model.fields.find((f) => f.field === layout.field)!.width,
    // A point token holds one step of its mesh; a grid token tokenSize[0] steps.
    timeSteps: layout.kind === "points" ? 1 : tokens.tokenSize[0],
    tokenSize: layout.kind === "grid" ? tokens.tokenSize : undefined,
  }));
}

/** Options of {@link EngineStepper}. */
export interface EngineStepperOptions {
  /** Latent noise (training; ensemble members at inference). */
  noise?: { std: number; rng: Random };
  /**
   * Ensemble member from the Multiformer's tail ensemble: before each step
   * the last time token of every tile is masked and predicted by the frozen
   * model's tails; the deviation of tail member `member` (mod the tail's
   * size E) from the mean of the tails the ensemble uses (the first
   * min(`members`, E)), times `scale`, is added to the input's last time
   * token: the members' perturbations sum to zero when `members` ≤ E or a
   * multiple of it. The engine then steps from that perturbed state.
   */
  tail?: { member: number; members: number; scale: number };
}

/** Encoder + engine as a rollout stepper. */
export class EngineStepper {
  /**
   * Milliseconds summed over calls: encoder, adapter + forecaster, read-out.
   * On a device the first two are the time to enqueue the work; the
   * read-out's includes waiting for the device to finish the step.
   */
  readonly timings = { encode: 0, engine: 0, readout: 0 };
  private readonly neighbourCache = new WeakMap<
    Window[],
    { value: Int32Array; position: Float32Array; latitudes: Float32Array }
  >();

  constructor(
    readonly model: Multiformer,
    readonly engine: ForecastEngine,
    readonly rollout: GlobalRollout,
    readonly options: EngineStepperOptions = {},
  ) {}

  /** The next slab per field as tensors [tiles, levels·P, slab values] (gradients flow into the engine). */
  tensors(given: FieldBatch[], context: StepContext): Map<string, Tensor> {
    const t0 = performance.now();
    const fields = this.options.tail ? this.tailPerturbed(given, this.options.tail) : given;
    const inputs = new Map(this.model.layouts.map((l) => {
      const f = fields.find((b) => b.field === l.field);
      if (!f) throw new Error(`no tokens for field ${l.field}`);
      return [l.field, fieldInput(f, l, this.model.network)];
    }));
    const { states } = this.model.encode(inputs);
    const t1 = performance.now();
    const tiles = context.tiles;
    let geometry = this.neighbourCache.get(tiles);
    if (!geometry) {
      geometry = {
        value: this.rollout.neighbours(tiles, this.engine.config.neighbours),
        position: this.rollout.positions(tiles),
        latitudes: this.rollout.latitudes(tiles),
      };
      this.neighbourCache.set(tiles, geometry);
    }
    const input = {
      states,
      tokens: new Map(fields.map((f) => [f.field, f.tokens])),
      info: new Map(fields.map((f) => [f.field, f.tokenInfo])),
      neighbourhoods: this.rollout.neighbourhoods(fields, tiles),
      previousNeighbourhoods: this.engine.needsPreviousTimeToken
        ? this.rollout.neighbourhoods(fields, tiles, this.rollout.tokens.numTokens[0] - 2)
        : undefined,
      position: geometry.position,
      latitudes: geometry.latitudes,
      neighbours: geometry.value,
      noise: this.options.noise,
    };
    const z = this.engine.forecast(this.engine.adapt(input, tiles.length));
    const t2 = performance.now();
    const out = this.engine.readOut(z, input, tiles.length);
    this.timings.encode += t1 - t0;
    this.timings.engine += t2 - t1;
    this.timings.readout += performance.now() - t2;
    return out;
  }

  /**
   * The fields with their last time token moved by a tail member's
   * deviation from the tail ensemble's mean (normalized units; missing
   * values and padding stay as they are).
   */
  tailPerturbed(fields: FieldBatch[], tail: { member: number; members: number; scale: number }): FieldBatch[] {
    const masked = new Map(this.model.layouts.map((l) => {
      const f = fields.find((b) => b.field === l.field)!;
      const mask = new Uint8Array(f.mask.length), S = l.levels * l.tokens;
      // The last time token: grid axes [nt, nh, nw] → the last nh·nw tokens of each level; points [T, K, 1] → last K.
      const last = l.kind === "grid" ? l.axes[1] * l.axes[2] : l.axes[1];
      for (let r = 0; r < mask.length; r++) if ((r % S) % l.tokens >= l.tokens - last) mask[r] = MASK.zeroed;
      return [
        l.field,
        fieldInput(
          { ...f, mask, replaced: new Int32Array(0), replacements: new Float32Array(0) },
          l,
          this.model.network,
        ),
      ];
    }));
    const outs = this.model.forward(masked);
    return fields.map((f) => {
      const o = outs.find((x) => x.field === f.field);
      if (!o) return f;
      const [R, E, V] = o.members.shape, m = tail.member % E, d = o.members.data;
      const used = Math.max(1, Math.min(tail.members, E));
      const tokens = f.tokens.slice();
      for (let i = 0; i < R; i++) {
        const r = o.targets.rows[i];
        for (let j = 0; j < V; j++) {
          if (!o.targets.valid[i * V + j]) continue;
          let mean = 0;
          for (let e = 0; e < used; e++) mean += d[(i * E + e) * V + j];
          tokens[r * V + j] += tail.scale * (d[(i * E + m) * V + j] - mean / used);
        }
      }
      return { ...f, tokens };
    });
  }

  /** The device the engine's parameters are on (undefined: the host). */
  get device(): Device | undefined {
    return this.engine.params.map.values().next().value?.device;
  }

  /**
   * The next slab per field as values. On the host: {@link tensors}' data,
   * as {@link stepper} gives them. On a device (the model and the engine
   * moved there with `toDevice`): the step's work (encoding, engine,
   * read-out; the tiles' tokens uploaded once as the ops first need them)
   * runs in one scope, and every field's prediction comes back in one read.
   */
  async next(fields: FieldBatch[], context: StepContext): Promise<Map<string, Float32Array>> {
    const d = this.device;
    if (!d) return new Map([...this.tensors(fields, context)].map(([k, t]) => [k, t.data]));
    if (this.options.tail || (this.options.noise?.std ?? 0) > 0) {
      throw new Error(`the ${d.name} device steps members without latent noise or tail perturbation only`);
    }
    d.beginScope();
    try {
      const out = [...this.tensors(fields, context)];
      const t0 = performance.now();
      const flat = out.map(([, t]) => t.reshape([1, t.size]));
      const all = await (flat.length === 1 ? flat[0] : concatLast(flat)).read();
      this.timings.readout += performance.now() - t0;
      let o = 0;
      return new Map(out.map(([k, t]) => [k, all.slice(o, o += t.size)]));
    } finally {
      d.endScope();
    }
  }

  /** As a {@link Stepper} (values only; host tensors). */
  get stepper(): Stepper {
    return (fields, context) => new Map([...this.tensors(fields, context)].map(([k, t]) => [k, t.data]));
  }
}

/** The sampler of a base checkpoint's data (one regular dataset), masking irrelevant. */
export function baseSampler(config: Pick<RecordedRunConfig, "sampler">, norm?: string): MultifieldSampler {
  const s = structuredClone(config.sampler);
  if (norm) s.datasets[0].norm = norm;
  return new MultifieldSampler({ ...s, batchSize: 1, masking: { strategy: "forecast" } });
}
