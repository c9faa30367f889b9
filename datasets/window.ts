/**
 * A space-time window: where and when one sample is taken. Windows are
 * plain values, made by the sampler's random placement, by a caller (a
 * fixed date and place, a global tiling), and read by every dataset.
 *
 * @module
 */
import { timeSeconds } from "../time.ts";

/**
 * A resolved window in the first dataset's coordinates. On a grid it is
 * rows [i0, i0+H) and columns j0 … j0+W−1 (modulo the row length) of time
 * steps [t0, t0+T); a mesh first dataset places by `box` alone (i0 = j0 = −1).
 */
export interface Window {
  /** Store time index of the window's first step (first dataset). */
  t0: number;
  /** First row (colatitude index); −1 when a mesh places the samples. */
  i0: number;
  /** First column (may exceed the row length: it wraps). −1 when a mesh places the samples. */
  j0: number;
  /** The window's last time (seconds since 1970); other datasets take their last step at or before it. */
  end: number;
  /** [south, north, west, width] in degrees: where other datasets' points are taken. */
  box: [number, number, number, number];
}

/** A window asked for by time and place. */
export interface WindowRequest {
  /** The window's last time step: ISO date (UTC unless a zone is given) or seconds since 1970. */
  end: string | number;
  /** Centre [latitude, longitude] in degrees; the window is snapped to the grid and kept inside it. */
  center: [number, number];
}

/** Extent of the first dataset's windows. */
export interface WindowShape {
  /** Time steps. */
  steps: number;
  /** Rows and columns on a grid (0 for a mesh placing alone). */
  rows: number;
  /** Columns. */
  cols: number;
  /** [latitude, longitude] extent in degrees when a mesh places alone. */
  box?: [number, number];
}

/**
 * Seconds since 1970 of a time string (UTC always; the forms of
 * time.ts, docs/formats/times.md) or a number of seconds; a ConfigError naming `key`
 * and quoting the string otherwise.
 */
export function toSeconds(time: string | number, key = "time"): number {
  return timeSeconds(time, key);
}
