/**
 * Crash consistency of the parallel conversion: the build is "killed" right
 * after each of its state-changing steps in turn — every write, rename and
 * removal of init, of a part and of finalize — and the documented resume
 * path (`--init` with the same options, `--part`, `--finalize`) must then
 * complete it to the same bytes as an uninterrupted run. After every kill,
 * no path that looks like a finished store may differ from the reference.
 *
 * The kill is simulated in-process (zarr/fault_hook.ts `simulateKillAfter`):
 * the k-th step throws and no later write, rename or removal happens, so
 * cleanup code cannot run, just as after SIGKILL; lock files stay behind
 * with their flock dropped. A run of processes per step would take minutes.
 *
 * @module
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import {
  convertEra5,
  type Era5Options,
  finalizeConversion,
  initConversion,
  initializedAlready,
  runConversionPart,
} from "../../converters/era5/convert.ts";
import { findBuildDir } from "../../converters/era5/build.ts";
import { liveOwner } from "../../zarr/lock.ts";
import { SimulatedKill, simulateKillAfter } from "../../zarr/fault_hook.ts";
import { assertComplete, pathExists, removeStore } from "../../zarr/publish.ts";
import { assertSameStore, SAMPLE, tempDir } from "../_helpers/common.ts";

const INPUT = `${SAMPLE.new}/era5_single_levels_20200201.nc`;

/** The smallest conversion with more than one task: two fields of one small file. */
function options(out: string): Era5Options {
  return { inputs: [INPUT], out, fields: ["t2m", "sst"], chunks: { time: 6 }, workers: 0 };
}

type Phase = "init" | "part" | "finalize";
const PHASES: Phase[] = ["init", "part", "finalize"];

/** One step of the documented protocol, as the CLI runs it. */
async function runPhase(phase: Phase, opts: Era5Options): Promise<void> {
  if (phase === "init") {
    if (!initializedAlready(opts)) await initConversion(opts);
  } else if (phase === "part") await runConversionPart(opts.out, 1, 1, { workers: 0 });
  else await finalizeConversion(opts.out, { workers: 0 });
}

/** True when a path exists and a reader would take it for a finished store. */
function looksComplete(path: string): boolean {
  if (!pathExists(path)) return false;
  try {
    assertComplete(path);
    return true;
  } catch {
    return false;
  }
}

Deno.test("a kill after any write of init, a part or finalize: the resume path completes the same store", async () => {
  const dir = await tempDir();
  const ref = await convertEra5(options(join(dir, "ref.zarr")));
  const out = join(dir, "k.zarr"), norm = join(dir, "k.norm.zarr");
  const opts = options(out);
  const killsPerPhase: Record<Phase, number> = { init: 0, part: 0, finalize: 0 };
  try {
    for (const [p, phase] of PHASES.entries()) {
      for (let k = 1;; k++) {
        for (const path of [out, norm, `${out}.partial`, `${norm}.partial`, `${out}.partial.build`]) {
          removeStore(path);
        }
        for (const before of PHASES.slice(0, p)) await runPhase(before, opts);
        simulateKillAfter(k);
        let killed = false;
        try {
          await runPhase(phase, opts);
        } catch (e) {
          if (!(e instanceof SimulatedKill)) throw e;
          killed = true;
        } finally {
          simulateKillAfter(undefined);
        }
        if (!killed) break; // k is past the phase's last step: every step was covered
        killsPerPhase[phase]++;
        const where = `${phase}, killed after step ${k}`;
        // Nothing incomplete may look finished.
        if (looksComplete(out)) assertSameStore(out, ref.out);
        if (looksComplete(norm)) assertSameStore(norm, ref.norm);
        for (const staged of [`${out}.partial`, `${norm}.partial`]) {
          assert.ok(!looksComplete(staged), `${where}: ${staged} looks complete`);
        }
        // The documented resume path (what the SLURM script reruns), unless the store is already published.
        const finished = looksComplete(out) && looksComplete(norm) && findBuildDir(out) === undefined;
        if (!finished) { for (const step of PHASES) await runPhase(step, opts); }
        assertSameStore(out, ref.out);
        assertSameStore(norm, ref.norm);
        for (const leftover of [`${out}.partial`, `${norm}.partial`, `${out}.partial.build`]) {
          assert.ok(!pathExists(leftover), `${where}: ${leftover} left behind`);
        }
        // A lock file may outlive a killed process, but it must not hold anyone off.
        for (const lock of [`${out}.lock`, `${norm}.lock`]) {
          assert.ok(!finished ? !pathExists(lock) : liveOwner(lock) === undefined, `${where}: ${lock}`);
          try {
            Deno.removeSync(lock);
          } catch { /* not there */ }
        }
      }
    }
  } finally {
    simulateKillAfter(undefined);
  }
  // Every phase has steps to kill (init writes metadata, a part its chunks and statistics, finalize publishes).
  for (const phase of PHASES) assert.ok(killsPerPhase[phase] >= 2, `${phase}: ${killsPerPhase[phase]} kill points`);
  console.log(`kill points: ${JSON.stringify(killsPerPhase)}`);
});
