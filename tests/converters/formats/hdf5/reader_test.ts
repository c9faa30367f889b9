/**
 * The own netCDF4/HDF5 chunk reader against files written by netCDF-C
 * (python-netCDF4, ncgen) and by HDF5 1.10 through h5py with
 * libver='latest': values equal the HDF5 library's decode bit for bit, for
 * every layout, chunk index and filter; corrupt chunks are errors naming
 * file, variable and chunk; libdeflate and node:zlib agree; a conversion
 * through the own reader writes the same store as one through h5wasm.
 *
 * @module
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { openHdf5 } from "../../../../converters/formats/hdf5/dataset.ts";
import { decodeCounter } from "../../../../converters/formats/hdf5/decoded_chunks.ts";
import { fletcher32 } from "../../../../converters/formats/hdf5/filters.ts";
import { InputError } from "../../../../errors.ts";
import { nativeInflater, nodeInflater } from "../../../../native/deflate.ts";
import * as zlib from "node:zlib";
import { PYTHON, ROOT, run, runTask, SAMPLE, tempDir } from "../../../_helpers/common.ts";

interface Case {
  file: string;
  var: string;
  writer: string;
  storage: string;
  filters: string;
  bin: string;
  shape: number[];
  dtype: string;
}
interface Cases {
  dir: string;
  cases: Case[];
  corrupt: { file: string; var: string; chunk_offset: number[] }[];
}

let made: Promise<Cases> | undefined;
function cases(): Promise<Cases> {
  made ??= (async () => {
    const dir = await tempDir();
    const r = await run(PYTHON, [`${ROOT}tests/oracles/hdf5_cases.py`, dir]);
    if (r.code !== 0) throw new Error(`hdf5_cases.py failed:\n${r.stderr}`);
    return { dir, ...JSON.parse(r.stdout.trim().split("\n").at(-1)!) };
  })();
  return made;
}

function bytesOf(a: ArrayBufferView): Uint8Array {
  return new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
}

/** Index of the first differing byte, or -1. */
function firstDifference(a: Uint8Array, b: Uint8Array): number {
  if (a.length !== b.length) return Math.min(a.length, b.length);
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return i;
  return -1;
}

/** The hyperslab start/count of `expected` (row-major, `es`-byte elements) cut out. */
function slabOf(expected: Uint8Array, shape: number[], es: number, start: number[], count: number[]): Uint8Array {
  const rank = shape.length;
  const n = count.reduce((a, b) => a * b, 1);
  const out = new Uint8Array(n * es);
  const down = shape.map((_, d) => shape.slice(d + 1).reduce((a, b) => a * b, 1));
  const idx = new Array(rank).fill(0);
  for (let k = 0; k < n; k++) {
    let rem = k;
    for (let d = rank - 1; d >= 0; d--) (idx[d] = rem % count[d], rem = Math.floor(rem / count[d]));
    const src = idx.reduce((a, i, d) => a + (start[d] + i) * down[d], 0);
    out.set(expected.subarray(src * es, src * es + es), k * es);
  }
  return out;
}

Deno.test("HDF5 reader: every layout, chunk index and filter decodes to the HDF5 library's values (netCDF-C and h5py latest)", async () => {
  const { dir, cases: list } = await cases();
  assert.ok(list.length >= 45, `only ${list.length} cases`);
  const seen = new Set<string>();
  let rng = 12345;
  const random = (n: number) => (rng = (rng * 1103515245 + 12345) % 2147483648) % n;
  for (const c of list) {
    const ds = await openHdf5(c.file, "own");
    try {
      const label = `${c.writer} ${c.file.split("/").at(-1)} ${c.var}`;
      const reader = ds.readerOf(c.var);
      if (c.storage === "h5wasm") {
        // Filters the own reader does not implement go to the HDF5 library, named in the reason.
        assert.equal(reader, `h5wasm (the ${c.filters} filter)`, label);
      } else {
        assert.ok(reader.startsWith(`own (`) && reader.includes(c.storage), `${label}: read by ${reader}`);
        if (c.filters) {
          assert.ok(reader.endsWith(`, ${c.filters})`), `${label}: filters ${reader}, expected ${c.filters}`);
        }
      }
      seen.add(c.storage);
      const expected = Deno.readFileSync(join(dir, c.bin));
      const whole = bytesOf(ds.read(c.var, c.shape.map(() => 0), c.shape));
      assert.equal(firstDifference(whole, expected), -1, `${label}: whole read differs`);
      // Random hyperslabs (across chunk edges, through the decoded-chunk cache).
      const es = expected.length / c.shape.reduce((a, b) => a * b, 1);
      for (let k = 0; k < 6; k++) {
        const start = c.shape.map((n) => random(n));
        const count = c.shape.map((n, d) => 1 + random(n - start[d]));
        const got = bytesOf(ds.read(c.var, start, count));
        assert.equal(
          firstDifference(got, slabOf(expected, c.shape, es, start, count)),
          -1,
          `${label}: slab ${start}+${count} differs`,
        );
      }
    } finally {
      ds.close();
    }
  }
  for (
    const s of ["btree1", "btree2", "fixed", "extensible", "single", "implicit", "contiguous", "compact", "h5wasm"]
  ) {
    assert.ok(seen.has(s), `no case for ${s}`);
  }
});

