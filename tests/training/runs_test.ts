/**
 * One run per checkpoint directory, and no run eats another's: the run
 * lock names the run holding the directory; a new run over another run's
 * checkpoints or metrics is refused unless it starts over (which removes
 * those files by name, and nothing else); pruning touches only the run's
 * own checkpoints; metrics.jsonl is never emptied or cut by a run that
 * fails; unfinished checkpoint writes of killed runs are removed at start.
 * A toy task (one 4-vector, quadratic loss) stands in for a network.
 *
 * @module
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { runTraining, type TrainingTask } from "../../training/loop.ts";
import { type CheckpointRecord, checkpointRun, readCheckpoint, writeCheckpoint } from "../../models/checkpoint.ts";
import { gradOf, parameter, Random, record, result, type Tensor } from "../../ops/mod.ts";
import { isPipelineError } from "../../errors.ts";
import { tempDir } from "../_helpers/common.ts";

interface ToyOptions {
  steps: number;
  every: number;
  keep: number;
  /** Inputs of each step wait for this (a run held open). */
  gate?: Promise<void>;
  /** Inputs of this step throw. */
  failAt?: number;
}

function toy(dir: string, o: ToyOptions): TrainingTask<number> {
  const w = parameter(new Float32Array([1, 2, 3, 4]), [4]);
  const rng = new Random(5);
  return {
    dir,
    params: new Map([["w", w]]),
    rng,
    phases: [{ steps: o.steps, optimizer: { lrMax: 0.1, clipNorm: 0 } }],
    checkpointEvery: o.every,
    keep: o.keep,
    verify() {},
    async inputs(step: number) {
      await o.gate;
      if (step === o.failAt) throw new Error(`input of step ${step} failed`);
      return step;
    },
    loss(): { loss: Tensor } {
      let s = 0;
      for (const v of w.data) s += v * v;
      const out = result(Float32Array.of(s), [1], [w]);
      record(out, [w], () => {
        const g = gradOf(w);
        for (let i = 0; i < 4; i++) g[i] += 2 * w.data[i] * out.grad![0];
      });
      return { loss: out };
    },
    metrics: (done, _i, g) => ({ kind: "train" as const, step: done, loss: g.loss }),
    header: (step): CheckpointRecord => ({
      task: "masked-token",
      step,
      rng: rng.state,
      config: {} as never,
      layouts: [],
      coefficientSets: [],
      stores: [],
    }),
    diverged: (loss) => new Error(`loss ${loss}`),
  };
}

const names = (dir: string) => [...Deno.readDirSync(dir)].map((e) => e.name).sort();

/** Run `f` with console.error captured. */
async function quiet<T>(f: () => Promise<T>): Promise<{ value: T; stderr: string[] }> {
  const stderr: string[] = [];
  const e = console.error;
  console.error = (...a: unknown[]) => stderr.push(a.join(" "));
  try {
    return { value: await f(), stderr };
  } finally {
    console.error = e;
  }
}

Deno.test("training runs: a second run in the same checkpoint directory fails at once, naming the running one", async () => {
  const dir = await tempDir();
  let open!: () => void;
  const gate = new Promise<void>((r) => open = r);
  const first = runTraining(toy(dir, { steps: 4, every: 2, keep: 2, gate }));
  await new Promise((r) => setTimeout(r, 50));
  await assert.rejects(() => runTraining(toy(dir, { steps: 4, every: 2, keep: 2 })), (e: Error) => {
    assert.ok(isPipelineError(e));
    assert.ok(e.message.includes(dir), e.message);
    assert.match(e.message, new RegExp(`is being written by pid ${Deno.pid} on .* \\(train, started `));
    return true;
  });
  open();
  const r = await first;
  assert.equal(r.steps, 4);
  // The first run's metrics are its own four lines only.
  const lines = (await Deno.readTextFile(join(dir, "metrics.jsonl"))).trim().split("\n");
  assert.deepEqual(lines.map((l) => JSON.parse(l).step), [1, 2, 3, 4]);
  assert.ok(!names(dir).includes("run.lock"), "the lock is released");
});

