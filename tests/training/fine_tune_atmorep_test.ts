/**
 * `train --from AtmoRep_id<ID>.mod`: fine-tuning an AtmoRep checkpoint (a
 * fixture written by AtmoRep's own code for the bundled sample's field t)
 * on the converted sample — the weights are AtmoRep's, the run counts its
 * own steps and records the file; a run whose network or layout differs
 * from the json's is refused, naming the file and what differs.
 *
 * @module
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { convertEra5 } from "../../converters/era5/convert.ts";
import { expandInputs } from "../../cli/inputs.ts";
import { checkTrainConfig, type TrainConfig } from "../../training/config.ts";
import { train } from "../../training/train.ts";
import { FineTuneTask } from "../../training/tasks/fine_tune.ts";
import { readCheckpoint } from "../../models/checkpoint.ts";
import { importAtmorep } from "../../models/atmorep_import.ts";
import { isPipelineError } from "../../errors.ts";
import { ROOT, SAMPLE, tempDir } from "../_helpers/common.ts";
import { sampleTConfig } from "../_helpers/atmorep_sample.ts";

const FIXTURE = join(ROOT, "tests", "fixtures", "atmorep", "sample_t");
const MOD = join(FIXTURE, "AtmoRep_idgold0007.mod");

/** The sample_t configuration (tests/_helpers/atmorep_sample.ts) with a short run into `dir`. */
async function config(store: string, dir: string, width = 32): Promise<TrainConfig> {
  const c = await sampleTConfig(store, width);
  c.checkpoints = { dir, every: 2, keep: 2 };
  c.schedule.steps = 2;
  c.validation!.every = 2;
  c.validation!.batches = 1;
  return c;
}

Deno.test("train --from AtmoRep_id<ID>.mod: fine-tunes AtmoRep's weights on the sample; another network is refused", async () => {
  const dir = await tempDir();
  const s = await convertEra5({
    inputs: expandInputs([SAMPLE.legacy, SAMPLE.new]),
    out: join(dir, "era5.zarr"),
    workers: 0,
  });
  const c = await config(s.out, join(dir, "fine"));
  const layouts = checkTrainConfig(c).layouts;
  // The task's parameters are AtmoRep's, as the importer reads them.
  const task = await FineTuneTask.startingFrom(MOD, c, layouts);
  const imp = importAtmorep(MOD, join(FIXTURE, "model_idgold0007.json"));
  for (const [name, t] of task.params) assert.deepEqual(t.data, imp.model.params.map.get(name)!.data, name);
  // A run from it trains, and its checkpoints record the AtmoRep file.
  const tuned = await train(c, layouts, { from: MOD });
  assert.equal(tuned.steps, 2);
  assert.ok(tuned.losses.every(Number.isFinite));
  const h = (await readCheckpoint(tuned.checkpoint!)).header;
  assert.ok(h.task === "masked-token" && h.from);
  assert.equal(h.from.path, Deno.realPathSync(MOD));
  assert.equal(h.from.step, 0);
  // Another width: refused, naming the file and the parameter.
  const other = await config(s.out, join(dir, "other"), 48);
  await assert.rejects(
    () => train(other, checkTrainConfig(other).layouts, { from: MOD }),
    (e) => isPipelineError(e, "checkpoint") && e.message.includes(MOD) && /parameter t\.embed/.test(e.message),
  );
});
