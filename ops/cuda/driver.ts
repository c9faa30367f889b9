/**
 * The CUDA driver API through Deno FFI: `libcuda.so.1`, which the NVIDIA
 * driver installs (no toolkit needed). The symbol table {@link CUDA_SYMBOLS}
 * is exported so tests/ops/cuda_ffi_test.ts can check every signature
 * against the prototypes of `cuda.h`. Exported names are the versioned ones
 * the header's macros map to (`cuMemAlloc_v2`). Every call is synchronous on
 * the calling thread: a context is current per thread, and FFI calls marked
 * `nonblocking` would run on another one, where no context is current. The
 * device's primary context is used (`cuDevicePrimaryCtxRetain`), as the
 * runtime API does. Device addresses travel as `bigint` (`u64`).
 *
 * @module
 */

/** FFI declarations of the driver entry points we call. Pointers to device memory are `u64`. */
export const CUDA_SYMBOLS = {
  cuInit: { parameters: ["u32"], result: "i32" },
  cuDriverGetVersion: { parameters: ["buffer"], result: "i32" },
  cuDeviceGetCount: { parameters: ["buffer"], result: "i32" },
  cuDeviceGet: { parameters: ["buffer", "i32"], result: "i32" },
  cuDeviceGetName: { parameters: ["buffer", "i32", "i32"], result: "i32" },
  cuDeviceGetAttribute: { parameters: ["buffer", "i32", "i32"], result: "i32" },
  cuDeviceTotalMem_v2: { parameters: ["buffer", "i32"], result: "i32" },
  cuDevicePrimaryCtxRetain: { parameters: ["buffer", "i32"], result: "i32" },
  cuDevicePrimaryCtxRelease_v2: { parameters: ["i32"], result: "i32" },
  cuCtxSetCurrent: { parameters: ["pointer"], result: "i32" },
  cuCtxSynchronize: { parameters: [], result: "i32" },
  cuMemGetInfo_v2: { parameters: ["buffer", "buffer"], result: "i32" },
  cuMemAlloc_v2: { parameters: ["buffer", "usize"], result: "i32" },
  cuMemFree_v2: { parameters: ["u64"], result: "i32" },
  cuMemAllocHost_v2: { parameters: ["buffer", "usize"], result: "i32" },
  cuMemFreeHost: { parameters: ["pointer"], result: "i32" },
  cuMemcpyDtoD_v2: { parameters: ["u64", "u64", "usize"], result: "i32" },
  cuMemcpyHtoDAsync_v2: { parameters: ["u64", "pointer", "usize", "pointer"], result: "i32" },
  cuMemcpyDtoHAsync_v2: { parameters: ["pointer", "u64", "usize", "pointer"], result: "i32" },
  cuMemsetD32Async: { parameters: ["u64", "u32", "usize", "pointer"], result: "i32" },
  cuModuleLoadData: { parameters: ["buffer", "buffer"], result: "i32" },
  cuModuleUnload: { parameters: ["pointer"], result: "i32" },
  cuModuleGetFunction: { parameters: ["buffer", "pointer", "buffer"], result: "i32" },
  cuLaunchKernel: {
    parameters: ["pointer", "u32", "u32", "u32", "u32", "u32", "u32", "u32", "pointer", "buffer", "pointer"],
    result: "i32",
  },
  cuStreamCreate: { parameters: ["buffer", "u32"], result: "i32" },
  cuStreamDestroy_v2: { parameters: ["pointer"], result: "i32" },
  cuStreamSynchronize: { parameters: ["pointer"], result: "i32" },
  cuGetErrorName: { parameters: ["i32", "buffer"], result: "i32" },
  cuGetErrorString: { parameters: ["i32", "buffer"], result: "i32" },
} as const satisfies Deno.ForeignLibraryInterface;

/** cuDeviceGetAttribute attributes we read (values of `CUdevice_attribute` in cuda.h; checked by the FFI test). */
export const CU_DEVICE_ATTRIBUTE = {
  MULTIPROCESSOR_COUNT: 16,
  COMPUTE_CAPABILITY_MAJOR: 75,
  COMPUTE_CAPABILITY_MINOR: 76,
} as const;

/** A failed driver call: `code` is the CUresult, `errorName` its name (`CUDA_ERROR_OUT_OF_MEMORY`). */
export class CudaError extends Error {
  /** The CUresult. */
  readonly code: number;
  /** The CUresult's name from cuGetErrorName. */
  readonly errorName: string;
  /** The entry point that failed. */
  readonly call: string;
  constructor(call: string, code: number, errorName: string, description: string) {
    super(`${call}: ${errorName} (${code}): ${description}`);
    this.name = "CudaError";
    this.code = code;
    this.errorName = errorName;
    this.call = call;
  }
}

