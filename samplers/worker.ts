/**
 * Loader worker: makes the batches it is asked for with its own sampler.
 *
 * @module
 */
/// <reference lib="deno.worker" />
import { type Batch, MultifieldSampler, type SamplerConfig } from "./sampler.ts";

let sampler: MultifieldSampler | undefined;

/** Buffers of a batch, handed over without copying. */
export function batchBuffers(b: Batch): ArrayBuffer[] {
  return b.fields.flatMap((f) => [
    f.input.buffer,
    f.targets.buffer,
    f.mask.buffer,
    f.tokenInfo.buffer,
    ...(f.points
      ? [
        f.points.index.buffer,
        f.points.coords.buffer,
        f.points.tokens.buffer,
        f.points.dropped.buffer,
        f.points.t0.buffer,
      ]
      : []),
  ]) as ArrayBuffer[];
}

self.onmessage = (e: MessageEvent) => {
  const msg = e.data as { type: "init"; config: SamplerConfig } | { type: "batch"; index: number };
  try {
    if (msg.type === "init") {
      sampler = new MultifieldSampler(msg.config);
      self.postMessage({ type: "ready" });
      return;
    }
    // Absolute times, comparable across threads (each has its own performance origin).
    const start = performance.timeOrigin + performance.now();
    const batch = sampler!.batch(msg.index);
    const stats = { ...sampler!.cache.stats };
    self.postMessage(
      { type: "batch", batch, start, end: performance.timeOrigin + performance.now(), stats },
      batchBuffers(batch),
    );
  } catch (err) {
    self.postMessage({ type: "error", message: (err as Error).message });
  }
};
