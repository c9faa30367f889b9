/**
 * The sampler and its loader on grids: the regular tokenizer, neighbourhoods
 * at the date line and poles, normalization and restore, masking, batches
 * as a pure function of (seed, index), chunk reads, resumption, workers,
 * profiling, sharded stores, tokenizer plug-ins and multi-dataset samples.
 *
 * @module
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { convertEra5 } from "../../converters/era5/convert.ts";
import { expandInputs } from "../../cli/inputs.ts";
import { type Batch, MultifieldSampler, type SamplerConfig } from "../../samplers/sampler.ts";
import { ChunkCache } from "../../datasets/cache.ts";
import { GridDataset } from "../../datasets/grid.ts";
import { Random } from "../../random.ts";
import { maskTokens } from "../../samplers/masking.ts";
import { MASK, maskedInput, noStats, noTimings } from "../../samplers/batch.ts";
import { gatherTokens } from "../../tokenizers/patch_gather.ts";
import type { TokenizerPlugin } from "../../tokenizers/plugin.ts";
import { detokenize, type TokenGrid, tokenize } from "../../tokenizers/patches.ts";
import { ArrayReader } from "../../zarr/reader.ts";
import { formatSummary, inspectStore } from "../../stores/inspect.ts";
import { ROOT, run, SAMPLE, tempDir } from "../_helpers/common.ts";

let store: Promise<string> | undefined;
/** The bundled sample converted once (61 × 120 grid, 24 hourly steps). */
function sampleStore(): Promise<string> {
  store ??= (async () => {
    const dir = await tempDir();
    const s = await convertEra5({
      inputs: expandInputs([SAMPLE.legacy, SAMPLE.new]),
      out: join(dir, "era5.zarr"),
      chunks: { time: 4, lat: 16, lon: 32 },
      workers: 0,
    });
    return s.out;
  })();
  return store;
}

const GRID: TokenGrid = { numTokens: [4, 2, 4], tokenSize: [3, 9, 9] };

async function config(overrides: Partial<SamplerConfig> = {}): Promise<SamplerConfig> {
  return {
    datasets: [{
      store: await sampleStore(),
      fields: [
        { name: "t", levels: [500, 850], tokens: GRID, normalization: "local" },
        { name: "u", levels: [850], tokens: GRID },
        { name: "t2m", levels: [0], tokens: GRID },
      ],
    }],
    batchSize: 6,
    masking: { strategy: "bert", rate: 0.5 },
    seed: 7,
    ...overrides,
  };
}

Deno.test("regular tokenizer: AtmoRep's token order, and detokenize inverts it exactly", () => {
  const g: TokenGrid = { numTokens: [2, 3, 2], tokenSize: [2, 4, 5] };
  const [T, H, W] = [4, 12, 10];
  const block = Float32Array.from({ length: T * H * W }, (_, i) => Math.sin(i) * 100);
  const tokens = new Float32Array(block.length);
  tokenize(block, g, tokens);
  // token (a, b, c), element (t, i, j) = block[a·2+t][b·4+i][c·5+j]
  const [a, b, c, t, i, j] = [1, 2, 1, 1, 3, 4];
  const k = ((a * 3 + b) * 2 + c) * 40 + (t * 4 + i) * 5 + j;
  assert.equal(tokens[k], block[((a * 2 + t) * H + b * 4 + i) * W + c * 5 + j]);
  const back = new Float32Array(block.length);
  detokenize(tokens, g, back);
  assert.deepEqual(back, block);
});

Deno.test("neighborhoods wrap around 0°/360° in longitude", async () => {
  const root = await sampleStore();
  const d = new GridDataset(root, new ChunkCache());
  const full = new ArrayReader(root, "data").read() as Float32Array; // (24, 3, 3, 61, 120)
  const [nt, nh, nw, j0] = [3, 10, 30, 105]; // columns 105..119 then 0..14
  const block = d.read("u", 850, 2, nt, 20, nh, j0, nw);
  const f = d.fields.indexOf("u"), l = d.levels.indexOf(850);
  for (let t = 0; t < nt; t++) {
    for (let i = 0; i < nh; i++) {
      for (let j = 0; j < nw; j++) {
        const col = (j0 + j) % 120;
        const want = full[((((2 + t) * 3 + f) * 3 + l) * 61 + 20 + i) * 120 + col];
        assert.equal(block[(t * nh + i) * nw + j], want);
      }
    }
  }
});