Deno.test("HDF5 reader: a corrupted chunk is an InputError naming the file, the variable and the chunk", async () => {
  const { corrupt } = await cases();
  assert.equal(corrupt.length, 3);
  for (const c of corrupt) {
    const ds = await openHdf5(c.file, "own");
    try {
      const v = ds.variables.get(c.var)!;
      assert.throws(
        () => ds.read(c.var, v.shape.map(() => 0), v.shape),
        (e: unknown) => {
          assert.ok(e instanceof InputError, `not an InputError: ${e}`);
          assert.equal(e.file, c.file);
          assert.ok(e.message.includes(` of ${c.var} `), e.message);
          assert.ok(e.message.includes(`chunk (${c.chunk_offset.join(", ")})`), e.message);
          return true;
        },
      );
    } finally {
      ds.close();
    }
  }
});

Deno.test("HDF5 reader: libdeflate and node:zlib inflate to the same bytes and both reject damaged streams", () => {
  const native = nativeInflater();
  assert.ok(native, "libdeflate (libdeflate.so.0) not loadable: install Debian's libdeflate0");
  const raw = new Uint8Array(1 << 20);
  for (let i = 0; i < raw.length; i++) raw[i] = (Math.sin(i / 300) * 100 + (i % 7)) & 0xff;
  for (const level of [1, 4, 9]) {
    const z = new Uint8Array(zlib.deflateSync(raw, { level }));
    const a = new Uint8Array(raw.length), b = new Uint8Array(raw.length);
    native.inflate(z, a);
    nodeInflater.inflate(z, b);
    assert.equal(firstDifference(a, raw), -1);
    assert.equal(firstDifference(b, raw), -1);
    const bad = z.slice();
    bad[bad.length >> 1] ^= 0xff;
    bad[(bad.length >> 1) + 1] ^= 0x35;
    assert.throws(() => native.inflate(bad, a), /zlib/);
    assert.throws(() => nodeInflater.inflate(bad, b), /zlib/);
    assert.throws(() => native.inflate(z, new Uint8Array(raw.length - 1)), /zlib/);
    assert.throws(() => nodeInflater.inflate(z, new Uint8Array(raw.length + 1)), /zlib/);
  }
});

Deno.test("HDF5 reader: fletcher32 matches HDF5's published check value layout", () => {
  // "abcde": words 0x6162, 0x6364 and the odd byte 0x65 << 8 (HDF5 folds big-endian 16-bit words).
  const s1a = 0x6162, s1b = s1a + 0x6364, s1c = s1b + 0x6500;
  const s2 = s1a + s1b + s1c;
  const fold = (x: number) => (x & 0xffff) + (x >>> 16);
  assert.equal(fletcher32(new TextEncoder().encode("abcde")), ((fold(fold(s2)) << 16) | fold(fold(s1c))) >>> 0);
});

