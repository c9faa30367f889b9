/**
 * Deriving coefficient sets (`normalize`): every pooling matches numpy over
 * the pooled data, and a period restricts the months pooled.
 *
 * @module
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { convertEra5 } from "../../converters/era5/convert.ts";
import { expandInputs } from "../../cli/inputs.ts";
import { deriveNormSet } from "../../normalization/derive.ts";
import { readRootAttributes } from "../../zarr/reader.ts";
import { python, runTask, SAMPLE, tempDir } from "../_helpers/common.ts";

async function sampleStore(): Promise<string> {
  const dir = await tempDir();
  const s = await convertEra5({ inputs: expandInputs([SAMPLE.legacy, SAMPLE.new]), out: join(dir, "era5.zarr") });
  return s.out;
}

for (const pool of ["monthly", "calendar-month", "all"] as const) {
  Deno.test(`normalize --pool ${pool} matches numpy over the pooled data`, async () => {
    const store = await sampleStore();
    const out = store.replace(".zarr", `.${pool}.norm.zarr`);
    deriveNormSet({ store, out, pooling: pool });
    const r = await python<{ rel: number; nan_entries: number; months: number }>("check_norm_set.py", [
      store,
      out,
      "202001",
      "202002",
      pool,
    ]);
    assert.equal(r.months, 2);
    assert.ok(r.rel < 1e-6, `relative error ${r.rel}`);
    assert.equal(readRootAttributes(out).pooling, pool);
  });
}

Deno.test("normalize CLI: a period restricts the pooled months; sets sit side by side", async () => {
  const store = await sampleStore();
  const out = store.replace(".zarr", ".feb.norm.zarr");
  const r = await runTask("normalize", [store, "--out", out, "--from", "2020-02", "--to", "2020-02", "--pool", "all"]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /2 month entries from 1 months of statistics \(all\)/);
  const check = await python<{ rel: number; nan_entries: number }>("check_norm_set.py", [
    store,
    out,
    "202002",
    "202002",
    "all",
  ]);
  assert.ok(check.rel < 1e-6, `relative error ${check.rel}`);
  const ins = await runTask("inspect", [store]);
  assert.match(ins.stdout, /norm set .*era5\.feb\.norm\.zarr: all, 2 months, period 2020-02 \.\. 2020-02/);
  assert.match(ins.stdout, /norm set .*era5\.norm\.zarr: monthly, 2 months/);
  const bad = await runTask("normalize", [store, "--out", out + "2", "--from", "2020-13"]);
  assert.notEqual(bad.code, 0);
  assert.match(bad.stderr, /--from: "2020-13" is not YYYY-MM/);
});
