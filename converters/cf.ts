/**
 * CF conventions decoding: packed values, fill values and time axes.
 *
 * @module
 */
import type { NumericArray } from "./formats/dataset.ts";

/** How raw stored values become physical float32 values. */
export interface Packing {
  /** `scale_factor`, 1 when absent. */
  scale: number;
  /** `add_offset`, 0 when absent. */
  offset: number;
  /** Raw values that mean "missing" (`_FillValue`, `missing_value`). */
  fills: number[];
}

function numbers(v: unknown): number[] {
  if (v === undefined || v === null) return [];
  if (typeof v === "number") return [v];
  if (typeof v === "bigint") return [Number(v)];
  if (ArrayBuffer.isView(v)) return [...(v as Float64Array)].map(Number);
  if (Array.isArray(v)) return v.map(Number);
  return [];
}

/** Read the packing of a variable from its attributes. */
export function packingOf(attrs: Record<string, unknown>): Packing {
  return {
    scale: numbers(attrs.scale_factor)[0] ?? 1,
    offset: numbers(attrs.add_offset)[0] ?? 0,
    fills: [...numbers(attrs._FillValue), ...numbers(attrs.missing_value)].filter((x) => !Number.isNaN(x)),
  };
}

/**
 * Unpack raw values into `out` (float32): fill values become NaN, the rest
 * `raw * scale + offset` (computed in float64, as netCDF-C and xarray do).
 */
export function unpackInto(raw: NumericArray, p: Packing, out: Float32Array, outOffset = 0): void {
  const n = raw.length;
  const src = raw instanceof BigInt64Array ? Float64Array.from(raw, Number) : raw;
  const f0 = p.fills[0], f1 = p.fills[1];
  const nf = p.fills.length;
  if (p.scale === 1 && p.offset === 0) {
    for (let i = 0; i < n; i++) {
      const r = src[i] as number;
      out[outOffset + i] = (nf > 0 && (r === f0 || r === f1)) ? NaN : r;
    }
    return;
  }
  for (let i = 0; i < n; i++) {
    const r = src[i] as number;
    out[outOffset + i] = (nf > 0 && (r === f0 || r === f1)) ? NaN : r * p.scale + p.offset;
  }
}

const UNIT_SECONDS: Record<string, number> = {
  s: 1,
  sec: 1,
  secs: 1,
  second: 1,
  seconds: 1,
  min: 60,
  mins: 60,
  minute: 60,
  minutes: 60,
  h: 3600,
  hr: 3600,
  hrs: 3600,
  hour: 3600,
  hours: 3600,
  d: 86400,
  day: 86400,
  days: 86400,
};

const CALENDARS = [
  "standard",
  "gregorian",
  "proleptic_gregorian",
  "noleap",
  "365_day",
  "all_leap",
  "366_day",
  "360_day",
  "julian",
];

/** A decoded CF time reference: `units since epoch` in a calendar. */
export interface TimeUnits {
  /** Seconds per unit. */
  unitSeconds: number;
  /** Reference date fields. */
  epoch: { year: number; month: number; day: number; seconds: number };
  /** Calendar name (lower case, CF spelling). */
  calendar: string;
}

