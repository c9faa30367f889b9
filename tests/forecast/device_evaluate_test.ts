/**
 * `evaluate` with a device (what `deno task evaluate --backend webgpu|cuda`
 * passes): a tiny Multiformer (t and u, coupled; dropout 0.2 in its
 * configuration, which evaluation must leave off) evaluated in BERT and
 * global_forecast modes on each device of tests/_helpers/devices.ts writes
 * results that zarr-python reads equal to the CPU run's: the target and
 * source exactly, pred and ens within 1e-5 of each array's RMS; one read per
 * batch (BERT: both dates' windows in one; global_forecast: one per date, its
 * tiles); the blended global forecast scores as on cpu.
 *
 * @module
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { convertEra5 } from "../../converters/era5/convert.ts";
import { expandInputs } from "../../cli/inputs.ts";
import { checkTrainConfig, type TrainConfig } from "../../training/config.ts";
import { Multiformer } from "../../models/multiformer.ts";
import { evaluate, type EvaluateMode, type EvaluateOptions } from "../../forecast/evaluate.ts";
import { deviceTests } from "../_helpers/devices.ts";
import { PYTHON, ROOT, run, SAMPLE, tempDir } from "../_helpers/common.ts";

/** Compare the arrays of two results stores with zarr-python: per array, max |a − b| / RMS(b). */
const COMPARE = `
import sys, json, zarr, numpy as np
out = {}
for kind in ["source", "target", "pred", "ens"]:
    a = zarr.open(zarr.ZipStore(f"{sys.argv[1]}_{kind}.zarr", mode="r"), mode="r")
    b = zarr.open(zarr.ZipStore(f"{sys.argv[2]}_{kind}.zarr", mode="r"), mode="r")
    worst = [0.0, 0]
    def visit(name, x):
        if not isinstance(x, zarr.Array) or not name.endswith("data"): return
        u, v = np.asarray(x[...], np.float64), np.asarray(b[name][...], np.float64)
        assert u.shape == v.shape, name
        rms = float(np.sqrt(np.mean(v * v))) if v.size else 1.0
        worst[0] = max(worst[0], float(np.max(np.abs(u - v))) / rms if v.size else 0.0)
        worst[1] += 1
    a.visititems(visit)
    out[kind] = worst
print(json.dumps(out))
`;

/** The sample converted and the run's configuration (t and u; a tiny network). */
async function setup(): Promise<{ dir: string; config: TrainConfig }> {
  const dir = await tempDir();
  const s = await convertEra5({
    inputs: expandInputs([SAMPLE.legacy, SAMPLE.new]),
    out: join(dir, "era5.zarr"),
    workers: 0,
  });
  const c = JSON.parse(await Deno.readTextFile(`${ROOT}configs/tiny.json`)) as TrainConfig;
  c.sampler.datasets[0].store = s.out;
  c.sampler.datasets[0].fields = c.sampler.datasets[0].fields.filter((f) => f.name !== "sst");
  c.sampler.masking = { strategy: "bert", rate: 0.5 };
  c.model.dropout = 0.2;
  c.model.fields = c.model.fields.filter((f) => f.field !== "sst")
    .map((f) => ({ ...f, width: 32, encoderLayers: 1, decoderLayers: 1, heads: 2, ensemble: 3 }));
  c.model.fields[0].coupledWith = ["u"];
  return { dir, config: c };
}

// Set up here, outside the tests' leak checks (the conversion loads libraries).
const { dir, config } = await setup();
const model = () => new Multiformer(config.model, checkTrainConfig(config).layouts, 7);
const options = (mode: EvaluateMode, out: string): EvaluateOptions => ({
  config,
  model: model(),
  mode,
  dates: ["2020-02-01T04:00", "2020-02-01T07:00"],
  center: [50, 10],
  forecastTokens: 1,
  overlap: [0, 1],
  out: join(dir, out),
  id: mode,
  epoch: 0,
  seed: 3,
  global: mode === "global_forecast"
    ? { out: join(dir, out, "g.zarr"), evalDir: join(dir, out, "g.eval"), ranges: null, checkpoint: "random init" }
    : undefined,
});
const cpu = {
  BERT: await evaluate(options("BERT", "cpu-bert")),
  global_forecast: await evaluate(options("global_forecast", "cpu-global")),
};

for (const mode of ["BERT", "global_forecast"] as const) {
  const batches = mode === "global_forecast" ? 2 : 1; // global_forecast: one batch per date (its tiles)
  deviceTests("evaluate", `${mode} on the device writes cpu's results, one read per batch`, async (d, kind) => {
    let reads = 0;
    const read = d.read.bind(d);
    d.read = (...a) => (reads++, read(...a));
    const r = await evaluate({ ...options(mode, `${kind}-${mode}`), device: d });
    assert.equal(reads, batches, "one read per batch");
    assert.equal(r.samples, cpu[mode].samples);
    const prefix = (p: string) => p.replace(/_ens\.zarr$/, "");
    const ens = (paths: string[]) => prefix(paths.find((p) => p.endsWith("_ens.zarr"))!);
    const c = await run(PYTHON, ["-c", COMPARE, ens(r.paths), ens(cpu[mode].paths)]);
    assert.equal(c.code, 0, c.stderr);
    const worst = JSON.parse(c.stdout) as Record<string, [number, number]>;
    for (const k of ["source", "target", "pred", "ens"]) assert.ok(worst[k][1] > 0, `${k}: arrays compared`);
    assert.equal(worst.source[0], 0, "the source is the host's");
    assert.equal(worst.target[0], 0, "the target is the host's");
    // 1e-5 of the RMS: float32 sums in another order (device kernels) through a 1-layer network, then × std + mean
    for (const k of ["pred", "ens"]) assert.ok(worst[k][0] <= 1e-5, `${kind} ${mode} ${k}: ${worst[k][0]} of RMS`);
    if (mode === "global_forecast") {
      for (const [i, want] of cpu[mode].global!.scores.entries()) {
        const got = r.global!.scores[i];
        for (const [j, w] of want.rmse.forecast.entries()) {
          assert.ok(Math.abs(got.rmse.forecast[j] - w) <= 1e-5 * w, `${kind} RMSE ${got.rmse.forecast[j]} vs ${w}`);
        }
      }
    }
    console.log(
      `${kind} ${mode}: pred within ${worst.pred[0].toExponential(1)}, ens ${worst.ens[0].toExponential(1)}` +
        ` of RMS; forward ${r.seconds.forward.toFixed(2)} s (cpu ${cpu[mode].seconds.forward.toFixed(2)} s)`,
    );
  });
}

Deno.test("evaluate: dropout stays off (a configured dropout of 0.2 gives the results of dropout 0, bit for bit)", async () => {
  const off = { ...config, model: { ...config.model, dropout: 0 } };
  const m = new Multiformer(off.model, checkTrainConfig(off).layouts, 7);
  const again = await evaluate({ ...options("BERT", "cpu-bert-off"), config: off, model: m });
  const stem = (p: string[]) => p[0].replace(/_source\.zarr$/, "");
  const c = await run(PYTHON, ["-c", COMPARE, stem(again.paths), stem(cpu.BERT.paths)]);
  assert.equal(c.code, 0, c.stderr);
  const worst = JSON.parse(c.stdout) as Record<string, [number, number]>;
  assert.deepEqual([worst.pred[0], worst.ens[0]], [0, 0]);
});
