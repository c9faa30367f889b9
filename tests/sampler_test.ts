import assert from "node:assert/strict";
import { join } from "node:path";
import { convertEra5, expandInputs } from "../converters/era5/convert.ts";
import { type Batch, MultifieldSampler, type SamplerConfig } from "../samplers/sampler.ts";
import { ChunkCache } from "../samplers/cache.ts";
import { RegularDataset } from "../samplers/regular.ts";
import { Rng } from "../samplers/rng.ts";
import { maskTokens } from "../samplers/masking.ts";
import { detokenize, type TokenGrid, tokenize } from "../tokenizers/regular.ts";
import { ArrayReader } from "../zarr/store.ts";
import { ROOT, run, SAMPLE, tempDir } from "./_helpers.ts";

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
  const d = new RegularDataset(root, new ChunkCache());
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
  assert.ok(b.fields.every((f) => f.targets.every((v) => Number.isFinite(v))), "full windows, no missing rows");
});

Deno.test("normalization with global and per-point coefficients, and denormalize inverts it", async () => {
  const cfg = await config({ masking: { strategy: "forecast" } });
  const s = new MultifieldSampler(cfg);
  const batch = s.batch(2);
  const d = s.datasets[0] as RegularDataset;
  const norm = new ArrayReader(cfg.datasets[0].store.replace(".zarr", ".norm.zarr"), "global_norm")
    .read() as Float32Array;
  for (const [fi, fc] of cfg.datasets[0].fields.entries()) {
    const fb = batch.fields[fi];
    const pos = batch.samples[0];
    const raw = d.read(fc.name, fc.levels[0], pos.t0, 12, pos.i0, 18, pos.j0, 36);
    const normalized = new Float32Array(raw.length);
    detokenize(fb.targets.subarray(0, raw.length), fc.tokens as TokenGrid, normalized);
    if (fc.normalization !== "local" && fc.name === "u") {
      // Global: (x − mean) / std with the set's numbers for the sample's month.
      const entry = s.norms[0].entry(d.times[pos.t0]);
      const [nf, nl] = [3, 3];
      const f = d.fields.indexOf("u"), l = d.levels.indexOf(850);
      const mean = norm[((entry * 2) * nf + f) * nl + l], std = norm[((entry * 2 + 1) * nf + f) * nl + l];
      assert.ok(Math.abs(normalized[0] - (raw[0] - mean) / std) < 1e-4);
    }
    const back = normalized.slice();
    s.denormalize(back, 0, fc, fc.levels[0], pos);
    for (let i = 0; i < raw.length; i++) {
      assert.ok(
        Math.abs(back[i] - raw[i]) <= 1e-5 * Math.max(1, Math.abs(raw[i])),
        `${fc.name} ${i}: ${back[i]} vs ${raw[i]}`,
      );
    }
  }
});

Deno.test("masking: BERT rate drawn up to the maximum; forecast and interpolation mask whole slabs", () => {
  const g: [number, number, number] = [4, 3, 6], ts: [number, number, number] = [3, 4, 4];
  const ntok = 72, len = 48;
  const rng = new Rng(3);
  let masked = 0;
  const runs = 400;
  for (let r = 0; r < runs; r++) {
    const tokens = new Float32Array(ntok * len).fill(1), mask = new Uint8Array(ntok);
    maskTokens(
      tokens,
      mask,
      g,
      ts,
      { strategy: "bert", rate: 0.5, fracMasked: 1, fracNoised: 0, fracMultires: 0 },
      rng,
    );
    masked += mask.reduce((a, b) => a + b, 0);
    for (let k = 0; k < ntok; k++) assert.equal(tokens[k * len] === 0, mask[k] === 1);
  }
  const rate = masked / (runs * ntok);
  assert.ok(rate > 0.22 && rate < 0.29, `mean masking rate ${rate} ≈ 0.25 (U(0, 0.5))`);
  const tokens = new Float32Array(ntok * len).fill(1), mask = new Uint8Array(ntok);
  maskTokens(tokens, mask, g, ts, { strategy: "forecast" }, rng);
  assert.deepEqual([...mask], Array.from({ length: ntok }, (_, k) => (k >= 54 ? 1 : 0)));
  const m2 = new Uint8Array(ntok);
  maskTokens(new Float32Array(ntok * len), m2, g, ts, { strategy: "temporal_interpolation" }, rng);
  assert.deepEqual([...m2], Array.from({ length: ntok }, (_, k) => (k >= 36 && k < 54 ? 1 : 0)));
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
    assert.deepEqual(f.input, b3.fields[i].input);
    assert.deepEqual(f.mask, b3.fields[i].mask);
  });
  assert.notDeepEqual(c.batch(3).samples, a3.samples);
});

Deno.test("a batch reads only the chunks its neighborhoods touch", async () => {
  const cfg = await config({ batchSize: 3 });
  const s = new MultifieldSampler(cfg);
  const batch = s.batch(1);
  const expected = new Set<string>();
  const root = cfg.datasets[0].store;
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
  const read = new Set(
    s.cache.decodedKeys.filter((k) => k.startsWith(`${root}/data`)).map((k) => k.slice(root.length + 1)),
  );
  assert.deepEqual([...read].sort(), [...expected].sort());
  assert.ok(s.cache.amplification() > 1 && s.cache.amplification() < 10);
});

Deno.test("the same seed gives the same batches with 0, 1 or 2 loader workers", async () => {
  const { BatchLoader } = await import("../samplers/loader.ts");
  const cfg = await config({ batchSize: 3 });
  const runs: Batch[][] = [];
  for (const workers of [0, 1, 2]) {
    const loader = new BatchLoader(cfg, { workers, prefetch: 2 });
    await loader.start();
    const got: Batch[] = [];
    try {
      for (let i = 0; i < 5; i++) got.push((await loader.nextBatch()).batch);
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
        assert.deepEqual(f.input, runs[0][i].fields[k].input);
        assert.deepEqual(f.mask, runs[0][i].fields[k].mask);
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
  assert.match(r.stdout, /batch worker +wait +read +normalize +tokenize +mask +handover +consumer/);
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
  for (const s of ["read", "normalize", "tokenize", "mask", "wait", "consumer"]) assert.ok(stages.has(s), s);
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
  b.fields.forEach((f, i) => assert.deepEqual(f.input, a.fields[i].input));
  // Inner chunks are decoded one by one, exactly as the plain store's chunks are.
  assert.equal(s.cache.stats.chunksDecoded, plain.cache.stats.chunksDecoded);
  assert.equal(s.cache.stats.bytesDecoded, plain.cache.stats.bytesDecoded);
});
