/**
 * `node:zlib`, loaded on first use: importing it costs ≈40 ms of start-up
 * in every thread (main and each conversion worker), and only fallbacks
 * (no FFI or no libzstd / libdeflate) and the gzip codec need it.
 *
 * @module
 */
import type * as Zlib from "node:zlib";

let loaded: typeof Zlib | undefined;

/** The `node:zlib` module, loaded synchronously the first time it is asked for. */
export function nodeZlib(): typeof Zlib {
  const process = (globalThis as unknown as { process: { getBuiltinModule(id: string): unknown } }).process;
  return loaded ??= process.getBuiltinModule("node:zlib") as typeof Zlib;
}