Deno.test("training runs: a new run over another run's checkpoints is refused; --start-over removes exactly those files", async () => {
  const dir = await tempDir();
  await runTraining(toy(dir, { steps: 20, every: 10, keep: 5 }));
  await Deno.writeTextFile(join(dir, "notes.txt"), "mine");
  const metrics = await Deno.readTextFile(join(dir, "metrics.jsonl"));
  await assert.rejects(() => runTraining(toy(dir, { steps: 5, every: 5, keep: 2 })), (e: Error) => {
    assert.ok(isPipelineError(e, "config"));
    assert.match(e.message, /checkpoints\.dir/);
    assert.ok(e.message.includes(dir));
    assert.match(e.message, /step-00000010\.ckpt, step-00000020\.ckpt, metrics\.jsonl/);
    assert.match(e.message, /--resume .* --start-over/);
    return true;
  });
  assert.equal(await Deno.readTextFile(join(dir, "metrics.jsonl")), metrics, "metrics.jsonl untouched");
  assert.deepEqual(names(dir), ["metrics.jsonl", "notes.txt", "step-00000010.ckpt", "step-00000020.ckpt"]);

  const { value: r, stderr } = await quiet(() =>
    runTraining(toy(dir, { steps: 5, every: 5, keep: 2 }), { startOver: true })
  );
  assert.ok(stderr.some((l) => l.includes(`started over in ${dir}: removed step-00000010.ckpt, step-00000020.ckpt`)));
  assert.equal(r.checkpoint, join(dir, "step-00000005.ckpt"));
  assert.deepEqual(names(dir), ["metrics.jsonl", "notes.txt", "step-00000005.ckpt"]);
});

Deno.test("training runs: pruning touches only the run's own checkpoints up to its step; the reported checkpoint exists", async () => {
  const dir = await tempDir();
  await runTraining(toy(dir, { steps: 20, every: 10, keep: 5 }));
  // A checkpoint of another run (another run id) dropped into the directory.
  const other = await tempDir();
  await runTraining(toy(other, { steps: 3, every: 3, keep: 1 }));
  await Deno.copyFile(join(other, "step-00000003.ckpt"), join(dir, "step-00000003.ckpt"));
  const ours = checkpointRun(join(dir, "step-00000010.ckpt"));
  assert.ok(ours && ours !== checkpointRun(join(dir, "step-00000003.ckpt")));
  // Resume from step 10 (not the newest) with keep 1: writes 15, prunes 10 (same run), leaves 20 and the other's 3.
  const r = await runTraining(toy(dir, { steps: 15, every: 5, keep: 1 }), { resume: join(dir, "step-00000010.ckpt") });
  assert.equal(r.checkpoint, join(dir, "step-00000015.ckpt"));
  assert.deepEqual(names(dir).filter((n) => n.endsWith(".ckpt")), [
    "step-00000003.ckpt",
    "step-00000015.ckpt",
    "step-00000020.ckpt",
  ]);
  assert.equal((await readCheckpoint(r.checkpoint!)).header.run, ours, "the run id is kept across a resume");
});

Deno.test("training runs: a resumed run that fails before its first step leaves metrics.jsonl as it was", async () => {
  const dir = await tempDir();
  await runTraining(toy(dir, { steps: 20, every: 10, keep: 5 }));
  const metrics = await Deno.readTextFile(join(dir, "metrics.jsonl"));
  await assert.rejects(
    () =>
      runTraining(toy(dir, { steps: 20, every: 10, keep: 5, failAt: 10 }), { resume: join(dir, "step-00000010.ckpt") }),
    /input of step 10 failed/,
  );
  assert.equal(await Deno.readTextFile(join(dir, "metrics.jsonl")), metrics);
  // A line that is not JSON is an error naming the file and line, never a silently emptied file.
  await Deno.writeTextFile(join(dir, "metrics.jsonl"), metrics + "{oops\n");
  await assert.rejects(
    () => runTraining(toy(dir, { steps: 20, every: 10, keep: 5 }), { resume: true }),
    (e: Error) => (assert.match(e.message, /metrics\.jsonl: line 21 is not JSON/), true),
  );
  assert.equal(await Deno.readTextFile(join(dir, "metrics.jsonl")), metrics + "{oops\n");
});

Deno.test("training runs: unfinished checkpoint writes of a killed run are removed when a run starts, saying so", async () => {
  const dir = await tempDir();
  await runTraining(toy(dir, { steps: 10, every: 10, keep: 5 }));
  await Deno.writeFile(join(dir, "step-00000020.ckpt.partial-999999"), new Uint8Array(1000));
  await Deno.writeFile(join(dir, "metrics.jsonl.partial-999999"), new Uint8Array(10));
  const { stderr } = await quiet(() => runTraining(toy(dir, { steps: 20, every: 10, keep: 5 }), { resume: true }));
  assert.ok(
    stderr.some((l) =>
      l.includes(`removed 2 unfinished checkpoint write(s) of a killed run in ${dir}`) &&
      l.includes("step-00000020.ckpt.partial-999999")
    ),
    stderr.join("\n"),
  );
  assert.deepEqual(names(dir).filter((n) => n.includes("partial")), []);
});

Deno.test("training runs: writeCheckpoint records the run id given, and checkpointRun reads it from the header alone", async () => {
  const dir = await tempDir();
  const path = await writeCheckpoint(dir, {
    task: "masked-token",
    step: 1,
    rng: [],
    config: {} as never,
    layouts: [],
    coefficientSets: [],
    stores: [],
    run: "run-a",
  }, []);
  assert.equal(checkpointRun(path), "run-a");
});
