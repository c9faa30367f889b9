/**
 * Multiformer training: exact resume, checkpoints refused against another
 * coefficient set or layout, config errors naming the key, the train task
 * and shipped configs, the training step in profile-loader, and the webgpu
 * backend switch.
 *
 * @module
 */
import assert from "node:assert/strict";
import { checkForecastTrainConfig } from "../../training/config.ts";
import { join } from "node:path";
import { convertEra5 } from "../../converters/era5/convert.ts";
import { expandInputs } from "../../cli/inputs.ts";
import { checkTrainConfig, type TrainConfig } from "../../training/config.ts";
import { train } from "../../training/train.ts";
import { FineTuneTask } from "../../training/tasks/fine_tune.ts";
import { readCheckpoint } from "../../models/checkpoint.ts";
import { ATMOREP_NETWORK } from "../../models/config.ts";
import { isPipelineError } from "../../errors.ts";
import { probeAdapter, webgpuDevice } from "../../ops/mod.ts";
import { decode } from "fast-png";
import { ROOT, run, SAMPLE, tempDir } from "../_helpers/common.ts";

let store: Promise<{ dir: string; store: string; norm: string }> | undefined;
/** The bundled sample converted once. */
function sampleStore() {
  store ??= (async () => {
    const dir = await tempDir();
    const s = await convertEra5({
      inputs: expandInputs([SAMPLE.legacy, SAMPLE.new]),
      out: join(dir, "era5.zarr"),
      workers: 0,
    });
    return { dir, store: s.out, norm: s.norm };
  })();
  return store;
}

/** configs/tiny.json on the converted sample, shrunk to a few steps. */
async function tinyConfig(dir: string, patch: (c: TrainConfig) => void = () => {}): Promise<TrainConfig> {
  const c = JSON.parse(await Deno.readTextFile(`${ROOT}configs/tiny.json`)) as TrainConfig;
  c.sampler.datasets[0].store = (await sampleStore()).store;
  c.checkpoints = { dir, every: 3, keep: 5 };
  c.schedule.steps = 6;
  c.validation!.every = 3;
  c.validation!.batches = 1;
  for (const f of c.model.fields) (f.width = 32, f.encoderLayers = 1, f.decoderLayers = 1);
  patch(c);
  return c;
}

Deno.test("train: a resumed run's next losses equal the uninterrupted run's (weights, moments, dropout, batches)", async () => {
  const base = await tempDir();
  const c1 = await tinyConfig(join(base, "a"));
  const full = await train(c1, checkTrainConfig(c1).layouts);
  const c2 = await tinyConfig(join(base, "b"));
  const first = await train(c2, checkTrainConfig(c2).layouts, { stopAfter: 3 });
  assert.deepEqual(first.losses, full.losses.slice(0, 3));
  const rest = await train(c2, checkTrainConfig(c2).layouts, { resume: true });
  assert.equal(rest.losses.length, 3);
  assert.deepEqual(rest.losses, full.losses.slice(3), "resumed losses equal the uninterrupted run's");
  const ck = await readCheckpoint(rest.checkpoint!);
  assert.equal(ck.header.step, 6);
  assert.equal(ck.header.coefficientSets[0].hash.length, 64);
  assert.deepEqual(ck.header.stores, [(await sampleStore()).store].map((s) => Deno.realPathSync(s)));
  // Metrics: one train line per step, validation at 3 and 6, none duplicated by the resume.
  const lines = (await Deno.readTextFile(rest.metrics)).trim().split("\n").map((l) => JSON.parse(l));
  assert.deepEqual(lines.filter((l) => l.kind === "train").map((l) => l.step), [1, 2, 3, 4, 5, 6]);
  assert.deepEqual(lines.filter((l) => l.kind === "validation").map((l) => l.step), [3, 6]);
  const png = decode(await Deno.readFile(rest.plot));
  assert.equal(png.width, 800);
});

