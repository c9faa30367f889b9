/**
 * Forecasts with mesh fields: FESOM sst rolls out under ERA5 tiles, mesh
 * nodes are blended by taper weight, and the forecast store holds the mesh
 * with the FESOM store's coordinates.
 *
 * @module
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { MultifieldSampler, type SamplerConfig } from "../../samplers/sampler.ts";
import { GlobalRollout, type Stepper } from "../../forecast/rollout.ts";
import { ForecastStoreWriter } from "../../forecast/store.ts";
import { TileBlender } from "../../forecast/blend.ts";
import { trainForecastEngine } from "../../training/tasks/engine_rollout.ts";
import { runForecast } from "../../forecast/run.ts";
import { train } from "../../training/train.ts";
import { checkTrainConfig } from "../../training/config.ts";
import type { TokenGrid } from "../../tokenizers/patches.ts";
import type { PointTokens } from "../../tokenizers/healpix_points.ts";
import { ArrayReader } from "../../zarr/reader.ts";
import { era5AndFesomStores, PYTHON, run, tempDir } from "../_helpers/common.ts";

const GRID: TokenGrid = { numTokens: [2, 2, 4], tokenSize: [3, 9, 9] };
const POINTS: PointTokens = { pointsPerToken: 16, healpixOrder: 4, maxTokens: 256, timeSteps: 1 };

let stores: Promise<{ era5: string; fesom: string; dir: string }> | undefined;
function twoStores(): Promise<{ era5: string; fesom: string; dir: string }> {
  stores ??= (async () => {
    const dir = await tempDir();
    return { ...(await era5AndFesomStores(dir)), dir };
  })();
  return stores;
}

async function config(): Promise<SamplerConfig> {
  const { era5, fesom } = await twoStores();
  return await config0(era5, fesom);
}

function config0(era5: string, fesom: string): SamplerConfig {
  return {
    datasets: [
      { store: era5, fields: [{ name: "t2m", levels: [0], tokens: GRID, normalization: "local" }] },
      { store: fesom, fields: [{ name: "sst", levels: [0], tokens: POINTS }] },
    ],
    batchSize: 1,
    masking: { strategy: "forecast" },
    seed: 1,
  };
}

/**
 * A stepper that knows the future, as the sampler cuts it from the stores at the next window end; it checks that
 * the rollout fed it the sampler's own tokens, token info and point slots (grid and mesh).
 */
function oracle(s: MultifieldSampler, r: GlobalRollout, overlap: [number, number], seen: { checked: number }): Stepper {
  const [nt, nh, nw] = GRID.numTokens, N = nt * nh * nw, P = nh * nw;
  const V = GRID.tokenSize[0] * GRID.tokenSize[1] * GRID.tokenSize[2];
  return (fields, ctx) => {
    const end = ctx.times[ctx.times.length - 1];
    const now = s.batchAt(s.tiles(end, overlap), { masking: { strategy: "forecast" } });
    for (const [i, f] of fields.entries()) {
      const want = now.fields[i];
      assert.deepEqual(f.tokenInfo, want.tokenInfo, `${f.field}: token info at step ${ctx.step}`);
      if (want.points) {
        assert.deepEqual(f.points!.index, want.points.index, `${f.field}: point slots`);
        assert.deepEqual(f.points!.t0, want.points.t0, `${f.field}: mesh steps`);
      }
      let worst = 0;
      for (let k = 0; k < f.tokens.length; k++) worst = Math.max(worst, Math.abs(f.tokens[k] - want.tokens[k]));
      assert.ok(worst < 2e-4, `${f.field}: fed-back tokens differ from the sampler's by ${worst} at step ${ctx.step}`);
      seen.checked++;
    }
    const next = end + r.stepSteps * r.dt;
    const future = s.batchAt(s.tiles(next, overlap), { masking: { strategy: "forecast" } });
    // The grid's future in the units of the input's last step, which a stepper predicts in (forecast/rollout.ts).
    const grid = r.fieldBatches(r.stateAt(next), ctx.tiles, end);
    const out = new Map<string, Float32Array>();
    for (const [i, mesh] of future.fields.entries()) {
      if (mesh.points) {
        out.set(mesh.field, mesh.tokens.slice()); // one mesh step per token: the next step is all of it
        continue;
      }
      const f = grid[i];
      const L = f.levels.length, B = ctx.tiles.length, x = new Float32Array(B * L * P * V);
      for (let b = 0; b < B; b++) {
        for (let l = 0; l < L; l++) {
          const src = ((b * L + l) * N + (nt - 1) * P) * V;
          x.set(f.tokens.subarray(src, src + P * V), (b * L + l) * P * V);
        }
      }
      out.set(f.field, x);
    }
    return out;
  };
}