Deno.test("neighborhoods next to the poles touch the pole row without crossing it", async () => {
  const north = new MultifieldSampler(await config({ latRange: [89, 90], batchSize: 20 }));
  for (const p of north.positions(0)) assert.equal(p.i0, 0);
  const south = new MultifieldSampler(await config({ latRange: [-90, -89], batchSize: 20 }));
  for (const p of south.positions(0)) assert.equal(p.i0, 61 - 18);
  const b = south.batch(0);
  assert.ok(b.fields.every((f) => f.tokens.every((v) => Number.isFinite(v))), "full windows, no missing rows");
});

Deno.test("normalization with global and per-point coefficients, and restore inverts it", async () => {
  const cfg = await config({ masking: { strategy: "forecast" } });
  const s = new MultifieldSampler(cfg);
  const batch = s.batch(2);
  const d = s.datasets[0] as GridDataset;
  const norm = new ArrayReader(cfg.datasets[0].store.replace(".zarr", ".norm.zarr"), "global_norm")
    .read() as Float32Array;
  for (const [fi, fc] of cfg.datasets[0].fields.entries()) {
    const fb = batch.fields[fi];
    const pos = batch.samples[0];
    const raw = d.read(fc.name, fc.levels[0], pos.t0, 12, pos.i0, 18, pos.j0, 36);
    const normalized = new Float32Array(raw.length);
    detokenize(fb.tokens.subarray(0, raw.length), fc.tokens as TokenGrid, normalized);
    if (fc.normalization !== "local" && fc.name === "u") {
      // Global: (x − mean) / std with the set's numbers for the sample's month.
      const entry = s.coefficients[0].entry(d.times[pos.t0]);
      const [nf, nl] = [3, 3];
      const f = d.fields.indexOf("u"), l = d.levels.indexOf(850);
      const mean = norm[((entry * 2) * nf + f) * nl + l], std = norm[((entry * 2 + 1) * nf + f) * nl + l];
      assert.ok(Math.abs(normalized[0] - (raw[0] - mean) / std) < 1e-4);
    }
    const restored = s.restore(batch, fi, 0, 0);
    assert.deepEqual(restored.shape, [12, 18, 36]);
    const back = restored.values;
    for (let i = 0; i < raw.length; i++) {
      assert.ok(
        Math.abs(back[i] - raw[i]) <= 1e-5 * Math.max(1, Math.abs(raw[i])),
        `${fc.name} ${i}: ${back[i]} vs ${raw[i]}`,
      );
    }
  }
});

Deno.test("masking: BERT rate drawn up to the maximum, corruptions as codes; forecast and interpolation mask whole slabs", () => {
  const g: [number, number, number] = [4, 3, 6], ts: [number, number, number] = [3, 4, 4];
  const ntok = 72, len = 48;
  const rng = Random.stream(3);
  let masked = 0;
  const runs = 400;
  const none = () => assert.fail("nothing is replaced when every chosen token is zeroed");
  for (let r = 0; r < runs; r++) {
    const tokens = new Float32Array(ntok * len).fill(1), mask = new Uint8Array(ntok);
    const cfg = { strategy: "bert", rate: 0.5, fracMasked: 1, fracNoised: 0, fracMultires: 0 } as const;
    maskTokens(tokens, mask, g, ts, cfg, rng, none);
    masked += mask.filter((m) => m !== MASK.visible).length;
    assert.ok(mask.every((m) => m === MASK.visible || m === MASK.zeroed));
    assert.ok(tokens.every((v) => v === 1), "the values stay the targets");
  }
  const rate = masked / (runs * ntok);
  assert.ok(rate > 0.22 && rate < 0.29, `mean masking rate ${rate} ≈ 0.25 (U(0, 0.5))`);
  // Noised (never zeroed): every chosen token is replaced by a noisy copy with the configured spread.
  const tokens = Float32Array.from({ length: ntok * len }, (_, i) => Math.sin(i));
  const mask = new Uint8Array(ntok), got = new Map<number, Float32Array>();
  const noisy = { strategy: "bert", rate: 1, fracMasked: 0, fracNoised: 1, fracMultires: 0, noiseStd: 0.5 } as const;
  maskTokens(tokens, mask, g, ts, noisy, rng, (k, v) => got.set(k, v));
  const replaced = [...mask.keys()].filter((k) => mask[k] === MASK.replaced);
  assert.deepEqual(replaced, [...got.keys()].sort((a, b) => a - b));
  const diffs = [...got].flatMap(([k, v]) => [...v].map((x, i) => x - tokens[k * len + i]));
  const sd = Math.sqrt(diffs.reduce((a, d) => a + d * d, 0) / diffs.length);
  assert.ok(Math.abs(sd - 0.5) < 0.05, `noise std ${sd}`);
  // Coarsened: 2×2×2 block means.
  const coarse = new Map<number, Float32Array>();
  const multires = { strategy: "bert", rate: 1, fracMasked: 0, fracNoised: 0, fracMultires: 1 } as const;
  maskTokens(tokens, new Uint8Array(ntok), g, ts, multires, rng, (k, v) => coarse.set(k, v));
  const [k0, v0] = [...coarse][0];
  const block = [0, 1, 4, 5, 16, 17, 20, 21].map((q) => tokens[k0 * len + q]);
  assert.ok(Math.abs(v0[0] - block.reduce((a, b) => a + b) / 8) < 1e-6 && v0[5] === v0[0]);
  const forecast = new Uint8Array(ntok);
  maskTokens(tokens, forecast, g, ts, { strategy: "forecast" }, rng, none);
  assert.deepEqual([...forecast], Array.from({ length: ntok }, (_, k) => (k >= 54 ? MASK.zeroed : 0)));
  const m2 = new Uint8Array(ntok);
  maskTokens(tokens, m2, g, ts, { strategy: "temporal_interpolation" }, rng, none);
  assert.deepEqual([...m2], Array.from({ length: ntok }, (_, k) => (k >= 36 && k < 54 ? MASK.zeroed : 0)));
});

