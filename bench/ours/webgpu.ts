/**
 * `deno task bench:webgpu [--rounds N] [--steps N]`: the `webgpu` backend
 * (WGSL sgemm on Deno's WebGPU, ops/webgpu.ts) against `cpu` (OpenBLAS via
 * FFI, and the TypeScript sgemm) in one process, interleaved rounds:
 * sgemm GFLOP/s at the model's shapes, and seconds per training step of
 * the `tiny` config on a synthetic batch (min / median / max), with the
 * ratio of medians. Prints the adapter: on mesa's llvmpipe (no GPU) webgpu
 * is expected to be far slower than OpenBLAS; the figure that matters is
 * on a real GPU. Each device call pays a fixed read-back round trip
 * (≈12 ms in Deno 2.9.6 on this machine, Vulkan and GL alike), which is why
 * `--backend webgpu` routes small sgemms to the CPU kernel (printed last).
 *
 * @module
 */
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { fieldLayouts } from "../../models/config.ts";
import { Multiformer } from "../../models/multiformer.ts";
import { AdamW } from "../../training/adamw.ts";
import { trainStep } from "../../training/step.ts";
import type { TrainConfig } from "../../training/config.ts";
import {
  calibrateRouting,
  type Gemm,
  openblasGemm,
  Random,
  typescriptGemm,
  useGemm,
  webgpuGemm,
} from "../../ops/mod.ts";
import { syntheticBatch } from "../inputs/synthetic_batch.ts";

const here = fileURLToPath(new URL(".", import.meta.url));
const { values: args } = parseArgs({
  args: Deno.args,
  options: { rounds: { type: "string", default: "3" }, steps: { type: "string", default: "3" } },
});
const rounds = Number(args.rounds), steps = Number(args.steps);

const gpu = await webgpuGemm("--backend");
const blas = openblasGemm();
blas?.setThreads(1);
console.log(`adapter: ${gpu.name}; cpu kernel: ${blas?.name ?? "typescript (no OpenBLAS)"}; 1 BLAS thread`);

/** Counts calls and flops through a kernel. */
function counted(g: Gemm): Gemm & { calls: number; flops: number } {
  const w = {
    name: g.name,
    calls: 0,
    flops: 0,
    setThreads: (n: number) => g.setThreads(n),
    sgemm(...a: Parameters<Gemm["sgemm"]>) {
      w.calls++;
      w.flops += 2 * a[2] * a[3] * a[4];
      g.sgemm(...a);
    },
  };
  return w;
}

const med = (x: number[]) => [...x].sort((a, b) => a - b)[Math.floor(x.length / 2)];
const mmm = (x: number[], d = 3) =>
  `${Math.min(...x).toFixed(d)} / ${med(x).toFixed(d)} / ${Math.max(...x).toFixed(d)}`;

// 1. sgemm GFLOP/s.
const kernels: [string, Gemm][] = [["webgpu", gpu], ...(blas ? [["openblas", blas] as [string, Gemm]] : []), [
  "typescript",
  typescriptGemm,
]];
const shapes: [string, number, number, number, boolean, boolean][] = [
  ["512³", 512, 512, 512, false, false],
  ["[1296,128]·[128,384]", 1296, 384, 128, false, false],
  ["[1296,128]ᵀ·[1296,384] (weight grad)", 128, 384, 1296, true, false],
  ["[64,32]·[32,96] (tiny)", 64, 96, 32, false, false],
];
const rng = new Random(1);
const gflops = new Map<string, number[]>();
for (let r = 0; r < rounds; r++) {
  for (const [label, m, n, k, ta, tb] of shapes) {
    const a = Float32Array.from({ length: m * k }, () => rng.normal());
    const b = Float32Array.from({ length: k * n }, () => rng.normal());
    const c = new Float32Array(m * n);
    for (const [name, g] of kernels) {
      if (name === "typescript" && m * n * k > 3e7) continue;
      g.sgemm(ta, tb, m, n, k, 1, a, 0, ta ? m : k, b, 0, tb ? k : n, 0, c, 0, n); // warm (pipeline, buffers)
      const reps = m * n * k > 1e7 ? 1 : 20;
      const t0 = performance.now();
      for (let i = 0; i < reps; i++) g.sgemm(ta, tb, m, n, k, 1, a, 0, ta ? m : k, b, 0, tb ? k : n, 0, c, 0, n);
      const s = (performance.now() - t0) / 1000 / reps;
      const key = `${label}|${name}`;
      gflops.set(key, [...(gflops.get(key) ?? []), (2 * m * n * k) / s / 1e9]);
    }
  }
}
console.log(`\nsgemm GFLOP/s, min / median / max over ${rounds} rounds (interleaved):`);
for (const [label] of shapes) {
  const row = kernels.map(([name]) => gflops.get(`${label}|${name}`)).map((x, i) =>
    x ? `${kernels[i][0]} ${mmm(x, 2)}` : `${kernels[i][0]} –`
  );
  console.log(`  ${label}: ${row.join(" · ")}`);
}