Deno.test("train: a checkpoint is refused against another coefficient set or token layout, naming what differs", async () => {
  const base = await tempDir();
  const c = await tinyConfig(join(base, "run"), (c) => (c.schedule.steps = 1));
  await train(c, checkTrainConfig(c).layouts);
  // Another coefficient set: a copy of the set with one attribute changed.
  const { norm } = await sampleStore();
  const other = join(base, "other.norm.zarr");
  await run("cp", ["-r", norm, other]);
  const attrs = JSON.parse(await Deno.readTextFile(join(other, ".zattrs")));
  await Deno.writeTextFile(join(other, ".zattrs"), JSON.stringify({ ...attrs, note: "recomputed" }));
  const c2 = await tinyConfig(join(base, "run"), (c) => (c.schedule.steps = 2, c.sampler.datasets[0].norm = other));
  await assert.rejects(() => train(c2, checkTrainConfig(c2).layouts, { resume: true }), (e: Error) => {
    assert.ok(isPipelineError(e, "checkpoint"), String(e));
    assert.match(e.message, /coefficient set of dataset 0 differs/);
    assert.match(e.message, /other\.norm\.zarr/);
    return true;
  });
  const c3 = await tinyConfig(join(base, "run"), (c) => {
    c.schedule.steps = 2;
    for (const f of c.sampler.datasets[0].fields) f.tokens = { numTokens: [2, 2, 2], tokenSize: [3, 9, 9] };
  });
  await assert.rejects(() => train(c3, checkTrainConfig(c3).layouts, { resume: true }), (e: Error) => {
    assert.ok(isPipelineError(e, "checkpoint"), String(e));
    assert.match(
      e.message,
      /token layout of t differs: checkpoint grid 2 level\(s\) × 16 tokens .* this run grid 2 level\(s\) × 8 tokens/,
    );
    return true;
  });
});

Deno.test("train: configuration errors name the key", () => {
  const good = JSON.parse(Deno.readTextFileSync(`${ROOT}configs/tiny.json`));
  const cases: [(c: TrainConfig) => void, RegExp][] = [
    [(c) => (c.optimizer.lrMax = -1), /^optimizer\.lrMax: /],
    [(c) => (c.model.fields[1].heads = 5), /^model\.fields\[1\]\.heads: /],
    [(c) => (c.model.fields[0].coupledWith = ["nope"]), /^model\.fields\[0\]\.coupledWith: /],
    [(c) => (c.schedule.losses = ["l1" as never]), /^schedule\.losses\[0\]: unknown loss/],
    [(c) => delete (c as Partial<TrainConfig>).checkpoints, /^checkpoints: missing/],
  ];
  for (const [patch, re] of cases) {
    const c = structuredClone(good);
    patch(c);
    assert.throws(() => checkTrainConfig(c), (e: Error) => isPipelineError(e, "config") && re.test(e.message));
  }
});

Deno.test("train: a validation range without any window is a config error naming the key", async () => {
  const c = await tinyConfig(
    join(await tempDir(), "ck"),
    (c) => (c.validation!.timeRange = ["1990-01-01", "1990-01-02"]),
  );
  await assert.rejects(() => train(c, checkTrainConfig(c).layouts), (e: Error) => {
    assert.ok(isPipelineError(e, "config"), String(e));
    assert.match(e.message, /^validation\.timeRange: .*time/);
    return true;
  });
});

