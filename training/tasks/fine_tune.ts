/**
 * Fine-tuning as a task of the training loop: masked-token training of a
 * Multiformer whose weights start from another run's checkpoint instead
 * of a fresh initialisation. Everything else starts afresh — step 0, the
 * optimizer and its moments, the random stream — and every checkpoint of
 * the run records where its weights came from (path, SHA-256, step). The
 * starting checkpoint must fit this run as a resumed one would: the same
 * fields and token layouts, the same coefficient sets (the network learnt
 * values normalized by them) and the same parameter shapes.
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

  override header(step: number): CheckpointRecord {
    return { ...super.header(step), task: "masked-token", from: this.from };
  }
}
