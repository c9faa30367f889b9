/**
 * A damaged `time` coordinate (a step out of order, a missing time) is
 * noticed by `inspect` and by the datasets the sampler reads, naming the
 * store's `time` array and the step — never a silently misplaced sample.
 *
 * @module
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { convertEra5 } from "../../converters/era5/convert.ts";
import { expandInputs } from "../../cli/inputs.ts";
import { readTimeCoordinate } from "../../zarr/reader.ts";
import { inspectStore } from "../../stores/inspect.ts";
import { GridDataset } from "../../datasets/grid.ts";
import { ChunkCache } from "../../datasets/cache.ts";
import { isPipelineError } from "../../errors.ts";
import { SAMPLE, tempDir } from "../_helpers/common.ts";

Deno.test("a time coordinate out of order or with NaT is a store error naming ROOT/time and the step (inspect, datasets)", async () => {
  const dir = await tempDir();
  const { out } = await convertEra5({ inputs: expandInputs([SAMPLE.new]), out: join(dir, "s.zarr"), workers: 0 });
  const chunk = join(out, "time", "0");
  const good = await Deno.readFile(chunk);
  assert.equal(readTimeCoordinate(out).length, good.length / 8);
  const times = new BigInt64Array(good.slice().buffer);
  const cases: [(t: BigInt64Array) => void, RegExp][] = [
    [(t) => ([t[3], t[4]] = [t[4], t[3]]), /time: times must increase: step 4 \(.*\) is not after step 3/],
    [(t) => (t[5] = t[4]), /time: times must increase: step 5/],
    [(t) => (t[2] = -(2n ** 63n)), /time: step 2 has no time \(NaT\)/],
  ];
  for (const [edit, message] of cases) {
    const t = times.slice();
    edit(t);
    await Deno.writeFile(chunk, new Uint8Array(t.buffer));
    const check = (e: Error) => {
      assert.ok(isPipelineError(e, "store"), String(e));
      assert.equal(e.path, join(out, "time"));
      assert.match(e.message, message);
      return true;
    };
    assert.throws(() => readTimeCoordinate(out), check);
    assert.throws(() => inspectStore(out), check);
    assert.throws(() => new GridDataset(out, new ChunkCache(1 << 20)), check);
  }
});