Deno.test("maskedInput: zeroed tokens are 0, replaced tokens take their replacements, others are the tokens", async () => {
  const s = new MultifieldSampler(await config({ masking: { strategy: "bert", rate: 0.9, fracNoised: 0.5 } }));
  const f = s.batch(0).fields[0];
  const input = maskedInput(f);
  const V = f.tokens.length / f.mask.length;
  assert.ok(f.replaced.length > 0 && f.mask.some((m) => m === MASK.zeroed) && f.mask.some((m) => m === MASK.visible));
  const at = new Map([...f.replaced].map((k, r) => [k, r]));
  for (let k = 0; k < f.mask.length; k++) {
    const got = input.subarray(k * V, (k + 1) * V);
    if (f.mask[k] === MASK.zeroed) assert.ok(got.every((v) => v === 0));
    else if (f.mask[k] === MASK.replaced) {
      assert.deepEqual(got, f.replacements.subarray(at.get(k)! * V, (at.get(k)! + 1) * V));
    } else assert.deepEqual(got, f.tokens.subarray(k * V, (k + 1) * V));
  }
});

Deno.test("batches are a pure function of (seed, index)", async () => {
  const a = new MultifieldSampler(await config());
  const b = new MultifieldSampler(await config());
  const c = new MultifieldSampler(await config({ seed: 8 }));
  const b3 = b.batch(3);
  b.batch(0);
  const a3 = a.batch(3);
  assert.deepEqual(a3.samples, b3.samples);
  a3.fields.forEach((f, i) => {
    assert.deepEqual(f.tokens, b3.fields[i].tokens);
    assert.deepEqual(f.mask, b3.fields[i].mask);
    assert.deepEqual(f.replaced, b3.fields[i].replaced);
    assert.deepEqual(f.replacements, b3.fields[i].replacements);
  });
  assert.notDeepEqual(c.batch(3).samples, a3.samples);
});

Deno.test("a batch reads only the chunks its neighborhoods touch", async () => {
  const cfg = await config({ batchSize: 3 });
  const s = new MultifieldSampler(cfg);
  const batch = s.batch(1);
  const expected = new Set<string>();
  for (const p of batch.samples) {
    for (let t = Math.floor(p.t0 / 4); t <= Math.floor((p.t0 + 11) / 4); t++) {
      for (let i = Math.floor(p.i0 / 16); i <= Math.floor((p.i0 + 17) / 16); i++) {
        for (let jj = p.j0; jj < p.j0 + 36; jj++) {
          const j = Math.floor((jj % 120) / 32);
          expected.add(`data:${t}.0.0.${i}.${j}`).add(`data:${t}.0.1.${i}.${j}`).add(`data:${t}.1.1.${i}.${j}`);
          expected.add(`data_sfc:${t}.0.${i}.${j}`);
        }
      }
    }
  }
  // Each chunk a field level's windows touch is decoded exactly once, and no other (chunks of 4·16·32 floats).
  assert.equal(batch.stats.chunksDecoded, expected.size);
  assert.equal(batch.stats.bytesDecoded, expected.size * 4 * 16 * 32 * 4);
  assert.equal(batch.stats.bytesDelivered, 3 * 4 * 12 * 18 * 36 * 4);
});

