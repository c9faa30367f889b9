/**
 * Blosc decoding for the cloud stores (ARCO-ERA5 and WeatherBench 2 write
 * Blosc-LZ4 or Blosc-zstd with byte shuffle): the system's c-blosc
 * (`libblosc.so.1`, a dependency of numcodecs in most distributions)
 * through FFI where the process may load it, else numcodecs.js's wasm
 * build (single-threaded, 3–10× slower). Both read the same frames. The
 * frame's header is checked first: a chunk whose length is not the one
 * its header gives is refused before any decoding.
 *
 * @module
 */
import { openSystemLibrary } from "./ffi.ts";
import { InputError } from "../errors.ts";

const LIBRARY_NAMES = [
  "libblosc.so.1",
  "libblosc.so",
  "libblosc.1.dylib",
  "/opt/homebrew/lib/libblosc.1.dylib",
  "blosc.dll",
];

const SYMBOLS = {
  blosc_decompress_ctx: { parameters: ["buffer", "buffer", "usize", "i32"], result: "i32" },
} as const;

type Decode = (frame: Uint8Array, size: number, into: Uint8Array) => Uint8Array;

let native: Decode | null | undefined;

/** c-blosc through FFI, or undefined when FFI is not permitted or the library is not found. */
function nativeBlosc(): Decode | undefined {
  if (native !== undefined) return native ?? undefined;
  native = null;
  const lib = openSystemLibrary(LIBRARY_NAMES, SYMBOLS);
  if (!lib) return undefined;
  native = (frame, size, out) => {
    // One internal thread: conversions already run one decoder per worker.
    const n = lib.symbols.blosc_decompress_ctx(frame, out, BigInt(size), 1);
    if (n < 0) throw new Error(`c-blosc error ${n}`);
    if (n !== size) throw new Error(`decoded ${n} bytes`);
    return out;
  };
  return native;
}

/** numcodecs.js's Blosc, loaded on first use: importing it costs ≈15 MB in every thread, conversions from files included. */
let wasm: Promise<{ decode(frame: Uint8Array): Uint8Array | Promise<Uint8Array> }> | undefined;
function wasmBlosc(): Promise<{ decode(frame: Uint8Array): Uint8Array | Promise<Uint8Array> }> {
  wasm ??= import("numcodecs/blosc").then(({ default: Blosc }) => Blosc.fromConfig({ id: "blosc" }));
  return wasm;
}

/** Which implementation decodes: `c-blosc (FFI)` or `numcodecs.js (wasm)`. */
export function bloscImplementation(): string {
  return nativeBlosc() ? "c-blosc (FFI)" : "numcodecs.js (wasm)";
}

/** The transient output of this thread (reused: fresh chunk-sized memory costs page faults). */
let scratch = new Uint8Array(0);

/**
 * Decode one Blosc frame, checked against its header; errors name `url`.
 * Synchronous with c-blosc (with `transient`, into a buffer the next
 * transient call reuses), a promise with the wasm fallback.
 */
export function decodeBlosc(frame: Uint8Array, url: string, transient = false): Uint8Array | Promise<Uint8Array> {
  if (frame.length < 16) throw new InputError(url, `Blosc chunk of ${frame.length} bytes is shorter than its header`);
  const v = new DataView(frame.buffer, frame.byteOffset, frame.byteLength);
  const nbytes = v.getUint32(4, true), cbytes = v.getUint32(12, true);
  if (cbytes !== frame.length) {
    throw new InputError(
      url,
      `Blosc chunk is ${frame.length} bytes but its header says ${cbytes}: truncated or corrupt`,
    );
  }
  const check = (out: Uint8Array) => {
    if (out.length !== nbytes) {
      throw new InputError(url, `Blosc decoded ${out.length} bytes, its header says ${nbytes}`);
    }
    return out;
  };
  const failed = (e: unknown): never => {
    throw new InputError(url, `Blosc decode failed: ${(e as Error).message}`);
  };
  const fast = nativeBlosc();
  if (!fast) return (async () => check(await (await wasmBlosc()).decode(frame)))().catch(failed);
  let into: Uint8Array;
  if (transient) {
    if (scratch.length < nbytes) scratch = new Uint8Array(nbytes);
    into = scratch.subarray(0, nbytes);
  } else into = new Uint8Array(nbytes);
  try {
    return check(fast(frame, nbytes, into));
  } catch (e) {
    return failed(e);
  }
}
