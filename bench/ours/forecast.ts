/**
 * `deno task bench:forecast [--steps N] [--threads N]`: seconds per global
 * rollout step of the forecast engine at the `tiny` configuration (3°
 * globe, tiny Multiformer and engine) and a larger one (1° globe, wider and
 * deeper networks), split into tokenize (normalize + cut tiles), encode
 * (frozen Multiformer over every tile), adapter + forecaster, read-out,
 * blend + denormalize, and write; peak RSS; and how the cost grows with
 * the number of tiles (tile overlap 0, 1 and 2 tokens on the tiny globe).
 * Weights are untrained (cost does not depend on them); inputs are waves
 * written by tests/oracles/advected_waves.py and converted by `convert era5`.
 * No peer: no other implementation of this engine exists to run beside it.
 *
 * @module
 */
import { join } from "node:path";
import { convertEra5 } from "../../converters/era5/convert.ts";
import { expandInputs } from "../../cli/inputs.ts";
import { MultifieldSampler } from "../../samplers/sampler.ts";
import { fieldLayouts, type MultiformerConfig } from "../../models/config.ts";
import { Multiformer } from "../../models/multiformer.ts";
import { ForecastEngine, type ForecastEngineConfig } from "../../models/forecast_engine.ts";
import { GlobalRollout } from "../../forecast/rollout.ts";
import { engineFields, EngineStepper } from "../../forecast/stepper.ts";
import { ForecastStoreWriter, levelsByField } from "../../forecast/store.ts";
import type { TokenGrid } from "../../tokenizers/patches.ts";
import { gemm } from "../../ops/mod.ts";

interface Case {
  name: string;
  res: number;
  tokens: TokenGrid;
  width: number;
  layers: number;
  heads: number;
  engine: ForecastEngineConfig;
  overlap: [number, number];
}

const args = Deno.args;
const opt = (k: string, d: number) => {
  const i = args.indexOf(k);
  return i >= 0 ? Number(args[i + 1]) : d;
};
const steps = opt("--steps", 5), threads = opt("--threads", 1);
gemm().setThreads(threads);

// Peak RSS sampled after every phase (Deno reads /proc/self/status only with --allow-all).
let peakRss = 0;
function sampleRss(): void {
  peakRss = Math.max(peakRss, Deno.memoryUsage().rss);
}
function peakRssMb(): number {
  sampleRss();
  return peakRss / 2 ** 20;
}

async function store(dir: string, res: number): Promise<string> {
  await Deno.mkdir(dir, { recursive: true });
  const out = await new Deno.Command("/usr/bin/python3", {
    args: [new URL("../../tests/oracles/advected_waves.py", import.meta.url).pathname, dir, "24", String(res)],
  }).output();
  if (out.code !== 0) throw new Error(new TextDecoder().decode(out.stderr));
  return (await convertEra5({
    inputs: expandInputs([join(dir, "waves_pl.nc"), join(dir, "waves_sfc.nc")]),
    out: join(dir, "waves.zarr"),
    workers: 0,
  })).out;
}

const stats = (v: number[]) => {
  const s = [...v].sort((a, b) => a - b);
  return { min: s[0], median: s[Math.floor(s.length / 2)], max: s.at(-1)! };
};
const fmt = (v: number[]) => {
  const s = stats(v);
  return `${s.min.toFixed(3)}/${s.median.toFixed(3)}/${s.max.toFixed(3)}`;
};

interface Prepared {
  label: string;
  tiles: number;
  step(n: number): Record<string, number>;
  close(): Promise<void>;
}

