/**
 * The chunk codecs and what the writer does with their output: byte shuffle
 * and its WebAssembly SIMD form, codec pipelines and specs for zarr v2 and
 * v3, zstd through libzstd and node:zlib, encoded chunks kept or transient,
 * pre-shuffled chunk writes, whole-file rewrites, huge-page advice and the
 * tile workspace.
 *
 * @module
 */
import assert from "node:assert/strict";
import { nativeZstd, nodeZstd } from "../../native/zstd.ts";
import { simdUnshuffle } from "../../simd/shuffle.ts";
import { tileWorkspace } from "../../simd/tiles.ts";
import { byteShuffle, byteUnshuffle, decodeChunk, encodeChunk, parseCodecSpec } from "../../zarr/codecs.ts";
import { ArrayWriter } from "../../zarr/writer.ts";
import { ArrayReader } from "../../zarr/reader.ts";
import { finalizeStore } from "../../zarr/publish.ts";
import { writeBytesSync } from "../../zarr/durable.ts";
import { adviseHugePages } from "../../native/malloc.ts";

Deno.test("byte shuffle groups byte k of every element and inverts exactly", () => {
  const src = Uint8Array.from([1, 2, 3, 4, 5, 6, 7, 8, 9]);
  assert.deepEqual([...byteShuffle(src, 4)], [1, 5, 2, 6, 3, 7, 4, 8, 9]);
  // 1024 floats take the four-at-a-time path, 1001 the plain one; `into` is filled in place.
  for (const n of [1001, 1024]) {
    const f = Float32Array.from({ length: n }, (_, i) => Math.sin(i) * 1e3);
    const bytes = new Uint8Array(f.buffer);
    for (const size of [2, 4, 8]) assert.deepEqual(byteUnshuffle(byteShuffle(bytes, size), size), bytes);
    const into = new Uint8Array(bytes.length);
    byteUnshuffle(byteShuffle(bytes, 4), 4, into);
    assert.deepEqual(into, bytes);
  }
});

Deno.test("codec pipelines round-trip and describe themselves for zarr v2 and v3", () => {
  const f = Float32Array.from({ length: 4096 }, (_, i) => 280 + Math.round(Math.cos(i / 50) * 1000) / 100);
  const raw = new Uint8Array(f.buffer);
  for (const spec of ["shuffle,zstd:1", "zstd:3", "gzip:1", "shuffle,gzip:5", "none"]) {
    const p = parseCodecSpec(spec);
    const enc = encodeChunk(p, raw);
    assert.deepEqual(decodeChunk(p, enc, raw.length), raw, spec);
  }
  const p = parseCodecSpec("shuffle,zstd:1");
  assert.deepEqual(p.stages.map((s) => s.v2()), [
    { role: "filter", config: { id: "shuffle", elementsize: 4 } },
    { role: "compressor", config: { id: "zstd", level: 1 } },
  ]);
  assert.deepEqual(p.stages.map((s) => s.v3().name), ["numcodecs.shuffle", "zstd"]);
  // The zstd frame carries its content size (numcodecs < 0.13 needs it).
  const frame = encodeChunk(parseCodecSpec("zstd:1"), raw);
  assert.ok(frame[4] >> 6 > 0 || (frame[4] & 0x20) !== 0, "frame header has a content size");
});

Deno.test("codec specs: unknown names and misplaced compressors are refused", () => {
  assert.throws(() => parseCodecSpec("blosc"), /unknown codec "blosc"/);
  assert.throws(() => parseCodecSpec("zstd,shuffle"), /compressor.*last/);
  assert.throws(() => parseCodecSpec("zstd:x"), /integer/);
});

Deno.test("zstd through libzstd (FFI) and node:zlib read each other's frames; bad frames are errors", () => {
  const native = nativeZstd();
  assert.ok(native, "libzstd loads with --allow-ffi (Debian's libzstd1)");
  const raw = new Uint8Array(new Float32Array(5000).map((_, i) => Math.sin(i / 30) * 100).buffer);
  for (const [enc, dec] of [[native, nodeZstd], [nodeZstd, native]]) {
    const frame = enc.compress(raw, 3);
    assert.deepEqual(dec.decompress(frame, raw.length), raw);
    const into = new Uint8Array(raw.length + 8);
    assert.deepEqual(dec.decompress(frame, raw.length, into), raw);
    assert.deepEqual(into.subarray(0, raw.length), raw);
    // A frame inside a bigger buffer (shard reads hand out subarrays).
    const shard = new Uint8Array(frame.length + 10);
    shard.set(frame, 7);
    assert.deepEqual(dec.decompress(shard.subarray(7, 7 + frame.length), raw.length), raw);
    assert.throws(() => dec.decompress(frame, raw.length - 4), /zstd/);
    assert.throws(() => dec.decompress(frame.subarray(0, frame.length - 5), raw.length));
  }
});

