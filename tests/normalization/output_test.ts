/**
 * `normalize` writes its coefficient set under the rules of every output:
 * a user's folder named `OUT.partial` is refused, not deleted; `--overwrite`
 * replaces only a coefficient set, never a plain file, a folder of user
 * files or the data store it reads; one writer per output.
 *
 * @module
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { convertEra5 } from "../../converters/era5/convert.ts";
import { expandInputs } from "../../cli/inputs.ts";
import { deriveNormSet } from "../../normalization/derive.ts";
import { acquireLock } from "../../zarr/lock.ts";
import { isPipelineError } from "../../errors.ts";
import { exists, SAMPLE, tempDir } from "../_helpers/common.ts";

Deno.test("normalize (library): OUT.partial of a user refused, --overwrite only over a coefficient set, one writer", async () => {
  const dir = await tempDir();
  const { out: store } = await convertEra5({
    inputs: expandInputs([SAMPLE.new]),
    out: join(dir, "s.zarr"),
    workers: 0,
  });
  const refused = (f: () => unknown, message: RegExp) =>
    assert.throws(
      f,
      (e: Error) => (assert.ok(isPipelineError(e, "store"), String(e)), assert.match(e.message, message), true),
    );

  const out = join(dir, "set.norm.zarr");
  await Deno.mkdir(`${out}.partial`);
  await Deno.writeTextFile(`${out}.partial/draft.txt`, "mine");
  refused(
    () => deriveNormSet({ store, out }),
    /set\.norm\.zarr\.partial: exists and is not a staged store of atmorep-ts/,
  );
  assert.equal(await Deno.readTextFile(`${out}.partial/draft.txt`), "mine");
  await Deno.remove(`${out}.partial`, { recursive: true });

  deriveNormSet({ store, out });
  refused(() => deriveNormSet({ store, out }), /already exists; pass --overwrite/);
  assert.doesNotThrow(() => deriveNormSet({ store, out, overwrite: true }));

  const folder = join(dir, "mine");
  await Deno.mkdir(folder);
  await Deno.writeTextFile(join(folder, "notes.txt"), "mine");
  refused(
    () => deriveNormSet({ store, out: folder, overwrite: true }),
    /is not a coefficient set written by atmorep-ts/,
  );
  assert.equal(await Deno.readTextFile(join(folder, "notes.txt")), "mine");
  refused(() => deriveNormSet({ store, out: store, overwrite: true }), /holds the input .*s\.zarr/);
  assert.ok(exists(join(store, ".zgroup")));

  const lock = acquireLock(`${out}.lock`, out, "another normalize");
  try {
    refused(() => deriveNormSet({ store, out, overwrite: true }), /is being written by pid \d+ .*another normalize/);
  } finally {
    lock.release();
  }
});
