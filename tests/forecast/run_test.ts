/**
 * The forecast engine end to end on advected waves: it beats persistence
 * after training, its store opens in xarray and is deterministic, training
 * resumes exactly, ensembles spread, shifted tilings reduce seams, and the
 * train and forecast tasks refuse bad checkpoints and configs.
 *
 * @module
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { convertEra5 } from "../../converters/era5/convert.ts";
import { expandInputs } from "../../cli/inputs.ts";
import { train } from "../../training/train.ts";
import { checkTrainConfig } from "../../training/config.ts";
import { trainForecastEngine } from "../../training/tasks/engine_rollout.ts";
import { runForecast } from "../../forecast/run.ts";
import type { PlaneScores } from "../../forecast/scores.ts";
import { scoreTable } from "../../forecast/report.ts";
import { deriveNormSet } from "../../normalization/derive.ts";
import { CheckpointError } from "../../errors.ts";
import { isEngineCheckpoint, readCheckpoint } from "../../models/checkpoint.ts";
import { exists, PYTHON, run, runTask, tempDir } from "../_helpers/common.ts";

/** Waves advected by a known wind (tests/oracles/advected_waves.py), converted; a tiny Multiformer trained briefly on them. */
let setup: Promise<{ dir: string; store: string; base: string }> | undefined;
function waves() {
  setup ??= (async () => {
    const dir = await tempDir();
    const r = await run(PYTHON, ["tests/oracles/advected_waves.py", dir, "60"]);
    assert.equal(r.code, 0, r.stderr);
    const store = (await convertEra5({
      inputs: expandInputs([join(dir, "waves_pl.nc"), join(dir, "waves_sfc.nc")]),
      out: join(dir, "waves.zarr"),
      workers: 0,
    })).out;
    const tokens = { numTokens: [2, 2, 4], tokenSize: [3, 6, 6] };
    const { config, layouts } = checkTrainConfig({
      sampler: {
        datasets: [{
          store,
          fields: [
            { name: "t", levels: [850], tokens, normalization: "local" },
            { name: "t2m", levels: [0], tokens, normalization: "local" },
          ],
        }],
        batchSize: 4,
        timeRange: ["2020-01-01T05", "2020-01-02T11"],
        masking: { strategy: "bert", rate: 0.5 },
        seed: 3,
      },
      loader: { workers: 0 },
      model: {
        dropout: 0,
        fields: [
          { field: "t", width: 32, encoderLayers: 1, decoderLayers: 1, heads: 2, coupledWith: ["t2m"], ensemble: 2 },
          { field: "t2m", width: 32, encoderLayers: 1, decoderLayers: 1, heads: 2, coupledWith: ["t"], ensemble: 2 },
        ],
      },
      optimizer: { lrMax: 1e-3, warmupSteps: 0 },
      schedule: { steps: 4, seed: 3 },
      checkpoints: { dir: join(dir, "base"), every: 4 },
    });
    const base = (await train(config, layouts)).checkpoint!;
    return { dir, store, base };
  })();
  return setup;
}

let engine: Promise<{ checkpoint: string; losses: number[] }> | undefined;
function trainedEngine() {
  engine ??= (async () => {
    const { dir, base } = await waves();
    return await trainForecastEngine(base, {
      engine: { latentWidth: 16, forecasterLayers: 1, heads: 2, neighbours: 3 },
      overlap: [0, 1],
      // Initial times to 01T23: with 4-step rollouts of 3 h its targets end at 02T11, where the base's windows end.
      timeRange: ["2020-01-01T05", "2020-01-01T23"],
      phases: [{ steps: 30, rollout: 2, lr: 3e-3 }, { steps: 10, rollout: 4, lr: 1e-3 }],
      latentNoise: 1e-4,
      seed: 5,
      checkpoints: { dir: join(dir, "engine") },
    });
  })();
  return engine;
}

