/**
 * Damaged store metadata is an error naming the file: a root `.zattrs`
 * that is not JSON, or not an object, never a bare SyntaxError.
 *
 * @module
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { readGroupAttributes, readRootAttributes } from "../../zarr/reader.ts";
import { isPipelineError } from "../../errors.ts";
import { ROOT, tempDir } from "../_helpers/common.ts";

Deno.test("a root .zattrs that is not JSON or not an object is a store error naming the file; inspect says so", async () => {
  const dir = await tempDir();
  const store = join(dir, "s.zarr");
  await Deno.mkdir(join(store, "g"), { recursive: true });
  await Deno.writeTextFile(join(store, ".zgroup"), '{"zarr_format":2}');
  await Deno.writeTextFile(join(store, ".zattrs"), '{"kind": "data", ');
  assert.throws(() => readRootAttributes(store), (e: Error) => {
    assert.ok(isPipelineError(e, "store"), String(e));
    assert.equal(e.path, join(store, ".zattrs"));
    assert.match(e.message, /not valid JSON/);
    return true;
  });
  await Deno.writeTextFile(join(store, ".zattrs"), "[1, 2]");
  assert.throws(() => readRootAttributes(store), /s\.zarr\/\.zattrs: the attributes are not a JSON object/);
  await Deno.writeTextFile(join(store, "g", ".zattrs"), "nope");
  assert.throws(() => readGroupAttributes(store, "g"), /s\.zarr\/g\/\.zattrs: metadata is not valid JSON/);

  await Deno.writeTextFile(join(store, ".zattrs"), '{"kind": ');
  const p = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-read", `${ROOT}tasks/inspect.ts`, store],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const err = new TextDecoder().decode(p.stderr);
  assert.notEqual(p.code, 0);
  assert.ok(err.includes(join(store, ".zattrs")), err);
  assert.doesNotMatch(err, /^error: SyntaxError|Unexpected end of JSON input$/m);
});