Deno.test("deno task train --config configs/tiny.json runs with the task's permissions", async () => {
  const base = await tempDir();
  const cfg = join(base, "tiny.json");
  const c = await tinyConfig(join(base, "ck"));
  await Deno.writeTextFile(cfg, JSON.stringify(c));
  const task = JSON.parse(await Deno.readTextFile(`${ROOT}deno.json`)).tasks.train as string;
  const flags = task.split(" ").filter((a) => a.startsWith("--allow"));
  const r = await run(Deno.execPath(), ["run", ...flags, `${ROOT}tasks/train.ts`, "--config", cfg, "--steps", "4"]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /backend cpu · matmul /);
  assert.match(r.stdout, /trained 4 steps/);
  assert.match(r.stdout, /loss curve .*loss\.png/);
  const lines = (await Deno.readTextFile(join(base, "ck", "metrics.jsonl"))).trim().split("\n");
  assert.equal(lines.filter((l) => l.includes('"train"')).length, 4);
  // A bad config fails with the key named and a non-zero exit.
  await Deno.writeTextFile(cfg, JSON.stringify({ ...c, optimizer: { lrMax: 0 } }));
  const bad = await run(Deno.execPath(), ["run", ...flags, `${ROOT}tasks/train.ts`, "--config", cfg]);
  assert.notEqual(bad.code, 0);
  assert.match(bad.stderr, /optimizer\.lrMax/);
});

Deno.test("train: every shipped configuration passes the checks; era5-multiformer has AtmoRep 2024's shape", () => {
  for (const e of Deno.readDirSync(`${ROOT}configs`)) {
    if (!e.name.endsWith(".json")) continue;
    const raw = JSON.parse(Deno.readTextFileSync(`${ROOT}configs/${e.name}`));
    // Forecast-engine configs (train --stage forecast) have their own checker.
    if ("engine" in raw) {
      checkForecastTrainConfig(raw, e.name);
      continue;
    }
    const { layouts } = checkTrainConfig(raw, e.name);
    assert.ok(layouts.length > 0, e.name);
  }
  // era5-multiformer = AtmoRep's core/train_multi.py (clessig/atmorep): its `cf.fields` in its order
  // (velocity_u, velocity_v, specific_humidity, velocity_z, temperature = u, v, q, w, t), the same model levels,
  // 12×3×6 tokens of 3×18×18 except temperature's 12×2×4 of 3×27×27 with `local` normalization, its coupling pattern
  // (not all-to-all), the loss weights of `fields_prediction`, the masking rates [0.5, 0.9, 0.2, 0.05] with AtmoRep's
  // corruption and forecast_num_tokens 2, 1024 wide, 6+6 layers of 16 heads, 16 tails, QK-LayerNorm in the encoder
  // (with_qk_lnorm), and AtmoRep's arithmetic (ATMOREP_NETWORK).
  const { config, layouts } = checkTrainConfig(
    JSON.parse(Deno.readTextFileSync(`${ROOT}configs/era5-multiformer.json`)),
  );
  const fields = config.sampler.datasets[0].fields;
  assert.deepEqual(layouts.map((l) => l.field), ["u", "v", "q", "w", "t"]);
  for (const f of fields) assert.deepEqual(f.levels, [96, 105, 114, 123, 137], f.name);
  assert.deepEqual(
    fields.map((f) => [f.name, f.tokens, f.normalization ?? "global"]),
    [
      ["u", { numTokens: [12, 3, 6], tokenSize: [3, 18, 18] }, "global"],
      ["v", { numTokens: [12, 3, 6], tokenSize: [3, 18, 18] }, "global"],
      ["q", { numTokens: [12, 3, 6], tokenSize: [3, 18, 18] }, "global"],
      ["w", { numTokens: [12, 3, 6], tokenSize: [3, 18, 18] }, "global"],
      ["t", { numTokens: [12, 2, 4], tokenSize: [3, 27, 27] }, "local"],
    ],
  );
  assert.deepEqual(layouts.map((l) => [l.levels * l.tokens, l.values]), [
    [1080, 972],
    [1080, 972],
    [1080, 972],
    [1080, 972],
    [480, 2187],
  ]);
  assert.deepEqual(
    config.model.fields.map((f) => [f.field, f.coupledWith, f.lossWeight]),
    [
      ["u", ["v", "t"], 0.225],
      ["v", ["u", "t"], 0.225],
      ["q", ["u", "v", "t"], 0.15],
      ["w", ["u", "v", "t"], 0.1],
      ["t", ["u", "v", "q"], 0.2],
    ],
  );
  for (const f of config.model.fields) {
    assert.deepEqual(
      [f.width, f.encoderLayers, f.decoderLayers, f.heads, f.decoderHeads ?? f.heads, f.couplingHeads, f.ensemble],
      [1024, 6, 6, 16, 16, 1, 16],
      f.field,
    );
  }
  const m = config.sampler.masking!;
  assert.deepEqual(
    [m.strategy, m.rate, m.fracMasked, m.fracNoised, m.fracMultires, m.corruption, m.forecastSlabs, m.synced ?? false],
    ["bert", 0.5, 0.9, 0.2, 0.05, "atmorep", 2, false],
  );
  assert.deepEqual(config.model.network, { ...ATMOREP_NETWORK, encoderQkNorm: true });
  assert.deepEqual([config.model.dropout, config.model.tokenInfoWidth], [0.05, 16]);
  assert.deepEqual(config.schedule.losses, ["mse_ensemble", "stats"]);
  // era5-velocity-u = AtmoRep's core/train.py: velocity_u alone, uncoupled, without QK-LayerNorm.
  const single = checkTrainConfig(JSON.parse(Deno.readTextFileSync(`${ROOT}configs/era5-velocity-u.json`)));
  assert.deepEqual(single.layouts.map((l) => [l.field, l.levels * l.tokens, l.values]), [["u", 1080, 972]]);
  assert.deepEqual(single.config.model.fields.map((f) => [f.coupledWith, f.lossWeight, f.ensemble]), [[[], 1, 16]]);
  assert.deepEqual(single.config.model.network, ATMOREP_NETWORK);
  const fesom = checkTrainConfig(JSON.parse(Deno.readTextFileSync(`${ROOT}configs/era5-fesom.json`)));
  assert.deepEqual(fesom.layouts.map((l) => l.kind), ["grid", "grid", "grid", "points"]);
});