Deno.test("mesh fields roll out with the atmosphere: FESOM sst under ERA5 tiles round-trips through the loop", async () => {
  const { fesom } = await twoStores();
  const s = new MultifieldSampler(await config());
  const raw = new ArrayReader(fesom, "data_sfc").read() as Float32Array; // (time, field, node)
  const times = Array.from(new ArrayReader(fesom, "time").read() as BigInt64Array, Number);
  const n = raw.length / times.length;
  for (const overlap of [[0, 1], [1, 2]] as [number, number][]) {
    const r = new GlobalRollout(s, overlap);
    assert.deepEqual(r.meshPlanes.map((p) => [p.field, p.points]), [["sst", n]]);
    const init = "2020-01-31T17";
    let state = r.stateAt(init);
    assert.equal(state.mesh![0].times[0], times[0], "under a window ending 2020-01-31T17 the mesh's December step");
    const tiles = r.tiles(init);
    const seen = { checked: 0 };
    const stepper = oracle(s, r, overlap, seen);
    let advanced = 0;
    for (let step = 0; step < 4; step++) {
      const before = state.mesh![0];
      state = r.step(state, tiles, stepper, step).state;
      const end = state.times[state.times.length - 1];
      const mesh = state.mesh![0];
      const k = times.filter((t) => t <= end).length - 1;
      assert.equal(mesh.t0, k, `step ${step}: the mesh's last step at or before the window end`);
      assert.equal(mesh.times[0], times[k]);
      if (mesh !== before) advanced++;
      // The rolled-out sst equals the store's at every node (blended per point where tiles overlap).
      let worst = 0, nodes = 0;
      for (let q = 0; q < n; q++) {
        const want = raw[k * n + q];
        worst = Math.max(worst, Math.abs(mesh.values[q] - want) / Math.max(1, Math.abs(want)));
        nodes++;
      }
      assert.ok(worst < 1e-5, `overlap ${overlap} step ${step}: mesh differs by ${worst} over ${nodes} nodes`);
    }
    assert.equal(advanced, 1, "the monthly mesh advances once in 12 h (at 2020-01-31T23:54)");
    assert.equal(seen.checked, 4 * 2);
  }
});

Deno.test("mesh blending: where tiles disagree a node gets a taper-weighted mean of the tiles that hold it", async () => {
  const s = new MultifieldSampler(await config());
  const r = new GlobalRollout(s, [0, 1]);
  const init = "2020-01-31T20";
  const tiles = r.tiles(init);
  const state = r.stateAt(init);
  const fields = r.fieldBatches(state, tiles);
  const sst = fields[1], slots = POINTS.maxTokens * POINTS.pointsPerToken;
  // Every tile predicts its own index (normalized): a node in one tile gets it exactly, a shared one a mean.
  const next = new Map<string, Float32Array>([
    ["sst", Float32Array.from({ length: tiles.length * slots }, (_, k) => Math.floor(k / slots))],
  ]);
  // Blend directly and check against the tiles that hold each node.
  const taper = new TileBlender(r.grid, { tile: [18, 36], overlap: [0, 9] });
  const blended = r.mesh!.blend(next, new Map([[1, sst]]), tiles, taper, [18, 36])[0];
  const holders = new Map<number, number[]>();
  for (let b = 0; b < tiles.length; b++) {
    for (let k = 0; k < slots; k++) {
      const q = sst.points!.index[b * slots + k];
      if (q >= 0) holders.set(q, [...(holders.get(q) ?? []), b]);
    }
  }
  let single = 0, shared = 0, between = 0;
  for (const [q, bs] of holders) {
    if (bs.length === 1) {
      assert.equal(blended[q], bs[0]);
      single++;
    } else {
      const lo = Math.min(...bs), hi = Math.max(...bs);
      assert.ok(blended[q] >= lo - 1e-6 && blended[q] <= hi + 1e-6, `node ${q}`);
      if (blended[q] > lo + 1e-3 && blended[q] < hi - 1e-3) between++;
      shared++;
    }
  }
  assert.ok(single > 0 && shared > 0, `${single} nodes in one tile, ${shared} in several`);
  assert.ok(between > shared / 4, `${between} of ${shared} shared nodes get a mixture (taper weights)`);
  assert.equal(holders.size, blended.filter((v) => !Number.isNaN(v)).length, "every held node has a value");
});

