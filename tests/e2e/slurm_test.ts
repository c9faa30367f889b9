/**
 * The generated SLURM job array on a single-node cluster converts the sample
 * to the same store as one process (needs root and slurm-wlm).
 *
 * @module
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { convertEra5 } from "../../converters/era5/convert.ts";
import { expandInputs } from "../../cli/inputs.ts";
import { assertSameStore, exists, ROOT, run, runTask, SAMPLE, tempDir } from "../_helpers/common.ts";

const root = new TextDecoder().decode(new Deno.Command("id", { args: ["-u"] }).outputSync().stdout).trim() === "0";
const haveSlurm = (() => {
  try {
    return Deno.statSync("/usr/sbin/slurmctld").isFile && Deno.statSync("/usr/sbin/munged").isFile;
  } catch {
    return false;
  }
})();

Deno.test({
  name: "SLURM: the generated job array converts the sample on a single-node cluster like one process",
  // CI installs slurm-wlm and munge and runs as root; elsewhere this needs both.
  ignore: !(root && haveSlurm),
  async fn() {
    const dir = await tempDir();
    const cluster = join(dir, "cluster");
    const start = await run("bash", [`${ROOT}tests/e2e/slurm/cluster.sh`, "start", cluster]);
    assert.equal(start.code, 0, start.stderr);
    const env = { SLURM_CONF: join(cluster, "slurm.conf") };
    try {
      const out = join(dir, "slurm.zarr");
      const script = join(dir, "job.sh");
      const gen = await runTask("convert", [
        "slurm",
        "--parts",
        "3",
        "--script",
        script,
        "--log-dir",
        join(dir, "logs"),
        "--cpus-per-task",
        "1",
        "era5",
        "--out",
        out,
        SAMPLE.legacy,
        SAMPLE.new,
      ]);
      assert.equal(gen.code, 0, gen.stderr);
      assert.match(await Deno.readTextFile(script.replace(/\.sh$/, ".array.sbatch")), /#SBATCH --array=1-3/);
      const submit = await new Deno.Command("bash", { args: [script], env, stdout: "piped", stderr: "piped" }).output();
      assert.equal(submit.code, 0, new TextDecoder().decode(submit.stderr));
      for (let i = 0; i < 240 && !exists(join(out, ".zgroup")); i++) await new Promise((r) => setTimeout(r, 500));
      assert.ok(exists(join(out, ".zgroup")), "the finalize job published the store");
      const logs = [...Deno.readDirSync(join(dir, "logs"))].map((e) => e.name).sort();
      assert.equal(logs.filter((n) => /_\d+\.out$/.test(n)).length, 3, `three array tasks ran: ${logs.join(", ")}`);
      const ref = await convertEra5({
        inputs: expandInputs([SAMPLE.legacy, SAMPLE.new]),
        out: join(dir, "single.zarr"),
        workers: 0,
      });
      assertSameStore(out, ref.out);
      assertSameStore(join(dir, "slurm.norm.zarr"), ref.norm);
    } finally {
      await run("bash", [`${ROOT}tests/e2e/slurm/cluster.sh`, "stop", cluster]);
    }
  },
});
