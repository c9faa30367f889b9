/**
 * zlib-format inflate (HDF5's deflate filter) through the system's
 * libdeflate (Deno FFI) when the process may load it, else through
 * `node:zlib`. Why: libdeflate inflates a byte-shuffled ERA5-like field at
 * ≈1.5 GB/s where Deno's `node:zlib` reaches ≈0.5 GB/s on the same bytes
 * (the inflate of netCDF4 input was the largest single cost of a
 * conversion). Both check the zlib header and the Adler-32 trailer and
 * produce the same bytes; the decoded size must be known in advance (an
 * HDF5 chunk's size is), so a stream that decodes to more or fewer bytes
 * is an error, never a partly filled buffer.
 *
 * @module
 */
import { openSystemLibrary } from "./ffi.ts";
import { nodeZlib } from "./node_zlib.ts";

/** A zlib-format inflater. */
export interface Inflater {
  /** `libdeflate` or `node:zlib`. */
  readonly name: string;
  /**
   * Inflate one zlib stream into all of `into` (its length is the exact
   * decoded size). Throws an Error saying what is wrong with the stream.
   */
  inflate(src: Uint8Array, into: Uint8Array): void;
}

/** Names libdeflate goes by on Linux, macOS and Windows. */
const LIBRARY_NAMES = [
  "libdeflate.so.0",
  "libdeflate.so",
  "libdeflate.0.dylib",
  "/opt/homebrew/lib/libdeflate.0.dylib",
  "/usr/local/lib/libdeflate.0.dylib",
  "libdeflate.dll",
  "deflate.dll",
];

const SYMBOLS = {
  libdeflate_alloc_decompressor: { parameters: [], result: "pointer" },
  libdeflate_zlib_decompress: {
    parameters: ["pointer", "buffer", "usize", "buffer", "usize", "buffer"],
    result: "i32",
  },
} as const;

/** libdeflate's `enum libdeflate_result`, in words. */
const RESULTS = ["success", "invalid or corrupt deflate data", "the stream ends early", "the stream decodes to more"];

/** Inflate on node:zlib (always available). */
export const nodeInflater: Inflater = {
  name: "node:zlib",
  inflate(src, into) {
    let out: Uint8Array;
    try {
      out = nodeZlib().inflateSync(src);
    } catch (e) {
      throw new Error(`zlib: ${(e as Error).message}`);
    }
    if (out.length !== into.length) {
      throw new Error(`zlib stream decodes to ${out.length} bytes, expected ${into.length}`);
    }
    into.set(out);
  },
};

let loaded: Inflater | null | undefined;

/**
 * libdeflate through FFI, or undefined when FFI is not permitted (no
 * prompt) or no libdeflate is found. One decompressor per thread.
 */
export function nativeInflater(): Inflater | undefined {
  if (loaded !== undefined) return loaded ?? undefined;
  loaded = null;
  let d: Deno.PointerValue = null;
  const lib = openSystemLibrary(
    LIBRARY_NAMES,
    SYMBOLS,
    (l) => (d = l.symbols.libdeflate_alloc_decompressor()) !== null,
  );
  if (!lib) return undefined;
  const s = lib.symbols;
  const actual = new BigUint64Array(1);
  loaded = {
    name: "libdeflate",
    inflate(src, into) {
      // With an out-count pointer libdeflate accepts a shorter stream; check the count ourselves.
      const r = s.libdeflate_zlib_decompress(d, src, BigInt(src.length), into, BigInt(into.length), actual);
      if (r !== 0) throw new Error(`zlib: ${RESULTS[r] ?? `libdeflate error ${r}`}`);
      if (Number(actual[0]) !== into.length) {
        throw new Error(`zlib stream decodes to ${actual[0]} bytes, expected ${into.length}`);
      }
    },
  };
  return loaded;
}

/** The fastest inflater this process may use. */
export function inflater(): Inflater {
  return nativeInflater() ?? nodeInflater;
}
