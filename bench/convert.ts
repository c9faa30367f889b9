/**
 * `deno task bench:convert [--days N] [--format netcdf4|netcdf3] [--tenfold] [--keep]`
 *
 * ERA5 netCDF4 → zarr: this project vs xarray (`open_mfdataset(...).to_zarr`,
 * Debian's python3-xarray + dask) on the same generated input, same codec
 * (byte shuffle + zstd) and chunks, in one run. Prints MB/s, the ratio, both
 * peak RSS figures, the limit (decode-only + encode-only time spread over the
 * cores), a codec table, and — with `--tenfold` — our peak RSS at 10× input.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { fileURLToPath } from "node:url";
import { join } from "node:path";
import "../converters/formats/hdf5.ts";
import "../converters/formats/netcdf3.ts";
import { packingOf, unpackInto } from "../converters/cf.ts";
import { openDataset } from "../converters/formats/dataset.ts";
import { DEFAULT_CHUNKS } from "../converters/era5/convert.ts";
import { decodeChunk, DEFAULT_CODEC, encodeChunk, parseCodecSpec } from "../zarr/codecs.ts";

const PYTHON = "/usr/bin/python3";
const here = fileURLToPath(new URL(".", import.meta.url));
const root = fileURLToPath(new URL("..", import.meta.url));

const { values: args } = parseArgs({
  args: Deno.args,
  options: {
    days: { type: "string", default: "1" },
    format: { type: "string", default: "netcdf4" },
    tenfold: { type: "boolean", default: false },
    keep: { type: "boolean", default: false },
  },
});
const days = Number(args.days);
const cores = navigator.hardwareConcurrency;

async function sh(cmd: string, argv: string[], quiet = false): Promise<string> {
  const out = await new Deno.Command(cmd, { args: argv, stdout: "piped", stderr: quiet ? "piped" : "inherit" })
    .output();
  const text = new TextDecoder().decode(out.stdout);
  if (out.code !== 0) throw new Error(`${cmd} ${argv.join(" ")} failed (${out.code})\n${text}`);
  return text;
}

const format = args.format === "netcdf3" ? "netcdf3" : "netcdf4";

async function generate(n: number): Promise<string[]> {
  const dir = join(here, "data", `era5_${n}d${format === "netcdf3" ? "_nc3" : ""}`);
  console.error(`generating ${n} day(s) of 0.25° ${format} input in ${dir} (cached) …`);
  await sh(PYTHON, [join(here, "gen_era5.py"), dir, String(n), format], true);
  return [...Deno.readDirSync(dir)].filter((e) => e.name.endsWith(".nc")).map((e) => join(dir, e.name)).sort();
}

interface Measured {
  seconds: number;
  peak_rss_mb: number;
}

async function timed(cmd: string[]): Promise<Measured> {
  const text = await sh(PYTHON, [join(here, "peak_rss.py"), ...cmd]);
  const m = JSON.parse(text.trim().split("\n").at(-1)!);
  if (m.code !== 0) throw new Error(`${cmd.join(" ")} exited ${m.code}`);
  return m;
}

const ours = (files: string[], out: string) =>
  timed([
    Deno.execPath(),
    "run",
    "--allow-read",
    "--allow-write",
    "--allow-env",
    join(root, "tasks/convert.ts"),
    "era5",
    "-q",
    "--overwrite",
    "--out",
    out,
    ...files,
  ]);

/** Decode every plane once (one thread) and encode every chunk once (one thread). */
async function limitParts(files: string[]): Promise<{ bytes: number; decode: number; encode: number }> {
  const { time: tc, lat: clat, lon: clon } = DEFAULT_CHUNKS;
  const pipeline = parseCodecSpec(DEFAULT_CODEC);
  let bytes = 0, decode = 0, encode = 0;
  const chunk = new Float32Array(tc * clat * clon);
  for (const f of files) {
    const ds = await openDataset(f);
    const name = [...ds.variables.values()].find((v) => v.dims.length === 4)!.name;
    const [nt, nl, nlat, nlon] = ds.variables.get(name)!.shape;
    for (let l = 0; l < nl; l++) {
      for (let t = 0; t < nt; t += tc) {
        let t0 = performance.now();
        const raw = ds.read(name, [t, l, 0, 0], [Math.min(tc, nt - t), 1, nlat, nlon]);
        const slab = new Float32Array(raw.length);
        unpackInto(raw, packingOf(ds.variables.get(name)!.attrs), slab);
        decode += performance.now() - t0;
        bytes += slab.byteLength;
        t0 = performance.now();
        const steps = slab.length / (nlat * nlon);
        for (let i0 = 0; i0 < nlat; i0 += clat) {
          for (let j0 = 0; j0 < nlon; j0 += clon) {
            chunk.fill(NaN);
            for (let k = 0; k < steps; k++) {
              for (let i = 0; i < Math.min(clat, nlat - i0); i++) {
                const s = (k * nlat + i0 + i) * nlon + j0;
                chunk.set(slab.subarray(s, s + Math.min(clon, nlon - j0)), (k * clat + i) * clon);
              }
            }
            encodeChunk(pipeline, new Uint8Array(chunk.buffer));
          }
        }
        encode += performance.now() - t0;
      }
    }
    ds.close();
  }
  return { bytes, decode: decode / 1000, encode: encode / 1000 };
}

