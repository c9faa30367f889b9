/**
 * The `webgpu` backend (ops/webgpu.ts) against the CPU kernels: the WGSL
 * sgemm equals the TypeScript sgemm, and one tiny Multiformer training step
 * gives the same loss and gradients on `cpu` and `webgpu`. CI installs
 * mesa-vulkan-drivers (.ci/run), so these run over llvmpipe without a GPU;
 * a machine without any WebGPU adapter fails them with the install hint,
 * unless ATMOREP_ALLOW_NO_WEBGPU=1 says to skip.
 *
 * @module
 */
import assert from "node:assert/strict";
import { Multiformer } from "../../models/multiformer.ts";
import { fieldLayouts, type MultiformerConfig } from "../../models/config.ts";
import {
  calibrateRouting,
  checkBackendName,
  type Gemm,
  gemm,
  isSoftwareAdapter,
  openblasGemm,
  probeAdapter,
  Random,
  selectBackend,
  typescriptGemm,
  useGemm,
  valueAndGrad,
  WEBGPU_INSTALL_HINT,
  type WebgpuGemm,
  webgpuGemm,
} from "../../ops/mod.ts";
import { modelInputs } from "../../models/inputs.ts";
import { modelLoss } from "../../training/step.ts";
import { checkTrainConfig } from "../../training/config.ts";
import { ConfigError } from "../../errors.ts";
import { synthBatch, type SynthField } from "../_helpers/model.ts";

/** The WebGPU sgemm, or undefined (with a message) when no adapter exists and the environment allows skipping. */
async function device(): Promise<WebgpuGemm | undefined> {
  try {
    return await webgpuGemm();
  } catch (e) {
    if (Deno.env.get("ATMOREP_ALLOW_NO_WEBGPU") === "1") {
      console.warn(`no WebGPU adapter (${(e as Error).message}): skipped because ATMOREP_ALLOW_NO_WEBGPU=1`);
      return undefined;
    }
    throw e;
  }
}

function randn(rng: Random, n: number): Float32Array {
  return Float32Array.from({ length: n }, () => rng.normal());
}

Deno.test("webgpu: the WGSL sgemm equals the TypeScript sgemm for every transpose, stride, offset, odd size and beta", async () => {
  const g = await device();
  if (!g) return;
  try {
    const rng = new Random(11);
    // Odd sizes below, at and above the 64×64 tile and the 16-deep k tile; k = 1; a single row/column.
    const shapes: [number, number, number][] = [[37, 29, 41], [1, 70, 3], [65, 1, 17], [64, 64, 16], [3, 5, 1], [
      130,
      67,
      33,
    ]];
    for (const [m, n, k] of shapes) {
      for (const ta of [false, true]) {
        for (const tb of [false, true]) {
          for (const beta of [0, 0.3]) {
            const lda = (ta ? m : k) + 3, ldb = (tb ? k : n) + 2, ldc = n + 5;
            const a = randn(rng, (ta ? k : m) * lda + 7), b = randn(rng, (tb ? n : k) * ldb + 4);
            const c0 = randn(rng, m * ldc + 9);
            if (beta === 0) c0[9] = NaN; // BLAS semantics: C is not read when beta is 0.
            const c1 = c0.slice(), c2 = c0.slice();
            g.sgemm(ta, tb, m, n, k, 0.7, a, 7, lda, b, 4, ldb, beta, c1, 9, ldc);
            typescriptGemm.sgemm(ta, tb, m, n, k, 0.7, a, 7, lda, b, 4, ldb, beta, c2, 9, ldc);
            let worst = 0;
            for (let i = 0; i < c1.length; i++) {
              const d = Math.abs(c1[i] - c2[i]);
              if (!(d <= worst)) worst = Number.isNaN(d) ? Infinity : Math.max(worst, d);
            }
            const what = `${m}×${n}×${k} ta=${ta} tb=${tb} beta=${beta}`;
            assert.ok(worst < 1e-4, `${what}: max difference ${worst}`);
            assert.deepEqual(c1.subarray(0, 9), c0.subarray(0, 9), `${what}: values before the offset untouched`);
            for (let i = 0; i < m; i++) {
              // The gaps between C's rows (ldc > n) are not ours to write.
              const gap = 9 + i * ldc + n;
              assert.deepEqual(
                c1.subarray(gap, gap + 5),
                c0.subarray(gap, gap + 5),
                `${what}: row ${i}'s gap untouched`,
              );
            }
          }
        }
      }
    }
    // Large enough to grow the cached GPU buffers and the shared memory (1 MiB at start) twice over.
    const [m, n, k] = [300, 500, 700];
    const a = randn(rng, m * k), b = randn(rng, k * n), c1 = new Float32Array(m * n), c2 = new Float32Array(m * n);
    g.sgemm(false, false, m, n, k, 1, a, 0, k, b, 0, n, 0, c1, 0, n);
    typescriptGemm.sgemm(false, false, m, n, k, 1, a, 0, k, b, 0, n, 0, c2, 0, n);
    let worst = 0;
    for (let i = 0; i < c1.length; i++) worst = Math.max(worst, Math.abs(c1[i] - c2[i]));
    assert.ok(worst < 1e-3, `300×500×700: max difference ${worst}`);
  } finally {
    g.close();
  }
});