Deno.test("byte unshuffle: the WebAssembly SIMD path and the scalar one equal a plain reference at any length", () => {
  assert.ok(simdUnshuffle(), "this V8 has WebAssembly SIMD");
  for (const bytes of [7, 64, 100, 255, 256, 1000, 1023, 4096, 15552, 15553]) {
    const src = Uint8Array.from({ length: bytes }, (_, i) => (i * 131 + (i >> 3)) & 255);
    const n = Math.floor(bytes / 4), want = new Uint8Array(bytes);
    for (let e = 0; e < n; e++) for (let b = 0; b < 4; b++) want[4 * e + b] = src[b * n + e];
    want.set(src.subarray(4 * n), 4 * n);
    assert.deepEqual(byteUnshuffle(src, 4), want, `${bytes} bytes`);
  }
});

Deno.test("SIMD byte shuffle equals the byte-by-byte definition (all lengths around the 16-element steps)", () => {
  const simd = simdUnshuffle();
  assert.ok(simd, "this V8 has WebAssembly SIMD");
  for (const len of [0, 1, 3, 4, 63, 64, 65, 67, 256, 1000, 1023, 4099, 393216]) {
    const src = new Uint8Array(len);
    for (let i = 0; i < len; i++) src[i] = (i * 7919 + (i >> 8)) & 0xff;
    const n = Math.floor(len / 4), expected = new Uint8Array(len);
    for (let i = 0; i < n; i++) for (let b = 0; b < 4; b++) expected[b * n + i] = src[4 * i + b];
    for (let k = 4 * n; k < len; k++) expected[k] = src[k];
    const out = new Uint8Array(len);
    simd.shuffle4(src, out);
    assert.deepEqual(out, expected, `length ${len}`);
    assert.deepEqual(byteUnshuffle(out, 4), src, `round trip, length ${len}`);
  }
});

Deno.test("encoded chunks are the caller's to keep unless asked for transiently; a sharded filter-only array keeps every chunk", async () => {
  const chunks = [0, 1, 2].map((k) => Float32Array.from({ length: 300 }, (_, i) => 1000 * k + Math.sin(i)));
  for (const spec of ["shuffle", "shuffle,zstd:1", "zstd:1", "none", "shuffle,gzip:1"]) {
    const p = parseCodecSpec(spec);
    const kept = chunks.map((c) => encodeChunk(p, new Uint8Array(c.buffer)));
    kept.forEach((e, k) =>
      assert.deepEqual(new Float32Array(decodeChunk(p, e, 1200).slice().buffer), chunks[k], `${spec} chunk ${k}`)
    );
  }
  // Through a shard (its chunks are encoded one after another, then written together).
  const root = await Deno.makeTempDir();
  for (const codec of ["shuffle", "shuffle,zstd:1"]) {
    const path = codec.replace(/\W/g, "_");
    const w = new ArrayWriter(root, path, 3, {
      shape: [3, 300],
      chunks: [1, 300],
      shards: [3, 300],
      dtype: "float32",
      dimensions: ["k", "i"],
      codec,
    });
    w.writeMetadata();
    w.writeShard([0, 0], chunks);
  }
  finalizeStore(root, 3, {});
  for (const codec of ["shuffle", "shuffle,zstd:1"]) {
    const got = new ArrayReader(root, codec.replace(/\W/g, "_")).read() as Float32Array;
    chunks.forEach((c, k) => assert.deepEqual(got.subarray(300 * k, 300 * (k + 1)), c, `${codec} chunk ${k}`));
  }
});

