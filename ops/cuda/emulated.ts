/**
 * The CUDA backend without a GPU: stand-ins for the driver's `CudaDevice`
 * and for cuBLAS that run the project's real .cu kernels on
 * ops/cuda/emulator.cpp (CUDA's execution model on the CPU), so
 * {@link CudaResidentDevice} — its launch shapes, argument packing
 * (`packParams`, decoded here as the driver would) and kernels — runs whole
 * under the device tests. The emulator is one child process per device;
 * launches, copies, fills and GEMMs queue as protocol lines and run when a
 * copy comes back. cuBLAS's place is the emulator's row-major GEMM (double
 * accumulator): the column-major mapping inside `Cublas.gemm` is checked
 * against a stand-in library instead (tests/ops/cuda_cublas_test.ts).
 * What this cannot show: the GPU's memory model, timing, the PTX JIT, cuBLAS.
 *
 * Needs g++ (C++20) and CUDA's headers (`cuda_bf16.h`, for CUDA's vector
 * types). A test helper, not a backend: nothing in the op layer imports it.
 *
 * @module
 */
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { CudaDevice, DeviceBuffer, Dim3, PackedParams } from "./driver.ts";
import type { Batch, Cublas, RowMajorGemm } from "./cublas.ts";
import { type CudaContext, CudaKernels, type KernelName, KERNELS } from "./kernels.ts";
import { CudaResidentDevice } from "./device.ts";
import { sha256 } from "./build.ts";

const SOURCE = fileURLToPath(new URL("./emulator.cpp", import.meta.url));
const KERNEL_DIR = fileURLToPath(new URL("./kernels/", import.meta.url));

/** Build the emulator (cached by the hash of its sources in the temporary folder); throws naming what failed. */
export async function buildEmulator(): Promise<string> {
  const include = join(Deno.env.get("CUDA_HOME") ?? "/usr/local/cuda", "include");
  let text = Deno.readTextFileSync(SOURCE);
  for (const f of [...Deno.readDirSync(KERNEL_DIR)].map((e) => e.name).sort()) {
    text += Deno.readTextFileSync(join(KERNEL_DIR, f));
  }
  const bin = join(Deno.env.get("TMPDIR") ?? "/tmp", `atmorep-cuda-emulator-${(await sha256(text)).slice(0, 16)}`);
  try {
    Deno.statSync(bin);
    return bin;
  } catch { /* not built yet */ }
  const tmp = `${bin}.${Deno.pid}`;
  const out = await new Deno.Command("g++", {
    args: ["-std=c++20", "-O2", "-pthread", `-I${include}`, "-o", tmp, SOURCE],
    stdout: "piped",
    stderr: "piped",
  }).output().catch((e) => {
    throw new Error(`cannot run g++ to build ops/cuda/emulator.cpp: ${(e as Error).message}`);
  });
  if (!out.success) {
    const err = new TextDecoder().decode(out.stderr).split("\n").slice(0, 4).join(" ");
    throw new Error(`cannot build ops/cuda/emulator.cpp with g++ and ${include}: ${err}`);
  }
  Deno.renameSync(tmp, bin);
  return bin;
}

/** One emulator process: commands go to a FIFO, replies come from another, read with blocking calls. */
class EmulatorProcess {
  private readonly dir = Deno.makeTempDirSync({ prefix: "cuda-emulator-" });
  private readonly child: Deno.ChildProcess;
  private readonly commands: Deno.FsFile;
  private readonly replies: Deno.FsFile;

  constructor(bin: string) {
    const [cmd, rep] = [join(this.dir, "commands"), join(this.dir, "replies")];
    const made = new Deno.Command("mkfifo", { args: [cmd, rep] }).outputSync();
    if (!made.success) throw new Error(`mkfifo failed: ${new TextDecoder().decode(made.stderr)}`);
    this.child = new Deno.Command(bin, { args: [cmd, rep, this.errors], stdin: "null", stdout: "null" }).spawn();
    this.child.unref();
    // The emulator opens the commands FIFO first, then the replies one: the same order here cannot deadlock.
    this.commands = Deno.openSync(cmd, { write: true });
    this.replies = Deno.openSync(rep, { read: true });
  }

  private get errors(): string {
    return join(this.dir, "errors");
  }

