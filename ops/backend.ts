/**
 * Backend choice for the op layer: `cpu` (OpenBLAS through FFI or the
 * TypeScript sgemm), `webgpu` (the WGSL sgemm on Deno's WebGPU, ops/webgpu.ts),
 * `auto` (webgpu when the adapter is a real GPU, else cpu: a software
 * adapter such as llvmpipe is 20–100× slower than OpenBLAS on the same
 * machine). `tensorflow` is refused: tfjs-node is not a dependency
 * (its install downloads libtensorflow, which no registry ships).
 *
 * @module
 */
import { ConfigError } from "../errors.ts";
import { type Gemm, openblasGemm, typescriptGemm, useGemm } from "./blas.ts";
import { calibrateRouting, isSoftwareAdapter, probeAdapter, webgpuGemm } from "./webgpu.ts";

/** Backend names a configuration may give. */
export const BACKENDS = ["cpu", "webgpu", "auto", "tensorflow"] as const;

/** A backend name as configured. */
export type BackendName = typeof BACKENDS[number];

/** The backend in use. */
export interface ActiveBackend {
  /** `cpu` or `webgpu`. */
  name: "cpu" | "webgpu";
  /** The sgemm installed with `useGemm`. */
  gemm: Gemm;
  /** One line for the user: backend, kernel, why (for `auto`). */
  description: string;
  /** Release the device (no-op on cpu). */
  close(): void;
}

/** Check a backend name; a ConfigError naming `key` otherwise. */
export function checkBackendName(v: unknown, key = "backend"): BackendName {
  if (v === "tensorflow") {
    throw new ConfigError(
      key,
      "tensorflow: tfjs-node is not installed and is not a dependency of this project " +
        "(its install step downloads libtensorflow, which no package registry ships); use cpu or webgpu",
    );
  }
  if (typeof v !== "string" || !(BACKENDS as readonly string[]).includes(v)) {
    throw new ConfigError(key, `unknown backend ${JSON.stringify(v)} (available: cpu, webgpu, auto)`);
  }
  return v as BackendName;
}

/** Select and install (`useGemm`) a backend; `auto` takes webgpu only on a real GPU adapter. */
export async function selectBackend(name: BackendName, key = "backend"): Promise<ActiveBackend> {
  checkBackendName(name, key);
  let why = "";
  if (name === "auto") {
    const info = await probeAdapter();
    if (info && !isSoftwareAdapter(info)) name = "webgpu";
    else {
      name = "cpu";
      why = info ? ` (auto: adapter "${info.description}" is a software one)` : " (auto: no WebGPU adapter)";
    }
    if (name === "webgpu") why = ` (auto: GPU adapter "${info!.description || info!.device}")`;
  }
  if (name === "webgpu") {
    const g = await webgpuGemm(key);
    const cpu = openblasGemm() ?? typescriptGemm;
    const r = calibrateRouting(g, cpu);
    useGemm(g);
    const split = Number.isFinite(r.minFlops)
      ? `sgemms of ≥ ${(r.minFlops / 1e6).toFixed(1)} MFLOP on the device, smaller ones on ${cpu.name}`
      : `every sgemm on ${cpu.name}: the device is not faster than it at any size here`;
    const measured = `round trip ${(r.latency * 1e3).toFixed(1)} ms, device ${(r.deviceRate / 1e9).toFixed(1)} ` +
      `vs cpu ${(r.cpuRate / 1e9).toFixed(1)} GFLOP/s at 512³`;
    return {
      name: "webgpu",
      gemm: g,
      description: `backend webgpu · matmul ${g.name}${why} · ${split} (${measured})`,
      close: () => g.close(),
    };
  }
  const g = openblasGemm() ?? typescriptGemm;
  useGemm(g);
  return { name: "cpu", gemm: g, description: `backend cpu · matmul ${g.name}${why}`, close() {} };
}