Deno.test("writeBytesSync writes every byte and replaces a longer file whole (a rewritten chunk keeps no old tail)", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = `${dir}/chunk`;
    const long = new Uint8Array(3_000_000).map((_, i) => (i * 31) & 255);
    writeBytesSync(path, long);
    assert.ok(Deno.readFileSync(path).every((b, i) => b === long[i]), "bytes differ");
    const short = new Uint8Array([1, 2, 3]);
    writeBytesSync(path, short.subarray(1)); // a view: its offset must be honoured
    const back = Deno.readFileSync(path);
    assert.equal(back.length, 2, "the old tail was kept");
    assert.deepEqual(back, new Uint8Array([2, 3]));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("adviseHugePages: a large buffer advised before first touch is backed by huge pages where THP is in madvise mode, and keeps its values", () => {
  const mode = (() => {
    try {
      return Deno.readTextFileSync("/sys/kernel/mm/transparent_hugepage/enabled");
    } catch {
      return "";
    }
  })();
  const hugeKb = () =>
    Number(/AnonHugePages:\s+(\d+)/.exec(Deno.readTextFileSync("/proc/self/smaps_rollup"))?.[1] ?? 0);
  const buf = new Float64Array(8 << 20); // 64 MB
  const before = mode.includes("[madvise]") ? hugeKb() : 0;
  adviseHugePages(buf);
  for (let i = 0; i < buf.length; i++) buf[i] = i * 0.5;
  if (mode.includes("[madvise]")) {
    assert.ok(hugeKb() - before >= 8 * 1024, `AnonHugePages grew by ${hugeKb() - before} kB only`);
  }
  for (let i = 0; i < buf.length; i += 4099) assert.equal(buf[i], i * 0.5);
});

Deno.test("tile workspace: a gathered shuffle equals the shuffle of the copied tile, unshuffling into the slab restores the values", () => {
  const ws = tileWorkspace(), simd = simdUnshuffle();
  if (!ws || !simd) return; // no WebAssembly SIMD or multi-memory: the conversion keeps to the copying path
  const nlat = 37, nlon = 53, plane = nlat * nlon, steps = 3;
  const slab = ws.reserve(4 * steps * plane).subarray(0, steps * plane);
  slab.forEach((_, i) => slab[i] = Math.sin(i) * 300);
  slab[5] = NaN;
  // Row lengths around the 16-element steps, a single value, a whole plane, a tile inside.
  for (
    const [i0, j0, rows, cols] of [[0, 0, 10, 16], [5, 7, 9, 33], [0, 0, 37, 53], [2, 3, 1, 1], [1, 1, 4, 15], [
      3,
      2,
      6,
      17,
    ]]
  ) {
    const tile = new Float32Array(steps * rows * cols);
    for (let t = 0; t < steps; t++) {
      for (let r = 0; r < rows; r++) {
        for (let c = 0; c < cols; c++) tile[(t * rows + r) * cols + c] = slab[t * plane + (i0 + r) * nlon + j0 + c];
      }
    }
    const want = byteShuffle(new Uint8Array(tile.buffer), 4);
    const got = ws.gatherShuffle(i0 * nlon + j0, plane, nlon, steps, rows, cols);
    assert.deepEqual(got.slice(), want, `tile ${rows} × ${cols} at (${i0}, ${j0})`);
  }
  for (const n of [1600, 1607, 33, 5]) {
    const values = Float32Array.from({ length: n }, (_, i) => Math.cos(i) * 7);
    const shuffled = byteShuffle(new Uint8Array(values.buffer), 4);
    simd.input(shuffled.length).set(shuffled);
    const buffer: ArrayBufferLike = ws.reserve(4 * (n + 64)).buffer;
    const into: Uint8Array = new Uint8Array(buffer, 64, 4 * n);
    ws.unshuffleInto(4 * n, into);
    assert.deepEqual(new Float32Array(into.buffer, 64, n), values, `${n} values`);
  }
  assert.throws(() => ws.unshuffleInto(64, new Uint8Array(64)), /not in the tile workspace/);
});

Deno.test("a chunk written pre-shuffled is the same file as one written whole; only complete float32 shuffle arrays take it", async () => {
  const root = await Deno.makeTempDir();
  const spec = (complete: boolean) => ({
    shape: [2, 300],
    chunks: [1, 300],
    dtype: "float32" as const,
    dimensions: ["k", "i"],
    codec: "shuffle,zstd:1",
    complete,
  });
  const values = Float32Array.from({ length: 300 }, (_, i) => 20 + Math.sin(i));
  const whole = new ArrayWriter(root, "whole", 2, spec(true)),
    shuffled = new ArrayWriter(root, "shuffled", 2, spec(true));
  whole.writeChunk([0, 0], values);
  assert.ok(shuffled.takesShuffled);
  shuffled.writeShuffledChunk([0, 0], byteShuffle(new Uint8Array(values.buffer), 4));
  assert.deepEqual(Deno.readFileSync(`${root}/shuffled/0.0`), Deno.readFileSync(`${root}/whole/0.0`));
  const gappy = new ArrayWriter(root, "gappy", 2, spec(false));
  assert.equal(gappy.takesShuffled, false);
  assert.throws(() => gappy.writeShuffledChunk([0, 0], new Uint8Array(1200)), /cannot be written pre-shuffled/);
  assert.equal(new ArrayWriter(root, "plain", 2, { ...spec(true), codec: "zstd:1" }).takesShuffled, false);
});
