/**
 * A FESOM mesh whose triangle repeats a node is refused naming the file,
 * the triangle and the node (a degenerate triangle has no area).
 *
 * @module
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { readAsciiMesh } from "../../../converters/fesom/mesh.ts";
import { isPipelineError } from "../../../errors.ts";
import { ROOT, tempDir } from "../../_helpers/common.ts";

Deno.test("FESOM: a triangle with a repeated node is an input error naming elem2d.out, the triangle and the node", async () => {
  const dir = await tempDir();
  for (const f of ["nod2d.out", "elem2d.out", "aux3d.out"]) {
    await Deno.copyFile(join(ROOT, "samples/fesom/pi-mesh", f), join(dir, f));
  }
  assert.doesNotThrow(() => readAsciiMesh(dir));
  const lines = (await Deno.readTextFile(join(dir, "elem2d.out"))).split("\n");
  const [a, b] = lines[2].trim().split(/\s+/);
  lines[2] = `${a} ${b} ${a}`;
  await Deno.writeTextFile(join(dir, "elem2d.out"), lines.join("\n"));
  assert.throws(() => readAsciiMesh(dir), (e: Error) => {
    assert.ok(isPipelineError(e, "input"), String(e));
    assert.equal(e.path, join(dir, "elem2d.out"));
    assert.match(e.message, new RegExp(`triangle 2 \\(nodes ${a}, ${b}, ${a}\\) repeats node ${a}`));
    return true;
  });
});