/** MB/s and ratio of codecs on 24 planes of the input, in chunk-sized blocks. */
async function codecTable(file: string): Promise<string[]> {
  const ds = await openDataset(file);
  const name = [...ds.variables.values()].find((v) => v.dims.length === 4)!.name;
  const [, , nlat, nlon] = ds.variables.get(name)!.shape;
  const { time: tc, lat: clat, lon: clon } = DEFAULT_CHUNKS;
  const blocks: Uint8Array[] = [];
  for (let t = 0; t < 24; t += tc) {
    const raw = ds.read(name, [t, 0, 0, 0], [tc, 1, nlat, nlon]);
    const slab = new Float32Array(raw.length);
    unpackInto(raw, packingOf(ds.variables.get(name)!.attrs), slab);
    for (let i0 = 0; i0 + clat <= nlat; i0 += clat) {
      for (let j0 = 0; j0 < nlon; j0 += clon) {
        const c = new Float32Array(tc * clat * clon);
        for (let k = 0; k < tc; k++) {
          for (let i = 0; i < clat; i++) {
            const s = (k * nlat + i0 + i) * nlon + j0;
            c.set(slab.subarray(s, s + clon), (k * clat + i) * clon);
          }
        }
        blocks.push(new Uint8Array(c.buffer));
      }
    }
  }
  ds.close();
  const raw = blocks.reduce((a, b) => a + b.length, 0);
  const lines = ["codec (one thread)        encode MB/s  decode MB/s  ratio"];
  // Warm up (JIT, first-touch page faults) so the first codec is not penalised.
  for (const spec of ["shuffle,zstd:1", "zstd:1", "shuffle,gzip:1"]) {
    blocks.forEach((b) => encodeChunk(parseCodecSpec(spec), b));
  }
  for (const spec of ["shuffle,zstd:1", "shuffle,zstd:3", "shuffle,zstd:5", "zstd:1", "zstd:3", "shuffle,gzip:1"]) {
    const p = parseCodecSpec(spec);
    let t0 = performance.now();
    const enc = blocks.map((b) => encodeChunk(p, b));
    const te = (performance.now() - t0) / 1000;
    t0 = performance.now();
    for (const [i, e] of enc.entries()) decodeChunk(p, e, blocks[i].length);
    const td = (performance.now() - t0) / 1000;
    const stored = enc.reduce((a, b) => a + b.length, 0);
    lines.push(
      `${spec.padEnd(24)} ${(raw / 1e6 / te).toFixed(0).padStart(11)}  ${(raw / 1e6 / td).toFixed(0).padStart(11)}  ${
        (raw / stored).toFixed(2).padStart(5)
      }`,
    );
  }
  return lines;
}

const files = await generate(days);
const work = await Deno.makeTempDir({ prefix: "bench-convert-" });
try {
  console.error("codec table …");
  const codecs = await codecTable(files[0]);
  console.error("limit: decode-only and encode-only passes …");
  const limit = await limitParts(files);
  const mb = limit.bytes / 1e6;
  console.error("ours …");
  const a = await ours(files, join(work, "ours.zarr"));
  console.error("xarray …");
  const { time: tc, lat: clat, lon: clon } = DEFAULT_CHUNKS;
  const level = String(parseCodecSpec(DEFAULT_CODEC).stages.at(-1)!.v2().config.level);
  const b = await timed([
    PYTHON,
    join(here, "xarray_convert.py"),
    join(work, "xarray.zarr"),
    level,
    String(tc),
    String(clat),
    String(clon),
    ...files,
  ]);
  const limitSeconds = (limit.decode + limit.encode) / cores;
  const out = [
    `input: ${files.length} ${format} files, ${mb.toFixed(0)} MB decoded (${days} day(s) × t,u × 5 levels, 0.25°)`,
    `codec ${DEFAULT_CODEC}, chunks time=${tc},lat=${clat},lon=${clon}; ${cores} cores`,
    "",
    ...codecs,
    "",
    `decode only (our reader + CF decoding, 1 thread): ${
      (mb / limit.decode).toFixed(0)
    } MB/s; encode only (1 thread): ${(mb / limit.encode).toFixed(0)} MB/s`,
    `limit (decode + encode over ${cores} cores): ${(mb / limitSeconds).toFixed(0)} MB/s`,
    "",
    "                 MB/s   seconds  peak RSS",
    `ours          ${(mb / a.seconds).toFixed(0).padStart(7)}  ${a.seconds.toFixed(1).padStart(8)}  ${
      a.peak_rss_mb.toFixed(0).padStart(5)
    } MB`,
    `xarray        ${(mb / b.seconds).toFixed(0).padStart(7)}  ${b.seconds.toFixed(1).padStart(8)}  ${
      b.peak_rss_mb.toFixed(0).padStart(5)
    } MB`,
    `ours / xarray ${(b.seconds / a.seconds).toFixed(2).padStart(7)}×`,
    `ours / limit  ${((limitSeconds / a.seconds) * 100).toFixed(0).padStart(7)}%`,
  ];
  if (args.tenfold) {
    const big = await generate(days * 10);
    Deno.removeSync(join(work, "ours.zarr"), { recursive: true });
    const c = await ours(big, join(work, "ours10.zarr"));
    const mb10 = mb * 10;
    out.push(
      `ours at 10× ${(mb10 / c.seconds).toFixed(0).padStart(9)}  ${c.seconds.toFixed(1).padStart(8)}  ${
        c.peak_rss_mb.toFixed(0).padStart(5)
      } MB   (RSS 10×/1×: ${(c.peak_rss_mb / a.peak_rss_mb).toFixed(2)})`,
    );
  }
  console.log(out.join("\n"));
} finally {
  if (!args.keep) Deno.removeSync(work, { recursive: true });
}
