/**
 * `deno run -A bench/ours/convert_stages.ts [--engine own|h5wasm] FILE...`
 *
 * Where one conversion task's time goes, one thread, stage by stage, with
 * the same loops as converters/era5/task.ts: read (the format reader, CF
 * unpacking), remap into the store grid, cut the slab into chunk tiles,
 * per-point monthly statistics, encode (default codec) and write the chunk
 * files. Prints ms and MB/s (decoded float32) per stage.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { join } from "node:path";
import "../../converters/formats/netcdf3.ts";
import { openHdf5 } from "../../converters/formats/hdf5/dataset.ts";
import type { Hdf5Engine } from "../../converters/formats/hdf5/h5wasm.ts";
import { readHead } from "../../converters/formats/dataset.ts";
import { openDataset, type SourceDataset } from "../../converters/formats/registry.ts";
import { packingOf, unpackInto } from "../../converters/cf.ts";
import { DEFAULT_CHUNKS } from "../../converters/era5/convert.ts";
import { DEFAULT_CODEC, encodeChunk, parseCodecSpec } from "../../zarr/codecs.ts";
import { ShiftedPointSums } from "../../normalization/moments.ts";
import { tuneMallocForChunks } from "../../native/malloc.ts";

const { values: args, positionals: files } = parseArgs({
  args: Deno.args,
  allowPositionals: true,
  options: { engine: { type: "string", default: "own" } },
});
tuneMallocForChunks(); // as the conversion's TaskContext does
const { time: tc, lat: clat, lon: clon } = DEFAULT_CHUNKS;
const pipeline = parseCodecSpec(DEFAULT_CODEC);
const out = await Deno.makeTempDir({ prefix: "stages-" });
const t: Record<string, number> = { read: 0, unpack: 0, remap: 0, tile: 0, stats: 0, encode: 0, write: 0 };
let bytes = 0;
const lap = (stage: string, t0: number) => (t[stage] += performance.now() - t0, performance.now());
try {
  for (const f of files) {
    const hdf5 = readHead(f, 4)[1] === 0x48;
    const ds: SourceDataset = hdf5 ? await openHdf5(f, args.engine as Hdf5Engine) : await openDataset(f);
    for (const v of ds.variables.values()) {
      if (v.shape.length !== 4) continue;
      const [nt, nl, nlat, nlon] = v.shape;
      const plane = nlat * nlon, packing = packingOf(v.attrs);
      const slab = new Float32Array(tc * plane), unpacked = new Float32Array(tc * plane);
      const chunk = new Float32Array(tc * clat * clon);
      for (let l = 0; l < nl; l++) {
        const acc = new ShiftedPointSums(plane);
        for (let t0 = 0; t0 < nt; t0 += tc) {
          const steps = Math.min(tc, nt - t0);
          let now = performance.now();
          let values: Float32Array = unpacked.subarray(0, steps * plane);
          if (ds.readDecoded?.(v.name, [t0, l, 0, 0], [steps, 1, nlat, nlon], packing, values)) {
            now = lap("read", now);
          } else {
            const raw = ds.read(v.name, [t0, l, 0, 0], [steps, 1, nlat, nlon]);
            now = lap("read", now);
            if (raw instanceof Float32Array && packing.scale === 1 && packing.offset === 0 && !packing.fills.length) {
              values = raw;
            } else unpackInto(raw, packing, values);
            now = lap("unpack", now);
          }
          for (let s = 0; s < steps; s++) slab.set(values.subarray(s * plane, (s + 1) * plane), s * plane);
          now = lap("remap", now);
          for (let i0 = 0; i0 < nlat; i0 += clat) {
            for (let j0 = 0; j0 < nlon; j0 += clon) {
              now = performance.now();
              chunk.fill(NaN);
              const rows = Math.min(clat, nlat - i0), cols = Math.min(clon, nlon - j0);
              for (let s = 0; s < steps; s++) {
                for (let i = 0; i < rows; i++) {
                  const o = s * plane + (i0 + i) * nlon + j0;
                  chunk.set(slab.subarray(o, o + cols), (s * clat + i) * clon);
                }
              }
              now = lap("tile", now);
              acc.addBlock(chunk, 0, clat * clon, clon, steps, rows, cols, i0 * nlon + j0, nlon);
              now = lap("stats", now);
              const enc = encodeChunk(pipeline, new Uint8Array(chunk.buffer));
              now = lap("encode", now);
              Deno.writeFileSync(join(out, `${l}.${t0}.${i0}.${j0}`), enc);
              lap("write", now);
            }
          }
          bytes += steps * plane * 4;
        }
      }
    }
    ds.close();
  }
} finally {
  Deno.removeSync(out, { recursive: true });
}
const total = Object.values(t).reduce((a, b) => a + b, 0);
console.log(`${(bytes / 1e6).toFixed(0)} MB decoded, engine ${args.engine}, one thread`);
for (const [stage, ms] of Object.entries(t)) {
  console.log(
    `${stage.padEnd(8)} ${ms.toFixed(0).padStart(7)} ms ${((100 * ms) / total).toFixed(0).padStart(3)} % ${
      (bytes / 1e3 / ms).toFixed(0).padStart(6)
    } MB/s`,
  );
}
console.log(`total    ${total.toFixed(0).padStart(7)} ms       ${(bytes / 1e3 / total).toFixed(0).padStart(6)} MB/s`);
