/**
 * Every CUDA op (ops/cuda/ops.ts: our PTX kernels and cuBLAS through FFI)
 * against the CPU reference, on the GPU: the cases of tests/ops/cuda_cases.ts
 * (sizes, tolerances and what each compares are described there). Runs only
 * where the NVIDIA driver, a GPU of compute capability ≥ 8.0 and cuBLAS are
 * present; elsewhere every case is reported "ignored" and the reason printed
 * (no GPU was lent to the task that wrote this: it has never run). Where the
 * backend cannot start, selecting it must be a ConfigError naming the reason.
 *
 * @module
 */
import assert from "node:assert/strict";
import { probeCuda } from "../../ops/cuda/probe.ts";
import { cudaBackend } from "../../ops/cuda/select.ts";
import { ConfigError } from "../../errors.ts";
import type { CudaContext } from "../../ops/cuda/ops.ts";
import { CUDA_CASES } from "./cuda_cases.ts";

const probe = probeCuda();
if (!probe.ok) console.warn(`CUDA runtime tests IGNORED — the cuda backend cannot start here: ${probe.reason}`);
const ctx: CudaContext | undefined = probe.ok
  ? { device: probe.device, kernels: probe.kernels, cublas: probe.cublas }
  : undefined;
if (probe.ok) console.log(probe.description);

Deno.test({
  name: "cuda runtime: where the backend cannot start, selecting it is a ConfigError naming the key and the reason",
  ignore: probe.ok, // a GPU is here: the device tests below run instead
  fn: refusal,
});

function refusal(): void {
  if (probe.ok) return;
  assert.throws(() => cudaBackend("backend"), (e) => {
    assert.ok(e instanceof ConfigError);
    assert.match(e.message, /^backend: cuda cannot start: /);
    assert.ok(e.message.includes(probe.reason), e.message);
    return true;
  });
}

for (const k of CUDA_CASES) Deno.test({ name: `cuda runtime: ${k.name}`, ignore: !ctx, fn: () => k.fn(ctx!) });

if (ctx) {
  globalThis.addEventListener("unload", () => {
    ctx.cublas.close();
    ctx.device.close();
  });
}
