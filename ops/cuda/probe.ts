/**
 * Whether the `cuda` backend can start here, without raising: the NVIDIA
 * driver library, a device of compute capability 8.0 or newer, cuBLAS from
 * the search list, and the committed PTX loading on the device. ops/backend.ts
 * uses it for `auto` (cuda first) and for a `ConfigError` that names what is
 * missing when `cuda` is requested.
 *
 * @module
 */
import { CudaDevice, openLibcuda } from "./driver.ts";
import { Cublas, openCublas } from "./cublas.ts";
import { CudaKernels } from "./kernels.ts";

/** The outcome of {@link probeCuda}. */
export type CudaProbe =
  | { ok: true; description: string; device: CudaDevice; cublas: Cublas; kernels: CudaKernels }
  | { ok: false; reason: string };

/** Options of {@link probeCuda}. */
export interface ProbeOptions {
  /** Device ordinal. Default 0. */
  ordinal?: number;
  /** A cuBLAS file or folder to try first (else ATMOREP_CUBLAS, then the search list). */
  cublas?: string;
  /** Keep the device open on success (default true); false closes it (a check only). */
  keep?: boolean;
}

/** Open driver, device, cuBLAS and one kernel module; the reason as a sentence when any step fails. */
export function probeCuda(opt: ProbeOptions = {}): CudaProbe {
  let device: CudaDevice | undefined;
  try {
    device = new CudaDevice(openLibcuda(), opt.ordinal ?? 0);
    const kernels = new CudaKernels(device);
    kernels.launch1d("mul_add_f32", 0, [0n, 0n, 0n, 0]); // loads elementwise.ptx: the driver JIT must accept it
    device.synchronize();
    const cublas = new Cublas(device, openCublas(opt.cublas));
    const i = device.info;
    const description = `backend cuda · ${i.name} (sm_${i.capability.join("")}, ${i.multiprocessors} SMs, ` +
      `${(i.totalBytes / 2 ** 30).toFixed(0)} GiB) · driver ${Math.floor(i.driverVersion / 1000)}.` +
      `${(i.driverVersion % 1000) / 10} · kernels ${kernels.arch} PTX · cuBLAS ${cublas.version} from ${cublas.path}`;
    if (opt.keep === false) {
      cublas.close();
      device.close();
    }
    return { ok: true, description, device, cublas, kernels };
  } catch (e) {
    try {
      device?.close();
    } catch { /* the original reason matters more */ }
    return { ok: false, reason: (e as Error).message };
  }
}
