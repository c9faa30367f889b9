/**
 * The `webgpu` backend of the op layer's heavy kernel: a WGSL sgemm on
 * Deno's built-in WebGPU (NVIDIA/AMD through Vulkan, Apple through Metal;
 * mesa's llvmpipe/lavapipe on a machine without a GPU), behind the same
 * synchronous {@link Gemm} interface as OpenBLAS, so the op layer and the
 * model are unchanged.
 *
 * `Gemm.sgemm` is synchronous, WebGPU's read-back is not: the device lives
 * in a worker (ops/webgpu_worker.ts); each call copies the A, B (and, when
 * beta ≠ 0, C) spans into a SharedArrayBuffer, posts the request and blocks
 * in `Atomics.wait` until the worker has written C back. Buffers, the
 * pipeline and the shared memory are cached and grown, never rebuilt per call.
 *
 * @module
 */
import { ConfigError } from "../errors.ts";
import type { Gemm } from "./blas.ts";
import { typescriptGemm } from "./blas.ts";
import { type AdapterInfo, describeAdapter, type GemmRequest, STATE } from "./webgpu_kernel.ts";

export type { AdapterInfo } from "./webgpu_kernel.ts";

/** A {@link Gemm} on WebGPU; `close()` ends its worker (the process does not exit while it runs). */
export interface WebgpuGemm extends Gemm {
  /** The adapter it runs on. */
  readonly adapter: AdapterInfo;
  /**
   * Route sgemms of fewer than `minFlops` (2·m·n·k) to `cpu` instead (default: none, every call on the device).
   * Why: each call's read-back costs a fixed ≈12 ms in Deno 2.9.6's WebGPU (measured on Vulkan and GL alike),
   * so small matmuls are faster on the CPU kernel whatever the GPU.
   */
  route(cpu: Gemm | undefined, minFlops: number): void;
  /** Stop the worker and release the device. */
  close(): void;
}

/** The hint every "no adapter" error carries. */
export const WEBGPU_INSTALL_HINT =
  "install a GPU driver with Vulkan (NVIDIA/AMD) or Metal (macOS), or mesa's software Vulkan " +
  "(Debian/Ubuntu: apt-get install mesa-vulkan-drivers) to run the webgpu backend without a GPU";

/** How long one sgemm may take on the device before the caller gives up. */
const WAIT_MS = 600_000;

const SOFTWARE = /llvmpipe|lavapipe|swiftshader|softpipe|swrast|warp|basic render/i;

/** Whether an adapter is a software rasterizer rather than a real GPU. */
export function isSoftwareAdapter(info: AdapterInfo): boolean {
  return info.isFallbackAdapter || SOFTWARE.test(info.description) || SOFTWARE.test(info.device);
}

/** The default adapter's info (main thread), or undefined when WebGPU has no adapter here. */
export async function probeAdapter(): Promise<AdapterInfo | undefined> {
  const gpu = (navigator as Navigator & { gpu?: GPU }).gpu;
  if (!gpu) return undefined;
  let adapter: GPUAdapter | null;
  try {
    adapter = await gpu.requestAdapter({ powerPreference: "high-performance" });
  } catch {
    return undefined;
  }
  return adapter ? describeAdapter(adapter) : undefined;
}

