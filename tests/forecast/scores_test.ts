/**
 * Forecast scores (area-weighted RMSE, ACC, CRPS, spread) against numpy, and
 * the PNG maps and score plots.
 *
 * @module
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { anomalyCorrelation, ensembleCrps, latitudeWeights, ScoreBoard, weightedMse } from "../../forecast/scores.ts";
import { displayUnits, forecastMapPng, mapExtent, niceTicks, scorePlotPng, tickLabel } from "../../forecast/maps.ts";
import { decode } from "fast-png";
import { PYTHON, run, tempDir } from "../_helpers/common.ts";

function field(n: number, seed: number, nanEvery = 0): Float32Array {
  const out = new Float32Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = 280 + 10 * Math.sin(i / 7) + (s / 2 ** 32 - 0.5) * 4;
    if (nanEvery && i % nanEvery === 3) out[i] = NaN;
  }
  return out;
}

Deno.test("scores equal an independent numpy computation (WeatherBench 2 area weights, RMSE, ACC, CRPS, spread)", async () => {
  const lat = Float64Array.from({ length: 19 }, (_, i) => 90 - 10 * i);
  const R = lat.length, C = 36, n = R * C;
  const truth = field(n, 1, 97), clim = field(n, 2), members = [field(n, 3), field(n, 4), field(n, 5)];
  const w = latitudeWeights(lat);
  const mean = members[0].map((_, i) => (members[0][i] + members[1][i] + members[2][i]) / 3);
  const ours = {
    weights: [...w],
    mse: weightedMse(mean, truth, w),
    acc: anomalyCorrelation(mean, truth, clim, w),
    ...ensembleCrps(members, truth, w),
  };
  const dir = await tempDir();
  const f = (name: string, a: Float32Array) => Deno.writeFileSync(join(dir, name), new Uint8Array(a.buffer));
  f("truth", truth);
  f("clim", clim);
  members.forEach((m, k) => f(`m${k}`, m));
  const r = await run(PYTHON, [
    "-c",
    `import numpy as np, json, sys
d = sys.argv[1]; R, C = 19, 36
ld = lambda n: np.fromfile(d + "/" + n, dtype=np.float32).astype(np.float64).reshape(R, C)
y, c = ld("truth"), ld("clim"); m = np.stack([ld("m%d" % k) for k in range(3)])
lat = np.linspace(90, -90, R)
b = np.concatenate([[90], (lat[:-1] + lat[1:]) / 2, [-90]])
w = np.abs(np.sin(np.deg2rad(b[:-1])) - np.sin(np.deg2rad(b[1:]))); w = w / w.mean()
W = np.broadcast_to(w[:, None], (R, C)); ok = ~np.isnan(y)
f = m.mean(0)
mse = (W * (f - y) ** 2)[ok].sum() / W[ok].sum()
fa, ya = f - c, y - c
acc = (W * fa * ya)[ok].sum() / np.sqrt((W * fa ** 2)[ok].sum() * (W * ya ** 2)[ok].sum())
crps_pt = np.abs(m - y).mean(0) - 0.5 * np.abs(m[:, None] - m[None, :]).mean((0, 1))
crps = (W * crps_pt)[ok].sum() / W[ok].sum()
var = (W * m.var(0, ddof=1))[ok].sum() / W[ok].sum()
print(json.dumps({"weights": w.tolist(), "mse": mse, "acc": acc, "crps": crps, "variance": var}))`,
    dir,
  ]);
  assert.equal(r.code, 0, r.stderr);
  const want = JSON.parse(r.stdout);
  for (const [i, x] of want.weights.entries()) assert.ok(Math.abs(ours.weights[i] - x) < 1e-9, `weight ${i}`);
  for (const k of ["mse", "acc", "crps", "variance"] as const) {
    assert.ok(Math.abs(ours[k] - want[k]) <= 1e-5 * Math.max(1, Math.abs(want[k])), `${k}: ${ours[k]} vs ${want[k]}`);
  }
  // The board: RMSE = sqrt of the mean over inits of the MSE; a perfect forecast scores 0 and ACC 1.
  const board = new ScoreBoard(w, { t: "K" });
  board.add("t", 850, 6, { members: [truth], truth, persistence: mean, climatology: clim });
  board.add("t", 850, 6, { members, truth, persistence: truth, climatology: clim });
  const [s] = board.result(true);
  assert.ok(Math.abs(s.rmse.forecast[0] - Math.sqrt(want.mse / 2)) < 1e-4 * Math.sqrt(want.mse));
  assert.ok(Math.abs(s.rmse.persistence[0] - Math.sqrt(want.mse / 2)) < 1e-4 * Math.sqrt(want.mse));
  assert.ok(Math.abs(s.acc.forecast[0] - (1 + want.acc) / 2) < 1e-5);
  assert.equal(s.inits, 2);
});

Deno.test("maps and score plots are PNGs with coastlines drawn over the field and a colour bar", async () => {
  const lat = Float64Array.from({ length: 37 }, (_, i) => 90 - 5 * i),
    lon = Float64Array.from({ length: 72 }, (_, j) => 5 * j);
  const values = new Float32Array(37 * 72).map((_, k) => Math.sin(k / 50));
  const png = decode(
    await forecastMapPng({ values, lat, lon }, {
      title: "t 850 +6 h",
      units: "K",
      truth: { values: values.map((v) => v + 0.1), lat, lon },
    }),
  );
  assert.equal(png.channels, 4);
  assert.ok(png.height > png.width, "three panels stacked");
  // Coastline pixels are black; a field of sin values in viridis never is.
  let black = 0;
  for (let i = 0; i < png.data.length; i += 4) {
    if (png.data[i] < 30 && png.data[i + 1] < 30 && png.data[i + 2] < 30) black++;
  }
  assert.ok(black > 2000, `${black} black pixels (coastlines, frames, text)`);
  const plot = decode(
    await scorePlotPng("RMSE", [3, 6, 9], [{ name: "forecast", values: [1, 2, 3], colour: "#d62728" }], "K"),
  );
  let red = 0;
  for (let i = 0; i < plot.data.length; i += 4) if (plot.data[i] > 200 && plot.data[i + 1] < 80) red++;
  assert.ok(red > 100, "the forecast line is drawn");
});

Deno.test("area weights on regional and global grids equal numpy's cell-bound weights; a regional edge row weighs like its neighbour", async () => {
  const grids: Record<string, number[]> = {
    // 60° N to 20° N at 1.25°: a regional store (the edge rows once got cells reaching to the poles).
    regional: Array.from({ length: 33 }, (_, i) => 60 - 1.25 * i),
    // South to north, 2° apart, not reaching a pole.
    regionalSouthNorth: Array.from({ length: 11 }, (_, i) => -30 + 2 * i),
    // Global with the poles as rows, and global at cell centres (89.5 … −89.5).
    globalPoles: Array.from({ length: 145 }, (_, i) => 90 - 1.25 * i),
    globalCentres: Array.from({ length: 180 }, (_, i) => 89.5 - i),
  };
  const r = await run(PYTHON, [
    "-c",
    `import numpy as np, json, sys
out = {}
for name, lat in json.loads(sys.argv[1]).items():
    lat = np.array(lat, dtype=np.float64)
    half_first, half_last = (lat[0] - lat[1]) / 2, (lat[-1] - lat[-2]) / 2
    b = np.clip(np.concatenate([[lat[0] + half_first], (lat[:-1] + lat[1:]) / 2, [lat[-1] + half_last]]), -90, 90)
    w = np.abs(np.diff(np.sin(np.deg2rad(b))))
    # WeatherBench 2's global rule: bounds at ±90 at the ends (north-to-south order here).
    g = np.concatenate([[90.0], (lat[:-1] + lat[1:]) / 2, [-90.0]]) if lat[0] > lat[-1] else None
    wb2 = None if g is None else np.abs(np.diff(np.sin(np.deg2rad(g))))
    out[name] = {"w": (w / w.mean()).tolist(), "wb2": None if wb2 is None else (wb2 / wb2.mean()).tolist()}
print(json.dumps(out))`,
    JSON.stringify(grids),
  ]);
  assert.equal(r.code, 0, r.stderr);
  const want = JSON.parse(r.stdout);
  for (const [name, lat] of Object.entries(grids)) {
    const w = latitudeWeights(lat);
    for (const [i, x] of want[name].w.entries()) {
      assert.ok(Math.abs(w[i] - x) < 1e-12, `${name} row ${i}: ${w[i]} vs ${x}`);
    }
    if (name.startsWith("global")) {
      for (const [i, x] of want[name].wb2.entries()) assert.ok(Math.abs(w[i] - x) < 1e-12, `${name} row ${i} vs WB2`);
    }
    // Away from the poles each row's weight is close to cos φ relative to its neighbour's: no edge row dominates.
    if (name.startsWith("regional")) {
      const n = lat.length, deg = Math.PI / 180;
      for (const [a, b] of [[0, 1], [n - 1, n - 2]]) {
        const ratio = w[a] / w[b], cos = Math.cos(lat[a] * deg) / Math.cos(lat[b] * deg);
        assert.ok(Math.abs(ratio / cos - 1) < 1e-3, `${name} edge row ${a}: weight ratio ${ratio} vs cos ratio ${cos}`);
      }
    }
  }
  assert.deepEqual([...latitudeWeights([45])], [1]);
});

Deno.test("a regional map draws the data's extent plus a margin at 1° lat : 1° lon, not the whole world", async () => {
  // 60° N to 20° N at 1.25°, 0° E to 40° E: a regional store (it once sat in a corner of a world map).
  const lat = Float64Array.from({ length: 33 }, (_, i) => 60 - 1.25 * i),
    lon = Float64Array.from({ length: 33 }, (_, j) => 1.25 * j);
  assert.deepEqual(mapExtent(lat, lon), { global: false, lat: [15.25, 64.75], lon: [-4.75, 44.75] });
  assert.equal(
    mapExtent(
      Float64Array.from({ length: 37 }, (_, i) => 90 - 5 * i),
      new Float64Array(72)
        .map((_, j) => 5 * j),
    ).global,
    true,
  );
  const values = new Float32Array(33 * 33).map((_, k) => 101325 + 1500 * Math.sin(k / 40));
  const bytes = await forecastMapPng({ values, lat, lon }, { title: "msl +6 h", units: "Pa" });
  if (Deno.env.get("MAPS_OUT")) await Deno.writeFile(join(Deno.env.get("MAPS_OUT")!, "regional_map.png"), bytes);
  const png = decode(bytes);
  // Viridis pixels (the data) cover most of the panel: the panel is the extent, square here (49.25° × 49.25°).
  let data = 0, minX = Infinity, maxX = -Infinity, minY = Infinity, maxY = -Infinity;
  for (let y = 50; y < png.height; y++) {
    for (let x = 0; x < png.width - 130; x++) {
      const i = (y * png.width + x) * 4, [r, g, b] = [png.data[i], png.data[i + 1], png.data[i + 2]];
      // viridis: blue-green-yellow, never grey/white/black
      if (Math.max(r, g, b) - Math.min(r, g, b) > 60) {
        data++;
        (minX = Math.min(minX, x), maxX = Math.max(maxX, x), minY = Math.min(minY, y), maxY = Math.max(maxY, y));
      }
    }
  }
  const w = maxX - minX + 1, h = maxY - minY + 1;
  assert.ok(w > 300 && h > 300, `the data spans ${w} × ${h} pixels (a corner of a world map would be ~60 × 75)`);
  assert.ok(Math.abs(w / h - 1) < 0.05, `40° × 40° of data drawn square: ${w} × ${h}`);
  assert.ok(data > 0.9 * w * h, "the data fills its box");
});

Deno.test("colour-bar ticks are round, readable numbers; pressure is shown in hPa", () => {
  assert.deepEqual(niceTicks(99_200, 102_600, 5), { values: [100_000, 101_000, 102_000], decimals: 0 });
  const hpa = niceTicks(992, 1026, 5);
  assert.deepEqual(hpa.values, [1000, 1010, 1020]);
  assert.deepEqual(hpa.values.map((v) => tickLabel(v, hpa.decimals)), ["1000", "1010", "1020"]);
  const small = niceTicks(-0.013, 0.021, 4);
  assert.deepEqual(small.values.map((v) => tickLabel(v, small.decimals)), ["−0.01", "0.00", "0.01", "0.02"]);
  assert.equal(tickLabel(52_000, 0), "52\u2009000");
  assert.deepEqual(displayUnits("Pa"), { units: "hPa", factor: 0.01 });
  assert.deepEqual(displayUnits("K"), { units: "K", factor: 1 });
  assert.deepEqual(displayUnits("m**2 s**-2"), { units: "m² s⁻²", factor: 1 });
});
