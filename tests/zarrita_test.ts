import assert from "node:assert/strict";
import { join } from "node:path";
import * as zarr from "zarrita";
import FileSystemStore from "@zarrita/storage/fs";
import { convertEra5, expandInputs } from "../converters/era5/convert.ts";
import { ArrayReader } from "../zarr/store.ts";
import { SAMPLE, tempDir } from "./_helpers.ts";

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
