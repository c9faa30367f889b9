/**
 * `gen_sharded.ts SRC DEST`: copy a benchmark store (v2, written by
 * gen_sampler_stores.py) into the layout `convert era5 --zarr-format 3
 * --shard` writes: zarr v3, one shard per time chunk and field level,
 * inner chunks 6 × 18 × 36 (same values, same codec). Skips an existing DEST.
 *
 * @module
 */
import { DEFAULT_SHARD_CHUNKS } from "../../converters/era5/layout.ts";
import { join } from "node:path";
import { ArrayWriter } from "../../zarr/writer.ts";
import { ArrayReader, readRootAttributes } from "../../zarr/reader.ts";
import { assertComplete, finalizeStore } from "../../zarr/publish.ts";

const [src, dest] = Deno.args;
try {
  assertComplete(dest);
  Deno.exit(0);
} catch { /* not there yet */ }
const staged = `${dest}.partial`;
try {
  Deno.removeSync(staged, { recursive: true });
} catch { /* none left over */ }
Deno.mkdirSync(staged, { recursive: true });
const { time: ct, lat: ch, lon: cw } = DEFAULT_SHARD_CHUNKS;
for (const name of ["data", "data_sfc"]) {
  const r = new ArrayReader(src, name);
  const [nt, ...rest] = r.shape;
  const [nlat, nlon] = rest.slice(-2), fixed = rest.slice(0, -2);
  const globe = [Math.ceil(nlat / ch) * ch, Math.ceil(nlon / cw) * cw];
  const w = new ArrayWriter(staged, name, 3, {
    shape: r.shape,
    chunks: [ct, ...fixed.map(() => 1), ch, cw],
    shards: [ct, ...fixed.map(() => 1), ...globe],
    dtype: "float32",
    dimensions: r.dimensions,
    codec: "shuffle,zstd:1",
  });
  w.writeMetadata();
  const per = [Math.ceil(nlat / ch), Math.ceil(nlon / cw)];
  for (let t0 = 0; t0 < nt; t0 += ct) {
    const n = Math.min(ct, nt - t0);
    for (const f of fixed.length === 2 ? [...Array(fixed[0] * fixed[1]).keys()] : [...Array(fixed[0]).keys()]) {
      const coords = fixed.length === 2 ? [Math.floor(f / fixed[1]), f % fixed[1]] : [f];
      const slab = r.read([[t0, t0 + n], ...coords.map((c) => [c, c + 1] as [number, number]), [0, nlat], [0, nlon]]);
      const chunks = [];
      for (let i = 0; i < per[0]; i++) {
        for (let j = 0; j < per[1]; j++) {
          const c = new Float32Array(ct * ch * cw).fill(NaN);
          for (let t = 0; t < n; t++) {
            for (let a = 0; a < ch && i * ch + a < nlat; a++) {
              const row = (t * nlat + i * ch + a) * nlon + j * cw;
              c.set(slab.subarray(row, row + Math.min(cw, nlon - j * cw)) as Float32Array, (t * ch + a) * cw);
            }
          }
          chunks.push(c);
        }
      }
      w.writeShard([t0 / ct, ...coords, 0, 0], chunks);
    }
  }
}
for (const name of ["time", "lats", "lons"]) {
  const r = new ArrayReader(src, name);
  const data = r.read();
  const w = new ArrayWriter(staged, name, 3, {
    shape: r.shape,
    chunks: r.shape,
    dtype: name === "time" ? "int64" : "float64",
    dimensions: r.dimensions,
    attributes: name === "time" ? { units: "seconds since 1970-01-01", calendar: "proleptic_gregorian" } : {},
  });
  w.writeMetadata();
  w.writeAll(data);
}
const attrs = readRootAttributes(src);
finalizeStore(staged, 3, { ...attrs, normalization: "ours.norm.zarr" });
Deno.renameSync(staged, dest);
console.error(`wrote ${join(dest)}`);