/** Start the WebGPU sgemm (worker, device, pipeline); a ConfigError naming `key` when there is no adapter. */
export async function webgpuGemm(key = "backend"): Promise<WebgpuGemm> {
  if (!(navigator as Navigator & { gpu?: GPU }).gpu) {
    throw new ConfigError(key, `webgpu: this Deno has no navigator.gpu; ${WEBGPU_INSTALL_HINT}`);
  }
  const ch = await startWorker(key);
  const info = ch.info;
  let closed = false;
  let small: Gemm | undefined, minFlops = 0;
  const name = `webgpu ${info.description || info.device || info.vendor}${info.isFallbackAdapter ? " (fallback)" : ""}`;
  return {
    name,
    adapter: info,
    setThreads(t) {
      small?.setThreads(t);
    },
    route(cpu, min) {
      small = cpu;
      minFlops = min;
    },
    close() {
      if (!closed) ch.worker.terminate();
      closed = true;
    },
    sgemm(ta, tb, m, n, k, alpha, a, aOff, lda, b, bOff, ldb, beta, c, cOff, ldc) {
      if (m === 0 || n === 0) return;
      if (small && 2 * m * n * k < minFlops) {
        small.sgemm(ta, tb, m, n, k, alpha, a, aOff, lda, b, bOff, ldb, beta, c, cOff, ldc);
        return;
      }
      if (k === 0 || alpha === 0) {
        typescriptGemm.sgemm(ta, tb, m, n, k, alpha, a, aOff, lda, b, bOff, ldb, beta, c, cOff, ldc);
        return;
      }
      if (closed) throw new Error("webgpu sgemm: the backend was closed");
      const req = stageOperands(ch, ta, tb, m, n, k, alpha, a, aOff, lda, b, bOff, ldb, beta, c, cOff, ldc);
      runOnDevice(ch, req);
      copyBack(ch, req, c, cOff);
    },
  };
}

/** The device worker and the shared memory it reads operands from and writes results to. */
interface Channel {
  worker: Worker;
  /** Control words: [0] the request's state, [1] the byte length of a failure message. */
  ctrl: Int32Array;
  /** Operand spans (grown by doubling, never shrunk). */
  data: Float32Array;
  /** The adapter the worker opened. */
  info: AdapterInfo;
}

/** Start the device worker and wait until it has its device, or fail with a ConfigError naming `key`. */
async function startWorker(key: string): Promise<Channel> {
  const ctrlBuf = new SharedArrayBuffer(16);
  const ctrl = new Int32Array(ctrlBuf);
  const data = new Float32Array(new SharedArrayBuffer(1 << 20));
  const worker = new Worker(new URL("./webgpu_worker.ts", import.meta.url).href, { type: "module" });
  let info: AdapterInfo;
  try {
    info = await new Promise<AdapterInfo>((resolve, reject) => {
      worker.onmessage = (e) => {
        if (e.data.op === "ready") resolve(e.data.info);
        else reject(new ConfigError(key, `webgpu: ${e.data.message}; ${WEBGPU_INSTALL_HINT}`));
      };
      worker.onerror = (e) => {
        e.preventDefault();
        reject(new ConfigError(key, `webgpu: the device worker failed (${e.message})`));
      };
      worker.postMessage({ op: "init", ctrl: ctrlBuf, data: data.buffer });
    });
  } catch (err) {
    worker.terminate();
    throw err;
  }
  worker.onmessage = null;
  return { worker, ctrl, data, info };
}

/** Copy the A, B (and, when beta ≠ 0, C) spans into shared memory, growing it first if needed; the request. */
function stageOperands(
  ch: Channel,
  ta: boolean,
  tb: boolean,
  m: number,
  n: number,
  k: number,
  alpha: number,
  a: Float32Array,
  aOff: number,
  lda: number,
  b: Float32Array,
  bOff: number,
  ldb: number,
  beta: number,
  c: Float32Array,
  cOff: number,
  ldc: number,
): GemmRequest {
  // Spans from each operand's first to last element; the kernel indexes them with the leading dimensions.
  const aLen = ta ? (k - 1) * lda + m : (m - 1) * lda + k;
  const bLen = tb ? (n - 1) * ldb + k : (k - 1) * ldb + n;
  const cLen = (m - 1) * ldc + n;
  const total = aLen + bLen + cLen;
  if (total > ch.data.length) {
    let size = ch.data.length;
    while (size < total) size *= 2;
    ch.data = new Float32Array(new SharedArrayBuffer(size * 4));
    ch.worker.postMessage({ op: "data", data: ch.data.buffer });
  }
  const data = ch.data;
  data.set(a.subarray(aOff, aOff + aLen), 0);
  data.set(b.subarray(bOff, bOff + bLen), aLen);
  const cAt = aLen + bLen;
  if (beta !== 0) data.set(c.subarray(cOff, cOff + cLen), cAt);
  return {
    op: "gemm",
    ta,
    tb,
    m,
    n,
    k,
    alpha,
    beta,
    lda,
    ldb,
    ldc,
    aAt: 0,
    aLen,
    bAt: aLen,
    bLen,
    cAt,
    cLen,
  };
}