Deno.test("a forecast store with a mesh field opens in xarray: node dimension with the FESOM store's coordinates, valid_time", async () => {
  const { fesom, dir } = await twoStores();
  const lat = new ArrayReader(fesom, "lat").read() as Float64Array;
  const lon = new ArrayReader(fesom, "lon").read() as Float64Array;
  const out = join(dir, "forecast.zarr");
  const inits = [Date.UTC(2020, 1, 1) / 1000];
  const w = new ForecastStoreWriter({
    out,
    inits,
    leads: [3, 6],
    fields: ["t2m"],
    levels: { t2m: [0] },
    lat: Float64Array.from([90, 0, -90]),
    lon: Float64Array.from([0, 120, 240]),
    members: 2,
    mesh: { fields: ["sst"], levels: { sst: [0] }, lat, lon, fieldMetadata: { sst: { units: "degC" } } },
  });
  for (let lead = 0; lead < 2; lead++) {
    w.write(0, lead, "t2m", 0, [new Float32Array(9).fill(lead), new Float32Array(9).fill(lead + 2)]);
    w.writeMesh(0, lead, "sst", 0, [
      Float32Array.from(lat, (v) => v + lead),
      Float32Array.from(lat, (v) => v + lead + 1),
    ]);
  }
  w.finish();
  const py = await run(PYTHON, [
    "-c",
    `
import sys, json, xarray as xr, numpy as np
ds = xr.open_zarr(sys.argv[1])
m = ds["sst"]
assert m.dims == ("init_time", "lead_time", "node"), m.dims
assert m.attrs["units"] == "degC" and m.attrs["standard_name"] == "sea_surface_temperature", m.attrs
assert "node_lat" in m.coords and "node_lon" in m.coords and "valid_time" in ds["t2m"].coords
vt = ds["valid_time"].values
print(json.dumps({
  "lat": ds["node_lat"].values[:5].tolist(), "n": int(ds.sizes["node"]),
  "mean0": float(m.sel(lead_time=np.timedelta64(6, "h")).isel(init_time=0, node=7)),
  "spread": float(ds["sst_spread"].isel(init_time=0, lead_time=0, node=3)),
  "members": list(ds["sst_members"].dims),
  "valid": [str(v)[:19] for v in vt[0]],
}))
`,
    out,
  ]);
  assert.equal(py.code, 0, py.stderr);
  const got = JSON.parse(py.stdout);
  assert.equal(got.n, lat.length);
  assert.deepEqual(got.lat, Array.from(lat.subarray(0, 5)));
  assert.ok(Math.abs(got.mean0 - (lat[7] + 1.5)) < 1e-4, `mean ${got.mean0}`);
  assert.ok(Math.abs(got.spread - Math.SQRT1_2) < 1e-5, `spread ${got.spread}`);
  assert.deepEqual(got.members, ["init_time", "lead_time", "member", "node"]);
  assert.deepEqual(got.valid, ["2020-02-01T03:00:00", "2020-02-01T06:00:00"]);
});

