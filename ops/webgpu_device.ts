/**
 * The device-resident `webgpu` backend: the device contract (ops/device.ts)
 * on Deno's built-in WebGPU, in the main thread. Every kernel call records
 * one dispatch into a compute pass that stays open across calls, so a whole
 * training step is a handful of command buffers (on lavapipe one pass per
 * dispatch cost 52 µs against 2.3 µs for a dispatch in an open pass). A
 * dispatch's scalars go into its own 256-byte slot of one uniform ring,
 * written with a single `writeBuffer` when the pass is submitted. The work
 * is submitted when the ring is full, before an upload into a buffer the
 * unsubmitted work uses (`writeBuffer` runs ahead of unsubmitted work), on
 * {@link Device.flush} and on a read — the only wait, ≈ 12 ms in Deno 2.9.6
 * whatever the size.
 *
 * Buffers come from a pool keyed by size: a training step allocates the
 * same sizes every time, so after the first step nothing is created. A
 * scope ({@link Device.beginScope}) hands its buffers back at its end;
 * reusing one is safe because the queue runs work in submission order.
 *
 * @module
 */
import { ConfigError } from "../errors.ts";
import type {
  AdamwArgs,
  Device,
  DeviceBuffer,
  EnsembleLossArgs,
  GeluForm,
  GemmArgs,
  LayerNormArgs,
  LayerNormBackwardArgs,
  StridedArgs,
} from "./device.ts";
import { dropThreshold } from "./device.ts";
import { memoryOf, PooledDevice } from "./buffer_pool.ts";
import { LOSS_KINDS, WGSL } from "./webgpu_wgsl.ts";
import { describeAdapter } from "./webgpu_kernel.ts";
import { WEBGPU_INSTALL_HINT } from "./webgpu.ts";

/** Uniform slots per submission (256 bytes each: the offset alignment WebGPU guarantees). */
const SLOTS = 2048;
/** Words of scalars a kernel may take. */
const WORDS = 32;
/** Workgroups per grid dimension (WebGPU's guaranteed limit). */
const MAX_GROUPS = 65535;

/** A buffer of the pool. */

/** Open the default adapter's device as a {@link Device}; a ConfigError naming `key` when there is none. */
export async function webgpuDevice(key = "backend"): Promise<WebgpuDevice> {
  const gpu = (navigator as Navigator & { gpu?: GPU }).gpu;
  if (!gpu) throw new ConfigError(key, `webgpu: this Deno has no navigator.gpu; ${WEBGPU_INSTALL_HINT}`);
  const adapter = await gpu.requestAdapter({ powerPreference: "high-performance" }).catch(() => null);
  if (!adapter) throw new ConfigError(key, `webgpu: no WebGPU adapter; ${WEBGPU_INSTALL_HINT}`);
  const device = await adapter.requestDevice({
    requiredLimits: {
      maxStorageBufferBindingSize: adapter.limits.maxStorageBufferBindingSize,
      maxBufferSize: adapter.limits.maxBufferSize,
      maxStorageBuffersPerShaderStage: Math.min(8, adapter.limits.maxStorageBuffersPerShaderStage),
    },
  });
  const info = describeAdapter(adapter);
  const name = `${info.description || info.device || info.vendor}${info.isFallbackAdapter ? " (fallback)" : ""}`;
  return new WebgpuDevice(device, name);
}

/** The contract on one GPUDevice. */
export class WebgpuDevice extends PooledDevice<GPUBuffer> implements Device {
  readonly name = "webgpu";
  /** Dispatches recorded since the device opened (for the benchmarks). */
  dispatches = 0;
  /** Submissions since the device opened. */
  submits = 0;
  /** Bytes of the buffers created (pooled buffers are reused, not counted again): the device memory in use. */
  bytesCreated = 0;
  private readonly pipelines = new Map<string, GPUComputePipeline>();
  private readonly params: GPUBuffer;
  private readonly paramsHost = new ArrayBuffer(SLOTS * 256);
  private readonly u32 = new Uint32Array(this.paramsHost);
  private readonly f32 = new Float32Array(this.paramsHost);
  private slot = 0;
  private encoder?: GPUCommandEncoder;
  private pass?: GPUComputePassEncoder;
  private readonly dummies: GPUBuffer[];
  /** Buffers the open (unsubmitted) pass uses: a write to one of them must submit the pass first. */
  private readonly inPass = new Set<GPUBuffer>();
  private error?: string;
  private closed = false;