const GRID: SynthField = { name: "t", levels: [500, 850], tokens: { numTokens: [2, 2, 3], tokenSize: [2, 3, 3] } };
const MESH: SynthField = {
  name: "sst",
  levels: [0],
  tokens: { pointsPerToken: 5, healpixOrder: 3, maxTokens: 4, timeSteps: 2 },
};

function tinyConfig(fields: SynthField[]): MultiformerConfig {
  return {
    dropout: 0,
    tokenInfoWidth: 4,
    fields: fields.map((f) => ({
      field: f.name,
      width: 16,
      encoderLayers: 2,
      decoderLayers: 1,
      heads: 2,
      ensemble: 3,
      coupledWith: fields.filter((g) => g !== f).map((g) => g.name),
    })),
  };
}

/** Loss and every parameter's gradient of one step of a fresh tiny model on `g`. */
function step(g: Gemm): { loss: number; grads: Map<string, Float32Array> } {
  const fields = [GRID, MESH];
  const before = gemm();
  useGemm(g);
  try {
    const model = new Multiformer(tinyConfig(fields), fieldLayouts(fields), 5);
    const inputs = modelInputs(model, synthBatch(fields, { batchSize: 2, seed: 6, nanRate: 0.05 }));
    const loss = valueAndGrad(() => modelLoss(model, inputs, ["mse_ensemble", "stats"], new Random(7)).loss);
    const grads = new Map<string, Float32Array>();
    for (const [name, p] of model.params.map) grads.set(name, (p.grad ?? new Float32Array(p.size)).slice());
    return { loss, grads };
  } finally {
    useGemm(before);
  }
}

Deno.test("webgpu: one tiny training step gives the same loss (rel. 1e-4) and gradients (1e-3 of the largest) as cpu", async () => {
  const g = await device();
  if (!g) return;
  try {
    const cpu = step(openblasGemm() ?? typescriptGemm);
    const gpu = step(g);
    assert.ok(Number.isFinite(cpu.loss) && cpu.loss > 0, `cpu loss ${cpu.loss}`);
    assert.ok(Math.abs(gpu.loss - cpu.loss) <= 1e-4 * Math.abs(cpu.loss), `loss cpu ${cpu.loss} webgpu ${gpu.loss}`);
    let largest = 0, nonzero = 0;
    for (const v of cpu.grads.values()) for (const x of v) largest = Math.max(largest, Math.abs(x));
    assert.ok(largest > 0, "gradients are all zero");
    for (const [name, gc] of cpu.grads) {
      const gg = gpu.grads.get(name)!;
      for (let i = 0; i < gc.length; i++) {
        if (gc[i] !== 0) nonzero++;
        const d = Math.abs(gg[i] - gc[i]);
        assert.ok(d <= 1e-3 * largest, `${name}[${i}]: cpu ${gc[i]} webgpu ${gg[i]} (largest gradient ${largest})`);
      }
    }
    assert.ok(nonzero > 100, `only ${nonzero} nonzero gradients`);
  } finally {
    g.close();
  }
});

