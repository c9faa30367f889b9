/**
 * The stratosphere converter: model levels with hybrid coefficients selected
 * by pressure, pressure levels to 1 hPa with ozone in log space, and a level
 * range without levels refused.
 *
 * @module
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { convertStrato, levelsInRange } from "../../../converters/strato/convert.ts";
import { MultifieldSampler } from "../../../samplers/sampler.ts";
import type { GridDataset } from "../../../datasets/grid.ts";
import { detokenize } from "../../../tokenizers/patches.ts";
import { fullLevelPressure } from "../../../converters/era5/levels.ts";
import { readRootAttributes } from "../../../zarr/reader.ts";
import { gribFiles, PYTHON, python, run, runTask } from "../../_helpers/common.ts";

Deno.test("strato: model levels keep the hybrid coefficients and are selected by pressure", async () => {
  const d = await gribFiles();
  const r = await run(PYTHON, ["-c", `import numpy as np, json; print(json.dumps(np.load("${d}/pv.npy").tolist()))`]);
  const pv: number[] = JSON.parse(r.stdout);
  const s = await convertStrato({
    inputs: [join(d, "strato_ml.grib2")],
    out: join(d, "ml.zarr"),
    pressureRange: [0.01, 100],
    workers: 0,
  });
  const attrs = readRootAttributes(s.out);
  const half = pv.length / 2;
  assert.deepEqual(attrs.hybrid_a_half, pv.slice(0, half));
  assert.deepEqual(attrs.hybrid_b_half, pv.slice(half));
  // Expected levels: full-level pressure at 1013.25 hPa between 0.01 and 100 hPa.
  const all = [1, 5, 10, 20, 30, 40, 50, 60, 91];
  const want = all.filter((k) => {
    const p = ((pv[k - 1] + pv[half + k - 1] * 101325) + (pv[k] + pv[half + k] * 101325)) / 200;
    return p >= 0.01 && p <= 100;
  });
  assert.deepEqual(attrs.levels, want);
  assert.equal(attrs.level_type, "model");
  (attrs.level_pressure_hpa as number[]).forEach((p, i) =>
    assert.ok(Math.abs(p - fullLevelPressure(pv, want[i])) < 1e-5)
  );
  assert.ok((attrs.level_pressure_hpa as number[])[0] < 0.02, "level 1 is near 0.01 hPa");
  assert.deepEqual(attrs.fields, ["t", "u", "v", "o3"]);
});

Deno.test("strato: pressure levels down to 1 hPa, and ozone normalized in log space", async () => {
  const d = await gribFiles();
  const sel = await levelsInRange([join(d, "strato_pl.grib2")], [1, 10]);
  assert.deepEqual(sel.levels, [1, 2, 5, 10]);
  const s = await convertStrato({
    inputs: [join(d, "strato_pl.grib2")],
    out: join(d, "pl.zarr"),
    pressureRange: [1, 100],
    workers: 0,
  });
  assert.deepEqual(readRootAttributes(s.out).levels, [1, 2, 5, 10, 50, 100]);
  const c = await python<{ rel: number; eps: number; raw_max: number }>("check_log_norm.py", [s.out, s.norm, "o3"]);
  assert.equal(c.eps, 1e-9);
  assert.ok(c.raw_max < 1e-4, "the data stay raw mixing ratios");
  assert.ok(c.rel < 1e-6, `log-space coefficients vs numpy: ${c.rel}`);
  const norm = readRootAttributes(s.norm);
  assert.deepEqual(norm.transforms, { o3: { type: "log", eps: 1e-9, formula: "log(x + eps) - log(eps)" } });
  // The sampler normalizes ozone in log space while it gathers, and restore inverts it.
  const grid = { numTokens: [1, 2, 2] as [number, number, number], tokenSize: [1, 9, 9] as [number, number, number] };
  const fc = { name: "o3", levels: [5], tokens: grid };
  const sampler = new MultifieldSampler({
    datasets: [{ store: s.out, fields: [fc] }],
    batchSize: 3,
    masking: { strategy: "forecast" },
    seed: 2,
  });
  const batch = sampler.batch(0);
  const data = sampler.datasets[0] as GridDataset;
  for (const [b, pos] of batch.samples.entries()) {
    const raw = data.read("o3", 5, pos.t0, 1, pos.i0, 18, pos.j0, 18);
    const block = new Float32Array(raw.length);
    detokenize(batch.fields[0].tokens.subarray(b * raw.length, (b + 1) * raw.length), grid, block);
    assert.ok(block.every(Number.isFinite) && Math.max(...block.map(Math.abs)) < 10, "z-scores of log ozone");
    block.set(sampler.restore(batch, 0, b, 0).values);
    for (let i = 0; i < raw.length; i++) {
      assert.ok(Math.abs(block[i] - raw[i]) <= 1e-4 * raw[i], `${block[i]} vs ${raw[i]}`);
    }
  }
});

Deno.test("strato CLI: a range with no levels is a clear error", async () => {
  const d = await gribFiles();
  const r = await runTask("convert", [
    "strato",
    "-q",
    "--out",
    join(d, "none.zarr"),
    "--pressure-range",
    "600,900",
    join(d, "strato_pl.grib2"),
  ]);
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /no level of .*strato_pl\.grib2 lies between 600 and 900 hPa \(levels span 1\.00–500 hPa\)/);
});