Deno.test("a loader started at batch k (a resumed run) delivers batches k, k+1, … of the full sequence", async () => {
  const { BatchLoader } = await import("../../samplers/loader.ts");
  const cfg = await config({ batchSize: 2 });
  const s = new MultifieldSampler(cfg);
  for (const workers of [0, 2]) {
    const loader = new BatchLoader(cfg, { workers, firstBatch: 3 });
    await loader.start();
    try {
      for (const k of [3, 4]) {
        const b = (await loader.nextBatch()).batch;
        assert.equal(b.index, k);
        const want = s.batch(k);
        assert.deepEqual(b.samples, want.samples);
        b.fields.forEach((f, i) => {
          assert.deepEqual(f.tokens, want.fields[i].tokens);
          assert.deepEqual(f.mask, want.fields[i].mask);
        });
      }
    } finally {
      loader.close();
    }
  }
  assert.throws(
    () => new BatchLoader(cfg, { workers: 0, firstBatch: -1 }),
    /loader\.firstBatch: must be a non-negative integer/,
  );
});

Deno.test("the same seed gives the same batches with 0, 1 or 2 loader workers", async () => {
  const { BatchLoader } = await import("../../samplers/loader.ts");
  const cfg = await config({ batchSize: 3 });
  const runs: Batch[][] = [];
  for (const workers of [0, 1, 2]) {
    // One batch of buffers with two workers: units wait for the consumer, the batches stay the same.
    const loader = new BatchLoader(cfg, { workers, bufferBytes: workers === 2 ? 1 : undefined });
    await loader.start();
    const got: Batch[] = [];
    try {
      // A delivered batch lives in reused buffers until the next call: keep copies.
      for (let i = 0; i < 5; i++) got.push(copyBatch((await loader.nextBatch()).batch));
    } finally {
      loader.close();
    }
    runs.push(got);
  }
  for (const other of runs.slice(1)) {
    other.forEach((b, i) => {
      assert.equal(b.index, i);
      assert.deepEqual(b.samples, runs[0][i].samples);
      b.fields.forEach((f, k) => {
        assert.deepEqual(f.tokens, runs[0][i].fields[k].tokens);
        assert.deepEqual(f.mask, runs[0][i].fields[k].mask);
        assert.deepEqual(f.tokenInfo, runs[0][i].fields[k].tokenInfo);
        assert.deepEqual(f.replacements, runs[0][i].fields[k].replacements);
      });
    });
  }
});

Deno.test("profile-loader: per-batch stages, totals, and a Chrome trace with one track per worker", async () => {
  const dir = await tempDir();
  const cfgPath = join(dir, "loader.json");
  await Deno.writeTextFile(cfgPath, JSON.stringify(await config({ batchSize: 4 })));
  const trace = join(dir, "trace.json");
  const r = await run(Deno.execPath(), [
    "run",
    "--allow-read",
    "--allow-write",
    `${ROOT}tasks/profile-loader.ts`,
    cfgPath,
    "--batches",
    "4",
    "--workers",
    "2",
    "--consumer-ms",
    "5",
    "--trace",
    trace,
  ]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /batch workers +wait +read +decode +tokenize +normalize +mask +handover +consumer/);
  assert.match(r.stdout, /^share +[\d.]+%/m);
  assert.match(r.stdout, /samples\/s, read amplification [\d.]+/);
  const t = JSON.parse(await Deno.readTextFile(trace));
  const names = t.traceEvents.filter((e: { ph: string }) => e.ph === "M").map((e: { args: { name: string } }) =>
    e.args.name
  );
  assert.deepEqual(names.sort(), ["consumer (main)", "loader worker 0", "loader worker 1"]);
  const stages = new Set(
    t.traceEvents.filter((e: { ph: string }) => e.ph === "X").map((e: { name: string }) => e.name),
  );
  for (const s of ["read", "decode", "normalize", "tokenize", "mask", "wait", "consumer"]) assert.ok(stages.has(s), s);
  const tids = new Set(
    t.traceEvents.filter((e: { name: string }) => e.name === "read").map((e: { tid: number }) => e.tid),
  );
  assert.deepEqual([...tids].sort(), [1, 2]);
});

