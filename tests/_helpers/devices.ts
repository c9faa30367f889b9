/**
 * The devices the device-contract tests run on (tests/ops/device_test.ts,
 * tests/training/device_step_test.ts): `webgpu` (CI: mesa's lavapipe),
 * `cuda-emulated` (the CUDA backend with its .cu kernels executed by
 * ops/cuda/emulator.cpp on the CPU; cuBLAS replaced by the emulator's GEMM)
 * and `cuda` (the real driver, PTX and cuBLAS: only where libcuda opens a
 * GPU). A device that cannot start fails its tests with the reason, unless
 * the environment allows the skip (ATMOREP_ALLOW_NO_WEBGPU=1 for webgpu,
 * ATMOREP_ALLOW_NO_NVCC=1 for the emulator); real `cuda` is skipped where no
 * GPU is — loudly, and reported as ignored, never as passed.
 *
 * @module
 */
import type { Device } from "../../ops/device.ts";
import { webgpuDevice } from "../../ops/webgpu_device.ts";
import { buildEmulator, emulatedCudaDevice } from "../../ops/cuda/emulated.ts";
import { CudaResidentDevice } from "../../ops/cuda/device.ts";
import { probeCuda } from "../../ops/cuda/probe.ts";
import { gemm } from "../../ops/blas.ts";

/** A device the tests run on. */
export interface DeviceKind {
  /** `webgpu`, `cuda-emulated`, `cuda`. */
  name: string;
  /** Why its tests are ignored here (printed once), or undefined when they run. */
  ignored?: string;
  /** Open a fresh device; undefined (after a loud message) when the environment allows skipping. */
  open(): Promise<(Device & { bytesCreated: number }) | undefined>;
}

/** Open with `open`; on failure undefined and a loud message when `allow` is set in the environment, else throw. */
async function orSkip<T>(what: string, allow: string, open: () => Promise<T>): Promise<T | undefined> {
  try {
    return await open();
  } catch (e) {
    if (Deno.env.get(allow) === "1") {
      console.warn(`SKIPPED: the ${what} device cannot start (${(e as Error).message}); ${allow}=1`);
      return undefined;
    }
    throw e;
  }
}

// The CPU reference's sgemm (OpenBLAS through FFI) loads here, not inside the first test (its leak check).
gemm();

// One driver context and cuBLAS handle for the process (opened here, outside the tests' leak checks, as
// dlopen'ed libraries stay loaded); each test gets a fresh device, its own buffer pool, on them.
const gpu = probeCuda();
const noGpu = gpu.ok ? undefined : `no CUDA GPU here (${gpu.reason})`;
if (noGpu) console.warn(`\n*** cuda (real GPU) device tests IGNORED: ${noGpu} ***\n`);
if (gpu.ok) {
  console.log(gpu.description);
  globalThis.addEventListener("unload", () => {
    gpu.cublas.close();
    gpu.device.close();
  });
}

/** A device on the process's GPU context (its pool freed on close; the context stays). */
function onGpu(): Promise<CudaResidentDevice> {
  if (!gpu.ok) throw new Error(noGpu);
  const context = { device: gpu.device, kernels: gpu.kernels, cublas: gpu.cublas };
  return Promise.resolve(new CudaResidentDevice(context, gpu.description));
}

let emulator: Promise<string> | undefined;

/** Every device kind, in the order the tests run them. */
export const DEVICE_KINDS: DeviceKind[] = [
  { name: "webgpu", open: () => orSkip("webgpu", "ATMOREP_ALLOW_NO_WEBGPU", () => webgpuDevice()) },
  {
    name: "cuda-emulated",
    open: () =>
      orSkip(
        "cuda-emulated",
        "ATMOREP_ALLOW_NO_NVCC",
        async () => emulatedCudaDevice(await (emulator ??= buildEmulator())),
      ),
  },
  { name: "cuda", ignored: noGpu, open: onGpu },
];

/** Register `fn` as one test per device kind, named `prefix (kind): name`; the device is closed after it. */
export function deviceTests(
  prefix: string,
  name: string,
  fn: (d: Device & { bytesCreated: number }, kind: string) => Promise<void>,
  only?: (kind: string) => boolean,
): void {
  for (const k of DEVICE_KINDS) {
    if (only && !only(k.name)) continue;
    Deno.test({
      name: `${prefix} (${k.name}): ${name}`,
      ignore: k.ignored !== undefined,
      // The emulator is a child process left to end on its own when its input closes.
      sanitizeResources: k.name !== "cuda-emulated",
      sanitizeOps: k.name !== "cuda-emulated",
      fn: async () => {
        const d = await k.open();
        if (!d) return;
        try {
          await fn(d, k.name);
        } finally {
          d.close();
        }
      },
    });
  }
}