/** Post the request and block until the worker answers; its failure message as an error. */
function runOnDevice(ch: Channel, req: GemmRequest): void {
  const { ctrl } = ch, { m, n, k } = req;
  Atomics.store(ctrl, 0, STATE.PENDING);
  ch.worker.postMessage(req);
  // A bound, so that a lost device or a dead worker (whose error event cannot arrive while this thread
  // blocks) ends in an error instead of a hang.
  if (Atomics.wait(ctrl, 0, STATE.PENDING, WAIT_MS) === "timed-out") {
    throw new Error(`webgpu sgemm ${m}×${n}×${k}: no answer from the device worker in ${WAIT_MS / 1000} s`);
  }
  const state = Atomics.load(ctrl, 0);
  if (state === STATE.FAILED) {
    const msg = new TextDecoder().decode(new Uint8Array(ch.data.buffer, 0, ctrl[1]).slice());
    throw new Error(`webgpu sgemm ${m}×${n}×${k}: ${msg}`);
  }
}

/** Copy C back row by row: the span holds ldc-strided rows, and the gaps between them are not ours to write. */
function copyBack(ch: Channel, req: GemmRequest, c: Float32Array, cOff: number): void {
  const { data } = ch, { m, n, ldc, cAt, cLen } = req;
  if (ldc === n) c.set(data.subarray(cAt, cAt + cLen), cOff);
  else {
    for (let i = 0; i < m; i++) c.set(data.subarray(cAt + i * ldc, cAt + i * ldc + n), cOff + i * ldc);
  }
}

/** What {@link calibrateRouting} measured. */
export interface Routing {
  /** Device round trip of a tiny sgemm (seconds, median of 5). */
  latency: number;
  /** Device and CPU throughput at 512³ (FLOP/s; the device's without its round trip). */
  deviceRate: number;
  cpuRate: number;
  /** The crossover in FLOP (2·m·n·k): smaller calls go to the CPU kernel; Infinity when the device never wins. */
  minFlops: number;
}

/**
 * Measure the device's round trip and throughput against `cpu` (≈1 s on llvmpipe, milliseconds on a GPU)
 * and route calls below the crossover to `cpu`: device time = latency + f/deviceRate < f/cpuRate.
 */
export function calibrateRouting(g: WebgpuGemm, cpu: Gemm): Routing {
  g.route(undefined, 0);
  const N = 512, f = 2 * N ** 3;
  const a = new Float32Array(N * N).fill(0.5), c = new Float32Array(N * N);
  const time = (k: Gemm, m: number, reps: number) => {
    const ts: number[] = [];
    for (let r = 0; r < reps; r++) {
      const t0 = performance.now();
      k.sgemm(false, false, m, m, m, 1, a, 0, m, a, 0, m, 0, c, 0, m);
      ts.push((performance.now() - t0) / 1000);
    }
    return ts.sort((x, y) => x - y)[Math.floor(reps / 2)];
  };
  time(g, 8, 1); // pipeline and buffers
  const latency = time(g, 8, 5);
  time(g, N, 1);
  const deviceRate = f / Math.max(1e-9, time(g, N, 1) - latency);
  const cpuRate = f / Math.max(1e-9, time(cpu, N, 3));
  const minFlops = deviceRate > cpuRate ? latency / (1 / cpuRate - 1 / deviceRate) : Infinity;
  g.route(cpu, minFlops);
  return { latency, deviceRate, cpuRate, minFlops };
}
