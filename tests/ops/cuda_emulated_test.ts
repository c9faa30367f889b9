/**
 * The cases of tests/ops/cuda_cases.ts run through the real host path —
 * ops/cuda/ops.ts, the launch configurations and argument packing of
 * ops/cuda/kernels.ts (`CudaKernels`, `packParams`) — with the kernels
 * executed by ops/cuda/emulator.cpp: the .cu sources compiled by the host C++
 * compiler under a CPU emulation of CUDA's execution model (blocks, threads,
 * `__syncthreads`, warp shuffles, atomics). This checks the kernels' indexing,
 * reductions and launches without a GPU; it is not the GPU (no memory model,
 * no PTX, no JIT); in the cuBLAS cases a TypeScript GEMM stands in for cuBLAS (so ops.ts's orchestration of
 * linear and attention is checked, cuBLAS and the column-major mapping of Cublas.gemm are not).
 * Needs g++ (C++20) and CUDA's headers (`cuda_bf16.h`): without them the tests
 * fail naming what is missing, unless ATMOREP_ALLOW_NO_NVCC=1 says to skip.
 *
 * @module
 */
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { CudaKernels, type KernelName, KERNELS } from "../../ops/cuda/kernels.ts";
import type { CudaDevice, DeviceBuffer, Dim3, PackedParams } from "../../ops/cuda/driver.ts";
import type { CudaContext } from "../../ops/cuda/ops.ts";
import type { Batch, Cublas, RowMajorGemm } from "../../ops/cuda/cublas.ts";
import { runTool } from "../../ops/cuda/build.ts";
import { CUDA_CASES } from "./cuda_cases.ts";

const SOURCE = fileURLToPath(new URL("../../ops/cuda/emulator.cpp", import.meta.url));
const INCLUDE = join(Deno.env.get("CUDA_HOME") ?? "/usr/local/cuda", "include");

/** The emulator binary, or why it could not be built. */
async function buildEmulator(): Promise<{ bin?: string; missing?: string }> {
  const dir = await Deno.makeTempDir({ prefix: "cuda-emulator-" });
  const bin = join(dir, "emulator");
  try {
    await runTool("g++", ["-std=c++20", "-O1", "-pthread", `-I${INCLUDE}`, "-o", bin, SOURCE]);
    return { bin };
  } catch (e) {
    return {
      missing: `cannot build ops/cuda/emulator.cpp (${(e as Error).message.split("\n").slice(0, 3).join(" ")})`,
    };
  }
}

const built = await buildEmulator();
const skip = built.missing !== undefined && Deno.env.get("ATMOREP_ALLOW_NO_NVCC") === "1";
if (skip) console.warn(`cuda emulated tests IGNORED (ATMOREP_ALLOW_NO_NVCC=1): ${built.missing}`);

/**
 * A stand-in for CudaDevice whose launches queue lines of the emulator's protocol; copies, memsets and
 * synchronization run the queue (one emulator process per flush, all live buffers in and out).
 */
class EmulatedDevice {
  readonly info = { name: "CPU emulation", capability: [9, 0] as [number, number] };
  private readonly buffers = new Map<number, Uint8Array>();
  private readonly names: string[] = [];
  private queue: string[] = [];
  private next = 1;

  constructor(private readonly bin: string) {}

  alloc(bytes: number): DeviceBuffer {
    const id = this.next++;
    this.buffers.set(id, new Uint8Array(Math.max(4, bytes)));
    return { ptr: BigInt(id) << 32n, bytes };
  }

  free(b: DeviceBuffer): void {
    this.synchronize();
    this.buffers.delete(Number(b.ptr >> 32n));
  }

  /** The host copy of the buffer holding `ptr`, and the byte offset. */
  at(ptr: bigint): [Uint8Array, number] {
    const buf = this.buffers.get(Number(ptr >> 32n));
    if (!buf) throw new Error(`address ${ptr.toString(16)} is in no live buffer`);
    return [buf, Number(ptr & 0xffffffffn)];
  }

  upload(dst: DeviceBuffer, src: ArrayBufferView, offset = 0): void {
    this.synchronize();
    const [buf, off] = this.at(dst.ptr + BigInt(offset));
    buf.set(new Uint8Array(src.buffer, src.byteOffset, src.byteLength), off);
  }

  download(src: DeviceBuffer, dst: ArrayBufferView, offset = 0): void {
    this.synchronize();
    const [buf, off] = this.at(src.ptr + BigInt(offset));
    new Uint8Array(dst.buffer, dst.byteOffset, dst.byteLength).set(buf.subarray(off, off + dst.byteLength));
  }

