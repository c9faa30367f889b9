/**
 * Loader worker: runs the units it is given with its own sampler, writing
 * values into the shared field buffers the loader hands it.
 *
 * @module
 */
/// <reference lib="deno.worker" />
import { MultifieldSampler, type SamplerConfig, type Unit } from "./sampler.ts";
import type { FieldBatch } from "./batch.ts";
import { isPipelineError } from "../errors.ts";
import { runPrepared } from "./remote.ts";
import { attachRemote, type RemoteState } from "../zarr/url_store.ts";

let sampler: MultifieldSampler | undefined;
let units: Unit[] = [];

self.onmessage = async (e: MessageEvent) => {
  const msg = e.data as
    | { type: "init"; config: SamplerConfig; remote?: RemoteState }
    | { type: "unit"; batch: number; unit: number; field: FieldBatch };
  try {
    if (msg.type === "init") {
      // Stores opened by URL by the loader: read their mirrors, downloading what a unit misses.
      if (msg.remote) attachRemote(msg.remote);
      sampler = await runPrepared(() => new MultifieldSampler(msg.config));
      units = sampler.units();
      self.postMessage({ type: "ready" });
      return;
    }
    // Absolute times, comparable across threads (each has its own performance origin).
    const start = performance.timeOrigin + performance.now();
    const result = await runPrepared(() => sampler!.runUnit(msg.batch, units[msg.unit], msg.field));
    const span = [start, performance.timeOrigin + performance.now()];
    self.postMessage({ type: "unit", batch: msg.batch, unit: msg.unit, span, result }, [
      result.replacements.buffer as ArrayBuffer,
    ]);
  } catch (err) {
    // Tagged errors cross the thread boundary as their parts, so the loader rethrows the same kind.
    const e = err as Error;
    self.postMessage({
      type: "error",
      message: e.message,
      tagged: isPipelineError(e) ? { kind: e.kind, path: e.path, problem: e.problem, field: e.field } : undefined,
    });
  }
};