Deno.test("HDF5 reader: without --allow-ffi (node:zlib) the values are the same", async () => {
  const { dir, cases: list } = await cases();
  const pick = list.filter((c) => c.filters.includes("deflate")).slice(0, 6);
  const script = join(dir, "digest.ts");
  Deno.writeTextFileSync(
    script,
    `import { openHdf5 } from "${ROOT}converters/formats/hdf5/dataset.ts";
import { inflater } from "${ROOT}native/deflate.ts";
const out = [inflater().name];
for (const [file, name] of JSON.parse(Deno.args[0])) {
  const ds = await openHdf5(file, "own");
  const v = ds.variables.get(name);
  const a = ds.read(name, v.shape.map(() => 0), v.shape);
  const d = await crypto.subtle.digest("SHA-256", new Uint8Array(a.buffer, a.byteOffset, a.byteLength).slice());
  out.push(Array.from(new Uint8Array(d)).join(","));
  ds.close();
}
console.log(JSON.stringify(out));`,
  );
  const args = JSON.stringify(pick.map((c) => [c.file, c.var]));
  const digests: string[][] = [];
  for (const ffi of [true, false]) {
    const r = await run(Deno.execPath(), [
      "run",
      "--allow-read",
      "--allow-env",
      ...(ffi ? ["--allow-ffi"] : []),
      `--config=${ROOT}deno.json`,
      script,
      args,
    ]);
    assert.equal(r.code, 0, r.stderr);
    digests.push(JSON.parse(r.stdout.trim().split("\n").at(-1)!));
  }
  assert.equal(digests[0][0], "libdeflate");
  assert.equal(digests[1][0], "node:zlib");
  assert.deepEqual(digests[0].slice(1), digests[1].slice(1));
  for (const [k, c] of pick.entries()) {
    const expected = Deno.readFileSync(join(dir, c.bin));
    const d = Array.from(new Uint8Array(await crypto.subtle.digest("SHA-256", expected))).join(",");
    assert.equal(digests[1][k + 1], d, `${c.file} ${c.var}`);
  }
});

Deno.test("HDF5 reader: a conversion through the own reader writes the same store as one through h5wasm", async () => {
  const out = await tempDir();
  const stores: string[] = [];
  for (const engine of ["own", "h5wasm"]) {
    // Same relative paths in both runs, so the recorded command is the same.
    const cwd = join(out, engine);
    Deno.mkdirSync(cwd);
    const r = await runTask(
      "convert",
      ["era5", "-q", "--workers", "0", "--out", "era5.zarr", "--norm", "era5.norm.zarr", SAMPLE.new],
      { cwd, env: { ATMOREP_HDF5_READER: engine } },
    );
    assert.equal(r.code, 0, r.stderr);
    stores.push(join(cwd, "era5.zarr"), join(cwd, "era5.norm.zarr"));
  }
  const list = (root: string): string[] => {
    const files: string[] = [];
    const walk = (d: string) => {
      for (const e of Deno.readDirSync(d)) {
        if (e.isDirectory) walk(join(d, e.name));
        else files.push(join(d, e.name).slice(root.length));
      }
    };
    walk(root);
    return files.sort();
  };
  for (const [a, b] of [[stores[0], stores[2]], [stores[1], stores[3]]]) {
    const fa = list(a), fb = list(b);
    assert.deepEqual(fa, fb);
    assert.ok(fa.length > 20, `only ${fa.length} files`);
    for (const f of fa) {
      const x = Deno.readFileSync(a + f), y = Deno.readFileSync(b + f);
      // Provenance attributes may name the time of the run; everything else must be equal.
      if (f.endsWith(".zattrs") || f.endsWith("zarr.json") || f.endsWith(".zmetadata")) {
        const strip = (t: Uint8Array) =>
          new TextDecoder().decode(t).replace(/"(created|converted)[^"]*": *"[^"]*"/g, "");
        assert.equal(strip(x), strip(y), f);
      } else assert.equal(firstDifference(x, y), -1, `${f} differs`);
    }
  }
});

Deno.test("HDF5 reader: slabs that cut through chunks decode each chunk once", async () => {
  const { dir, cases: list } = await cases();
  const c = list.find((x) => x.file.endsWith("nc_unlimited.nc") && x.var === "v")!;
  const expected = Deno.readFileSync(join(dir, c.bin));
  const ds = await openHdf5(c.file, "own");
  try {
    // Chunks of 4 × 13 × 36 read in slabs of 3 steps: 6 × 2 chunks, each straddling two or more slabs.
    const [nt, ny, nx] = c.shape;
    const before = decodeCounter.chunks;
    for (let t = 0; t < nt; t += 3) {
      const got = bytesOf(ds.read("v", [t, 0, 0], [Math.min(3, nt - t), ny, nx]));
      assert.equal(firstDifference(got, expected.subarray(t * ny * nx * 4, (t + 3) * ny * nx * 4)), -1, `slab at ${t}`);
    }
    assert.equal(decodeCounter.chunks - before, Math.ceil(nt / 4) * Math.ceil(ny / 13));
  } finally {
    ds.close();
  }
});