Deno.test("backend: names are checked (tensorflow refused with the reason), auto takes webgpu only on a real GPU", async () => {
  assert.throws(() => checkBackendName("tensorflow"), (e) => e instanceof ConfigError && /tfjs-node/.test(e.message));
  assert.throws(
    () => checkBackendName("metal", "--backend"),
    (e) => e instanceof ConfigError && /--backend/.test(e.message),
  );
  assert.equal(checkBackendName("webgpu"), "webgpu");
  assert.match(WEBGPU_INSTALL_HINT, /mesa-vulkan-drivers/);
  assert.equal(
    isSoftwareAdapter({
      vendor: "65541",
      architecture: "",
      device: "0",
      description: "llvmpipe (LLVM 15.0.6, 256 bits)",
      isFallbackAdapter: false,
    }),
    true,
  );
  assert.equal(
    isSoftwareAdapter({
      vendor: "4318",
      architecture: "",
      device: "8995",
      description: "NVIDIA H200",
      isFallbackAdapter: false,
    }),
    false,
  );
  const raw = JSON.parse(await Deno.readTextFile(new URL("../../configs/tiny.json", import.meta.url)));
  assert.throws(
    () => checkTrainConfig({ ...raw, backend: "tensorflow" }),
    (e) => e instanceof ConfigError && e.message.includes("backend") && /tfjs-node/.test(e.message),
  );
  assert.equal(checkTrainConfig({ ...raw, backend: "webgpu" }).config.backend, "webgpu");
  const before = gemm();
  try {
    const info = await probeAdapter();
    const chosen = await selectBackend("auto");
    chosen.close();
    assert.equal(chosen.name, info && !isSoftwareAdapter(info) ? "webgpu" : "cpu", chosen.description);
  } finally {
    useGemm(before);
  }
});

Deno.test("webgpu: calls below the routing threshold go to the CPU kernel, larger ones to the device; calibration measures both", async () => {
  const g = await device();
  if (!g) return;
  try {
    let cpuCalls = 0;
    const cpu: Gemm = {
      name: "counting typescript",
      setThreads() {},
      sgemm(...a: Parameters<Gemm["sgemm"]>) {
        cpuCalls++;
        typescriptGemm.sgemm(...a);
      },
    };
    const rng = new Random(12);
    const a = randn(rng, 64 * 64), b = randn(rng, 64 * 64), c = new Float32Array(64 * 64);
    g.route(cpu, 2 * 16 ** 3 + 1);
    g.sgemm(false, false, 16, 16, 16, 1, a, 0, 16, b, 0, 16, 0, c, 0, 16);
    assert.equal(cpuCalls, 1, "a 16³ sgemm goes to the CPU kernel");
    g.sgemm(false, false, 64, 64, 64, 1, a, 0, 64, b, 0, 64, 0, c, 0, 64);
    assert.equal(cpuCalls, 1, "a 64³ sgemm stays on the device");
    const r = calibrateRouting(g, typescriptGemm);
    assert.ok(r.latency > 0 && r.deviceRate > 0 && r.cpuRate > 0, JSON.stringify(r));
    assert.ok(
      r.minFlops === Infinity ? r.deviceRate <= r.cpuRate : r.minFlops > 0 && r.deviceRate > r.cpuRate,
      JSON.stringify(r),
    );
  } finally {
    g.close();
  }
});