/** The driver library loaded through FFI. */
export type CudaLibrary = Deno.DynamicLibrary<typeof CUDA_SYMBOLS>;

/** The names the driver is opened under: the driver's soname, then an override. */
export function libcudaNames(override?: string): string[] {
  return override ? [override, "libcuda.so.1"] : ["libcuda.so.1"];
}

/** Open libcuda (first name that opens); an Error listing every name tried and why each failed. */
export function openLibcuda(override?: string): CudaLibrary {
  const why: string[] = [];
  for (const name of libcudaNames(override)) {
    try {
      return Deno.dlopen(name, CUDA_SYMBOLS);
    } catch (e) {
      // Deno's message repeats itself ("Could not open library: Could not open library: NAME: cannot open…"): keep
      // the loader's own reason once.
      const reason = (e as Error).message.replace(/^(Could not open library: )+/, "").replace(`${name}: `, "");
      why.push(`${name}: ${reason}`);
    }
  }
  throw new Error(`cannot open the NVIDIA driver library (installed with the driver): ${why.join("; ")}`);
}

/** A NUL-terminated C string at `p`, or "" for null. */
export function cString(p: Deno.PointerValue): string {
  return p ? new Deno.UnsafePointerView(p).getCString() : "";
}

/** Throw a {@link CudaError} for a non-zero CUresult, with the driver's own name and description. */
export function check(lib: CudaLibrary, call: string, code: number): void {
  if (code === 0) return;
  const out = new BigUint64Array(1);
  const name = lib.symbols.cuGetErrorName(code, out) === 0 ? cString(Deno.UnsafePointer.create(out[0])) : "";
  const desc = lib.symbols.cuGetErrorString(code, out) === 0 ? cString(Deno.UnsafePointer.create(out[0])) : "";
  throw new CudaError(call, code, name || `CUresult ${code}`, desc || "no description");
}

/** A device allocation: its address and size in bytes. */
export interface DeviceBuffer {
  readonly ptr: bigint;
  readonly bytes: number;
}

/** What the device is. */
export interface DeviceInfo {
  name: string;
  /** Compute capability, e.g. [9, 0]. */
  capability: [number, number];
  multiprocessors: number;
  totalBytes: number;
  /** Driver version as the driver reports it (e.g. 13000 for 13.0). */
  driverVersion: number;
}

/** One device with its primary context current on this thread, and a stream. */
export class CudaDevice {
  /** The driver library. */
  readonly lib: CudaLibrary;
  /** Device ordinal. */
  readonly ordinal: number;
  /** What the device is. */
  readonly info: DeviceInfo;
  /** The stream every launch and async copy of this device goes to. */
  readonly stream: Deno.PointerValue;
  private readonly context: Deno.PointerValue;
  /** The CUdevice handle (cuDeviceGet's, not assumed equal to the ordinal). */
  private readonly handle: number;

  constructor(lib: CudaLibrary, ordinal = 0) {
    this.lib = lib;
    this.ordinal = ordinal;
    const s = lib.symbols, i32 = new Int32Array(1), u64 = new BigUint64Array(1);
    check(lib, "cuInit", s.cuInit(0));
    check(lib, "cuDeviceGetCount", s.cuDeviceGetCount(i32));
    if (ordinal >= i32[0]) throw new Error(`CUDA device ${ordinal} requested, the driver sees ${i32[0]}`);
    check(lib, "cuDeviceGet", s.cuDeviceGet(i32, ordinal));
    const dev = this.handle = i32[0];
    check(lib, "cuDevicePrimaryCtxRetain", s.cuDevicePrimaryCtxRetain(u64, dev));
    this.context = Deno.UnsafePointer.create(u64[0]);
    check(lib, "cuCtxSetCurrent", s.cuCtxSetCurrent(this.context));
    this.info = deviceInfo(lib, dev);
    check(lib, "cuStreamCreate", s.cuStreamCreate(u64, 1)); // CU_STREAM_NON_BLOCKING
    this.stream = Deno.UnsafePointer.create(u64[0]);
  }

  /** Make this device's context current on the calling thread (after another library switched it). */
  makeCurrent(): void {
    check(this.lib, "cuCtxSetCurrent", this.lib.symbols.cuCtxSetCurrent(this.context));
  }