  fill32(b: DeviceBuffer, word: number, count = b.bytes / 4, offset = 0): void {
    this.synchronize();
    const [buf, off] = this.at(b.ptr + BigInt(offset));
    new Uint32Array(buf.buffer, off, count).fill(word >>> 0);
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
        return p === 0n ? "0" : `b${p >> 32n}+${p & 0xffffffffn}`;
      }
      if (kind === "i64") return v.getBigInt64(0).toString();
      if (kind === "i32") return String(v.getInt32(0));
      if (kind === "u32") return String(v.getUint32(0));
      return v.getFloat32(0).toPrecision(17);
    });
    params.keepAlive();
    this.queue.push(`launch ${kernel} ${grid.join(" ")} ${block.join(" ")} ${words.join(" ")}`);
  }

  /** Run the queued launches on every live buffer. */
  synchronize(): void {
    if (!this.queue.length) return;
    const dir = Deno.makeTempDirSync({ prefix: "cuda-emu-io-" });
    try {
      const script: string[] = [];
      for (const [id, buf] of this.buffers) {
        Deno.writeFileSync(join(dir, `${id}`), buf);
        script.push(`buffer ${id} ${buf.length} ${join(dir, `${id}`)}`);
      }
      script.push(...this.queue);
      for (const id of this.buffers.keys()) script.push(`dump ${id} ${join(dir, `${id}.out`)}`);
      this.queue = [];
      Deno.writeTextFileSync(join(dir, "script"), script.join("\n") + "\n");
      const out = new Deno.Command(this.bin, { args: [join(dir, "script")], stdout: "piped", stderr: "piped" })
        .outputSync();
      if (!out.success) throw new Error(`emulator failed: ${new TextDecoder().decode(out.stderr)}`);
      for (const [id, buf] of this.buffers) buf.set(Deno.readFileSync(join(dir, `${id}.out`)));
    } finally {
      Deno.removeSync(dir, { recursive: true });
    }
  }
}

/**
 * cuBLAS's place in the emulated context: the row-major GEMM of `Cublas.gemm` computed in TypeScript on the
 * emulated buffers (fp32 or bf16 inputs, fp32 C), so the orchestration of ops.ts (operands, offsets, strides,
 * batches) and gemm.ts (spans) is exercised; cuBLAS itself and the column-major mapping inside Cublas.gemm are not.
 */
class TypescriptBlas {
  constructor(private readonly device: EmulatedDevice) {}

  gemm(g: RowMajorGemm, batch?: Batch): void {
    this.device.synchronize();
    const size = g.input === "bf16" ? 2 : 4;
    const read = (base: bigint, i: number) => {
      const [buf, off] = this.device.at(base + BigInt(i * size));
      const v = new DataView(buf.buffer, buf.byteOffset + off);
      return size === 4
        ? v.getFloat32(0, true)
        : new Float32Array(new Uint32Array([v.getUint16(0, true) << 16]).buffer)[0];
    };
    const cell = (i: number) => {
      const [buf, off] = this.device.at(g.c + BigInt(4 * i));
      return new DataView(buf.buffer, buf.byteOffset + off);
    };
    for (let t = 0; t < (batch?.count ?? 1); t++) {
      const a0 = t * (batch?.strideA ?? 0), b0 = t * (batch?.strideB ?? 0), c0 = t * (batch?.strideC ?? 0);
      for (let i = 0; i < g.M; i++) {
        for (let j = 0; j < g.N; j++) {
          let s = 0;
          for (let k = 0; k < g.K; k++) {
            s += read(g.a, a0 + (g.transA ? k * g.lda + i : i * g.lda + k)) *
              read(g.b, b0 + (g.transB ? j * g.ldb + k : k * g.ldb + j));
          }
          const c = cell(c0 + i * g.ldc + j);
          c.setFloat32(0, g.alpha * s + (g.beta === 0 ? 0 : g.beta * c.getFloat32(0, true)), true);
        }
      }
    }
  }
}

/** The emulated context: the real CudaKernels over the emulated device; cuBLAS replaced by {@link TypescriptBlas}. */
function emulatedContext(bin: string): CudaContext {
  const emulated = new EmulatedDevice(bin);
  const device = emulated as unknown as CudaDevice;
  return { device, kernels: new CudaKernels(device), cublas: new TypescriptBlas(emulated) as unknown as Cublas };
}

const ctx = built.bin ? emulatedContext(built.bin) : undefined;
for (const k of CUDA_CASES) {
  Deno.test({
    name: `cuda emulated: ${k.name}${k.cublas ? " (cuBLAS replaced by a TypeScript GEMM)" : ""}`,
    ignore: skip,
    fn: () => {
      if (!ctx) throw new Error(`${built.missing}: install g++ and CUDA 13's headers, or set ATMOREP_ALLOW_NO_NVCC=1`);
      return k.fn(ctx);
    },
  });
}