Deno.test("profile-loader: the training step as consumer, its phases per batch and on the trace's model track", async () => {
  const c = await tinyConfig(join(await tempDir(), "ck"));
  const cfg = join(await tempDir(), "train.json");
  await Deno.writeTextFile(cfg, JSON.stringify(c));
  const trace = join(await tempDir(), "trace.json");
  const task = JSON.parse(await Deno.readTextFile(`${ROOT}deno.json`)).tasks["profile-loader"] as string;
  const flags = task.split(" ").filter((a) => a.startsWith("--allow"));
  const r = await run(Deno.execPath(), [
    "run",
    ...flags,
    `${ROOT}tasks/profile-loader.ts`,
    cfg,
    "--batches",
    "3",
    "--workers",
    "1",
    "--trace",
    trace,
  ]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /consumer: the training step/);
  assert.match(r.stdout, /model\s+inputs\s+forward\s+backward\s+optimizer/);
  const events = JSON.parse(await Deno.readTextFile(trace)).traceEvents as { name: string; tid: number; ph: string }[];
  const model = events.filter((e) => e.ph === "X" && ["forward", "backward", "optimizer"].includes(e.name));
  assert.equal(model.length, 9, "three phases per batch on the model track");
  assert.ok(events.some((e) => e.ph === "M" && (e as unknown as { args: { name: string } }).args.name === "model"));
});

