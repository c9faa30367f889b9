/**
 * Sampling unstructured meshes: the HEALPix point tokenizer, FESOM fields
 * under ERA5 neighbourhoods, a mesh sampled alone, mixed surface and layer
 * levels, and element fields at triangle centroids.
 *
 * @module
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { convertFesom } from "../../converters/fesom/convert.ts";
import { MultifieldSampler } from "../../samplers/sampler.ts";
import { MASK } from "../../samplers/batch.ts";
import { layoutPoints, type PointTokens, scatterPoints } from "../../tokenizers/healpix_points.ts";
import { healpixNested } from "../../geometry/healpix.ts";
import { ArrayReader } from "../../zarr/reader.ts";
import { era5AndFesomStores, ROOT, tempDir } from "../_helpers/common.ts";

let stores: Promise<{ era5: string; fesom: string }> | undefined;
function twoStores(): Promise<{ era5: string; fesom: string }> {
  stores ??= (async () => {
    const dir = await tempDir();
    return { ...(await era5AndFesomStores(dir)) };
  })();
  return stores;
}

const POINTS: PointTokens = { pointsPerToken: 16, healpixOrder: 4, maxTokens: 24, timeSteps: 1 };

Deno.test("unstructured tokenizer: HEALPix buckets, fixed-size padded tokens, exact scatter back", () => {
  const n = 500;
  const lat = Float64Array.from({ length: n }, (_, i) => -60 + (i * 37) % 120);
  const lon = Float64Array.from({ length: n }, (_, i) => (i * 53) % 360);
  const cell = Int32Array.from({ length: n }, (_, i) => healpixNested(2, lon[i], lat[i]));
  const selected = Int32Array.from({ length: 200 }, (_, i) => i * 2);
  const layout = layoutPoints(selected, cell, lat, lon, {
    pointsPerToken: 8,
    healpixOrder: 2,
    maxTokens: 200,
    timeSteps: 1,
  });
  const used = [...layout.index].filter((p) => p >= 0);
  assert.deepEqual(used.slice().sort((a, b) => a - b), [...selected]);
  assert.equal(layout.dropped, 0);
  for (let t = 0; t < layout.tokens; t++) {
    const cells = new Set([...layout.index.subarray(t * 8, (t + 1) * 8)].filter((p) => p >= 0).map((p) => cell[p]));
    assert.equal(cells.size, 1, "a token holds one HEALPix cell");
  }
  const values = Float32Array.from({ length: n }, (_, i) => i * 0.5);
  const tokens = Float32Array.from(layout.index, (p) => (p >= 0 ? values[p] : 0));
  const back = new Float32Array(n).fill(NaN);
  scatterPoints(tokens, layout, back);
  for (const p of selected) assert.equal(back[p], values[p]);
  const small = layoutPoints(selected, cell, lat, lon, {
    pointsPerToken: 8,
    healpixOrder: 2,
    maxTokens: 5,
    timeSteps: 1,
  });
  assert.ok(small.dropped > 0 && small.tokens === 5);
});

Deno.test("two datasets in one sample: ERA5 neighborhoods with the FESOM sea surface under them", async () => {
  const { era5, fesom } = await twoStores();
  const s = new MultifieldSampler({
    datasets: [
      { store: era5, fields: [{ name: "t2m", levels: [0], tokens: { numTokens: [4, 2, 4], tokenSize: [3, 9, 9] } }] },
      { store: fesom, fields: [{ name: "sst", levels: [0], tokens: POINTS }] },
    ],
    batchSize: 8,
    masking: { strategy: "bert", rate: 0.5 },
    seed: 11,
  });
  const batch = s.batch(0);
  const sst = batch.fields[1];
  assert.equal(sst.field, "sst");
  const pts = sst.points!;
  const lat = new ArrayReader(fesom, "lat").read() as Float64Array;
  const lon = (new ArrayReader(fesom, "lon").read() as Float64Array).map((x) => (x + 360) % 360);
  const raw = new ArrayReader(fesom, "data_sfc").read() as Float32Array; // (time, field, node)
  const gnorm = new ArrayReader(fesom.replace(".zarr", ".norm.zarr"), "global_norm_sfc").read() as Float32Array;
  const times = new ArrayReader(fesom, "time").read() as BigInt64Array;
  const era5Times = new ArrayReader(era5, "time").read() as BigInt64Array;
  let nonEmpty = 0;
  for (const [b, pos] of batch.samples.entries()) {
    // The box of the ERA5 neighborhood (3° grid, 18 × 36 points) in degrees.
    const north = 90 - pos.i0 * 3 + 1.5, south = 90 - (pos.i0 + 17) * 3 - 1.5, west = pos.j0 * 3 - 1.5;
    const want = [...lat.keys()].filter((p) =>
      lat[p] >= south && lat[p] <= north && ((lon[p] - west) % 360 + 360) % 360 <= 108
    );
    const slots = pts.index.subarray(b * 24 * 16, (b + 1) * 24 * 16);
    const got = [...slots].filter((p) => p >= 0).sort((x, y) => x - y);
    if (pts.dropped[b] === 0) assert.deepEqual(got, want);
    else assert.ok(got.every((p) => want.includes(p)) && got.length + pts.dropped[b] === want.length);
    if (got.length) nonEmpty++;
    // Same time window: the FESOM step is the last one at or before the ERA5 window's end.
    const end = Number(era5Times[pos.t0 + 11]);
    const t = pts.t0[b];
    assert.ok(Number(times[t]) <= end && (t + 1 >= times.length || Number(times[t + 1]) > end));
    // Targets are the normalized sst of those nodes (global coefficients of the step's month).
    const month = new Date((Number(times[t]) - 1) * 1000);
    const e = (month.getUTCFullYear() - 2019) * 12 + month.getUTCMonth();
    const mean = gnorm[(e * 2) * 1], std = gnorm[(e * 2 + 1) * 1];
    for (let k = 0; k < slots.length; k++) {
      if (slots[k] < 0) continue;
      const v = sst.tokens[b * 24 * 16 + k];
      assert.ok(Math.abs(v - (raw[t * 3140 + slots[k]] - mean) / std) < 1e-4);
    }
  }
  assert.ok(nonEmpty >= 4, `${nonEmpty} of 8 samples have ocean points`);
  // Padding tokens are never targets.
  for (let b = 0; b < 8; b++) {
    for (let k = pts.tokens[b]; k < 24; k++) assert.equal(sst.mask[b * 24 + k], 0);
  }
});

Deno.test("a mesh sampled alone: boxes in degrees, its own time axis, the points inside each box", async () => {
  const { fesom } = await twoStores();
  const cfg = {
    datasets: [{ store: fesom, fields: [{ name: "sst", levels: [0], tokens: { ...POINTS, timeSteps: 2 } }] }],
    batchSize: 6,
    masking: { strategy: "forecast" as const },
    seed: 3,
    box: [30, 60] as [number, number],
    latRange: [-90, 90] as [number, number],
  };
  assert.throws(() => new MultifieldSampler({ ...cfg, box: undefined }), /needs `box`/);
  const s = new MultifieldSampler(cfg);
  const batch = s.batch(1);
  const f = batch.fields[0], pts = f.points!;
  const lat = new ArrayReader(fesom, "lat").read() as Float64Array;
  const lon = (new ArrayReader(fesom, "lon").read() as Float64Array).map((x) => (x + 360) % 360);
  const times = new ArrayReader(fesom, "time").read() as BigInt64Array;
  let withPoints = 0;
  for (const [b, pos] of batch.samples.entries()) {
    const [south, north, west, width] = pos.box;
    assert.ok(south >= -90 && north <= 90 && Math.abs(north - south - 30) < 1e-9 && width === 60);
    // The window ends at a time of the mesh itself, two steps long.
    assert.equal(pts.t0[b], pos.t0);
    assert.equal(Number(times[pos.t0 + 1]), pos.end);
    const want = [...lat.keys()].filter((p) =>
      lat[p] >= south && lat[p] <= north && ((lon[p] - west) % 360 + 360) % 360 <= width
    );
    const got = [...pts.index.subarray(b * 24 * 16, (b + 1) * 24 * 16)].filter((p) => p >= 0).sort((x, y) => x - y);
    if (pts.dropped[b] === 0) assert.deepEqual(got, want);
    else assert.equal(got.length + pts.dropped[b], want.length);
    if (got.length) withPoints++;
  }
  assert.ok(withPoints >= 3, `${withPoints} of 6 boxes hold ocean points`);
  // The mesh reads are in the batch's read counters.
  assert.ok(batch.stats.chunksDecoded > 0 && batch.stats.bytesDelivered > 0, JSON.stringify(batch.stats));
  // Forecast masking: the last of the two steps is the target, padding never is.
  for (let b = 0; b < 6; b++) {
    const mask = f.mask.subarray(b * 48, (b + 1) * 48);
    for (let k = 0; k < 24; k++) assert.equal(mask[k], 0);
    for (let k = 24; k < 48; k++) assert.equal(mask[k], k - 24 < pts.tokens[b] ? MASK.zeroed : MASK.visible);
  }
});

Deno.test("a mesh field may mix a surface level with its layers: FESOM temp with sst as level 0", async () => {
  const dir = await tempDir();
  const out = await convertFesom({
    mesh: `${ROOT}samples/fesom/pi-mesh`,
    inputs: [`${ROOT}samples/fesom/pi-output/sst.fesom.1985.nc`, `${ROOT}samples/fesom/pi-output/temp.fesom.1985.nc`],
    out: join(dir, "pi.zarr"),
  });
  const layers = new ArrayReader(out.out, "level").read() as Float64Array;
  const tokens = { ...POINTS, healpixOrder: 2, maxTokens: 64 };
  const fields = [
    { name: "temp", levels: [0, layers[0]], surface: "sst", tokens },
    { name: "sst", levels: [0], tokens },
  ];
  const s = new MultifieldSampler({
    datasets: [{ store: out.out, fields }],
    batchSize: 4,
    masking: { strategy: "forecast" },
    seed: 9,
    box: [40, 80],
  });
  const b = s.batch(0);
  const [temp, sst] = b.fields;
  const slots = 64 * 16;
  let compared = 0;
  for (let k = 0; k < 4; k++) {
    const index = temp.points!.index.subarray(k * slots, (k + 1) * slots);
    assert.deepEqual(index, sst.points!.index.subarray(k * slots, (k + 1) * slots));
    // Level 0 of temp is sst; level 1 is the first layer of temp, a different field.
    assert.deepEqual(
      temp.tokens.subarray(2 * k * slots, (2 * k + 1) * slots),
      sst.tokens.subarray(k * slots, (k + 1) * slots),
    );
    compared += index.filter((p) => p >= 0).length;
  }
  assert.ok(compared > 0, "the boxes hold ocean points");
  assert.notDeepEqual(temp.tokens.subarray(slots, 2 * slots), temp.tokens.subarray(0, slots));
  assert.throws(
    () =>
      new MultifieldSampler({
        datasets: [{ store: out.out, fields: [{ ...fields[1], name: "sst", surface: "temp" }] }],
        batchSize: 1,
        masking: { strategy: "forecast" },
        seed: 1,
        box: [40, 80],
      }),
    /sst's surface temp must be a single-level field on nodes/,
  );
});

Deno.test("element fields (FESOM v on triangles) are tokenized at element centroids", async () => {
  const dir = await tempDir();
  const out = await convertFesom({
    mesh: `${ROOT}samples/fesom/pi-mesh`,
    inputs: [`${ROOT}samples/fesom/pi-output/v.fesom.1985.nc`],
    out: join(dir, "v.zarr"),
  });
  const layers = new ArrayReader(out.out, "level").read() as Float64Array;
  const tokens = { ...POINTS, healpixOrder: 2, maxTokens: 128 };
  const s = new MultifieldSampler({
    datasets: [{ store: out.out, fields: [{ name: "v", levels: [layers[0]], tokens }] }],
    batchSize: 3,
    masking: { strategy: "forecast" },
    seed: 4,
    box: [30, 60],
  });
  const b = s.batch(0);
  const f = b.fields[0], pts = f.points!;
  const lat = new ArrayReader(out.out, "elem_lat").read() as Float64Array;
  const nodes = (new ArrayReader(out.out, "lat").read() as Float64Array).length;
  const raw = new ArrayReader(out.out, "data_elem").read() as Float32Array; // (time, field, level, elem)
  const g = new ArrayReader(out.out.replace(".zarr", ".norm.zarr"), "global_norm_elem").read() as Float32Array;
  const nl = layers.length, ne = lat.length;
  assert.ok(ne > nodes, "more elements than nodes");
  const slots = 128 * 16;
  let seen = 0;
  for (const [k, pos] of b.samples.entries()) {
    const [south, north] = pos.box;
    for (let q = 0; q < slots; q++) {
      const e = pts.index[k * slots + q];
      if (e < 0) continue;
      seen++;
      assert.ok(lat[e] >= south && lat[e] <= north, "element centroid in the box");
      const want = (raw[e] - g[0]) / g[1 * nl]; // entry 0, field 0, level 0: mean at [0,0,0,0], std at [0,1,0,0]
      assert.ok(Math.abs(f.tokens[k * slots + q] - want) < 1e-4, `${f.tokens[k * slots + q]} vs ${want}`);
    }
  }
  assert.ok(seen > 0);
});
