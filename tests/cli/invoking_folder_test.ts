/**
 * Under `deno task`, relative paths are the caller's: Deno runs tasks in
 * the project folder, and the verbs move to the folder named in INIT_CWD
 * (the only environment variable their permissions let them read).
 *
 * @module
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { ROOT, tempDir } from "../_helpers/common.ts";

Deno.test("deno task inspect REL from another folder finds REL in that folder, not in the project", async () => {
  const dir = await tempDir();
  const store = join(dir, "mine.zarr");
  await Deno.mkdir(store);
  await Deno.writeTextFile(join(store, ".zgroup"), '{"zarr_format":2}');
  await Deno.writeTextFile(join(store, ".zattrs"), '{"fields": [], "fields_sfc": [], "levels": []}');
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["task", "--config", join(ROOT, "deno.json"), "inspect", "mine.zarr"],
    cwd: dir,
    // As from a shell: no INIT_CWD yet (npx, which may have started these tests, sets its own).
    clearEnv: true,
    env: Object.fromEntries(Object.entries(Deno.env.toObject()).filter(([k]) => k !== "INIT_CWD")),
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
  assert.doesNotMatch(text, /no such store/, text);
  assert.match(text, /mine\.zarr \(zarr v2/, text);
});
