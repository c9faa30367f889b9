/**
 * Interoperability: zarrita reads our zarr v2 and v3 stores, sharded ones
 * too, with the same values as our reader.
 *
 * @module
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import * as zarr from "zarrita";
import FileSystemStore from "@zarrita/storage/fs";
import { convertEra5 } from "../../converters/era5/convert.ts";
import { expandInputs } from "../../cli/inputs.ts";
import { ArrayReader } from "../../zarr/reader.ts";
import { SAMPLE, tempDir } from "../_helpers/common.ts";

for (const format of [2, 3] as const) {
  Deno.test(`zarrita reads our zarr v${format} store (shuffle + zstd) with the same values`, async () => {
    const dir = await tempDir();
    const s = await convertEra5({
      inputs: expandInputs([SAMPLE.new]),
      out: join(dir, `v${format}.zarr`),
      zarrFormat: format,
      workers: 0,
    });
    const store = new FileSystemStore(s.out);
    const root = zarr.root(store);
    const open = format === 2 ? zarr.open.v2 : zarr.open.v3;
    const data = await open(root.resolve("data"), { kind: "array" });
    assert.deepEqual(data.shape, [12, 3, 3, 61, 120]);
    const got = await zarr.get(data, [5, 1, 2, null, null]);
    const want = new ArrayReader(s.out, "data").read([[5, 6], [1, 2], [2, 3], [0, 61], [0, 120]]);
    assert.deepEqual(got.data, want);
    const group = await open(root, { kind: "group" });
    assert.deepEqual(group.attrs.fields, ["t", "u", "v"]);
  });
}

Deno.test("sharded v3 stores (--shard): one file per time chunk and field level, same values for us and zarrita", async () => {
  const dir = await tempDir();
  const opts = { inputs: expandInputs([SAMPLE.legacy, SAMPLE.new]), chunks: { time: 4, lat: 16, lon: 32 }, workers: 0 };
  const plain = await convertEra5({ ...opts, out: join(dir, "plain.zarr"), zarrFormat: 3 });
  const sharded = await convertEra5({ ...opts, out: join(dir, "sharded.zarr"), zarrFormat: 3, shard: true });
  const count = (p: string): number =>
    [...Deno.readDirSync(p)].reduce((n, e) => n + (e.isDirectory ? count(join(p, e.name)) : 1), 0);
  assert.equal(count(join(sharded.out, "data", "c")), 6 * 3 * 3, "24 h / 4 h × 3 fields × 3 levels shards");
  assert.ok(count(join(plain.out, "data", "c")) > 500);
  for (const name of ["data", "data_sfc"]) {
    assert.deepEqual(new ArrayReader(sharded.out, name).read(), new ArrayReader(plain.out, name).read(), name);
  }
  const meta = JSON.parse(Deno.readTextFileSync(join(sharded.out, "data", "zarr.json")));
  assert.equal(meta.codecs[0].name, "sharding_indexed");
  const arr = await zarr.open.v3(zarr.root(new FileSystemStore(sharded.out)).resolve("data"), { kind: "array" });
  const got = await zarr.get(arr, [9, 2, 1, null, null]);
  assert.deepEqual(got.data, new ArrayReader(plain.out, "data").read([[9, 10], [2, 3], [1, 2], [0, 61], [0, 120]]));
  // The statistics and coefficients do not depend on the layout.
  assert.deepEqual(new ArrayReader(sharded.norm, "norm").read(), new ArrayReader(plain.norm, "norm").read());
});
