/**
 * The worker that owns the WebGPU device of the `webgpu` backend
 * (ops/webgpu.ts). Why a worker: `Gemm.sgemm` is synchronous and the op
 * layer calls it synchronously, while WebGPU's read-back (`mapAsync`) is
 * asynchronous; the calling thread posts a request and blocks in
 * `Atomics.wait` on a shared control block while this worker runs the
 * kernel and copies C back into shared memory.
 *
 * Messages in: `{op: "init", ctrl, data}`, `{op: "data", data}` (a larger
 * shared data buffer), {@link GemmRequest}. Out: `{op: "ready", info}` or
 * `{op: "error", message}` after init; gemm results go through the shared
 * control block only.
 *
 * @module
 */
import { describeAdapter, type GemmRequest, SGEMM_WGSL, STATE, TILE } from "./webgpu_kernel.ts";

interface WorkerScope {
  onmessage: ((e: MessageEvent) => void) | null;
  postMessage(m: unknown): void;
}
const scope = globalThis as unknown as WorkerScope;

let ctrl: Int32Array;
let data: Float32Array;
let device: GPUDevice;
let pipeline: GPUComputePipeline;
const params = new ArrayBuffer(48);
let paramBuf: GPUBuffer;
/** Cached storage buffers (A, B, C) and the read-back buffer, grown to powers of two. */
const bufs: Record<"a" | "b" | "c" | "read", GPUBuffer | undefined> = {
  a: undefined,
  b: undefined,
  c: undefined,
  read: undefined,
};
let maxBinding = 0;
let lastError: string | undefined;

function buffer(name: "a" | "b" | "c" | "read", bytes: number): GPUBuffer {
  const have = bufs[name];
  if (have && have.size >= bytes) return have;
  have?.destroy();
  let size = 256;
  while (size < bytes) size *= 2;
  if (name !== "read") size = Math.min(size, Math.max(maxBinding, bytes));
  const usage = name === "read"
    ? GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST
    : GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST | GPUBufferUsage.COPY_SRC;
  const b = device.createBuffer({ size, usage });
  bufs[name] = b;
  return b;
}

async function init(): Promise<Record<string, unknown>> {
  const gpu = (globalThis as unknown as { navigator: { gpu?: GPU } }).navigator.gpu;
  if (!gpu) throw new Error("navigator.gpu is not available in this Deno");
  const adapter = await gpu.requestAdapter({ powerPreference: "high-performance" });
  if (!adapter) throw new Error("no WebGPU adapter");
  maxBinding = adapter.limits.maxStorageBufferBindingSize;
  device = await adapter.requestDevice({
    requiredLimits: {
      maxStorageBufferBindingSize: adapter.limits.maxStorageBufferBindingSize,
      maxBufferSize: adapter.limits.maxBufferSize,
    },
  });
  device.addEventListener("uncapturederror", (e) => {
    lastError = (e as GPUUncapturedErrorEvent).error.message;
  });
  const module = device.createShaderModule({ code: SGEMM_WGSL });
  pipeline = device.createComputePipeline({ layout: "auto", compute: { module, entryPoint: "main" } });
  paramBuf = device.createBuffer({ size: 48, usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST });
  return { ...describeAdapter(adapter), maxStorageBufferBindingSize: maxBinding };
}

async function gemm(r: GemmRequest): Promise<void> {
  const bytesA = r.aLen * 4, bytesB = r.bLen * 4, bytesC = r.cLen * 4;
  for (const [what, bytes] of [["A", bytesA], ["B", bytesB], ["C", bytesC]] as const) {
    if (bytes > maxBinding) {
      throw new Error(
        `operand ${what} of a ${r.m}×${r.n}×${r.k} matmul is ${bytes} bytes, above the adapter's ` +
          `maxStorageBufferBindingSize ${maxBinding}`,
      );
    }
  }
  const a = buffer("a", bytesA), b = buffer("b", bytesB), c = buffer("c", bytesC), read = buffer("read", bytesC);
  const u = new Uint32Array(params), f = new Float32Array(params);
  u.set([r.m, r.n, r.k, r.ta ? 1 : 0, r.tb ? 1 : 0, r.lda, r.ldb, r.ldc]);
  f[8] = r.alpha;
  f[9] = r.beta;
  const q = device.queue;
  q.writeBuffer(paramBuf, 0, params);
  // writeBuffer copies; slice() to a plain buffer because SharedArrayBuffer views are not accepted everywhere.
  q.writeBuffer(a, 0, data.slice(r.aAt, r.aAt + r.aLen));
  q.writeBuffer(b, 0, data.slice(r.bAt, r.bAt + r.bLen));
  if (r.beta !== 0) q.writeBuffer(c, 0, data.slice(r.cAt, r.cAt + r.cLen));
  const group = device.createBindGroup({
    layout: pipeline.getBindGroupLayout(0),
    entries: [
      { binding: 0, resource: { buffer: paramBuf } },
      { binding: 1, resource: { buffer: a, size: Math.max(4, bytesA) } },
      { binding: 2, resource: { buffer: b, size: Math.max(4, bytesB) } },
      { binding: 3, resource: { buffer: c, size: bytesC } },
    ],
  });
  const enc = device.createCommandEncoder();
  const pass = enc.beginComputePass();
  pass.setPipeline(pipeline);
  pass.setBindGroup(0, group);
  pass.dispatchWorkgroups(Math.ceil(r.n / TILE), Math.ceil(r.m / TILE));
  pass.end();
  enc.copyBufferToBuffer(c, 0, read, 0, bytesC);
  q.submit([enc.finish()]);
  await read.mapAsync(GPUMapMode.READ, 0, bytesC);
  data.set(new Float32Array(read.getMappedRange(0, bytesC)), r.cAt);
  read.unmap();
  if (lastError !== undefined) {
    const m = lastError;
    lastError = undefined;
    throw new Error(`WebGPU error: ${m}`);
  }
}

function finish(state: number, message?: string): void {
  if (message !== undefined) {
    const bytes = new TextEncoder().encode(message).slice(0, 4096);
    new Uint8Array(data.buffer, data.byteOffset, bytes.length).set(bytes);
    ctrl[1] = bytes.length;
  }
  Atomics.store(ctrl, 0, state);
  Atomics.notify(ctrl, 0);
}

scope.onmessage = (e: MessageEvent) => {
  const m = e.data;
  if (m.op === "init") {
    ctrl = new Int32Array(m.ctrl);
    data = new Float32Array(m.data);
    init().then(
      (info) => scope.postMessage({ op: "ready", info }),
      (err) => scope.postMessage({ op: "error", message: String(err?.message ?? err) }),
    );
  } else if (m.op === "data") {
    data = new Float32Array(m.data);
  } else if (m.op === "gemm") {
    gemm(m as GemmRequest).then(
      () => finish(STATE.DONE),
      (err) => finish(STATE.FAILED, String(err?.message ?? err)),
    );
  }
};