Deno.test("the sampler reads sharded v3 stores like v2 ones, decoding only inner chunks", async () => {
  const dir = await tempDir();
  const inputs = expandInputs([SAMPLE.legacy, SAMPLE.new]);
  const sharded = await convertEra5({
    inputs,
    out: join(dir, "sharded.zarr"),
    chunks: { time: 4, lat: 16, lon: 32 },
    zarrFormat: 3,
    shard: true,
    workers: 0,
  });
  const base = await config({ batchSize: 3 });
  const plain = new MultifieldSampler(base);
  const a = plain.batch(2);
  const s = new MultifieldSampler({ ...base, datasets: [{ ...base.datasets[0], store: sharded.out }] });
  const b = s.batch(2);
  assert.deepEqual(b.samples, a.samples);
  b.fields.forEach((f, i) => assert.deepEqual(f.tokens, a.fields[i].tokens));
  assert.match(formatSummary(inspectStore(sharded.out)), /chunks \[4,1,1,16,32\] in shards \[4,1,1,64,128\]/);
  // Inner chunks are decoded one by one, exactly as the plain store's chunks are.
  assert.equal(b.stats.chunksDecoded, a.stats.chunksDecoded);
  assert.equal(b.stats.bytesDecoded, a.stats.bytesDecoded);
});

/** A deep copy of a batch (loader batches live in reused buffers). */
function copyBatch(b: Batch): Batch {
  return {
    ...b,
    fields: b.fields.map((f) => ({
      ...f,
      tokens: f.tokens.slice(),
      mask: f.mask.slice(),
      tokenInfo: f.tokenInfo.slice(),
      replaced: f.replaced.slice(),
      replacements: f.replacements.slice(),
    })),
  };
}