Deno.test("an ERA5 + FESOM Multiformer's forecast rolls the FESOM sst out too and writes it on the mesh's nodes", async () => {
  const { era5, fesom, dir } = await twoStores();
  const { config, layouts } = checkTrainConfig({
    sampler: { ...(await config0(era5, fesom)), batchSize: 2, masking: { strategy: "bert", rate: 0.5 }, seed: 3 },
    loader: { workers: 0 },
    model: {
      dropout: 0,
      fields: ["t2m", "sst"].map((f) => ({
        field: f,
        width: 32,
        encoderLayers: 1,
        decoderLayers: 1,
        heads: 2,
        coupledWith: [f === "t2m" ? "sst" : "t2m"],
        ensemble: 2,
      })),
    },
    optimizer: { lrMax: 1e-3, warmupSteps: 0 },
    schedule: { steps: 2, seed: 3 },
    checkpoints: { dir: join(dir, "base"), every: 2 },
  });
  const base = (await train(config, layouts)).checkpoint!;
  const { checkpoint, losses } = await trainForecastEngine(base, {
    engine: { latentWidth: 8, forecasterLayers: 1, heads: 2, neighbours: 2 },
    overlap: [0, 1],
    timeRange: ["2020-01-31T20", "2020-01-31T23"],
    phases: [{ steps: 2, rollout: 2, lr: 1e-3 }],
    seed: 5,
    checkpoints: { dir: join(dir, "engine") },
  });
  assert.ok(losses.every(Number.isFinite), `losses ${losses}`);
  const out = join(dir, "mesh_forecast.zarr");
  const r = await runForecast({ checkpoint, inits: ["2020-01-31T20"], steps: 3, out, members: 2, truth: era5 });
  const ms = r.meshScores!.find((x) => x.field === "sst")!;
  const f = (v: number[]) => v.map((x) => x.toFixed(3)).join(" ");
  console.log(
    `sst on the FESOM nodes, RMSE by lead ${ms.leads.join("/")} h: forecast ${f(ms.rmse.forecast)}, persistence ` +
      `${f(ms.rmse.persistence)}, climatology ${f(ms.rmse.climatology)}; spread/skill ${f(ms.spreadSkill!)}`,
  );
  // The January step is December's + 0.5 K at every node (tests/oracles/fesom_cases.py): persistence errs by exactly 0.5.
  assert.deepEqual(ms.leads, [3, 6, 9]);
  assert.equal(ms.rmse.persistence[0], 0);
  assert.ok(Math.abs(ms.rmse.persistence[1] - 0.5) < 1e-4, `persistence RMSE ${ms.rmse.persistence[1]}`);
  assert.equal(ms.rmse.forecast[0], 0, "no mesh step yet: the December field itself");
  const raw = new ArrayReader(fesom, "data_sfc").read() as Float32Array; // (time, field, node): December, January
  const n = raw.length / 2;
  const sst = new ArrayReader(out, "sst").read() as Float32Array; // (1, 3, node): the surface field has no level dim
  // +3 h (valid 23:00): the mesh has not reached its January step: the December field, unchanged.
  for (let q = 0; q < n; q++) assert.equal(sst[q], raw[q]);
  // +6 h (valid 02:00): the engine predicted the January step at every node, a change from December.
  let changed = 0, worst = 0;
  for (let q = 0; q < n; q++) {
    const v = sst[n + q];
    assert.ok(Number.isFinite(v), `node ${q} at +6 h`);
    if (v !== raw[q]) changed++;
    worst = Math.max(worst, Math.abs(v - raw[q]));
  }
  assert.ok(changed > n / 2, `${changed} of ${n} nodes changed when the mesh stepped`);
  assert.ok(worst < 10, `an untrained engine stays near persistence (worst change ${worst} K)`);
  const spread = new ArrayReader(out, "sst_spread").read() as Float32Array;
  assert.ok(spread.subarray(n, 2 * n).some((v) => v > 0), "members differ on the mesh once it steps");
});
