/**
 * The scratch buffers of this thread's HDF5 reads (raw file bytes and the
 * stages of a chunk's filter pipeline): grown to the largest need, never
 * shrunk, shared by every file the thread reads.
 *
 * @module
 */
import { adviseHugePages } from "../../../native/malloc.ts";

/** Per-thread scratch buffers (grown, never shrunk). */
const scratch = { raw: new Uint8Array(0), stage: new Uint8Array(0), stage2: new Uint8Array(0) };

/** Scratch buffer `name`, grown to at least `n` bytes. */
export function grown(name: keyof typeof scratch, n: number): Uint8Array {
  if (scratch[name].length < n) {
    adviseHugePages(scratch[name] = new Uint8Array(Math.max(n, Math.ceil(scratch[name].length * 1.25))));
  }
  return scratch[name];
}
