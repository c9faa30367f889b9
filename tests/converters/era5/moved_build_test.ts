/**
 * A conversion in progress that is moved or copied, then finalized under
 * its new name, is refused naming where it was initialized: its build
 * state names the old place (and its coefficient set stays there), so it
 * must never finalize the original or publish a store of statistics only.
 *
 * @module
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { type Era5Options, initConversion, runConversionPart } from "../../../converters/era5/convert.ts";
import { finalizeConversion } from "../../../converters/era5/finalize.ts";
import { isPipelineError } from "../../../errors.ts";
import { exists, SAMPLE, tempDir } from "../../_helpers/common.ts";

const INPUT = `${SAMPLE.new}/era5_single_levels_20200201.nc`;

Deno.test("a conversion in progress moved or copied elsewhere is refused by --part and --finalize, naming both places", async () => {
  for (const how of ["move", "copy"] as const) {
    const dir = await tempDir();
    const out = join(dir, "a.zarr");
    const opts: Era5Options = { inputs: [INPUT], out, fields: ["t2m"], workers: 0 };
    await initConversion(opts);
    await runConversionPart(out, 1, 1, { workers: 0 });
    const moved = join(dir, "b.zarr");
    if (how === "move") await Deno.rename(`${out}.partial`, `${moved}.partial`);
    else await new Deno.Command("cp", { args: ["-r", `${out}.partial`, `${moved}.partial`] }).output();
    const refused = (e: Error) => {
      assert.ok(isPipelineError(e, "store"), String(e));
      assert.match(e.message, new RegExp(`initialized for .*/a\\.zarr, not .*/b\\.zarr`));
      assert.match(e.message, /cannot be moved or copied/);
      return true;
    };
    await assert.rejects(() => runConversionPart(moved, 1, 1, { workers: 0 }), refused);
    await assert.rejects(() => finalizeConversion(moved, { workers: 0 }), refused);
    assert.ok(!exists(moved), `${how}: nothing published under the new name`);
    assert.ok(!exists(out), `${how}: the original is not finalized behind the user's back`);
    if (how === "copy") {
      // The original, where it was initialized, still finalizes.
      await finalizeConversion(out, { workers: 0 });
      assert.ok(exists(join(out, ".zgroup")));
    }
  }
});
