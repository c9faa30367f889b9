/**
 * What forecasting asks of the sampler: windows on request equal random
 * draws, global tilings cover every point, restore inverts normalization on
 * grids and meshes, and a mismatched coefficient set is a clear error.
 *
 * @module
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { convertEra5 } from "../../converters/era5/convert.ts";
import { expandInputs } from "../../cli/inputs.ts";
import { convertFesom } from "../../converters/fesom/convert.ts";
import { MultifieldSampler, type SamplerConfig } from "../../samplers/sampler.ts";
import type { Batch } from "../../samplers/batch.ts";
import { tileGrid } from "../../datasets/tiling.ts";
import type { GridDataset } from "../../datasets/grid.ts";
import type { MeshDataset } from "../../datasets/mesh.ts";
import type { TokenGrid } from "../../tokenizers/patches.ts";
import { coefficientSetIdentity } from "../../normalization/identity.ts";
import { deriveNormSet } from "../../normalization/derive.ts";
import { isPipelineError, NormalizationError } from "../../errors.ts";
import { ArrayReader } from "../../zarr/reader.ts";
import { ROOT, SAMPLE, tempDir } from "../_helpers/common.ts";

let era5: Promise<string> | undefined;
function era5Store(): Promise<string> {
  era5 ??= (async () =>
    (await convertEra5({
      inputs: expandInputs([SAMPLE.legacy, SAMPLE.new]),
      out: join(await tempDir(), "era5.zarr"),
      chunks: { time: 4, lat: 16, lon: 32 },
      workers: 0,
    })).out)();
  return era5;
}

const GRID: TokenGrid = { numTokens: [2, 2, 4], tokenSize: [3, 9, 9] };

async function config(overrides: Partial<SamplerConfig> = {}): Promise<SamplerConfig> {
  return {
    datasets: [{
      store: await era5Store(),
      fields: [
        { name: "t", levels: [500, 850], tokens: GRID, normalization: "local" },
        { name: "u", levels: [850], tokens: GRID },
        { name: "t2m", levels: [0], tokens: GRID },
      ],
    }],
    batchSize: 5,
    masking: { strategy: "bert", rate: 0.6 },
    seed: 11,
    ...overrides,
  };
}

function sameBatch(a: Batch, b: Batch): void {
  assert.deepEqual(a.samples, b.samples);
  for (const [i, f] of a.fields.entries()) {
    const g = b.fields[i];
    assert.deepEqual(f.tokens, g.tokens, `${f.field} tokens`);
    assert.deepEqual(f.mask, g.mask, `${f.field} mask`);
    assert.deepEqual(f.tokenInfo, g.tokenInfo, `${f.field} token info`);
    assert.deepEqual(f.replaced, g.replaced);
    assert.deepEqual(f.replacements, g.replacements);
    if (f.points) assert.deepEqual(f.points, g.points);
  }
}

Deno.test("windows on request give the same batch as a random draw of the same windows", async () => {
  const s = new MultifieldSampler(await config());
  for (const index of [0, 3]) sameBatch(s.batchAt(s.positions(index), { index }), s.batch(index));
  // The same windows asked for by time and centre.
  const d = s.datasets[0] as GridDataset;
  const windows = s.positions(1).filter((w) => w.i0 > 0 && w.i0 + 18 < d.colat.length);
  assert.ok(windows.length > 0);
  const requests = windows.map((w) => ({
    end: new Date(w.end * 1000).toISOString(),
    center: [90 - (d.colat[w.i0] + 8.5 * d.res[0]), d.lons[0] + (w.j0 + 18) * d.res[1]] as [number, number],
  }));
  const asked = s.batchAt(requests, { index: 1 });
  assert.deepEqual(asked.samples, windows);
  assert.deepEqual(asked.fields[0].tokens, s.batchAt(windows, { index: 1 }).fields[0].tokens);
  // A request that names no time step of the store is a config error naming it.
  assert.throws(() => s.batchAt([{ end: "1999-01-01T00", center: [0, 0] }]), (e) => {
    assert.ok(isPipelineError(e, "config"));
    return /no time step at 1999-01-01T00:00:00\.000Z/.test((e as Error).message);
  });
});

Deno.test("a mesh sampled alone: windows on request equal the random draw", async () => {
  const dir = await tempDir();
  const out = await convertFesom({
    mesh: `${ROOT}samples/fesom/pi-mesh`,
    inputs: [`${ROOT}samples/fesom/pi-output/sst.fesom.1985.nc`],
    out: join(dir, "pi.zarr"),
  });
  const s = new MultifieldSampler({
    datasets: [{
      store: out.out,
      fields: [{
        name: "sst",
        levels: [0],
        tokens: { pointsPerToken: 16, healpixOrder: 2, maxTokens: 64, timeSteps: 1 },
      }],
    }],
    batchSize: 4,
    masking: { strategy: "bert", rate: 0.5 },
    seed: 5,
    box: [40, 80],
  });
  sameBatch(s.batchAt(s.positions(2), { index: 2 }), s.batch(2));
});

function coverage(rows: number, cols: number, tiles: { i0: number; j0: number }[], h: number, w: number): Uint8Array {
  const n = new Uint8Array(rows * cols);
  for (const { i0, j0 } of tiles) {
    for (let i = i0; i < i0 + h; i++) for (let j = j0; j < j0 + w; j++) n[i * cols + (j % cols)]++;
  }
  return n;
}

Deno.test("global tiling covers every point: 0.25° (AtmoRep's 14×14) and with overlap in tokens", () => {
  const grid = { rows: 721, cols: 1440, periodic: true };
  const plain = tileGrid(grid, { window: [54, 108], token: [18, 18] });
  assert.equal(plain.length, 14 * 14, "AtmoRep's 196 neighborhoods");
  assert.equal(Math.max(...plain.map((t) => t.i0)), 721 - 54, "the last row ends at the pole");
  const c0 = coverage(721, 1440, plain, 54, 108);
  assert.ok(c0.every((n) => n >= 1), "every point covered");
  // Columns: 13 tiles of 108 + one wrapping tile: 72 columns (0..71) covered twice; rows: the last row overlaps 35.
  const twiceCols = [...Array(1440).keys()].filter((j) => c0[j] === 2).length;
  assert.equal(twiceCols, 1404 + 108 - 1440);
  const over = tileGrid(grid, { window: [54, 108], token: [18, 18], overlap: [1, 2] });
  const c1 = coverage(721, 1440, over, 54, 108);
  assert.ok(c1.every((n) => n >= 1));
  // Row stride 36: along a column, rows 36..53 are covered by two tiles (one token of overlap).
  const col = [...Array(721).keys()].map((i) => c1[i * 1440 + 80]);
  assert.deepEqual(col.slice(0, 60).map((n) => n > 0), Array(60).fill(true));
  assert.equal(c1[10 * 1440 + 80], c1[10 * 1440 + 80 + 72], "columns repeat with the stride");
  const rowsCovered = (i: number) => new Set(over.filter((t) => t.i0 <= i && i < t.i0 + 54).map((t) => t.i0)).size;
  assert.equal(rowsCovered(20), 1);
  assert.equal(rowsCovered(40), 2);
  // Columns: stride 72 over 1440 = 20 tiles, every column covered by 1 or 2 tiles, 720 of them twice (per row).
  const perCol = [...Array(1440).keys()].map((j) =>
    over.filter((t) => t.i0 === 0 && ((j - t.j0 + 1440) % 1440) < 108).length
  );
  assert.deepEqual([...new Set(perCol)].sort(), [1, 2]);
  assert.equal(perCol.filter((n) => n === 2).length, 720);
  // A regional grid: no wrap, the last column ends at the east edge.
  const regional = tileGrid({ rows: 100, cols: 250, periodic: false }, { window: [54, 108], token: [18, 18] });
  assert.ok(regional.every((t) => t.j0 + 108 <= 250 && t.i0 + 54 <= 100));
  assert.ok(coverage(100, 250, regional, 54, 108).every((n) => n >= 1));
  assert.throws(() => tileGrid(grid, { window: [54, 108], token: [18, 18], overlap: [3, 0] }), /overlap/);
});

Deno.test("tiles + restore rebuild the whole coarse globe exactly, in physical units, across 0°/360° and the poles", async () => {
  const s = new MultifieldSampler(await config({ masking: { strategy: "forecast" } }));
  const d = s.datasets[0] as GridDataset;
  const end = new Date(d.times[10] * 1000).toISOString();
  const tiles = s.tiles(end, [0, 1]);
  assert.ok(tiles.some((w) => w.i0 === 0) && tiles.some((w) => w.i0 === d.colat.length - 18), "both poles");
  assert.ok(tiles.some((w) => w.j0 + 36 > d.lons.length), "a tile wraps around 0°/360°");
  const b = s.batchAt(tiles, { masking: { strategy: "forecast" } });
  for (const [fi, name, level, li] of [[0, "t", 850, 1], [2, "t2m", 0, 0]] as const) {
    const rebuilt = new Float32Array(6 * d.colat.length * d.lons.length).fill(NaN);
    for (const [k, w] of tiles.entries()) {
      const r = s.restore(b, fi, k, li);
      const [T, H, W] = r.shape;
      for (let t = 0; t < T; t++) {
        for (let i = 0; i < H; i++) {
          for (let j = 0; j < W; j++) {
            rebuilt[(t * d.colat.length + w.i0 + i) * d.lons.length + (w.j0 + j) % d.lons.length] =
              r.values[(t * H + i) * W + j];
          }
        }
      }
    }
    const raw = d.read(name, level, 10 - 5, 6, 0, d.colat.length, 0, d.lons.length);
    let worst = 0;
    for (let i = 0; i < raw.length; i++) {
      assert.ok(Number.isFinite(rebuilt[i]), `${name}: point ${i} not covered`);
      worst = Math.max(worst, Math.abs(rebuilt[i] - raw[i]) / Math.max(1, Math.abs(raw[i])));
    }
    assert.ok(worst < 1e-5, `${name}: restored values differ from the store by ${worst}`);
  }
});

Deno.test("restore inverts the normalization of mesh nodes and elements (local and global coefficients)", async () => {
  const dir = await tempDir();
  const out = await convertFesom({
    mesh: `${ROOT}samples/fesom/pi-mesh`,
    inputs: [`${ROOT}samples/fesom/pi-output/temp.fesom.1985.nc`, `${ROOT}samples/fesom/pi-output/v.fesom.1985.nc`],
    out: join(dir, "pi.zarr"),
  });
  const layers = new ArrayReader(out.out, "level").read() as Float64Array;
  const tokens = { pointsPerToken: 16, healpixOrder: 2, maxTokens: 128, timeSteps: 1 };
  const s = new MultifieldSampler({
    datasets: [{
      store: out.out,
      fields: [
        { name: "temp", levels: [layers[0], layers[3]], tokens, normalization: "local" },
        { name: "v", levels: [layers[1]], tokens },
      ],
    }],
    batchSize: 3,
    masking: { strategy: "forecast" },
    seed: 2,
    box: [40, 90],
  });
  const b = s.batch(0);
  const d = s.datasets[0] as MeshDataset;
  let checked = 0;
  for (const [fi, name, levels] of [[0, "temp", [layers[0], layers[3]]], [1, "v", [layers[1]]]] as const) {
    for (let k = 0; k < 3; k++) {
      for (const [li, level] of levels.entries()) {
        const r = s.restore(b, fi, k, li);
        const raw = d.read(name, level, r.t0, 1);
        const n = raw.length;
        for (let t = 0; t < 1; t++) {
          for (const [c, p] of r.points!.entries()) {
            const want = raw[t * n + p], got = r.values[t * r.points!.length + c];
            if (Number.isNaN(want)) assert.ok(Number.isNaN(got), "dry stays NaN");
            else assert.ok(Math.abs(got - want) <= 1e-5 * Math.max(1, Math.abs(want)), `${name}: ${got} vs ${want}`);
            checked++;
          }
        }
      }
    }
  }
  assert.ok(checked > 100, `${checked} values compared`);
});

Deno.test("a coefficient set of another grid, or a month without data, is a NormalizationError naming both", async () => {
  const cfg = await config({ batchSize: 2 });
  const dir = await tempDir();
  // The same sample regridded to another grid: its coefficients cannot normalize this store.
  const { PYTHON, run } = await import("../_helpers/common.ts");
  const coarse = join(dir, "coarse");
  await Deno.mkdir(coarse);
  const r = await run(PYTHON, [
    "-c",
    `import xarray as xr, glob, os
for f in glob.glob("${SAMPLE.new}/*.nc"):
    ds = xr.open_dataset(f)
    lat = [c for c in ds.coords if c.startswith("lat")][0]
    ds.isel({lat: slice(0, None, 2)}).to_netcdf(os.path.join("${coarse}", os.path.basename(f)))`,
  ]);
  assert.equal(r.code, 0, r.stderr);
  const other = await convertEra5({ inputs: expandInputs([coarse]), out: join(dir, "coarse.zarr"), workers: 0 });
  const bad = structuredClone(cfg);
  bad.datasets[0].norm = other.norm;
  assert.throws(() => new MultifieldSampler(bad), (e) => {
    assert.ok(e instanceof NormalizationError);
    return /coarse\.norm\.zarr: made for another grid than .*era5\.zarr: t's coefficients cover 31×120 points, the store 61×120/
      .test((e as Error).message);
  });
  // A set derived from January alone holds no data for February: using it there is an error naming the month.
  const january = join(dir, "january.norm.zarr");
  deriveNormSet({ store: cfg.datasets[0].store, out: january, from: "2020-01", to: "2020-01", pooling: "monthly" });
  const feb = structuredClone(cfg);
  feb.datasets[0].norm = january;
  feb.timeRange = ["2020-02-01T06", "2020-02-01T23"];
  assert.throws(() => new MultifieldSampler(feb).batch(0), (e) => {
    assert.ok(e instanceof NormalizationError);
    return /january\.norm\.zarr: no data behind the coefficients of t at level (500|850) in 202002/.test(
      (e as Error).message,
    );
  });
  // Identities: a set's identity is stable and differs between sets.
  const a = await coefficientSetIdentity(other.norm), a2 = await coefficientSetIdentity(other.norm);
  assert.equal(a.hash, a2.hash);
  assert.notEqual(a.hash, (await coefficientSetIdentity(cfg.datasets[0].store.replace(".zarr", ".norm.zarr"))).hash);
});