  constructor(private readonly gpu: GPUDevice, readonly description: string) {
    super(16);
    this.params = gpu.createBuffer({ size: SLOTS * 256, usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST });
    // Stand-ins for absent optional buffers: one read-only, two writable (two writable bindings must differ).
    this.dummies = [0, 1, 2].map(() =>
      gpu.createBuffer({ size: 16, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST })
    );
    gpu.addEventListener("uncapturederror", (e) => {
      this.error ??= (e as GPUUncapturedErrorEvent).error.message;
    });
  }

  // ---- memory and transfers

  protected createMemory(bytes: number): GPUBuffer {
    this.bytesCreated += bytes;
    return this.gpu.createBuffer({
      size: bytes,
      usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST,
    });
  }

  write(buf: DeviceBuffer, data: Float32Array | Int32Array): void {
    // writeBuffer runs before work not yet submitted: submit first when that work uses the buffer.
    if (this.inPass.has(memoryOf<GPUBuffer>(buf))) this.flush();
    this.gpu.queue.writeBuffer(memoryOf<GPUBuffer>(buf), 0, data as Float32Array<ArrayBuffer>);
  }

  async read(buf: DeviceBuffer, off = 0, n = buf.length - off): Promise<Float32Array> {
    this.flush();
    const bytes = Math.max(16, Math.ceil((n * 4) / 16) * 16);
    const staging = this.gpu.createBuffer({ size: bytes, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
    const enc = this.gpu.createCommandEncoder();
    const srcBytes = memoryOf<GPUBuffer>(buf).size;
    enc.copyBufferToBuffer(memoryOf<GPUBuffer>(buf), off * 4, staging, 0, Math.min(bytes, srcBytes - off * 4));
    this.gpu.queue.submit([enc.finish()]);
    await staging.mapAsync(GPUMapMode.READ);
    const out = new Float32Array(staging.getMappedRange().slice(0, n * 4));
    staging.unmap();
    staging.destroy();
    this.check();
    return out;
  }

  flush(): void {
    if (!this.encoder) return;
    this.pass!.end();
    const cmd = this.encoder.finish();
    if (this.slot) this.gpu.queue.writeBuffer(this.params, 0, this.paramsHost, 0, this.slot * 256);
    this.gpu.queue.submit([cmd]);
    this.submits++;
    this.encoder = this.pass = undefined;
    this.slot = 0;
    this.inPass.clear();
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.flush();
    this.gpu.destroy();
  }

  /** Throw the device's first validation or out-of-memory error, if any. */
  private check(): void {
    if (this.error) throw new Error(`webgpu device error: ${this.error}`);
  }

  // ---- dispatch

  private pipeline(name: string): GPUComputePipeline {
    let p = this.pipelines.get(name);
    if (!p) {
      const module = this.gpu.createShaderModule({ code: WGSL[name] });
      p = this.gpu.createComputePipeline({ layout: "auto", compute: { module, entryPoint: "main" } });
      this.pipelines.set(name, p);
    }
    return p;
  }

  /** The scalar words of the next dispatch (zeroed), as u32 and f32 views. */
  private args(): { u: Uint32Array; f: Float32Array } {
    if (this.closed) throw new Error("webgpu device: closed");
    if (this.slot === SLOTS) this.flush();
    const at = this.slot * 64;
    const u = this.u32.subarray(at, at + WORDS);
    u.fill(0);
    return { u, f: this.f32.subarray(at, at + WORDS) };
  }

  /**
   * Record kernel `name` over `groups` workgroups with `buffers` at bindings 1…, its scalars from {@link args}.
   * A buffer may be bound twice only read-only (WebGPU's rule; a violation surfaces as a device error on the next read).
   */
  private run(name: string, buffers: GPUBuffer[], groups: [number, number, number]): void {
    const pipeline = this.pipeline(name);
    const entries: GPUBindGroupEntry[] = [{
      binding: 0,
      resource: { buffer: this.params, offset: this.slot * 256, size: WORDS * 4 },
    }];
    for (let i = 0; i < buffers.length; i++) {
      entries.push({ binding: i + 1, resource: { buffer: buffers[i] } });
      this.inPass.add(buffers[i]);
    }
    const group = this.gpu.createBindGroup({ layout: pipeline.getBindGroupLayout(0), entries });
    if (!this.encoder) {
      this.encoder = this.gpu.createCommandEncoder();
      this.pass = this.encoder.beginComputePass();
    }
    this.pass!.setPipeline(pipeline);
    this.pass!.setBindGroup(0, group);
    this.pass!.dispatchWorkgroups(groups[0], groups[1], groups[2]);
    this.slot++;
    this.dispatches++;
  }

  /** Workgroups of 256 invocations covering n items on a 2-D grid. */
  private grid(n: number): [number, number, number] {
    const g = Math.max(1, Math.ceil(n / 256));
    return g <= MAX_GROUPS ? [g, 1, 1] : [MAX_GROUPS, Math.ceil(g / MAX_GROUPS), 1];
  }

  // ---- kernels (semantics in ops/device.ts)

  fill(y: DeviceBuffer, value: number, n: number, off = 0): void {
    if (n <= 0) return;
    const { u, f } = this.args();
    u[0] = n, u[1] = off, f[2] = value;
    this.run("fill", [g(y)], this.grid(n));
  }

  gemm(a: GemmArgs): void {
    const [b0, b1] = a.batch ?? [1, 1];
    if (a.m === 0 || a.n === 0 || b0 * b1 === 0) return;
    if (b0 * b1 > MAX_GROUPS) throw new Error(`webgpu gemm: ${b0 * b1} batch items (at most ${MAX_GROUPS})`);
    if (a.k === 0 || a.alpha === 0) throw new Error("webgpu gemm: k = 0 or alpha = 0 is not a product");
    const { u, f } = this.args();
    u.set([a.m, a.n, a.k, a.ta ? 1 : 0, a.tb ? 1 : 0, a.lda, a.ldb, a.ldc]);
    f[8] = a.alpha, f[9] = a.beta;
    u.set(
      [a.aOff, a.bOff, a.cOff, b1, ...(a.aStride ?? [0, 0]), ...(a.bStride ?? [0, 0]), ...(a.cStride ?? [0, 0])],
      10,
    );
    // A and B may be the same buffer (q and k of one qkv tensor): bound twice read-only, which WebGPU allows.
    const A = g(a.a), B = g(a.b), C = g(a.c);
    if (A === C || B === C) throw new Error("webgpu gemm: C must differ from A and B");
    this.run("gemm", [A, B, C], [Math.ceil(a.n / 64), Math.ceil(a.m / 64), b0 * b1]);
  }

  strided(s: StridedArgs): void {
    const n = s.rows * s.width;
    if (n === 0) return;
    const { u, f } = this.args();
    u.set([s.rows, s.width, s.srcOff, s.srcStride, s.dstOff, s.dstStride, s.accumulate ? 1 : 0]);
    f[7] = s.alpha;
    if (s.src === s.dst) throw new Error("webgpu strided: source and destination must differ");
    this.run("strided", [g(s.src), g(s.dst)], this.grid(n));
  }

  addRowVector(y: DeviceBuffer, v: DeviceBuffer, rows: number, n: number, x?: DeviceBuffer): void {
    if (rows * n === 0) return;
    const { u } = this.args();
    u[0] = rows, u[1] = n;
    if (x) this.run("addRowVector", [g(y), g(v), g(x)], this.grid(rows * n));
    else this.run("addRowVectorInPlace", [g(y), g(v)], this.grid(rows * n));
  }

  sumRows(dy: DeviceBuffer, gr: DeviceBuffer, rows: number, n: number): void {
    if (n === 0) return;
    const { u } = this.args();
    u[0] = rows, u[1] = n;
    this.run("sumRows", [g(dy), g(gr)], this.grid(n));
  }

  layerNorm(a: LayerNormArgs): void {
    if (a.rows === 0) return;
    const { u, f } = this.args();
    u[0] = a.rows, u[1] = a.D, f[2] = a.eps, u[3] = a.gamma ? 1 : 0;
    const r = this.dummies[0];
    const bufs = [g(a.x), g(a.y), g(a.mean), g(a.rstd), a.gamma ? g(a.gamma) : r, a.beta ? g(a.beta) : r];
    this.run("layerNorm", bufs, this.grid(a.rows));
  }

  layerNormBackward(a: LayerNormBackwardArgs): void {
    if (a.rows === 0) return;
    const [r, w1, w2] = this.dummies;
    if (a.dx) {
      const { u } = this.args();
      u[0] = a.rows, u[1] = a.D, u[2] = a.gamma ? 1 : 0;
      const bufs = [g(a.x), g(a.dy), g(a.mean), g(a.rstd), a.gamma ? g(a.gamma) : r, g(a.dx)];
      this.run("layerNormBackward", bufs, this.grid(a.rows));
    }
    if (a.dgamma || a.dbeta) {
      const { u } = this.args();
      u[0] = a.rows, u[1] = a.D, u[2] = a.dgamma ? 1 : 0, u[3] = a.dbeta ? 1 : 0;
      const bufs = [g(a.x), g(a.dy), g(a.mean), g(a.rstd), a.dgamma ? g(a.dgamma) : w1, a.dbeta ? g(a.dbeta) : w2];
      this.run("layerNormParamGrad", bufs, this.grid(a.D));
    }
  }

  gelu(x: DeviceBuffer, y: DeviceBuffer, n: number, form: GeluForm): void {
    if (n === 0) return;
    const { u } = this.args();
    u[0] = n, u[1] = form === "erf" ? 1 : 0;
    this.run("gelu", [g(x), g(y)], this.grid(n));
  }

  geluBackward(x: DeviceBuffer, dy: DeviceBuffer, dx: DeviceBuffer, n: number, form: GeluForm): void {
    if (n === 0) return;
    const { u } = this.args();
    u[0] = n, u[1] = form === "erf" ? 1 : 0;
    this.run("geluBackward", [g(x), g(dy), g(dx)], this.grid(n));
  }

  dropout(x: DeviceBuffer, y: DeviceBuffer, keep: DeviceBuffer, n: number, p: number, seed: number): void {
    if (n === 0) return;
    const { u, f } = this.args();
    u[0] = n, u[1] = seed >>> 0, u[2] = dropThreshold(p), f[3] = 1 / (1 - p);
    this.run("dropout", [g(x), g(y), g(keep)], this.grid(n));
  }

  mulAdd(dy: DeviceBuffer, w: DeviceBuffer, dx: DeviceBuffer, n: number): void {
    if (n === 0) return;
    const { u } = this.args();
    u[0] = n;
    this.run("mulAdd", [g(dy), g(w), g(dx)], this.grid(n));
  }

  scaleRows(x: DeviceBuffer, w: DeviceBuffer, y: DeviceBuffer, rows: number, n: number, accumulate: boolean): void {
    if (rows * n === 0) return;
    const { u } = this.args();
    u[0] = rows, u[1] = n, u[2] = accumulate ? 1 : 0;
    this.run("scaleRows", [g(x), g(w), g(y)], this.grid(rows * n));
  }

  gatherRows(x: DeviceBuffer, index: DeviceBuffer, y: DeviceBuffer, count: number, width: number): void {
    if (count * width === 0) return;
    const { u } = this.args();
    u[0] = count, u[1] = width;
    this.run("gatherRows", [g(x), g(index), g(y)], this.grid(count * width));
  }

  scatterAddRows(
    dy: DeviceBuffer,
    start: DeviceBuffer,
    sources: DeviceBuffer,
    dx: DeviceBuffer,
    rows: number,
    width: number,
  ): void {
    if (rows * width === 0) return;
    const { u } = this.args();
    u[0] = rows, u[1] = width;
    this.run("scatterAddRows", [g(dy), g(start), g(sources), g(dx)], this.grid(rows * width));
  }

  softmaxRows(s: DeviceBuffer, rows: number, n: number, mask?: DeviceBuffer, rowsPerBatch = rows): void {
    if (rows * n === 0) return;
    const { u } = this.args();
    u[0] = rows, u[1] = n, u[2] = mask ? 1 : 0, u[3] = rowsPerBatch;
    this.run("softmaxRows", [g(s), mask ? g(mask) : this.dummies[0]], this.grid(rows));
  }

  softmaxBackwardRows(p: DeviceBuffer, dp: DeviceBuffer, rows: number, n: number, scale: number): void {
    if (rows * n === 0) return;
    const { u, f } = this.args();
    u[0] = rows, u[1] = n, f[2] = scale;
    this.run("softmaxBackwardRows", [g(p), g(dp)], this.grid(rows));
  }

  ensembleLoss(a: EnsembleLossArgs): void {
    const { u } = this.args();
    u[0] = a.M, u[1] = a.E, u[2] = a.V, u[3] = LOSS_KINDS.indexOf(a.name);
    const bufs = [g(a.members), g(a.values), g(a.valid), g(a.rowWeights), g(a.terms), g(a.grad)];
    this.run("ensembleLoss", bufs, this.grid(a.M * a.V));
  }

  lossTotal(terms: DeviceBuffer, n: number, spreadScale: number, out: DeviceBuffer): void {
    const { u, f } = this.args();
    u[0] = n, f[1] = spreadScale;
    this.run("lossTotal", [g(terms), g(out)], [1, 1, 1]);
  }

  lossBackward(grad: DeviceBuffer, total: DeviceBuffer, dout: DeviceBuffer, dx: DeviceBuffer, n: number): void {
    if (n === 0) return;
    const { u } = this.args();
    u[0] = n;
    this.run("lossBackward", [g(grad), g(total), g(dout), g(dx)], this.grid(n));
  }

  ensembleMeanMse(
    members: DeviceBuffer,
    values: DeviceBuffer,
    valid: DeviceBuffer,
    M: number,
    E: number,
    V: number,
    out: DeviceBuffer,
  ): void {
    const { u } = this.args();
    u[0] = M, u[1] = E, u[2] = V;
    this.run("ensembleMeanMse", [g(members), g(values), g(valid), g(out)], [1, 1, 1]);
  }

  sumSquares(gr: DeviceBuffer, n: number, acc: DeviceBuffer, accOff: number): void {
    if (n === 0) return;
    const { u } = this.args();
    u[0] = n, u[1] = accOff;
    this.run("sumSquares", [g(gr), g(acc)], [1, 1, 1]);
  }

  adamw(a: AdamwArgs): void {
    if (a.n === 0) return;
    const { u, f } = this.args();
    u[0] = a.n;
    f.set([a.lr, a.b1, a.b2, a.eps, a.wd, a.bc1, a.bc2, a.clip], 1);
    this.run("adamw", [g(a.w), g(a.g), g(a.m), g(a.v), g(a.normSq)], this.grid(a.n));
  }
}

/** The GPUBuffer behind a contract buffer. */
function g(b: DeviceBuffer): GPUBuffer {
  return memoryOf<GPUBuffer>(b);
}
