/**
 * `deno task demo` end to end, with the task's permissions: it trains on the
 * sample's first day and scores initial times in its held-out second day —
 * nothing in-sample — and its scores equal an independent computation from
 * the sample's netCDF files (xarray) and the forecast store (zarr-python).
 *
 * @module
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { python, ROOT, runTask, tempDir } from "../_helpers/common.ts";
import { DEMO_INITS } from "../../tasks/demo.ts";

interface Scores {
  inits: string[];
  trained_ranges: { stage: string; use: string; data: [string, string] }[];
  in_sample_ranges: unknown[];
  scores: { field: string; level: number; leads: number[]; inSample: number[]; rmse: Record<string, number[]> }[];
}

interface Oracle {
  inits: string[];
  leads: number[];
  times: Record<"legacy" | "new" | "heldout", [string, string]>;
  scores: { field: string; level: number; rmse: { forecast: number[]; persistence: number[] } }[];
}

const HOUR = 3600;

Deno.test("the demo trains on the sample's first day and scores held-out initial times, as numpy computes them", async () => {
  const dir = await tempDir();
  try {
    const r = await runTask("demo", [dir]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /held out: the initial times/);
    assert.doesNotMatch(r.stdout + r.stderr, /in-sample: an initial or valid time|scores may be in-sample/);
    const tableRows = r.stdout.split("\n").filter((l) => /^\s+\d+ h\s/.test(l));
    assert.equal(tableRows.length, 4 * 3, r.stdout); // t/500, t/850, u/850, sst × 3 leads
    for (const row of tableRows) assert.match(row, /\sno$/, row);

    const scores = JSON.parse(await Deno.readTextFile(join(dir, "forecast.eval/scores.json"))) as Scores;
    const oracle = await python<Oracle>("demo_scores.py", [`${ROOT}samples/era5`, join(dir, "forecast.zarr")]);
    assert.deepEqual(scores.in_sample_ranges, []);
    for (const s of scores.scores) assert.deepEqual(s.inSample, s.leads.map(() => 0), `${s.field}/${s.level}`);

    // Every initial time, its 6-hour input window and its valid times lie in the held-out folder and after every
    // range the two stages trained or validated on (read from the sample by netCDF-C, not from our store).
    const sec = (t: string) => Date.parse(`${t.replace(/Z$/, "")}${/T\d\d$/.test(t) ? ":00" : ""}Z`) / 1000;
    const [heldStart, heldEnd] = oracle.times.heldout.map(sec);
    const trainedEnd = Math.max(...scores.trained_ranges.map((x) => sec(x.data[1])));
    assert.deepEqual(scores.trained_ranges.map((x) => `${x.stage} ${x.use}`).sort(), [
      "engine-rollout train",
      "masked-token train",
      "masked-token validation",
    ]);
    assert.deepEqual(oracle.inits.map(sec), DEMO_INITS.map(sec));
    for (const init of oracle.inits.map(sec)) {
      assert.ok(init - 5 * HOUR >= heldStart && init - 5 * HOUR > trainedEnd, `window of ${init}`);
      assert.ok(init + Math.max(...oracle.leads) * HOUR <= heldEnd);
    }
    assert.ok(sec(oracle.times.new[1]) >= trainedEnd, "training reads only the first day (legacy/ + new/)");

    // The printed scores are the forecast store's against the sample's netCDF files.
    assert.equal(oracle.scores.length, scores.scores.length);
    for (const o of oracle.scores) {
      const s = scores.scores.find((x) => x.field === o.field && (x.level || 0) === o.level)!;
      assert.ok(s, `${o.field}/${o.level}`);
      for (const k of ["forecast", "persistence"] as const) {
        for (const [i, v] of o.rmse[k].entries()) {
          assert.ok(
            Math.abs(s.rmse[k][i] - v) <= 1e-4 * v,
            `${o.field}/${o.level} ${k} lead ${i}: ${s.rmse[k][i]} ${v}`,
          );
        }
      }
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
