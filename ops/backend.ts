/**
 * Backend choice for the op layer: `cpu` (OpenBLAS through FFI or the
 * TypeScript sgemm), `cuda` (NVIDIA through the driver API and cuBLAS,
 * ops/cuda/: device-resident tensors, ops/cuda/device.ts, for a caller that asks for a device — training;
 * otherwise the host tensors' sgemms on cuBLAS), `webgpu` (device-resident tensors on Deno's WebGPU,
 * ops/webgpu_device.ts, for a caller that asks for a device; otherwise the WGSL sgemm offload of ops/webgpu.ts),
 * `auto` (cuda when the NVIDIA driver, a GPU and cuBLAS are there, then
 * webgpu when the adapter is a real GPU, else cpu: a software
 * adapter such as llvmpipe is 20–100× slower than OpenBLAS on the same
 * machine). `tensorflow` is refused: tfjs-node is not a dependency
 * (its install downloads libtensorflow, which no registry ships).
 *
 * @module
 */
import { ConfigError } from "../errors.ts";
import { type Gemm, matmulLine, openblasGemm, typescriptGemm, useGemm } from "./blas.ts";
import { calibrateRouting, isSoftwareAdapter, probeAdapter, webgpuGemm } from "./webgpu.ts";
import type { Device } from "./device.ts";
import { webgpuDevice } from "./webgpu_device.ts";
import { cudaBackend, probeCuda } from "./cuda/select.ts";
import { cudaResidentDevice } from "./cuda/device.ts";
import type { CudaProbe } from "./cuda/probe.ts";

/** Backend names a configuration may give. */
export const BACKENDS = ["cpu", "cuda", "webgpu", "auto", "tensorflow"] as const;

/** A backend name as configured. */
export type BackendName = typeof BACKENDS[number];

/** The backend in use. */
export interface ActiveBackend {
  /** `cpu`, `cuda` or `webgpu`. */
  name: "cpu" | "cuda" | "webgpu";
  /** The sgemm installed with `useGemm`. */
  gemm: Gemm;
  /** One line for the user: backend, kernel, why (for `auto`). */
  description: string;
  /** The device tensors live on (`cuda` or `webgpu` when the caller asked for `device`); the host ops use `gemm`. */
  device?: Device;
  /** Release the device (no-op on cpu). */
  close(): void;
}

/** Options of {@link selectBackend}. */
export interface BackendOptions {
  /**
   * The caller keeps its tensors on the device (training): `cuda` opens the device of ops/cuda/device.ts and
   * `webgpu` that of ops/webgpu_device.ts instead of their sgemm offloads, and host ops run on the CPU kernel.
   */
  device?: boolean;
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
    throw new ConfigError(key, `unknown backend ${JSON.stringify(v)} (available: cpu, cuda, webgpu, auto)`);
  }
  return v as BackendName;
}

/** Select and install (`useGemm`) a backend; `auto` takes cuda when it starts, webgpu only on a real GPU adapter. */
export async function selectBackend(
  name: BackendName,
  key = "backend",
  opt: BackendOptions = {},
): Promise<ActiveBackend> {
  checkBackendName(name, key);
  let why = "";
  if (name === "cuda") return startCuda(key, probeCuda(), opt);
  if (name === "auto") {
    const cu = probeCuda();
    if (cu.ok) {
      const b = startCuda(key, cu, opt);
      return { ...b, description: `${b.description} (auto: NVIDIA driver and GPU found)` };
    }
    const info = await probeAdapter();
    if (info && !isSoftwareAdapter(info)) name = "webgpu";
    else {
      name = "cpu";
      why = info ? ` (auto: adapter "${info.description}" is a software one` : " (auto: no WebGPU adapter";
      why += `; no cuda: ${cu.reason})`;
    }
    if (name === "webgpu") why = ` (auto: GPU adapter "${info!.description || info!.device}")`;
  }
  if (name === "webgpu" && opt.device) {
    const device = await webgpuDevice(key);
    return residentOn("webgpu", device, `backend webgpu · device-resident on "${device.description}"${why}`);
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
  return { name: "cpu", gemm: g, description: `backend cpu${why} · ${matmulLine(g)}`, close() {} };
}

/**
 * The cuda backend from a probe: for a caller that asks for a device (training), the contract on the GPU
 * (ops/cuda/device.ts) with host ops on the CPU kernel; otherwise every host sgemm on cuBLAS.
 */
function startCuda(key: string, probe: CudaProbe, opt: BackendOptions): ActiveBackend {
  if (opt.device) {
    const device = cudaResidentDevice(key, probe);
    return residentOn("cuda", device, `${device.description} · device-resident`);
  }
  const b = cudaBackend(key, probe);
  useGemm(b.gemm);
  return b;
}

/** A device-resident backend: the tensors on `device`, the host's few remaining ops on the CPU kernel. */
function residentOn(name: "cuda" | "webgpu", device: Device, description: string): ActiveBackend {
  const g = openblasGemm() ?? typescriptGemm;
  useGemm(g);
  return { name, gemm: g, device, description: `${description} · host ops on ${g.name}`, close: () => device.close() };
}
