/**
 * The `cuda` backend as ops/backend.ts installs it for callers that keep
 * host arrays (a caller that asks for a device gets ops/cuda/device.ts): a
 * started device with its kernels and cuBLAS, the host sgemm on cuBLAS, the
 * start line, and `close`. A backend that cannot start is a
 * `ConfigError` on the configuration key that says what is missing.
 *
 * @module
 */
import { ConfigError } from "../../errors.ts";
import { type CudaGemm, cudaGemm } from "./gemm.ts";
import type { CudaContext } from "./kernels.ts";
import { type CudaProbe, probeCuda } from "./probe.ts";

/** The started `cuda` host-sgemm backend (the shape of ops/backend.ts `ActiveBackend`). */
export interface CudaBackend {
  name: "cuda";
  gemm: CudaGemm;
  description: string;
  close(): void;
}

/** Start the cuda backend from a successful probe (or probe now); a ConfigError naming `key` and the reason. */
export function cudaBackend(key = "backend", probe: CudaProbe = probeCuda()): CudaBackend {
  if (!probe.ok) throw new ConfigError(key, `cuda cannot start: ${probe.reason}`);
  const context: CudaContext = { device: probe.device, kernels: probe.kernels, cublas: probe.cublas };
  const gemm = cudaGemm(context);
  return {
    name: "cuda",
    gemm,
    description: `${probe.description} · host tensors: every sgemm on cuBLAS (operands copied per call)`,
    close() {
      gemm.close();
      probe.cublas.close();
      probe.device.close();
    },
  };
}

export { probeCuda };