Deno.test("deno task train --backend webgpu trains device-resident and says so; no adapter is a config error naming the key (auto: cpu); --backend tensorflow is refused", async () => {
  const base = await tempDir();
  const cfg = join(base, "tiny.json");
  await Deno.writeTextFile(cfg, JSON.stringify(await tinyConfig(join(base, "ck"))));
  const task = JSON.parse(await Deno.readTextFile(`${ROOT}deno.json`)).tasks.train as string;
  const flags = task.split(" ").filter((a) => a.startsWith("--allow"));
  const args = ["run", ...flags, `${ROOT}tasks/train.ts`, "--config", cfg, "--steps", "1", "--quiet"];
  const tf = await run(Deno.execPath(), [...args, "--backend", "tensorflow"]);
  assert.notEqual(tf.code, 0);
  assert.match(tf.stderr, /--backend: tensorflow: tfjs-node is not installed/);
  // No adapter at all (wgpu restricted to Vulkan, and the Vulkan loader told to load no driver): webgpu is a
  // config error with the install hint, auto falls back to cpu and says why.
  const noAdapter = async (backend: string) => {
    const out = await new Deno.Command(Deno.execPath(), {
      args: [...args, "--backend", backend],
      env: { DENO_WEBGPU_BACKEND: "vulkan", VK_LOADER_DRIVERS_DISABLE: "*", XDG_RUNTIME_DIR: "/tmp" },
      stdout: "piped",
      stderr: "piped",
    }).output();
    return { code: out.code, stderr: new TextDecoder().decode(out.stderr) };
  };
  const none = await noAdapter("webgpu");
  assert.notEqual(none.code, 0);
  assert.match(none.stderr, /--backend: webgpu: no WebGPU adapter; .*apt-get install mesa-vulkan-drivers/);
  const auto = await noAdapter("auto");
  assert.equal(auto.code, 0, auto.stderr);
  assert.match(auto.stderr, /backend cpu \(auto: no WebGPU adapter; no cuda: .*\) · matmul /);
  if (Deno.env.get("ATMOREP_ALLOW_NO_WEBGPU") === "1" && !(await probeAdapter())) {
    console.warn("no WebGPU adapter: the webgpu run is skipped because ATMOREP_ALLOW_NO_WEBGPU=1");
    return;
  }
  // The auto run above trained in the same checkpoint directory: this one starts over.
  const r = await run(Deno.execPath(), [...args, "--backend", "webgpu", "--start-over"]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /backend webgpu · device-resident on ".+"/);
  assert.match(r.stdout, /trained 1 steps/);
});