async function prepare(c: Case, path: string): Promise<Prepared> {
  const { sampler, fields } = forecastSampler(c, path);
  const model = frozenMultiformer(c, fieldLayouts(fields));
  const rollout = new GlobalRollout(sampler, c.overlap);
  const engine = new ForecastEngine(engineFields(model, rollout.tokens), c.engine, 1);
  const stepper = new EngineStepper(model, engine, rollout);
  const init = rollout.dataset.times[rollout.window[0] - 1 + 2];
  const tiles = rollout.tiles(init);
  const dir = await Deno.makeTempDir();
  const writer = benchWriter(rollout, init, dir);
  const start = rollout.stateAt(init);
  let state = start;
  const label =
    `${c.name}: grid ${rollout.grid.rows}×${rollout.grid.cols}, window ${
      rollout.window.join("×")
    }, ${tiles.length} tiles (overlap ${c.overlap}), encoder ${model.params.count().toLocaleString("en")} params, ` +
    `engine ${engine.params.count().toLocaleString("en")} params, step ${rollout.stepHours} h`;
  return {
    label,
    tiles: tiles.length,
    step(n: number) {
      // The store holds 24 h: restart from the initial state when the window would run past what the writer holds.
      if (n % steps === 0) state = start;
      const timed = timedStep(rollout, stepper, writer, tiles, state, n);
      state = timed.state;
      return timed.seconds;
    },
    async close() {
      writer.abort();
      await Deno.remove(dir, { recursive: true });
    },
  };
}

/** The sampler over the store's t at 850 hPa and t2m (local coefficients), one sample, forecast masking. */
function forecastSampler(c: Case, path: string) {
  const fields = [
    { name: "t", levels: [850], tokens: c.tokens, normalization: "local" as const },
    { name: "t2m", levels: [0], tokens: c.tokens, normalization: "local" as const },
  ];
  const sampler = new MultifieldSampler({
    datasets: [{ store: path, fields }],
    batchSize: 1,
    masking: { strategy: "forecast" },
    seed: 1,
  });
  return { sampler, fields };
}

/** An untrained Multiformer of the case's size, its parameters frozen (the cost does not depend on them). */
function frozenMultiformer(c: Case, layouts: ReturnType<typeof fieldLayouts>): Multiformer {
  const mc: MultiformerConfig = {
    dropout: 0,
    fields: ["t", "t2m"].map((f) => ({
      field: f,
      width: c.width,
      encoderLayers: c.layers,
      decoderLayers: 0,
      heads: c.heads,
      coupledWith: [f === "t" ? "t2m" : "t"],
      ensemble: 1,
    })),
  };
  const model = new Multiformer(mc, layouts, 1);
  for (const t of model.params.map.values()) (t as { requiresGrad: boolean }).requiresGrad = false;
  return model;
}

/** A forecast store in `dir` for one initial time and `steps` + 1 leads. */
function benchWriter(rollout: GlobalRollout, init: number, dir: string): ForecastStoreWriter {
  const d = rollout.dataset;
  return new ForecastStoreWriter({
    out: join(dir, "bench.zarr"),
    inits: [init],
    leads: Array.from({ length: steps + 1 }, (_, k) => (k + 1) * rollout.stepHours),
    fields: ["t", "t2m"],
    levels: levelsByField(rollout.planes),
    lat: Float64Array.from(d.colat, (x) => 90 - x),
    lon: d.lons,
  });
}

/** One rollout step from `state`, timed per phase (seconds); the next state. */
function timedStep(
  rollout: GlobalRollout,
  stepper: EngineStepper,
  writer: ForecastStoreWriter,
  tiles: ReturnType<GlobalRollout["tiles"]>,
  state: ReturnType<GlobalRollout["stateAt"]>,
  n: number,
): { state: ReturnType<GlobalRollout["stateAt"]>; seconds: Record<string, number> } {
  const plane = rollout.grid.rows * rollout.grid.cols, tt = rollout.stepSteps;
  const before = { ...stepper.timings };
  const t0 = performance.now();
  const batches = rollout.fieldBatches(state, tiles);
  const t1 = performance.now();
  sampleRss();
  const next = stepper.stepper(batches, { step: n, tiles, times: state.times });
  const t2 = performance.now();
  const { slab, times } = rollout.physicalSlab(state, next, tiles);
  const after = rollout.advance(state, slab, times);
  const t3 = performance.now();
  sampleRss();
  for (const [i, p] of rollout.planes.entries()) {
    writer.write(0, n % (steps + 1), p.field, p.level, [slab[i].subarray((tt - 1) * plane, tt * plane)]);
  }
  const t4 = performance.now();
  return {
    state: after,
    seconds: {
      tokenize: (t1 - t0) / 1000,
      encode: (stepper.timings.encode - before.encode) / 1000,
      "adapter+forecaster": (stepper.timings.engine - before.engine) / 1000,
      "read-out": (stepper.timings.readout - before.readout) / 1000,
      "blend+denorm": (t3 - t2) / 1000,
      write: (t4 - t3) / 1000,
      total: (t4 - t0) / 1000,
    },
  };
}