  /** Allocate `bytes` (at least 4) of device memory. */
  alloc(bytes: number): DeviceBuffer {
    const out = new BigUint64Array(1);
    check(this.lib, "cuMemAlloc_v2", this.lib.symbols.cuMemAlloc_v2(out, BigInt(Math.max(4, bytes))));
    return { ptr: out[0], bytes };
  }

  /** Free a device allocation, after the stream's work that may still use it. */
  free(b: DeviceBuffer): void {
    this.synchronize();
    check(this.lib, "cuMemFree_v2", this.lib.symbols.cuMemFree_v2(b.ptr));
  }

  /**
   * Copy host → device at `dst` (+ byte offset), ordered on the stream after the work already queued, and wait
   * for it. (The plain cuMemcpyHtoD runs on the legacy default stream, which does not order with our
   * non-blocking stream: a kernel queued before or after could race with it.)
   */
  upload(dst: DeviceBuffer, src: ArrayBufferView, offset = 0): void {
    this.uploadAsync(dst, src, offset);
    this.synchronize();
  }

  /** Copy device → host after the stream's queued work, and wait for it. */
  download(src: DeviceBuffer, dst: ArrayBufferView, offset = 0): void {
    this.downloadAsync(src, dst, offset);
    this.synchronize();
  }

  /**
   * Copy host → device on the stream. `src` must stay alive and unchanged until the stream is synchronized
   * (pinned memory from {@link allocHost} makes the copy truly asynchronous).
   */
  uploadAsync(dst: DeviceBuffer, src: ArrayBufferView, offset = 0): void {
    const p = Deno.UnsafePointer.of(src as Uint8Array<ArrayBuffer>);
    const r = this.lib.symbols.cuMemcpyHtoDAsync_v2(dst.ptr + BigInt(offset), p, BigInt(src.byteLength), this.stream);
    check(this.lib, "cuMemcpyHtoDAsync_v2", r);
  }

  /** Copy device → host on the stream; `dst` must stay alive until the stream is synchronized. */
  downloadAsync(src: DeviceBuffer, dst: ArrayBufferView, offset = 0): void {
    const p = Deno.UnsafePointer.of(dst as Uint8Array<ArrayBuffer>);
    const r = this.lib.symbols.cuMemcpyDtoHAsync_v2(p, src.ptr + BigInt(offset), BigInt(dst.byteLength), this.stream);
    check(this.lib, "cuMemcpyDtoHAsync_v2", r);
  }

  /** Page-locked host memory of `bytes` (for async uploads); free with {@link freeHost}. */
  allocHost(bytes: number): { pointer: Deno.PointerValue; view: Uint8Array } {
    const out = new BigUint64Array(1);
    check(this.lib, "cuMemAllocHost_v2", this.lib.symbols.cuMemAllocHost_v2(out, BigInt(bytes)));
    const pointer = Deno.UnsafePointer.create(out[0]);
    return { pointer, view: new Uint8Array(Deno.UnsafePointerView.getArrayBuffer(pointer!, bytes)) };
  }

  /** Free page-locked host memory. */
  freeHost(pointer: Deno.PointerValue): void {
    check(this.lib, "cuMemFreeHost", this.lib.symbols.cuMemFreeHost(pointer));
  }

  /** Fill `count` 32-bit words from byte `offset` with `word` (0 zeroes floats), ordered on the stream. */
  fill32(b: DeviceBuffer, word: number, count = b.bytes / 4, offset = 0): void {
    const r = this.lib.symbols.cuMemsetD32Async(b.ptr + BigInt(offset), word >>> 0, BigInt(count), this.stream);
    check(this.lib, "cuMemsetD32Async", r);
  }

  /** Wait for the stream's work. */
  synchronize(): void {
    check(this.lib, "cuStreamSynchronize", this.lib.symbols.cuStreamSynchronize(this.stream));
  }

  /** Load a PTX module (the driver JIT-compiles it for this GPU). */
  loadModule(ptx: string): Deno.PointerValue {
    const out = new BigUint64Array(1);
    check(this.lib, "cuModuleLoadData", this.lib.symbols.cuModuleLoadData(out, new TextEncoder().encode(ptx + "\0")));
    return Deno.UnsafePointer.create(out[0]);
  }

  /** A kernel of a loaded module by its (extern "C") name. */
  getFunction(module: Deno.PointerValue, name: string): Deno.PointerValue {
    const out = new BigUint64Array(1);
    const r = this.lib.symbols.cuModuleGetFunction(out, module, new TextEncoder().encode(name + "\0"));
    check(this.lib, `cuModuleGetFunction(${name})`, r);
    return Deno.UnsafePointer.create(out[0]);
  }