/** Parse `hours since 1900-01-01 00:00:00.0` and friends. */
export function parseTimeUnits(units: string, calendar = "standard"): TimeUnits {
  const m = /^\s*([a-zA-Z]+)\s+since\s+(.+?)\s*$/.exec(units);
  if (!m) throw new Error(`time units "${units}" are not "UNIT since DATE"`);
  const unitSeconds = UNIT_SECONDS[m[1].toLowerCase()];
  if (!unitSeconds) {
    throw new Error(`time unit "${m[1]}" is not supported (months and years since a date are ambiguous in CF)`);
  }
  const d =
    /^(-?\d{1,4})-(\d{1,2})-(\d{1,2})(?:[ T](\d{1,2}):(\d{1,2})(?::(\d{1,2}(?:\.\d*)?))?)?\s*(Z|UTC|GMT|[+-]\d{1,2}(?::?\d{2})?)?$/i
      .exec(m[2]);
  if (!d) throw new Error(`reference date "${m[2]}" in time units "${units}" is not understood`);
  let seconds = Number(d[4] ?? 0) * 3600 + Number(d[5] ?? 0) * 60 + Number(d[6] ?? 0);
  const tz = d[7];
  if (tz && /^[+-]/.test(tz)) {
    const [, sign, hh, mm] = /^([+-])(\d{1,2}):?(\d{2})?$/.exec(tz)!;
    seconds -= (sign === "-" ? -1 : 1) * (Number(hh) * 3600 + Number(mm ?? 0) * 60);
  }
  const cal = calendar.toLowerCase();
  if (!CALENDARS.includes(cal)) throw new Error(`calendar "${calendar}" is not supported`);
  return {
    unitSeconds,
    epoch: { year: Number(d[1]), month: Number(d[2]), day: Number(d[3]), seconds },
    calendar: cal,
  };
}

function daysInMonth(cal: string, year: number, month: number): number {
  if (cal === "360_day") return 30;
  const base = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][month - 1];
  if (month !== 2) return base;
  const leap = cal === "all_leap" || cal === "366_day"
    ? true
    : cal === "noleap" || cal === "365_day"
    ? false
    : cal === "julian"
    ? year % 4 === 0
    : (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0;
  return leap ? 29 : 28;
}

/**
 * Decode CF time values to seconds since 1970-01-01T00:00:00Z (Gregorian).
 * Non-standard calendars are decoded to their calendar date first; a date
 * that does not exist in the real calendar (30 February in 360_day) is an error.
 */
export function decodeTimes(values: ArrayLike<number | bigint>, units: TimeUnits): number[] {
  const { unitSeconds, epoch, calendar } = units;
  const gregorian = calendar === "standard" || calendar === "gregorian" || calendar === "proleptic_gregorian";
  const out: number[] = [];
  if (gregorian) {
    const base = Date.UTC(epoch.year, epoch.month - 1, epoch.day) / 1000 + epoch.seconds;
    // Date.UTC maps years 0..99 to 1900..1999.
    const fix = epoch.year >= 0 && epoch.year < 100 ? yearFix(epoch) : 0;
    for (let i = 0; i < values.length; i++) out.push(Math.round(base + fix + Number(values[i]) * unitSeconds));
    return out;
  }
  for (let i = 0; i < values.length; i++) {
    let total = epoch.seconds + Number(values[i]) * unitSeconds;
    let days = Math.floor(total / 86400);
    total -= days * 86400;
    let { year, month, day } = epoch;
    days += day - 1;
    day = 1;
    while (days < 0) {
      month--;
      if (month < 1) (month = 12, year--);
      days += daysInMonth(calendar, year, month);
    }
    while (days >= daysInMonth(calendar, year, month)) {
      days -= daysInMonth(calendar, year, month);
      month++;
      if (month > 12) (month = 1, year++);
    }
    day += days;
    if (day > daysInMonth("standard", year, month)) {
      throw new Error(`date ${year}-${month}-${day} of the ${calendar} calendar does not exist in the real calendar`);
    }
    out.push(Math.round(Date.UTC(year, month - 1, day) / 1000 + total));
  }
  return out;
}

function yearFix(epoch: { year: number; month: number; day: number }): number {
  const d = new Date(0);
  d.setUTCFullYear(epoch.year, epoch.month - 1, epoch.day);
  return (d.getTime() - Date.UTC(epoch.year, epoch.month - 1, epoch.day)) / 1000;
}

/** Format seconds since 1970 as `YYYY-MM-DDTHH:MM:SS`. */
export function isoTime(seconds: number): string {
  return new Date(seconds * 1000).toISOString().slice(0, 19);
}

/** Calendar month index `year*12 + month-1` of a time in seconds since 1970. */
export function monthIndex(seconds: number): number {
  const d = new Date(seconds * 1000);
  return d.getUTCFullYear() * 12 + d.getUTCMonth();
}
