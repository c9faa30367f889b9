/**
 * GRIB1 with WMO bulletin headers (each message preceded by SOH, CR CR LF,
 * a sequence number and an abbreviated heading, and followed by ETX, as
 * NCEP's `ced1.lf00.t00z.eta.grb` files): read as the same messages as the
 * file without them, not called "not a netCDF or HDF5 file".
 *
 * @module
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { openDataset } from "../../../../converters/formats/registry.ts";
import { FileReader, scanGrib } from "../../../../converters/formats/grib/message.ts";
import { convertEra5 } from "../../../../converters/era5/convert.ts";
import { ArrayReader } from "../../../../zarr/reader.ts";
import { gribFiles, tempDir } from "../../../_helpers/common.ts";

/** `file`'s messages, each wrapped in a WMO bulletin header and trailer. */
async function withBulletins(file: string, out: string): Promise<void> {
  const bytes = await Deno.readFile(file);
  const messages = scanGrib(new FileReader(file));
  const parts: Uint8Array[] = [];
  let at = 0;
  for (const [i, m] of messages.entries()) {
    const header = `\x01\r\r\n${String(i + 1).padStart(3, "0")}\r\r\nYTQA50 KWBC 010000\r\r\n`;
    parts.push(
      new TextEncoder().encode(header),
      bytes.subarray(at, at + m.length),
      Uint8Array.of(0x0d, 0x0d, 0x0a, 0x03),
    );
    at += m.length;
  }
  const total = parts.reduce((a, p) => a + p.length, 0), joined = new Uint8Array(total);
  let o = 0;
  for (const p of parts) joined.set(p, (o += p.length) - p.length);
  await Deno.writeFile(out, joined);
}

Deno.test("GRIB1 with WMO bulletin headers reads as the same messages and converts to the same data", async () => {
  const dir = await gribFiles();
  const work = await tempDir();
  const plain = join(dir, "pl.grib1"), wrapped = join(work, "pl_bulletins.grb");
  await withBulletins(plain, wrapped);
  const a = await openDataset(plain), b = await openDataset(wrapped);
  assert.equal(b.format, a.format);
  assert.deepEqual([...b.variables.keys()], [...a.variables.keys()]);
  const one = await convertEra5({ inputs: [plain], out: join(work, "a.zarr"), workers: 0 });
  const two = await convertEra5({ inputs: [wrapped], out: join(work, "b.zarr"), workers: 0 });
  assert.deepEqual(new ArrayReader(two.out, "data").read(), new ArrayReader(one.out, "data").read());
});