Deno.test("train --from: fine-tuning starts from the checkpoint's weights, step 0 and a fresh optimizer, and records where they came from", async () => {
  const base = await tempDir();
  const c = await tinyConfig(join(base, "pre"), (c) => (c.schedule.steps = 2));
  const layouts = checkTrainConfig(c).layouts;
  const pre = await train(c, layouts);
  const ck = await readCheckpoint(pre.checkpoint!);
  // The task's parameters are the checkpoint's, bit for bit.
  const ft = await tinyConfig(join(base, "fine"), (c) => {
    c.schedule.steps = 2;
    c.sampler.timeRange = ["2020-02-01T05:00", "2020-02-01T08:00"];
  });
  const task = await FineTuneTask.startingFrom(pre.checkpoint!, ft, layouts);
  for (const [name, t] of task.params) assert.deepEqual(t.data, ck.tensors.get(`param:${name}`), name);
  // A run from it counts its own steps, records the checkpoint, and its first loss is not a fresh network's.
  const tuned = await train(ft, layouts, { from: pre.checkpoint! });
  assert.equal(tuned.steps, 2);
  assert.notEqual(tuned.losses[0], pre.losses[0]);
  const h = (await readCheckpoint(tuned.checkpoint!)).header;
  assert.equal(h.task, "masked-token");
  assert.ok(h.task === "masked-token" && h.from);
  assert.equal(h.from.step, 2);
  assert.equal(h.from.path, Deno.realPathSync(pre.checkpoint!));
  const sha = await crypto.subtle.digest("SHA-256", await Deno.readFile(pre.checkpoint!));
  assert.equal(h.from.sha256, [...new Uint8Array(sha)].map((b) => b.toString(16).padStart(2, "0")).join(""));
  // Its time ranges: those of the checkpoint it started from (train, validation), then its own training range.
  const before = ck.header.timeRanges!;
  assert.deepEqual(before.map((r) => [r.stage, r.use]), [["masked-token", "train"], ["masked-token", "validation"]]);
  assert.deepEqual(h.timeRanges!.slice(0, 2), before);
  assert.equal(h.timeRanges!.length, 3);
  assert.deepEqual(h.timeRanges![2].configured, ["2020-02-01T05:00", "2020-02-01T08:00"]);
  assert.deepEqual(h.timeRanges![2].data, ["2020-02-01T00:00Z", "2020-02-01T08:00Z"]);
  // A checkpoint of another network is refused, naming the file and what differs.
  const other = await tinyConfig(join(base, "other"), (c) => (c.model.fields[0].width = 48));
  await assert.rejects(
    () => train(other, checkTrainConfig(other).layouts, { from: pre.checkpoint! }),
    (e) =>
      isPipelineError(e, "checkpoint") && e.message.includes(pre.checkpoint!) && /parameter .* is \[/.test(e.message),
  );
});

Deno.test("train on the webgpu device: the loop's losses, validations and checkpoints equal cpu's, and a resume continues on the device", async () => {
  let device;
  try {
    device = await webgpuDevice();
  } catch (e) {
    if (Deno.env.get("ATMOREP_ALLOW_NO_WEBGPU") !== "1") throw e;
    console.warn(`SKIPPED: the webgpu device cannot start (${(e as Error).message}); ATMOREP_ALLOW_NO_WEBGPU=1`);
    return;
  }
  try {
    const base = await tempDir();
    // No dropout: the device draws its masks from its own hash (ops/device.ts), not the CPU's stream.
    const config = (dir: string) => tinyConfig(join(base, dir), (c) => (c.model.dropout = 0));
    const c = await config("cpu");
    const cpu = await train(c, checkTrainConfig(c).layouts);
    const d1 = await config("device");
    const layouts = checkTrainConfig(d1).layouts;
    const first = await train(d1, layouts, { device, stopAfter: 4 });
    const rest = await train(d1, layouts, { device, resume: true });
    const losses = [...first.losses, ...rest.losses];
    assert.equal(losses.length, 6);
    for (const [i, l] of losses.entries()) {
      assert.ok(
        Math.abs(l - cpu.losses[i]) <= 1e-4 * cpu.losses[i],
        `step ${i + 1}: webgpu ${l}, cpu ${cpu.losses[i]}`,
      );
    }
    for (const [k, v] of Object.entries(cpu.validation!)) {
      assert.ok(
        Math.abs(rest.validation![k] - v) <= 1e-4 * v,
        `validation ${k}: webgpu ${rest.validation![k]}, cpu ${v}`,
      );
    }
    const lines = (await Deno.readTextFile(rest.metrics)).trim().split("\n").map((l) => JSON.parse(l));
    assert.deepEqual(lines.filter((l) => l.kind === "train").map((l) => l.step), [1, 2, 3, 4, 5, 6]);
    assert.ok(
      lines.every((l) => l.kind !== "train" || Number.isFinite(l.gradNorm)),
      "every line has its gradient norm",
    );
    // Weights and moments to 1e-3 of the largest of their kind: a key bias's gradient is zero but for rounding,
    // which AdamW's normalization turns into ±lr steps on either backend, so a per-tensor scale would test noise.
    const [a, b] = [await readCheckpoint(cpu.checkpoint!), await readCheckpoint(rest.checkpoint!)];
    const largest = new Map<string, number>();
    for (const [name, v] of a.tensors) {
      const kind = name.split(":")[0];
      for (const x of v) largest.set(kind, Math.max(largest.get(kind) ?? 0, Math.abs(x)));
    }
    for (const [name, want] of a.tensors) {
      const got = b.tensors.get(name)!, scale = largest.get(name.split(":")[0])!;
      for (let i = 0; i < want.length; i++) {
        assert.ok(Math.abs(got[i] - want[i]) <= 1e-3 * scale, `${name}[${i}]: webgpu ${got[i]}, cpu ${want[i]}`);
      }
    }
  } finally {
    device.close();
  }
});
