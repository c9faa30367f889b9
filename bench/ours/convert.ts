/**
 * `deno task bench:convert [--days N] [--format netcdf4|netcdf3|both] [--rounds N] [--tenfold] [--keep]`
 * (`deno task bench:convert --remote …`: a zarr store over HTTP, see convert_remote.ts)
 *
 * ERA5 netCDF → zarr: this project vs xarray (`open_mfdataset(...).to_zarr`,
 * Debian's python3-xarray + dask) on the same generated input, same codec
 * (byte shuffle + zstd) and chunks, in one run, for netCDF4 (zlib, new CDS)
 * and netCDF3 (packed shorts, old CDS). Rounds of ours and xarray alternate
 * (the machine may be shared), and so does which of the two runs first; prints min/median/max MB/s, the ratio of the
 * medians, both peak RSS figures, the limit (decode-only + encode-only time
 * spread over the cores), the read stage alone (our reader vs h5wasm vs
 * netCDF4-python on the same file, one thread), a codec table, and — with
 * `--tenfold` — both conversions at 10× the input (MB/s, peak RSS).
 *
 * @module
 */
import { parseArgs } from "node:util";
import { fileURLToPath } from "node:url";
import { join } from "node:path";
import "../../converters/formats/hdf5/dataset.ts";
import "../../converters/formats/netcdf3.ts";
import { packingOf, unpackInto } from "../../converters/cf.ts";
import { openDataset, type SourceDataset } from "../../converters/formats/registry.ts";
import { openHdf5 } from "../../converters/formats/hdf5/dataset.ts";
import type { Hdf5Engine } from "../../converters/formats/hdf5/h5wasm.ts";
import { DEFAULT_CHUNKS } from "../../converters/era5/convert.ts";
import { decodeChunk, DEFAULT_CODEC, encodeChunk, parseCodecSpec } from "../../zarr/codecs.ts";

const PYTHON = "/usr/bin/python3";
const here = fileURLToPath(new URL(".", import.meta.url));
const root = fileURLToPath(new URL("../../", import.meta.url));

// `--remote`: the cloud-store case (a zarr store over HTTP), in convert_remote.ts.
if (Deno.args[0] === "--remote") {
  await (await import("./convert_remote.ts")).main(Deno.args.slice(1));
  Deno.exit(0);
}