  send(bytes: Uint8Array): void {
    let done = 0;
    try {
      while (done < bytes.length) done += this.commands.writeSync(bytes.subarray(done));
    } catch (e) {
      throw new Error(`${this.failure()} (writing: ${(e as Error).message})`);
    }
  }

  receive(into: Uint8Array): void {
    let done = 0;
    while (done < into.length) {
      const n = this.replies.readSync(into.subarray(done));
      if (n === null) throw new Error(this.failure());
      done += n;
    }
  }

  private failure(): string {
    try {
      return Deno.readTextFileSync(this.errors).trim();
    } catch {
      return "the cuda emulator ended without a message";
    }
  }

  close(): void {
    this.commands.close(); // end of input: the emulator exits
    this.replies.close();
    Deno.removeSync(this.dir, { recursive: true });
  }
}

/**
 * The driver's place: the subset of `CudaDevice` that CudaKernels, CudaResidentDevice and the host sgemm use.
 * An address is a buffer id in the high 32 bits and a byte offset in the low ones.
 */
export class EmulatedDriver {
  readonly info = {
    name: "CUDA emulator (CPU)",
    capability: [9, 0] as [number, number],
    multiprocessors: 1,
    totalBytes: 0,
    driverVersion: 0,
  };
  private readonly process: EmulatorProcess;
  private readonly names: string[] = [];
  private readonly sizes = new Map<number, number>();
  private queue: Uint8Array[] = [];
  /** Reads queued (in order): where each dump's bytes go. */
  private reads: Uint8Array[] = [];
  private next = 1;
  private readonly encoder = new TextEncoder();

  constructor(bin: string) {
    this.process = new EmulatorProcess(bin);
  }

  private line(text: string): void {
    this.queue.push(this.encoder.encode(text + "\n"));
  }

  /** The buffer id and byte offset of an address, checked to hold `bytes`. */
  private locate(ptr: bigint, bytes: number): [number, number] {
    const id = Number(ptr >> 32n), off = Number(ptr & 0xffffffffn), size = this.sizes.get(id);
    if (size === undefined) throw new Error(`address ${ptr.toString(16)} is in no live buffer`);
    if (off + bytes > size) throw new Error(`${bytes} bytes at ${off} overrun buffer ${id} of ${size}`);
    return [id, off];
  }

  alloc(bytes: number): DeviceBuffer {
    const id = this.next++, size = Math.max(4, bytes);
    this.sizes.set(id, size);
    this.line(`alloc ${id} ${size}`);
    return { ptr: BigInt(id) << 32n, bytes };
  }

  free(b: DeviceBuffer): void {
    const [id] = this.locate(b.ptr, 0);
    this.sizes.delete(id);
    this.line(`free ${id}`);
  }

  uploadAsync(dst: DeviceBuffer, src: ArrayBufferView, offset = 0): void {
    const [id, off] = this.locate(dst.ptr + BigInt(offset), src.byteLength);
    this.line(`load ${id} ${off} ${src.byteLength}`);
    this.queue.push(new Uint8Array(src.buffer, src.byteOffset, src.byteLength).slice());
  }

  downloadAsync(src: DeviceBuffer, dst: ArrayBufferView, offset = 0): void {
    const [id, off] = this.locate(src.ptr + BigInt(offset), dst.byteLength);
    this.line(`dump ${id} ${off} ${dst.byteLength}`);
    this.reads.push(new Uint8Array(dst.buffer, dst.byteOffset, dst.byteLength));
    this.flushUntilRead();
  }

  upload(dst: DeviceBuffer, src: ArrayBufferView, offset = 0): void {
    this.uploadAsync(dst, src, offset);
    this.synchronize();
  }

  download(src: DeviceBuffer, dst: ArrayBufferView, offset = 0): void {
    this.downloadAsync(src, dst, offset);
    this.synchronize();
  }

  fill32(b: DeviceBuffer, word: number, count = b.bytes / 4, offset = 0): void {
    const [id, off] = this.locate(b.ptr + BigInt(offset), 4 * count);
    this.line(`fill ${id} ${off} ${count} ${word >>> 0}`);
  }

  /** Send the queue up to and including the pending dump and take its reply (a dump's reply must be read before more commands go, or both pipes could fill). */
  private flushUntilRead(): void {
    this.send();
    for (const r of this.reads) this.process.receive(r);
    this.reads = [];
  }

