/**
 * The parallel conversion protocol (init, parts, finalize) across processes:
 * concurrent parts give the single-process store byte for byte, a part
 * killed with SIGKILL resumes, and worker threads do not change the
 * statistics.
 *
 * @module
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { convertEra5 } from "../../converters/era5/convert.ts";
import { expandInputs } from "../../cli/inputs.ts";
import { ArrayReader } from "../../zarr/reader.ts";
import { assertSameStore, exists, ROOT, runTask, SAMPLE, tempDir, TEST_HOOKS } from "../_helpers/common.ts";

const INPUTS = expandInputs([SAMPLE.legacy, SAMPLE.new]);

async function reference(dir: string): Promise<string> {
  const s = await convertEra5({ inputs: INPUTS, out: join(dir, "single.zarr"), workers: 0 });
  return s.out;
}

Deno.test("parallel parts in concurrent processes give the single-process store, byte for byte", async () => {
  const dir = await tempDir();
  const out = join(dir, "par.zarr");
  const init = await runTask("convert", ["era5", "-q", "--init", "--chunks", "time=4", "--out", out, ...INPUTS]);
  assert.equal(init.code, 0, init.stderr);
  assert.ok(!exists(join(out, ".zgroup")) && !exists(out), "nothing published before finalize");
  const parts = await Promise.all(
    [1, 2, 3].map((i) => runTask("convert", ["era5", "-q", "--part", `${i}/3`, "--workers", "0", "--out", out])),
  );
  parts.forEach((p) => assert.equal(p.code, 0, p.stderr));
  const early = await runTask("inspect", [`${out}.partial`]);
  assert.notEqual(early.code, 0, "the staged store is not a finished store");
  const fin = await runTask("convert", ["era5", "-q", "--finalize", "--out", out]);
  assert.equal(fin.code, 0, fin.stderr);
  const ref = await convertEra5({ inputs: INPUTS, out: join(dir, "single.zarr"), chunks: { time: 4 }, workers: 0 });
  assertSameStore(out, ref.out);
  assertSameStore(join(dir, "par.norm.zarr"), ref.norm);
  // Verification pass: every chunk of data decodes.
  const data = new ArrayReader(out, "data");
  const all = data.read() as Float32Array;
  assert.equal(all.filter((v) => Number.isNaN(v)).length, 0);
});

Deno.test("a part killed with SIGKILL and run again finishes the same store; finished parts are skipped", async () => {
  const dir = await tempDir();
  const out = join(dir, "kill.zarr");
  const init = await runTask("convert", ["era5", "-q", "--init", "--chunks", "time=2", "--out", out, ...INPUTS]);
  assert.equal(init.code, 0, init.stderr);
  const done = join(`${out}.partial`, ".build", "done");
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--allow-read",
      "--allow-write",
      "--allow-env",
      "--allow-ffi",
      ...TEST_HOOKS,
      `${ROOT}tasks/convert.ts`,
      "era5",
      "-q",
      "--part",
      "1/1",
      "--workers",
      "0",
      "--out",
      out,
    ],
    env: { ATMOREP_TEST_TASK_DELAY_MS: "150" },
    stdout: "null",
    stderr: "null",
  }).spawn();
  let finished = 0;
  for (let i = 0; i < 400 && finished < 3; i++) {
    await new Promise((r) => setTimeout(r, 25));
    finished = markers(done);
  }
  child.kill("SIGKILL");
  await child.status;
  const total = 24;
  // A marker being written at the kill is a temporary file, not a marker: the rerun redoes that task.
  const before = markers(done);
  assert.ok(before >= 3 && before < total, `killed after ${before} of ${total} tasks`);
  const fin1 = await runTask("convert", ["era5", "-q", "--finalize", "--out", out]);
  assert.notEqual(fin1.code, 0);
  assert.match(fin1.stderr, /tasks are not done; run the missing parts first/);
  const again = await runTask("convert", ["era5", "-q", "--part", "1/1", "--out", out]);
  assert.equal(again.code, 0, again.stderr);
  assert.match(again.stdout, new RegExp(`ran ${total - before} tasks, ${before} already done`));
  const fin = await runTask("convert", ["era5", "-q", "--finalize", "--out", out]);
  assert.equal(fin.code, 0, fin.stderr);
  const ref = await convertEra5({ inputs: INPUTS, out: join(dir, "single.zarr"), chunks: { time: 2 }, workers: 0 });
  assertSameStore(out, ref.out);
  assertSameStore(join(dir, "kill.norm.zarr"), ref.norm);
});

Deno.test("worker threads and parts: statistics equal the single-process ones", async () => {
  const dir = await tempDir();
  const ref = await reference(dir);
  const s = await convertEra5({ inputs: INPUTS, out: join(dir, "threads.zarr"), workers: 2 });
  assertSameStore(s.out, ref);
});

/** Done markers in a build's done/ folder (named by task id; temporary files are not markers). */
function markers(dir: string): number {
  return [...Deno.readDirSync(dir)].filter((e) => /^\d+$/.test(e.name)).length;
}