const { values: args } = parseArgs({
  args: Deno.args,
  options: {
    days: { type: "string", default: "1" },
    format: { type: "string", default: "both" },
    rounds: { type: "string", default: "3" },
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

type Format = "netcdf4" | "netcdf3";
const formats: Format[] = args.format === "both" ? ["netcdf4", "netcdf3"] : [args.format as Format];
if (!formats.every((f) => f === "netcdf4" || f === "netcdf3")) throw new Error(`--format ${args.format}?`);
const rounds = Math.max(1, Number(args.rounds));

async function generate(n: number, format: Format): Promise<string[]> {
  const dir = join(here, "..", "data", `era5_${n}d${format === "netcdf3" ? "_nc3" : ""}`);
  console.error(`generating ${n} day(s) of 0.25° ${format} input in ${dir} (cached) …`);
  await sh(PYTHON, [join(here, "..", "inputs", "gen_era5.py"), dir, String(n), format], true);
  return [...Deno.readDirSync(dir)].filter((e) => e.name.endsWith(".nc")).map((e) => join(dir, e.name)).sort();
}

interface Measured {
  seconds: number;
  cpu_seconds: number;
  peak_rss_mb: number;
}

async function timed(cmd: string[]): Promise<Measured> {
  const text = await sh(PYTHON, [join(here, "..", "tools", "peak_rss.py"), ...cmd]);
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
    "--allow-ffi",
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
  let slabBuffer = new Float32Array(0);
  for (const f of files) {
    const ds = await openDataset(f);
    const name = [...ds.variables.values()].find((v) => v.dims.length === 4)!.name;
    const [nt, nl, nlat, nlon] = ds.variables.get(name)!.shape;
    for (let l = 0; l < nl; l++) {
      for (let t = 0; t < nt; t += tc) {
        let t0 = performance.now();
        const count = [Math.min(tc, nt - t), 1, nlat, nlon], n = count[0] * nlat * nlon;
        if (slabBuffer.length < n) slabBuffer = new Float32Array(n);
        const slab = slabBuffer.subarray(0, n), packing = packingOf(ds.variables.get(name)!.attrs);
        if (!ds.readDecoded?.(name, [t, l, 0, 0], count, packing, slab)) {
          unpackInto(ds.read(name, [t, l, 0, 0], count), packing, slab);
        }
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

/**
 * Read every 4-D variable in slabs of `tc` steps × one level, decoded to
 * float32 as the converter decodes (readDecoded where the reader has it,
 * else read + unpackInto), one thread: seconds.
 */
async function readStage(files: string[], open: (f: string) => Promise<SourceDataset>): Promise<number> {
  const tc = DEFAULT_CHUNKS.time;
  let out = new Float32Array(0);
  const t0 = performance.now();
  for (const f of files) {
    const ds = await open(f);
    for (const v of ds.variables.values()) {
      if (v.shape.length !== 4) continue;
      const [nt, nl, nlat, nlon] = v.shape;
      const packing = packingOf(v.attrs);
      for (let l = 0; l < nl; l++) {
        for (let t = 0; t < nt; t += tc) {
          const start = [t, l, 0, 0], count = [Math.min(tc, nt - t), 1, nlat, nlon];
          const n = count[0] * nlat * nlon;
          if (out.length < n) out = new Float32Array(n);
          if (!ds.readDecoded?.(v.name, start, count, packing, out.subarray(0, n))) {
            unpackInto(ds.read(v.name, start, count), packing, out);
          }
        }
      }
    }
    ds.close();
  }
  return (performance.now() - t0) / 1000;
}

/** Read every file once into a scratch buffer, so that the timed runs find them in the page cache. */
function warmPageCache(files: string[]): void {
  const buf = new Uint8Array(8 << 20);
  for (const f of files) {
    using file = Deno.openSync(f, { read: true });
    while ((file.readSync(buf) ?? 0) > 0) { /* read on */ }
  }
}

const stats = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b), h = Math.floor(s.length / 2);
  return { min: s[0], median: s.length % 2 ? s[h] : (s[h - 1] + s[h]) / 2, max: s.at(-1)! };
};
const f0 = (x: number, w = 0) => x.toFixed(0).padStart(w);
const range = (mb: number, seconds: number[]) => {
  const r = stats(seconds.map((x) => mb / x));
  return `${f0(r.min)} / ${f0(r.median)} / ${f0(r.max)}`;
};

const work = await Deno.makeTempDir({ prefix: "bench-convert-" });
const report: string[] = [];
try {
  for (const [k, format] of formats.entries()) {
    const files = await generate(days, format);
    if (k === 0) {
      console.error("codec table …");
      report.push(...(await codecTable(files[0])), "");
    }
    warmPageCache(files);
    console.error(`${format}: limit: decode-only and encode-only passes …`);
    const limit = await limitParts(files);
    const mb = limit.bytes / 1e6;
    const limitSeconds = (limit.decode + limit.encode) / cores;
    console.error(`${format}: read stage …`);
    const engines: [string, (f: string) => Promise<SourceDataset>][] = format === "netcdf4"
      ? (["own", "h5wasm"] as Hdf5Engine[]).map((e) => [e === "own" ? "ours" : "h5wasm", (f) => openHdf5(f, e)])
      : [["ours", openDataset]];
    const readSeconds = new Map<string, number[]>();
    for (let r = 0; r < rounds; r++) {
      for (const [name, open] of engines) {
        readSeconds.set(name, [...(readSeconds.get(name) ?? []), await readStage(files, open)]);
      }
      const py = JSON.parse(
        (await sh(PYTHON, [join(here, "..", "peers", "read_netcdf4.py"), String(DEFAULT_CHUNKS.time), ...files]))
          .trim(),
      );
      readSeconds.set("netCDF4-python", [...(readSeconds.get("netCDF4-python") ?? []), py.seconds]);
    }
    const { time: tc, lat: clat, lon: clon } = DEFAULT_CHUNKS;
    const level = String(parseCodecSpec(DEFAULT_CODEC).stages.at(-1)!.v2().config.level);
    const a: Measured[] = [], b: Measured[] = [];
    const runOurs = async () => {
      a.push(await ours(files, join(work, "ours.zarr")));
      Deno.removeSync(join(work, "ours.zarr"), { recursive: true });
    };
    const runXarray = async () => {
      b.push(
        await timed([
          PYTHON,
          join(here, "..", "peers", "xarray_convert.py"),
          join(work, "xarray.zarr"),
          level,
          String(tc),
          String(clat),
          String(clon),
          ...files,
        ]),
      );
      Deno.removeSync(join(work, "xarray.zarr"), { recursive: true });
    };
    // Rounds alternate which runs first: on a VM the order matters (page cache, memory the host maps in again).
    for (let r = 0; r < rounds; r++) {
      console.error(`${format}: round ${r + 1}/${rounds} …`);
      for (const run of r % 2 === 0 ? [runOurs, runXarray] : [runXarray, runOurs]) await run();
    }
    const sa = stats(a.map((m) => m.seconds)), sb = stats(b.map((m) => m.seconds));
    const rssA = stats(a.map((m) => m.peak_rss_mb)), rssB = stats(b.map((m) => m.peak_rss_mb));
    const ca = stats(a.map((m) => m.cpu_seconds)), cb = stats(b.map((m) => m.cpu_seconds));
    const ratios = a.map((m, r) => b[r].seconds / m.seconds);
    const rr = stats(ratios);
    report.push(
      `== ${format}: ${files.length} files, ${mb.toFixed(0)} MB decoded (${days} day(s) × t,u × 5 levels, 0.25°)`,
      `codec ${DEFAULT_CODEC}, chunks time=${tc},lat=${clat},lon=${clon}; ${cores} cores; ${rounds} interleaved rounds (order alternating)`,
      `decode only (our reader + CF decoding, 1 thread): ${f0(mb / limit.decode)} MB/s; encode only (1 thread): ${
        f0(mb / limit.encode)
      } MB/s`,
      `limit (decode + encode over ${cores} cores): ${f0(mb / limitSeconds)} MB/s`,
      "",
      `read stage alone (slabs of ${tc} steps × 1 level decoded to float32, 1 thread), MB/s min / median / max:`,
      ...[...readSeconds].map(([name, secs]) => `  ${name.padEnd(16)} ${range(mb, secs)}`),
      "",
      "               MB/s min / median / max   peak RSS (median)",
      `ours           ${range(mb, a.map((m) => m.seconds)).padEnd(24)} ${f0(rssA.median, 6)} MB`,
      `xarray         ${range(mb, b.map((m) => m.seconds)).padEnd(24)} ${f0(rssB.median, 6)} MB`,
      `ours / xarray  ${(sb.median / sa.median).toFixed(2)}× (ratio of medians; per round ${rr.min.toFixed(2)}–${
        rr.max.toFixed(2)
      }×)`,
      `CPU time (user + system) per run, median: ours ${ca.median.toFixed(1)} s, xarray ${cb.median.toFixed(1)} s: ${
        f0(mb / ca.median)
      } vs ${f0(mb / cb.median)} MB per CPU second (${(cb.median / ca.median).toFixed(2)}×)`,
      `ours / limit   ${f0((limitSeconds / sa.median) * 100)} % (median; best round ${
        f0((limitSeconds / sa.min) * 100)
      } %)`,
    );
    if (args.tenfold) {
      const big = await generate(days * 10, format);
      // Inputs read once, untimed: otherwise the first conversion alone reads them from disk (the 10× input
      // does not stay in this VM's page cache between runs of the bench), which A-B-B-A does not even out.
      console.error(`${format}: reading the 10× input once (page cache) …`);
      warmPageCache(big);
      // A-B-B-A: which run goes first matters on a VM (page cache, memory the host must map in again).
      const runOurs = async () => {
        const m = await ours(big, join(work, "ours10.zarr"));
        Deno.removeSync(join(work, "ours10.zarr"), { recursive: true });
        return m;
      };
      const runXarray = async () => {
        const m = await timed([
          PYTHON,
          join(here, "..", "peers", "xarray_convert.py"),
          join(work, "xarray10.zarr"),
          level,
          String(tc),
          String(clat),
          String(clon),
          ...big,
        ]);
        Deno.removeSync(join(work, "xarray10.zarr"), { recursive: true });
        return m;
      };
      const at10: { ours: Measured[]; xarray: Measured[] } = { ours: [], xarray: [] };
      for (const who of ["ours", "xarray", "xarray", "ours"] as const) {
        console.error(`${format}: ${who} at 10× …`);
        at10[who].push(await (who === "ours" ? runOurs() : runXarray()));
      }
      const mean = (ms: Measured[], k: keyof Measured) => ms.reduce((a, m) => a + m[k], 0) / ms.length;
      const line = (name: string, ms: Measured[], rss1: number) =>
        `${name} at 10×  ${ms.map((m) => f0((mb * 10) / m.seconds)).join(" / ")} MB/s (${
          ms.map((m) => m.seconds.toFixed(1)).join(" / ")
        } s), CPU ${mean(ms, "cpu_seconds").toFixed(1)} s, peak RSS ${f0(mean(ms, "peak_rss_mb"))} MB (10×/1×: ${
          (mean(ms, "peak_rss_mb") / rss1).toFixed(2)
        })`;
      report.push(
        line("ours  ", at10.ours, rssA.median),
        line("xarray", at10.xarray, rssB.median),
        `ours / xarray at 10×: ${
          (mean(at10.xarray, "seconds") / mean(at10.ours, "seconds")).toFixed(2)
        }× (mean wall time of two runs each, run A-B-B-A)`,
      );
    }
    report.push("");
  }
  console.log(report.join("\n"));
} finally {
  if (!args.keep) Deno.removeSync(work, { recursive: true });
}