  /**
   * Launch `fn` on the stream. `params` is the packed argument block from {@link packParams}: the driver
   * reads each argument through the pointer array during the call, so both stay referenced here until it returns.
   */
  launch(fn: Deno.PointerValue, grid: Dim3, block: Dim3, params: PackedParams, sharedBytes = 0, name = "kernel"): void {
    const r = this.lib.symbols.cuLaunchKernel(
      fn,
      grid[0],
      grid[1],
      grid[2],
      block[0],
      block[1],
      block[2],
      sharedBytes,
      this.stream,
      params.pointers,
      null,
    );
    check(this.lib, `cuLaunchKernel(${name})`, r);
    params.keepAlive(); // the values block must outlive the call
  }

  /** Free and unused bytes of device memory. */
  memoryInfo(): { free: number; total: number } {
    const f = new BigUint64Array(1), t = new BigUint64Array(1);
    check(this.lib, "cuMemGetInfo_v2", this.lib.symbols.cuMemGetInfo_v2(f, t));
    return { free: Number(f[0]), total: Number(t[0]) };
  }

  /** Destroy the stream and release the primary context. */
  close(): void {
    this.synchronize();
    check(this.lib, "cuStreamDestroy_v2", this.lib.symbols.cuStreamDestroy_v2(this.stream));
    check(this.lib, "cuDevicePrimaryCtxRelease_v2", this.lib.symbols.cuDevicePrimaryCtxRelease_v2(this.handle));
  }
}

/** Grid or block dimensions. */
export type Dim3 = [number, number, number];

/** The kind of one kernel argument, as the PTX declares it: device address, 32/64-bit integer, float. */
export type ParamKind = "ptr" | "i32" | "u32" | "i64" | "f32";

/** A kernel's arguments laid out for cuLaunchKernel: `pointers[i]` is the address of argument i's value. */
export interface PackedParams {
  pointers: BigUint64Array;
  keepAlive(): void;
}

/** Pack argument values into one 8-byte-slot block and the array of pointers to each slot. */
export function packParams(kinds: readonly ParamKind[], values: readonly (number | bigint)[]): PackedParams {
  if (kinds.length !== values.length) throw new Error(`kernel takes ${kinds.length} arguments, got ${values.length}`);
  const block = new ArrayBuffer(8 * Math.max(1, kinds.length));
  const view = new DataView(block);
  kinds.forEach((k, i) => {
    const v = values[i], at = 8 * i;
    if (k === "ptr" || k === "i64") view.setBigUint64(at, BigInt.asUintN(64, BigInt(v)), true);
    else if (k === "i32") view.setInt32(at, Number(v), true);
    else if (k === "u32") view.setUint32(at, Number(v) >>> 0, true);
    else view.setFloat32(at, Number(v), true);
  });
  const base = Deno.UnsafePointer.value(Deno.UnsafePointer.of(block));
  const pointers = BigUint64Array.from(kinds, (_, i) => BigInt(base) + BigInt(8 * i));
  return { pointers, keepAlive: () => void block.byteLength };
}

/** Name, compute capability, multiprocessors, memory, driver version. */
function deviceInfo(lib: CudaLibrary, dev: number): DeviceInfo {
  const s = lib.symbols, i32 = new Int32Array(1), name = new Uint8Array(256), u64 = new BigUint64Array(1);
  check(lib, "cuDeviceGetName", s.cuDeviceGetName(name, name.length, dev));
  const attr = (a: number) => (check(lib, "cuDeviceGetAttribute", s.cuDeviceGetAttribute(i32, a, dev)), i32[0]);
  const major = attr(CU_DEVICE_ATTRIBUTE.COMPUTE_CAPABILITY_MAJOR),
    minor = attr(CU_DEVICE_ATTRIBUTE.COMPUTE_CAPABILITY_MINOR);
  const sms = attr(CU_DEVICE_ATTRIBUTE.MULTIPROCESSOR_COUNT);
  check(lib, "cuDeviceTotalMem_v2", s.cuDeviceTotalMem_v2(u64, dev));
  check(lib, "cuDriverGetVersion", s.cuDriverGetVersion(i32));
  return {
    name: new TextDecoder().decode(name.subarray(0, name.indexOf(0))),
    capability: [major, minor],
    multiprocessors: sms,
    totalBytes: Number(u64[0]),
    driverVersion: i32[0],
  };
}