Deno.test("tokenizers are plug-ins by name: the store's grid picks the default, a wrong one is a clear error", async () => {
  const { registerTokenizer, tokenizerRegistry } = await import("../../tokenizers/registry.ts");
  const { patchTokenizer } = await import("../../tokenizers/patches.ts");
  const cfg = await config({ batchSize: 2 });
  const named = structuredClone(cfg);
  named.datasets[0].fields.forEach((f) => (f.tokenizer = "regular"));
  assert.deepEqual(
    new MultifieldSampler(named).batch(0).fields[0].tokens,
    new MultifieldSampler(cfg).batch(0).fields[0].tokens,
  );
  const wrong = structuredClone(cfg);
  wrong.datasets[0].fields[0].tokenizer = "healpix-points";
  assert.throws(() => new MultifieldSampler(wrong), /t: tokenizer "healpix-points" reads unstructured grids/);
  const unknown = structuredClone(cfg);
  unknown.datasets[0].fields[0].tokenizer = "spectral";
  assert.throws(() => new MultifieldSampler(unknown), /no tokenizer "spectral" \(registered: regular, healpix-points/);
  const bad = structuredClone(cfg);
  bad.datasets[0].fields[1].tokens = { numTokens: [4, 2], tokenSize: [3, 9, 9] } as unknown as TokenGrid;
  assert.throws(() => new MultifieldSampler(bad), /u: a regular grid needs tokens \{numTokens/);
  // A plug-in registered under a new name is found by that name.
  registerTokenizer({ ...patchTokenizer, name: "regular-copy" } as TokenizerPlugin);
  try {
    const copy = structuredClone(cfg);
    copy.datasets[0].fields[0].tokenizer = "regular-copy";
    assert.equal(new MultifieldSampler(copy).slots[0].tokenizer.name, "regular-copy");
  } finally {
    tokenizerRegistry.delete("regular-copy");
  }
});

Deno.test("two regular datasets: the same grid and times share positions; another grid is a clear error", async () => {
  const cfg = await config({ batchSize: 2 });
  const root = cfg.datasets[0].store;
  const twin = new MultifieldSampler({
    ...cfg,
    datasets: [cfg.datasets[0], { store: root, fields: [{ name: "u", levels: [500], tokens: GRID }] }],
  });
  const b = twin.batch(0);
  assert.equal(b.fields.length, 4);
  assert.equal(b.fields[3].dataset, 1);
  const dir = await tempDir();
  // The first half of the sample alone: the same grid, another time axis.
  const half = await convertEra5({ inputs: expandInputs([SAMPLE.legacy]), out: join(dir, "half.zarr"), workers: 0 });
  assert.throws(
    () =>
      new MultifieldSampler({
        ...cfg,
        datasets: [cfg.datasets[0], { store: half.out, fields: [{ name: "u", levels: [500], tokens: GRID }] }],
      }),
    /half\.zarr: a second regular dataset must have the grid and time axis/,
  );
});

Deno.test("a field may mix a surface level with 3-D levels: t with t2m as its level 0", async () => {
  const cfg = await config({ batchSize: 3 });
  const mixed = new MultifieldSampler({
    ...cfg,
    datasets: [{
      store: cfg.datasets[0].store,
      fields: [
        { name: "t", levels: [0, 850], surface: "t2m", tokens: GRID },
        { name: "t2m", levels: [0], tokens: GRID },
      ],
    }],
  });
  const b = mixed.batch(1);
  const [t, t2m] = b.fields;
  const per = t2m.tokens.length / 3;
  for (let s = 0; s < 3; s++) {
    // Sample s: t's level 0 is t2m (same window, same coefficients); its level 1 is t at 850 hPa.
    assert.deepEqual(t.tokens.subarray(2 * s * per, (2 * s + 1) * per), t2m.tokens.subarray(s * per, (s + 1) * per));
  }
  assert.notDeepEqual(t.tokens.subarray(per, 2 * per), t2m.tokens.subarray(0, per));
  assert.equal(t.tokenInfo[3], 0, "token info keeps the level as configured");
  const raw = (mixed.datasets[0] as GridDataset).read(
    "t2m",
    0,
    b.samples[0].t0,
    12,
    b.samples[0].i0,
    18,
    b.samples[0].j0,
    36,
  );
  const block = mixed.restore(b, 0, 0, 0).values;
  for (let i = 0; i < raw.length; i += 97) assert.ok(Math.abs(block[i] - raw[i]) < 1e-3, `${block[i]} vs ${raw[i]}`);
  const bad = structuredClone(cfg);
  bad.datasets[0].fields[0] = { name: "t", levels: [0, 500], surface: "u", tokens: GRID };
  assert.throws(() => new MultifieldSampler(bad), /t's surface u is not a single-level field/);
});

Deno.test("gatherTokens: windows across 0°/360° and chunk edges equal plain reads cut into tokens", async () => {
  const root = await sampleStore();
  const d = new GridDataset(root, new ChunkCache());
  const windows = [
    { t0: 2, i0: 20, j0: 105, end: 0, box: [0, 0, 0, 0] as [number, number, number, number] }, // columns 105..119, 0..20
    { t0: 0, i0: 43, j0: 119, end: 0, box: [0, 0, 0, 0] as [number, number, number, number] }, // one column, then 0..34
    { t0: 12, i0: 0, j0: 64, end: 0, box: [0, 0, 0, 0] as [number, number, number, number] }, // no wrap
  ];
  const per = 12 * 18 * 36;
  const out = new Float32Array(windows.length * per);
  const stats = noStats();
  const done: number[] = [];
  gatherTokens(
    {
      ...d.source("u", 850),
      windows,
      grid: GRID,
      out,
      offset: (s) => s * per,
      done: (s) => done.push(s),
    },
    noTimings(),
    stats,
  );
  assert.deepEqual(done.sort(), [0, 1, 2]);
  for (const [s, w] of windows.entries()) {
    const want = new Float32Array(per);
    tokenize(d.read("u", 850, w.t0, 12, w.i0, 18, w.j0, 36), GRID, want);
    assert.deepEqual(out.subarray(s * per, (s + 1) * per), want, `window ${s}`);
  }
  assert.equal(stats.bytesDelivered, 3 * per * 4);
});

Deno.test("masking synced (AtmoRep's BERT_fields_synced): every field and level of one layout gets the same masks", async () => {
  const fields = async (synced: boolean) => {
    const s = new MultifieldSampler(await config({ masking: { strategy: "bert", rate: 0.5, synced } }));
    const b = s.batch(2);
    const t = b.fields.find((f) => f.field === "t")!, u = b.fields.find((f) => f.field === "u")!;
    const n = u.mask.length / 6; // tokens per sample (one level)
    // sample 0: t's two levels, u's one level
    return { t0: [...t.mask.subarray(0, n)], t1: [...t.mask.subarray(n, 2 * n)], u0: [...u.mask.subarray(0, n)] };
  };
  const synced = await fields(true);
  assert.deepEqual(synced.t0, synced.t1);
  assert.deepEqual(synced.t0, synced.u0);
  assert.ok(synced.t0.some((m) => m !== MASK.visible));
  const free = await fields(false);
  assert.notDeepEqual(free.t0, free.u0);
});
