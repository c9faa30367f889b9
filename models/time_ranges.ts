/**
 * The time ranges a training stage used, as checkpoints record them
 * ({@link TrainedRange}): what the Multiformer's sampler and validation
 * sampler drew windows from, what the forecast engine drew initial times
 * (and targets) from. Forecast scoring marks scores whose initial or valid
 * time falls inside one as in-sample.
 *
 * @module
 */
import { absolute, type TrainedRange } from "./checkpoint.ts";
import type { MultifieldSampler } from "../samplers/sampler.ts";
import { parseTimePair } from "../time.ts";

/** ISO UTC to the minute of `seconds`. */
export function isoMinutes(seconds: number): string {
  return new Date(seconds * 1000).toISOString().slice(0, 16) + "Z";
}

/** The range of a sampler's windows (train or validation) of the Multiformer. */
export function samplerRange(sampler: MultifieldSampler, use: TrainedRange["use"]): TrainedRange {
  const [from, to] = sampler.dataSpan();
  return {
    stage: "masked-token",
    use,
    configured: sampler.config.timeRange ? [...sampler.config.timeRange] : null,
    data: [isoMinutes(from), isoMinutes(to)],
    store: absolute(sampler.config.datasets[0].store),
  };
}

/** `ranges` without repeats (same stage, use, data span and store), in order. */
export function uniqueRanges(ranges: TrainedRange[]): TrainedRange[] {
  const seen = new Set<string>();
  return ranges.filter((r) => {
    const k = JSON.stringify([r.stage, r.use, r.data, r.store]);
    return !seen.has(k) && (seen.add(k), true);
  });
}

/** The ranges of `ranges` holding time `t` (seconds). */
export function rangesHolding(ranges: TrainedRange[], t: number): TrainedRange[] {
  return ranges.filter((r) => {
    const [from, to] = parseTimePair(r.data, `checkpoint timeRanges (${r.stage} ${r.use}).data`);
    return t >= from && t <= to;
  });
}

/** One line naming a range: `masked-token train 2020-01-01T00:00Z … 2020-01-02T11:00Z (timeRange …) of STORE`. */
export function describeRange(r: TrainedRange): string {
  const configured = r.configured ? `configured ${r.configured[0]} … ${r.configured[1]}` : "whole store";
  return `${r.stage} ${r.use} ${r.data[0]} … ${r.data[1]} (${configured}) of ${r.store}`;
}