// 2. s/step of the tiny config.
const tiny = JSON.parse(Deno.readTextFileSync(join(here, "..", "..", "configs", "tiny.json"))) as TrainConfig;
const spec = tiny.sampler.datasets.flatMap((d) => d.fields);
const layouts = fieldLayouts(spec);
const B = tiny.sampler.batchSize;
const batch = syntheticBatch(layouts, spec, B, rng);
const backends: [string, Gemm & { calls: number; flops: number }][] = [
  ["cpu", counted(blas ?? typescriptGemm)],
  ["webgpu", counted(gpu)],
];
const runs = backends.map(([name, g]) => {
  const model = new Multiformer(tiny.model, layouts, 1);
  const opt = new AdamW(model.params.map, { lrMax: 1e-4, lrStart: 1e-4, weightDecay: 0.025, clipNorm: 1 });
  return { name, g, model, opt, rng: new Random(5), times: [] as number[], loss: NaN, params: model.params.count() };
});
for (const r of runs) {
  useGemm(r.g);
  trainStep(r.model, r.opt, batch, ["mse_ensemble", "stats"], r.rng); // warm-up
  r.g.calls = 0;
  r.g.flops = 0;
}
for (let round = 0; round < rounds; round++) {
  for (const r of runs) {
    useGemm(r.g);
    for (let s = 0; s < steps; s++) {
      const t0 = performance.now();
      r.loss = trainStep(r.model, r.opt, batch, ["mse_ensemble", "stats"], r.rng).loss;
      r.times.push((performance.now() - t0) / 1000);
    }
  }
}
console.log(
  `\ntiny config (${runs[0].params} parameters, batch ${B}), s/step min / median / max over ${rounds}×${steps}:`,
);
for (const r of runs) {
  const n = r.times.length;
  console.log(
    `  ${r.name.padEnd(6)} ${mmm(r.times)} · ${(r.g.calls / n).toFixed(0)} sgemm calls/step, ${
      (r.g.flops / n / 1e6).toFixed(1)
    } MFLOP/step · last loss ${r.loss.toFixed(4)}`,
  );
}
console.log(`  ratio webgpu / cpu (medians): ${(med(runs[1].times) / med(runs[0].times)).toFixed(1)}×`);
const r = calibrateRouting(gpu, blas ?? typescriptGemm);
console.log(
  `\nrouting calibration (what \`--backend webgpu\` does): round trip ${(r.latency * 1e3).toFixed(1)} ms, device ${
    (r.deviceRate / 1e9).toFixed(2)
  } vs cpu ${(r.cpuRate / 1e9).toFixed(1)} GFLOP/s at 512³ → ${
    Number.isFinite(r.minFlops)
      ? `sgemms of ≥ ${(r.minFlops / 1e6).toFixed(1)} MFLOP on the device`
      : "every sgemm on the CPU kernel"
  }`,
);
gpu.close();