/** Interleaved rounds: one step of every case per round, after one warm-up step each. */
async function bench(cases: Prepared[]): Promise<number[]> {
  for (const c of cases) c.step(0);
  const rows = cases.map(() => new Map<string, number[]>());
  for (let n = 1; n <= steps; n++) {
    for (const [i, c] of cases.entries()) {
      for (const [k, v] of Object.entries(c.step(n))) rows[i].set(k, [...(rows[i].get(k) ?? []), v]);
    }
  }
  const medians: number[] = [];
  for (const [i, c] of cases.entries()) {
    console.log(`\n${c.label}`);
    console.log(`  phase                 s per global step (min/median/max over ${steps} interleaved rounds)`);
    for (const [k, v] of rows[i]) console.log(`  ${k.padEnd(21)} ${fmt(v)}`);
    medians.push(stats(rows[i].get("total")!).median);
    await c.close();
  }
  return medians;
}

const base = await Deno.makeTempDir();
console.log(
  `bench:forecast — ${steps} timed steps after one warm-up, ${threads} BLAS thread(s), matmul ${gemm().name}`,
);
const coarse = await store(join(base, "3deg"), 3);
const tiny: Case = {
  name: "tiny (3°)",
  res: 3,
  tokens: { numTokens: [2, 2, 4], tokenSize: [3, 9, 9] },
  width: 64,
  layers: 2,
  heads: 4,
  engine: { latentWidth: 32, forecasterLayers: 2, heads: 4, neighbours: 5 },
  overlap: [0, 1],
};
const overlaps: [number, number][] = [[0, 0], [0, 1], [1, 2]];
const tinyCases = [];
for (const overlap of overlaps) {
  tinyCases.push(await prepare({ ...tiny, name: `tiny (3°), overlap ${overlap}`, overlap }, coarse));
}
const tinyMedians = await bench(tinyCases);
console.log(`  peak RSS so far       ${peakRssMb().toFixed(0)} MB (sampled after each phase)`);
const scaling = tinyCases.map((c, i) => ({ tiles: c.tiles, median: tinyMedians[i] }));
const fine = await store(join(base, "1deg"), 1);
const [largeMedian] = await bench([
  await prepare({
    name: "larger (1°)",
    res: 1,
    tokens: { numTokens: [2, 3, 6], tokenSize: [3, 9, 9] },
    width: 128,
    layers: 4,
    heads: 8,
    engine: { latentWidth: 64, forecasterLayers: 4, heads: 8, neighbours: 9 },
    overlap: [0, 1],
  }, fine),
]);
const large = { median: largeMedian };
console.log("\ncost against the number of tiles (tiny networks, 3° globe):");
for (const s of scaling) {
  console.log(
    `  ${String(s.tiles).padStart(4)} tiles: ${s.median.toFixed(3)} s/step, ${
      (s.median / s.tiles * 1000).toFixed(1)
    } ms/tile, ` +
      `${(s.median / scaling[0].median).toFixed(2)}× the ${scaling[0].tiles}-tile step for ${
        (s.tiles / scaling[0].tiles).toFixed(2)
      }× the tiles`,
  );
}
console.log(`larger: ${large.median.toFixed(3)} s/step (median)`);
console.log(`peak RSS ${peakRssMb().toFixed(0)} MB (whole run)`);
await Deno.remove(base, { recursive: true });