Deno.test("forecast engine trained on advected waves beats persistence by ≥ 40% RMSE at 1–4 steps on held-out dates", async () => {
  const { dir, store } = await waves();
  const { checkpoint, losses } = await trainedEngine();
  assert.ok(losses.at(-1)! < losses[0], `training loss falls (${losses[0]} → ${losses.at(-1)})`);
  const r = await runForecast({
    checkpoint,
    inits: ["2020-01-02T12", "2020-01-02T18"],
    steps: 4,
    out: join(dir, "fc.zarr"),
    truth: store,
    mapSteps: [],
  });
  const lines: string[] = [];
  for (const s of r.scores!) {
    lines.push(
      `${s.field}/${s.level}: forecast ${s.rmse.forecast.map((x) => x.toFixed(3))} persistence ${
        s.rmse.persistence.map((x) => x.toFixed(3))
      } climatology ${s.rmse.climatology.map((x) => x.toFixed(3))} K`,
    );
  }
  console.log(lines.join("\n"));
  for (const s of r.scores!) {
    assert.deepEqual(s.leads, [3, 6, 9, 12]);
    for (const [i, f] of s.rmse.forecast.entries()) {
      assert.ok(
        f <= 0.6 * s.rmse.persistence[i],
        `${s.field}/${s.level} +${s.leads[i]} h: forecast RMSE ${f} vs persistence ${s.rmse.persistence[i]}`,
      );
    }
    assert.ok(s.acc.forecast.every((a) => a > 0.5), `ACC ${s.acc.forecast}`);
    assert.deepEqual(s.inSample, [0, 0, 0, 0], "held out: no initial or valid time inside a trained range");
  }
  assert.equal(r.inSample?.warning, undefined);
  assert.deepEqual(r.inSample?.hit, []);
});

Deno.test("checkpoints record the time ranges each stage trained on; scores inside them are marked in-sample", async () => {
  const { dir, store, base } = await waves();
  const { checkpoint } = await trainedEngine();
  const b = await readCheckpoint(base), e = await readCheckpoint(checkpoint);
  const multiformer = {
    stage: "masked-token",
    use: "train",
    configured: ["2020-01-01T05", "2020-01-02T11"],
    // Windows of 6 hourly steps end in the configured range: the first starts 5 h before it.
    data: ["2020-01-01T00:00Z", "2020-01-02T11:00Z"],
    store,
  };
  assert.deepEqual(b.header.timeRanges, [multiformer]);
  assert.deepEqual(e.header.timeRanges, [multiformer, {
    stage: "engine-rollout",
    use: "train",
    configured: ["2020-01-01T05", "2020-01-01T23"],
    // Inputs from the first initial time's window, targets to 4 steps of 3 h after the last.
    data: ["2020-01-01T00:00Z", "2020-01-02T11:00Z"],
    store,
  }]);
  // 02T06 + 3 h and + 6 h: the initial time is inside both ranges, 02T09 inside, 02T12 outside.
  const r = await runForecast({
    checkpoint,
    inits: ["2020-01-02T06", "2020-01-03T00"],
    steps: 3,
    out: join(dir, "insample.zarr"),
    truth: store,
    mapSteps: [],
  });
  for (const s of r.scores!) assert.deepEqual(s.inSample, [1, 1, 1], `${s.field}: the 02T06 init is in-sample`);
  assert.match(r.inSample!.warning!, /in-sample/);
  assert.match(r.inSample!.warning!, /masked-token train 2020-01-01T00:00Z … 2020-01-02T11:00Z/);
  assert.match(r.inSample!.warning!, /engine-rollout train/);
  const json = JSON.parse(await Deno.readTextFile(r.scoresPath!));
  assert.equal(json.trained_ranges.length, 2);
  assert.equal(json.in_sample_ranges.length, 2);
  assert.deepEqual(json.scores[0].inSample, [1, 1, 1]);
  const table = scoreTable(r.scores!).join("\n");
  assert.match(table, /in-sample/);
  assert.match(table, /3 h .* \* 1\/2/);
  // Only the held-out init: nothing marked.
  const held = await runForecast({
    checkpoint,
    inits: ["2020-01-03T00"],
    steps: 3,
    out: join(dir, "heldout.zarr"),
    truth: store,
    mapSteps: [],
  });
  for (const s of held.scores!) assert.deepEqual(s.inSample, [0, 0, 0]);
  assert.equal(held.inSample!.warning, undefined);
  assert.match(scoreTable(held.scores!).join("\n"), /3 h .* no/);
});

