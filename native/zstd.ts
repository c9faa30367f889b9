/**
 * zstd through the system's libzstd (Deno FFI) when the process may load
 * it, else through `node:zlib`. Why: Deno's `node:zlib` binding costs
 * ≈30 µs per call and decodes at 0.4–0.85 GB/s on this project's test
 * machine, while libzstd with a reused context decodes at ≈2.9 GB/s with
 * ≈5 µs per call — decisive for the sampler, which decodes many small
 * (15 KB) inner chunks. Both write frames with the content size in the
 * header (numcodecs < 0.13 needs it) and read each other's frames.
 *
 * @module
 */
import { openSystemLibrary } from "./ffi.ts";
import { adviseHugePages } from "./malloc.ts";
import type * as Zlib from "node:zlib";
import { nodeZlib } from "./node_zlib.ts";

/** A zstd implementation. */
export interface Zstd {
  /** `libzstd x.y.z` or `node:zlib`. */
  readonly name: string;
  /**
   * Compress at `level`; the frame records the content size. With
   * `transient` the result may be a view of a buffer that the next call
   * overwrites (for a caller that writes it out at once: no copy).
   */
  compress(src: Uint8Array, level: number, transient?: boolean): Uint8Array;
  /** Decompress one frame of known decoded `size`, into `into` when given (its first `size` bytes). */
  decompress(src: Uint8Array, size: number, into?: Uint8Array): Uint8Array;
}

/** Names libzstd goes by on Linux, macOS and Windows. */
const LIBRARY_NAMES = [
  "libzstd.so.1",
  "libzstd.so",
  "libzstd.1.dylib",
  "/opt/homebrew/lib/libzstd.1.dylib",
  "/usr/local/lib/libzstd.1.dylib",
  "zstd.dll",
  "libzstd.dll",
];

const SYMBOLS = {
  ZSTD_versionString: { parameters: [], result: "pointer" },
  ZSTD_createDCtx: { parameters: [], result: "pointer" },
  ZSTD_createCCtx: { parameters: [], result: "pointer" },
  ZSTD_decompressDCtx: { parameters: ["pointer", "buffer", "usize", "buffer", "usize"], result: "usize" },
  ZSTD_compressCCtx: { parameters: ["pointer", "buffer", "usize", "buffer", "usize", "i32"], result: "usize" },
  ZSTD_compressBound: { parameters: ["usize"], result: "usize" },
  ZSTD_isError: { parameters: ["usize"], result: "u32" },
  ZSTD_getErrorName: { parameters: ["usize"], result: "pointer" },
} as const;

/** zstd on node:zlib (always available). */
export const nodeZstd: Zstd = {
  name: "node:zlib",
  compress: (src, level) => {
    const out = nodeZlib().zstdCompressSync(src, {
      params: { [nodeZlib().constants.ZSTD_c_compressionLevel]: level },
      pledgedSrcSize: src.length,
    } as Zlib.ZstdOptions);
    return new Uint8Array(out.buffer, out.byteOffset, out.byteLength);
  },
  decompress: (src, size, into) => {
    const out = nodeZlib().zstdDecompressSync(src);
    if (size >= 0 && out.length !== size) throw new Error(`zstd frame holds ${out.length} bytes, expected ${size}`);
    if (into) {
      into.set(out);
      return into.subarray(0, out.length);
    }
    return new Uint8Array(out.buffer, out.byteOffset, out.byteLength);
  },
};

let loaded: Zstd | null | undefined;

/**
 * libzstd through FFI, or undefined when FFI is not permitted (no prompt)
 * or no libzstd is found. One context per thread, reused for every call.
 */
export function nativeZstd(): Zstd | undefined {
  if (loaded !== undefined) return loaded ?? undefined;
  loaded = null;
  const lib = openSystemLibrary(LIBRARY_NAMES, SYMBOLS);
  if (!lib) return undefined;
  const s = lib.symbols;
  const dctx = s.ZSTD_createDCtx(), cctx = s.ZSTD_createCCtx();
  let out = new Uint8Array(0);
  const check = (ret: number | bigint, what: string): number => {
    if (s.ZSTD_isError(ret as bigint)) {
      const msg = Deno.UnsafePointerView.getCString(s.ZSTD_getErrorName(ret as bigint)!);
      throw new Error(`zstd ${what}: ${msg}`);
    }
    return Number(ret);
  };
  loaded = {
    name: `libzstd ${Deno.UnsafePointerView.getCString(s.ZSTD_versionString()!)}`,
    compress: (src, level, transient) => {
      // One output buffer per thread, reused: a fresh bound-sized buffer per chunk costs page faults.
      const bound = Number(s.ZSTD_compressBound(BigInt(src.length)));
      if (out.length < bound) adviseHugePages(out = new Uint8Array(bound));
      const n = check(s.ZSTD_compressCCtx(cctx, out, BigInt(bound), src, BigInt(src.length), level), "compress");
      return transient ? out.subarray(0, n) : out.slice(0, n);
    },
    decompress: (src, size, into) => {
      const dst = into ?? new Uint8Array(size);
      if (dst.length < size) throw new Error(`zstd: output buffer of ${dst.length} bytes for ${size}`);
      const n = check(s.ZSTD_decompressDCtx(dctx, dst, BigInt(size), src, BigInt(src.length)), "frame");
      if (n !== size) throw new Error(`zstd frame holds ${n} bytes, expected ${size}`);
      return dst.subarray(0, n);
    },
  };
  return loaded;
}

/** The fastest zstd this process may use. */
export function zstd(): Zstd {
  return nativeZstd() ?? nodeZstd;
}
