/**
 * `normalize --from/--to` over months the store does not hold is an error
 * naming the period asked for and the store's months (never a set derived
 * from zero months).
 *
 * @module
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { convertEra5 } from "../../converters/era5/convert.ts";
import { expandInputs } from "../../cli/inputs.ts";
import { deriveNormSet } from "../../normalization/derive.ts";
import { isPipelineError } from "../../errors.ts";
import { exists, SAMPLE, tempDir } from "../_helpers/common.ts";

Deno.test("normalize: a period without any of the store's months names both ranges and writes nothing", async () => {
  const dir = await tempDir();
  const s = await convertEra5({ inputs: expandInputs([SAMPLE.legacy, SAMPLE.new]), out: join(dir, "era5.zarr") });
  const out = join(dir, "2019.norm.zarr");
  for (
    const [from, to, key] of [
      ["2019-01", "2019-12", "--from/--to"],
      ["2021-01", undefined, "--from"],
      [undefined, "2019-06", "--to"],
    ] as const
  ) {
    assert.throws(() => deriveNormSet({ store: s.out, out, from, to, pooling: "monthly" }), (e: Error) => {
      assert.ok(isPipelineError(e, "config"), String(e));
      assert.equal(e.path, key);
      assert.match(
        e.message,
        /the period \d{4}-\d\d \.\. \d{4}-\d\d holds none of the months of .*era5\.zarr \(2020-01 \.\. 2020-02\)/,
      );
      return true;
    });
    assert.ok(!exists(out) && !exists(`${out}.partial`));
  }
});