Deno.test("forecast store opens in xarray with its coordinates; a rerun is bit-identical (determinism); --layout wb2 holds the same members", async () => {
  const { dir, store } = await waves();
  const { checkpoint } = await trainedEngine();
  const outs = [join(dir, "det1.zarr"), join(dir, "det2.zarr"), join(dir, "det_wb2.zarr")];
  for (const [k, out] of outs.entries()) {
    await runForecast({
      checkpoint,
      inits: ["2020-01-02T12"],
      steps: 2,
      out,
      truth: store,
      members: 2,
      keepMembers: true,
      mapSteps: [2],
      layout: k === 2 ? "wb2" : "native",
    });
  }
  const r = await run(PYTHON, [
    "-c",
    `import xarray as xr, numpy as np, json, sys
a = xr.open_zarr(sys.argv[1]); b = xr.open_zarr(sys.argv[2]); s = xr.open_zarr(sys.argv[3]); w = xr.open_zarr(sys.argv[4])
f = a.t.sel(level=850).isel(init_time=0, lead_time=1)
truth = s.data.sel(time=np.datetime64("2020-01-02T18:00")).isel(field=0, level=0)
# WeatherBench 2's layout of the same run, renamed and reordered as the native one: the same members, bit for bit.
back = {"temperature": "t", "2m_temperature": "t2m"}
same_wb2 = all(
  np.array_equal(w[long].rename(time="init_time", prediction_timedelta="lead_time", number="member", latitude="lat", longitude="lon")
    .sortby("lat", ascending=False).transpose(*a[short + "_members"].dims).values, a[short + "_members"].values)
  for long, short in back.items())
print(json.dumps({
  "vars": sorted(a.data_vars), "dims": list(a.t.dims), "t2m_dims": list(a.t2m.dims), "members_dims": list(a.t_members.dims),
  "lead": (a.lead_time / np.timedelta64(1, "h")).values.tolist(), "lead_dtype": str(a.lead_time.dtype),
  "init": [str(x) for x in a.init_time.values], "init_dtype": str(a.init_time.dtype),
  "level": a.level.values.tolist(), "lat": [float(a.lat[0]), float(a.lat[-1]), a.sizes["lat"]],
  "lon": [float(a.lon[0]), float(a.lon[-1]), a.sizes["lon"]], "members": a.sizes["member"],
  "same": all(a[v].values.tobytes() == b[v].values.tobytes() for v in a.data_vars),
  "nan": {v: int(np.isnan(a[v].values).sum()) for v in a.data_vars},
  "rmse_vs_store": float(np.sqrt(((f.values - truth.values) ** 2).mean())),
  "mean_is_member_mean": max(float(np.abs(a[v + "_members"].mean("member") - a[v]).max()) for v in ("t", "t2m")),
  "units": {v: a[v].attrs["units"] for v in ("t", "t2m")}, "provenance": sorted(a.attrs["provenance"].keys()),
  "wb2_vars": sorted(w.data_vars), "wb2_dims": list(w.temperature.dims), "wb2_lat": w.latitude.values[[0, -1]].tolist(),
  "wb2_time": str(w.time.dtype), "wb2_lead": str(w.prediction_timedelta.dtype), "same_wb2": bool(same_wb2)}))`,
    ...outs.slice(0, 2),
    store,
    outs[2],
  ]);
  assert.equal(r.code, 0, r.stderr);
  const j = JSON.parse(r.stdout.trim().split("\n").at(-1)!);
  assert.deepEqual(j.vars, ["t", "t2m", "t2m_members", "t2m_spread", "t_members", "t_spread"]);
  assert.deepEqual(j.dims, ["init_time", "lead_time", "level", "lat", "lon"]);
  assert.deepEqual(j.t2m_dims, ["init_time", "lead_time", "lat", "lon"]);
  assert.deepEqual(j.members_dims, ["init_time", "lead_time", "member", "level", "lat", "lon"]);
  assert.deepEqual(j.lead, [3, 6], "lead_time decodes to 3 h and 6 h");
  assert.equal(j.lead_dtype, "timedelta64[ns]");
  assert.deepEqual(j.init, ["2020-01-02T12:00:00.000000000"]);
  assert.equal(j.init_dtype, "datetime64[ns]");
  assert.deepEqual(j.level, [850], "t's own levels only");
  assert.deepEqual(j.lat, [90, -90, 37]);
  assert.deepEqual(j.lon, [0, 355, 72]);
  assert.equal(j.members, 2);
  assert.ok(j.same, "two runs write the same bytes");
  for (const [v, n] of Object.entries(j.nan)) assert.equal(n, 0, `${v}: no NaN (no level a field lacks)`);
  assert.ok(j.rmse_vs_store < 3, `the forecast is in physical units near the truth (RMSE ${j.rmse_vs_store} K)`);
  assert.ok(j.mean_is_member_mean < 1e-3);
  assert.deepEqual(j.units, { t: "K", t2m: "K" });
  assert.deepEqual(j.wb2_vars, ["2m_temperature", "temperature"]);
  assert.deepEqual(j.wb2_dims, ["time", "prediction_timedelta", "number", "level", "longitude", "latitude"]);
  assert.deepEqual(j.wb2_lat, [-90, 90], "latitude ascending");
  assert.equal(j.wb2_time, "datetime64[ns]");
  assert.equal(j.wb2_lead, "timedelta64[ns]");
  assert.ok(j.same_wb2, "the wb2 store holds the native store's members, flipped and transposed");
  for (const k of ["base_checkpoint", "checkpoint", "coefficient_sets", "stores"]) assert.ok(j.provenance.includes(k));
});

