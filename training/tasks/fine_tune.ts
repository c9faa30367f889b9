/**
 * Fine-tuning as a task of the training loop: masked-token training of a
 * Multiformer whose weights start from another run's checkpoint instead
 * of a fresh initialisation. Everything else starts afresh — step 0, the
 * optimizer and its moments, the random stream — and every checkpoint of
 * the run records where its weights came from (path, SHA-256, step). The
 * starting checkpoint must fit this run as a resumed one would: the same
 * fields and token layouts, the same coefficient sets (the network learnt
 * values normalized by them) and the same parameter shapes. An AtmoRep
 * checkpoint (`AtmoRep_id<ID>[_epoch<E>].mod`, its `model_id<ID>.json`
 * beside it) starts a run too: its weights are imported
 * (models/atmorep_import.ts) and must fit the run's fields, token layouts
 * and network (the json's, with AtmoRep's network options); AtmoRep
 * records no coefficient sets, so that check is the user's.
 *
 * @module
 */
import { CheckpointError } from "../../errors.ts";
import type { FieldLayout } from "../../models/config.ts";
import {
  absolute,
  type CheckpointRecord,
  type CheckpointReference,
  fileSha256,
  isEngineCheckpoint,
  loadParameters,
  readCheckpoint,
} from "../../models/checkpoint.ts";
import { importAtmorep } from "../../models/atmorep_import.ts";
import type { TrainConfig } from "../config.ts";
import { coefficientSets, MaskedTokenTask, validationSampler } from "./masked_token.ts";
import type { TrainOptions } from "../train.ts";

/** Masked-token training that starts from the weights of a Multiformer checkpoint. */
export class FineTuneTask extends MaskedTokenTask {
  /** The checkpoint the weights came from (set by {@link FineTuneTask.create}). */
  from!: CheckpointReference;

  /** The task of `config`, its weights those of the checkpoint at `from`. */
  static async startingFrom(
    from: string,
    config: TrainConfig,
    layouts: FieldLayout[],
    onBatch?: TrainOptions["onBatch"],
  ): Promise<FineTuneTask> {
    const task = new FineTuneTask(config, layouts, await coefficientSets(config), validationSampler(config), onBatch);
    await task.startFrom(from);
    return task;
  }

  /** Load the weights of the checkpoint at `path`, refusing one that does not fit this run. */
  private async startFrom(path: string): Promise<void> {
    if (path.endsWith(".mod")) return await this.startFromAtmorep(path);
    const ck = await readCheckpoint(path);
    if (isEngineCheckpoint(ck)) {
      throw new CheckpointError(
        path,
        `is a forecast-engine checkpoint; fine-tuning starts from a Multiformer checkpoint, such as the engine's base ${ck.header.forecast.base.path}`,
      );
    }
    this.verify(ck);
    loadParameters(ck, this.params);
    this.inheritedRanges = ck.header.timeRanges ?? [];
    this.from = { path: absolute(path), sha256: await fileSha256(path), step: ck.header.step };
  }

  /** Import the weights of AtmoRep's checkpoint at `path`, refusing one whose layouts or network differ from the run's. */
  private async startFromAtmorep(path: string): Promise<void> {
    const m = /^(.*[\\/])?AtmoRep_id(.+?)(_epoch-?\d+)?\.mod$/.exec(path);
    if (!m) throw new CheckpointError(path, "an AtmoRep checkpoint is named AtmoRep_id<ID>[_epoch<E>].mod");
    const imp = importAtmorep(path, `${m[1] ?? ""}model_id${m[2]}.json`);
    for (const l of this.layouts) {
      const a = imp.layouts.find((x) => x.field === l.field);
      const shape = (x: FieldLayout) => `${x.levels} levels × ${x.axes.join("×")} tokens of ${x.values} values`;
      if (!a) {
        throw new CheckpointError(
          path,
          `has no field ${l.field} (it has ${imp.fields.map((f) => f.name).join(", ")})`,
        );
      }
      if (shape(a) !== shape(l)) {
        throw new CheckpointError(path, `field ${l.field} is ${shape(a)} in AtmoRep's json, ${shape(l)} in this run`);
      }
    }
    const theirs = imp.model.params.map;
    for (const [name, t] of this.params) {
      const a = theirs.get(name);
      if (!a || a.shape.join() !== t.shape.join()) {
        throw new CheckpointError(
          path,
          `parameter ${name} is [${t.shape}] in this run, ${a ? `[${a.shape}]` : "absent"} in the AtmoRep model ` +
            `(the run's model must be the json's, with AtmoRep's network options)`,
        );
      }
    }
    for (const name of theirs.keys()) {
      if (!this.params.has(name)) {
        throw new CheckpointError(path, `parameter ${name} of the AtmoRep model is not in this run's model`);
      }
    }
    for (const [name, t] of this.params) t.data.set(theirs.get(name)!.data);
    this.from = { path: absolute(path), sha256: await fileSha256(path), step: 0 };
  }

  override header(step: number): CheckpointRecord {
    return { ...super.header(step), task: "masked-token", from: this.from };
  }
}