  private send(): void {
    if (!this.queue.length) return;
    const total = this.queue.reduce((a, q) => a + q.length, 0), all = new Uint8Array(total);
    let at = 0;
    for (const q of this.queue) all.set(q, at), at += q.length;
    this.queue = [];
    this.process.send(all);
  }

  /** Run everything queued (a dump waits for every earlier command). */
  synchronize(): void {
    this.send();
    const probe = new Uint8Array(4);
    const id = this.next++;
    this.sizes.set(id, 4);
    this.line(`alloc ${id} 4`);
    this.line(`dump ${id} 0 4`);
    this.line(`free ${id}`);
    this.sizes.delete(id);
    this.reads.push(probe);
    this.flushUntilRead();
  }

  loadModule(): Deno.PointerValue {
    return null;
  }

  getFunction(_module: Deno.PointerValue, name: string): Deno.PointerValue {
    this.names.push(name);
    return Deno.UnsafePointer.create(BigInt(this.names.length));
  }

  /** Decode the packed argument block as the driver would, into the protocol's argument words. */
  launch(fn: Deno.PointerValue, grid: Dim3, block: Dim3, params: PackedParams, _shared = 0, name = ""): void {
    const kernel = this.names[Number(Deno.UnsafePointer.value(fn)) - 1] as KernelName;
    if (kernel !== name) throw new Error(`function handle of ${kernel} launched as ${name}`);
    const words = KERNELS[kernel].params.map((kind, i) => {
      const v = new Deno.UnsafePointerView(Deno.UnsafePointer.create(params.pointers[i])!);
      if (kind === "ptr") {
        const p = v.getBigUint64(0);
        if (p === 0n) return "0";
        const [id, off] = this.locate(p, 0);
        return `b${id}+${off}`;
      }
      if (kind === "i64") return v.getBigInt64(0).toString();
      if (kind === "i32") return String(v.getInt32(0));
      if (kind === "u32") return String(v.getUint32(0));
      return v.getFloat32(0).toPrecision(17);
    });
    params.keepAlive();
    this.line(`launch ${kernel} ${grid.join(" ")} ${block.join(" ")} ${words.join(" ")}`);
  }

  /** cuBLAS's row-major GEMM, queued (fp32 operands only: the contract's). */
  gemm(g: RowMajorGemm, batch?: Batch): void {
    if (g.input === "bf16") throw new Error("the cuda emulator's GEMM takes fp32 operands only");
    const addr = (p: bigint) => {
      const [id, off] = this.locate(p, 0);
      return `b${id}+${off}`;
    };
    const f = (x: number) => Math.fround(x).toPrecision(17);
    this.line(
      `gemm ${g.transA ? 1 : 0} ${g.transB ? 1 : 0} ${g.M} ${g.N} ${g.K} ${f(g.alpha)} ` +
        `${addr(g.a)} ${g.lda} ${batch?.strideA ?? 0} ${addr(g.b)} ${g.ldb} ${batch?.strideB ?? 0} ${f(g.beta)} ` +
        `${addr(g.c)} ${g.ldc} ${batch?.strideC ?? 0} ${batch?.count ?? 1}`,
    );
  }

  close(): void {
    this.send();
    this.process.close();
  }
}

/** A context on the emulator: the real CudaKernels over {@link EmulatedDriver}, which also stands in for cuBLAS. */
export function emulatedContext(bin: string): { context: CudaContext; driver: EmulatedDriver } {
  const driver = new EmulatedDriver(bin);
  const device = driver as unknown as CudaDevice;
  const cublas = { gemm: (g: RowMajorGemm, b?: Batch) => driver.gemm(g, b), close() {} } as unknown as Cublas;
  return { context: { device, kernels: new CudaKernels(device), cublas }, driver };
}

/** The device contract on the emulator (build it first with {@link buildEmulator}). */
export function emulatedCudaDevice(bin: string): CudaResidentDevice {
  const { context, driver } = emulatedContext(bin);
  return new CudaResidentDevice(context, "cuda · kernels on the CPU emulator (ops/cuda/emulator.cpp)", {
    onClose: () => driver.close(),
  });
}