Deno.test("deno task forecast refuses a checkpoint trained on another coefficient set, and leaves no store", async () => {
  const { dir, store } = await waves();
  const { checkpoint } = await trainedEngine();
  const other = join(dir, "other.norm.zarr");
  deriveNormSet({ store, out: other, from: "2020-01", to: "2020-01", pooling: "all" });
  const out = join(dir, "refused.zarr");
  await assert.rejects(
    runForecast({ checkpoint, inits: ["2020-01-02T12"], steps: 1, out, norm: other }),
    (e) => e instanceof CheckpointError && /another coefficient set/.test((e as Error).message),
  );
  const r = await runTask("forecast", [
    "--checkpoint",
    checkpoint,
    "--init",
    "2020-01-02T12",
    "--steps",
    "1",
    "--out",
    out,
    "--norm",
    other,
    "--quiet",
  ]);
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /trained on another coefficient set/);
  assert.throws(() => Deno.statSync(out));
  assert.throws(() => Deno.statSync(`${out}.partial`));
});

Deno.test("deno task train --stage forecast runs with the task's permissions; config errors name the key", async () => {
  const { dir, base } = await waves();
  const deno = (script: string, args: string[]) =>
    run(Deno.execPath(), ["run", "--allow-read", "--allow-write", "--allow-ffi", script, ...args]);
  const cfg = join(dir, "fc.json");
  await Deno.writeTextFile(
    cfg,
    JSON.stringify({
      engine: { latentWidth: 8, forecasterLayers: 1, heads: 2, neighbours: 2 },
      phases: [{ steps: 2, rollout: 1, lr: 1e-3 }],
      checkpoints: { dir: join(dir, "cli_engine") },
    }),
  );
  const r = await deno("tasks/train.ts", ["--stage", "forecast", "--from", base, "--config", cfg, "--quiet"]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /trained the forecast engine 2 steps \(2 in this run\)/);
  const ck = r.stdout.match(/checkpoint (\S+)/)![1];
  const f = await deno("tasks/forecast.ts", [
    "--checkpoint",
    ck,
    "--init",
    "2020-01-02T12",
    "--steps",
    "2",
    "--out",
    join(dir, "cli.zarr"),
    "--truth",
    (await waves()).store,
    "--layout",
    "wb2",
    "--quiet",
  ]);
  assert.equal(f.code, 0, f.stderr);
  assert.ok(exists(join(dir, "cli.zarr", "temperature", ".zarray")), "--layout wb2 names t `temperature`");
  assert.ok(!exists(join(dir, "cli.zarr", "t")));
  assert.match(f.stdout, /t\/850 {2}RMSE in K, 1 initial time\(s\)/);
  assert.match(f.stdout, /lead .* in-sample\n +3 h .* \* 1\/1\n +6 h .* \* 1\/1/);
  // The engine trained on the whole store (no timeRange): every score is in-sample, and the warning names its range
  // (not the base's, whose windows end at 02T11, before the initial time).
  assert.match(f.stderr, /warning: 4 of 4 scores .* are in-sample/);
  assert.doesNotMatch(f.stderr, /masked-token/);
  assert.match(f.stderr, /engine-rollout train 2020-01-01T00:00Z … 2020-01-03T11:00Z \(whole store\)/);
  assert.match(f.stdout, /map\s+\S+map_t850_2020-01-02T12_\+6h\.png/);
  await Deno.writeTextFile(cfg, JSON.stringify({ phases: [{ steps: 0, rollout: 1, lr: 1 }], checkpoints: { dir } }));
  const bad = await deno("tasks/train.ts", ["--stage", "forecast", "--from", base, "--config", cfg]);
  assert.notEqual(bad.code, 0);
  assert.match(bad.stderr, /phases\[0\]\.steps: must be a positive integer/);
  // A weight for a field the base does not have is an error, not a silent no-op.
  await Deno.writeTextFile(
    cfg,
    JSON.stringify({ fieldWeights: { tt: 2 }, phases: [{ steps: 1, rollout: 1, lr: 1e-3 }], checkpoints: { dir } }),
  );
  const weights = await deno("tasks/train.ts", ["--stage", "forecast", "--from", base, "--config", cfg]);
  assert.notEqual(weights.code, 0);
  assert.match(weights.stderr, /fieldWeights\.tt: is not a field of the base checkpoint \(t\b/);
  const noBase = await deno("tasks/train.ts", ["--stage", "forecast", "--config", cfg]);
  assert.match(noBase.stderr, /--from/);
  const layout = await deno("tasks/forecast.ts", [
    "--checkpoint",
    ck,
    "--init",
    "2020-01-02T12",
    "--steps",
    "1",
    "--out",
    join(dir, "l.zarr"),
    "--layout",
    "wb3",
  ]);
  assert.notEqual(layout.code, 0);
  assert.match(layout.stderr, /--layout: "wb3" is not a forecast store layout; one of native, wb2/);
});

Deno.test("forecast engine training: a run interrupted and resumed ends with the same weights as an uninterrupted one", async () => {
  const { dir, base } = await waves();
  const cfg = (sub: string) => ({
    engine: { latentWidth: 8, forecasterLayers: 1, heads: 2, neighbours: 2 },
    timeRange: ["2020-01-01T05", "2020-01-02T05"] as [string, string],
    phases: [{ steps: 3, rollout: 1, lr: 1e-3 }, { steps: 3, rollout: 2, lr: 5e-4 }],
    latentNoise: 0.01,
    seed: 9,
    checkpoints: { dir: join(dir, sub), every: 2, keep: 5 },
  });
  const whole = await trainForecastEngine(base, cfg("whole"));
  assert.equal(whole.steps, 6);
  const first = await trainForecastEngine(base, cfg("split"), { stopAfter: 4 });
  assert.equal(first.steps, 4);
  assert.match(first.checkpoint, /step-00000004\.ckpt$/);
  const rest = await trainForecastEngine(base, cfg("split"), { resume: true });
  assert.equal(rest.steps, 6);
  assert.equal(rest.losses.length, 2);
  assert.deepEqual(rest.losses, whole.losses.slice(4));
  const a = await readCheckpoint(whole.checkpoint), b = await readCheckpoint(rest.checkpoint);
  let n = 0;
  for (const [k, v] of a.tensors) {
    if (!k.startsWith("param:")) continue;
    assert.deepEqual(b.tensors.get(k), v, k);
    n++;
  }
  assert.ok(n > 10);
  assert.ok(isEngineCheckpoint(a), "an engine checkpoint");
  assert.match(a.header.forecast.base.sha256, /^[0-9a-f]{64}$/);
  assert.equal(a.header.forecast.base.path, base);
});

Deno.test("ensemble members from the Multiformer's tail ensemble: spread well above latent noise alone, mean still beats persistence", async () => {
  const { dir, store } = await waves();
  const { checkpoint } = await trainedEngine();
  const scores = new Map<number, PlaneScores[]>();
  for (const tailScale of [0, 0.5, 1]) {
    const r = await runForecast({
      checkpoint,
      inits: ["2020-01-02T12", "2020-01-02T18"],
      steps: 4,
      out: join(dir, `ens${tailScale}.zarr`),
      truth: store,
      members: 4,
      tailScale,
      mapSteps: [],
    });
    scores.set(tailScale, r.scores!);
  }
  const lines: string[] = [];
  for (const [i, s] of scores.get(1)!.entries()) {
    const latent = scores.get(0)![i], half = scores.get(0.5)![i];
    const f = (v: number[]) => v.map((x) => x.toFixed(3)).join(" ");
    lines.push(
      `${s.field}/${s.level}: spread/skill tail ${f(s.spreadSkill!)} (tail × 0.5 ${f(half.spreadSkill!)}, CRPS ` +
        `${f(half.crps!)}; latent noise only ${f(latent.spreadSkill!)}); ` +
        `CRPS tail ${f(s.crps!)} (latent ${f(latent.crps!)}); mean RMSE ${f(s.rmse.forecast)} ` +
        `persistence ${f(s.rmse.persistence)}; ACC ${f(s.acc.forecast)} clim ${f(s.acc.climatology)}`,
    );
  }
  console.log(lines.join("\n"));
  for (const [i, s] of scores.get(1)!.entries()) {
    const latent = scores.get(0)![i];
    for (const [k, ss] of s.spreadSkill!.entries()) {
      assert.ok(
        ss > 5 * latent.spreadSkill![k],
        `${s.field} +${s.leads[k]} h: spread/skill ${ss} vs ${latent.spreadSkill![k]}`,
      );
      assert.ok(s.rmse.forecast[k] < s.rmse.persistence[k], `${s.field} +${s.leads[k]} h: mean beats persistence`);
      // Half the tails' deviation is the calibrated one here (spread/skill ≈ 0.7–1.1): a better CRPS than noise.
      const half = scores.get(0.5)![i];
      assert.ok(
        half.crps![k] < latent.crps![k],
        `${s.field} +${s.leads[k]} h: CRPS ${half.crps![k]} vs ${latent.crps![k]}`,
      );
    }
    assert.deepEqual(s.acc.climatology, [0, 0, 0, 0]);
    assert.equal(s.acc.forecastByInit[0].length, 2);
  }
});

Deno.test("token-edge seams: a second tiling shifted by half a token, blended with token bumps, shrinks the jumps of the error at token edges", async () => {
  const { dir, store } = await waves();
  const { checkpoint } = await trainedEngine();
  const stats: Record<string, { edge: number[]; inside: number[]; rmse: number[] }> = {};
  for (const shiftedTiling of [false, true]) {
    const out = join(dir, `seam${shiftedTiling}.zarr`);
    await runForecast({
      checkpoint,
      inits: ["2020-01-02T12", "2020-01-02T18"],
      steps: 4,
      out,
      truth: store,
      shiftedTiling,
      mapSteps: [],
    });
    // Jumps of the error between neighbouring columns: across a token edge (every 6th column) vs inside tokens.
    const py = await run(PYTHON, [
      "-c",
      `import sys, json, numpy as np, xarray as xr
a = xr.open_zarr(sys.argv[1]); s = xr.open_zarr(sys.argv[2])
f = a.t.sel(level=850)
out = {"edge": [], "inside": [], "rmse": []}
for l in range(a.sizes["lead_time"]):
    de, di, se = [], [], []
    for i in range(a.sizes["init_time"]):
        e = f.isel(init_time=i, lead_time=l).values - s.data.sel(time=a.valid_time.values[i, l]).isel(field=0, level=0).values
        d = np.abs(e - np.roll(e, 1, axis=1))
        edge = (np.arange(e.shape[1]) % 6) == 0
        de.append(d[:, edge].mean()); di.append(d[:, ~edge].mean()); se.append((e ** 2).mean())
    out["edge"].append(float(np.mean(de))); out["inside"].append(float(np.mean(di))); out["rmse"].append(float(np.sqrt(np.mean(se))))
print(json.dumps(out))`,
      out,
      store,
    ]);
    assert.equal(py.code, 0, py.stderr);
    stats[String(shiftedTiling)] = JSON.parse(py.stdout);
  }
  const f = (v: number[]) => v.map((x) => x.toFixed(3)).join(" ");
  for (const [k, s] of Object.entries(stats)) {
    console.log(
      `shifted tiling ${k}: t 850 error jump at token edges ${f(s.edge)} K, inside tokens ${f(s.inside)} K, ` +
        `ratio ${f(s.edge.map((e, i) => e / s.inside[i]))}; RMSE (unweighted) ${f(s.rmse)} K`,
    );
  }
  const a = stats["false"], b = stats["true"];
  for (let l = 0; l < 4; l++) {
    assert.ok(a.edge[l] > 1.2 * a.inside[l], `lead ${l}: the single tiling shows token-edge seams`);
    assert.ok(b.edge[l] / b.inside[l] < a.edge[l] / a.inside[l], `lead ${l}: the shifted tiling shrinks them`);
  }
});
