/**
 * The test hooks are dead in the shipped command line: a leftover
 * `ATMOREP_TEST_ABORT_AFTER_WRITES` in the environment changes nothing
 * unless the process was started with the test preload.
 *
 * @module
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { exists, ROOT, SAMPLE, tempDir, TEST_HOOKS } from "../_helpers/common.ts";

async function convert(out: string, extra: string[]) {
  const tasks = JSON.parse(await Deno.readTextFile(`${ROOT}deno.json`)).tasks as Record<string, string>;
  const flags = tasks.convert.split(" ").filter((a) => a.startsWith("--allow"));
  const p = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      ...flags,
      ...extra,
      `${ROOT}tasks/convert.ts`,
      "era5",
      "-q",
      "--workers",
      "0",
      "--out",
      out,
      SAMPLE.new,
    ],
    env: { ATMOREP_TEST_ABORT_AFTER_WRITES: "3" },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  return { code: p.code, stderr: new TextDecoder().decode(p.stderr) };
}

Deno.test("a leftover ATMOREP_TEST_ABORT_AFTER_WRITES does nothing to deno task convert; only the test preload switches it on", async () => {
  const dir = await tempDir();
  const shipped = await convert(join(dir, "a.zarr"), []);
  assert.equal(shipped.code, 0, shipped.stderr);
  assert.ok(exists(join(dir, "a.zarr", ".zgroup")));
  const hooked = await convert(join(dir, "b.zarr"), TEST_HOOKS);
  assert.equal(hooked.code, 86, hooked.stderr);
  assert.match(hooked.stderr, /test hook: aborting after write 3/);
});
