/**
 * `convert fesom` shows its progress: the library reports every time step
 * of every input file written, and the command line prints it.
 *
 * @module
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { convertFesom } from "../../../converters/fesom/convert.ts";
import { ROOT, runTask, tempDir } from "../../_helpers/common.ts";

const MESH = `${ROOT}samples/fesom/pi-mesh`;
const FILES = ["sst", "temp"].map((v) => `${ROOT}samples/fesom/pi-output/${v}.fesom.1985.nc`);

Deno.test("convert fesom reports progress per time step of each input, and prints it", async () => {
  const dir = await tempDir();
  const seen: [number, number][] = [];
  await convertFesom({ mesh: MESH, inputs: FILES, out: join(dir, "a.zarr"), onProgress: (d, t) => seen.push([d, t]) });
  assert.ok(seen.length > 1);
  const total = seen[0][1];
  assert.deepEqual(seen.map(([d]) => d), Array.from({ length: total }, (_, i) => i + 1));
  assert.ok(seen.every(([, t]) => t === total));
  const r = await runTask("convert", ["fesom", "--mesh", MESH, "--out", join(dir, "b.zarr"), ...FILES]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, new RegExp(`convert: ${total}/${total} time steps of the input files`));
  const q = await runTask("convert", ["fesom", "-q", "--mesh", MESH, "--out", join(dir, "c.zarr"), ...FILES]);
  assert.equal(q.code, 0, q.stderr);
  assert.doesNotMatch(q.stderr, /time steps of the input files/);
});
