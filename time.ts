/**
 * The one parser of times written by people: every time in a configuration
 * (`sampler.timeRange`, `validation.timeRange`, the engine's `timeRange`) and
 * on the command line (`forecast --init`, `evaluate --date`, `convert
 * --time`, `retrieve --months`, `normalize --from/--to`) goes through here,
 * so the same strings are accepted everywhere and always read as UTC — the
 * process's time zone (`TZ`) never moves a value. Errors are
 * {@link ConfigError}s naming the key (config path or `--flag`), quoting the
 * string and listing the accepted forms (docs/formats/times.md).
 *
 * @module
 */
import { ConfigError } from "./errors.ts";

/** The accepted forms of one instant, for messages and docs. */
export const TIME_FORMS = "YYYY-MM-DD, YYYY-MM-DDTHH, YYYY-MM-DDTHH:MM or YYYY-MM-DDTHH:MM:SS[.fff] " +
  "(a space may stand for T; an optional Z or zero offset +00:00; always UTC)";

/** How much of a time string was given, coarsest first. */
export type TimePrecision = "year" | "month" | "day" | "hour" | "minute" | "second";

/** A parsed time string: its first second (UTC, since 1970) and how much of it was written. */
export interface ParsedTime {
  /** Seconds since 1970-01-01T00:00Z of the start of what was written. */
  seconds: number;
  /** The finest unit written. */
  precision: TimePrecision;
  /** Year, month (1–12) and day written or defaulted (1), for the period's end. */
  year: number;
  /** Month 1–12. */
  month: number;
}

const PATTERN =
  /^(\d{4})(?:-(\d{2})(?:-(\d{2})(?:[Tt ](\d{2})(?::(\d{2})(?::(\d{2})(\.\d+)?)?)?)?)?)?([Zz]|[+-]\d{2}(?::?\d{2})?)?$/;

/** Days from 1970-01-01 to year-month-day of the proleptic Gregorian calendar (any year, no 1900 offset for 0–99). */
function daysFromCivil(year: number, month: number, day: number): number {
  const y = month <= 2 ? year - 1 : year;
  const era = Math.floor(y / 400), yoe = y - era * 400;
  const doy = Math.floor((153 * (month + (month > 2 ? -3 : 9)) + 2) / 5) + day - 1;
  const doe = yoe * 365 + Math.floor(yoe / 4) - Math.floor(yoe / 100) + doy;
  return era * 146097 + doe - 719468;
}

/** Days in `month` (1–12) of `year`. */
export function daysInMonth(year: number, month: number): number {
  return daysFromCivil(month === 12 ? year + 1 : year, month === 12 ? 1 : month + 1, 1) - daysFromCivil(year, month, 1);
}

/** The error on `key` for `text`, saying `why` and the accepted forms. */
function refuse(key: string, text: string, why: string, forms = TIME_FORMS): ConfigError {
  return new ConfigError(key, `"${text}" ${why}; accepted: ${forms}`);
}

/** The zone suffix checked: only UTC (Z, +00, +00:00, +0000, -00:00); any other offset is an error, never a shift. */
function checkZone(zone: string | undefined, key: string, text: string): void {
  if (zone === undefined || /^[Zz]$/.test(zone)) return;
  if (/^[+-]00:?(00)?$/.test(zone)) return;
  throw refuse(key, text, `has the offset ${zone}: times are UTC, write the UTC time (with Z or no zone)`);
}

/** Range checks of each written part; the error names the part. */
function checkParts(p: (number | undefined)[], key: string, text: string): void {
  const [y, mo, d, h, mi, s] = p;
  const bad = (what: string) => refuse(key, text, `is not a valid time (${what})`);
  if (mo !== undefined && (mo < 1 || mo > 12)) throw bad(`month ${mo} is not 01–12`);
  if (d !== undefined && (d < 1 || d > daysInMonth(y!, mo!))) {
    throw bad(`${y}-${String(mo).padStart(2, "0")} has ${daysInMonth(y!, mo!)} days`);
  }
  if (h !== undefined && h > 23) throw bad(`hour ${h} is not 00–23`);
  if (mi !== undefined && mi > 59) throw bad(`minute ${mi} is not 00–59`);
  if (s !== undefined && s > 59) throw bad(`second ${s} is not 00–59`);
}

/**
 * Parse a time string of any precision from a year (`YYYY`) to seconds;
 * callers decide which precisions they take ({@link parseTime} takes a day
 * or finer, {@link parseTimeRange} any).
 */
export function parseTimeParts(text: string, key: string, forms = TIME_FORMS): ParsedTime {
  if (typeof text !== "string") {
    throw new ConfigError(key, `${JSON.stringify(text)} is not a time string; accepted: ${forms}`);
  }
  const m = PATTERN.exec(text.trim());
  if (!m) throw refuse(key, text, "is not a time", forms);
  const parts = m.slice(1, 7).map((v) => (v === undefined ? undefined : Number(v)));
  checkParts(parts, key, text);
  checkZone(m[8], key, text);
  const [y, mo, d, h, mi, s] = parts;
  const precision: TimePrecision = s !== undefined
    ? "second"
    : mi !== undefined
    ? "minute"
    : h !== undefined
    ? "hour"
    : d !== undefined
    ? "day"
    : mo !== undefined
    ? "month"
    : "year";
  const seconds = daysFromCivil(y!, mo ?? 1, d ?? 1) * 86400 + (h ?? 0) * 3600 + (mi ?? 0) * 60 + (s ?? 0) +
    (m[7] ? Number(m[7]) : 0);
  return { seconds, precision, year: y!, month: mo ?? 1 };
}

/**
 * Seconds since 1970 (UTC) of one instant: a day or finer ({@link TIME_FORMS});
 * a ConfigError on `key` quoting `text` otherwise (month-only `2020-01` is an
 * instant nowhere: it is a period, see {@link parseTimeRange}).
 */
export function parseTime(text: string, key: string): number {
  const t = parseTimeParts(text, key);
  if (t.precision === "year" || t.precision === "month") {
    throw refuse(key, text, "names a whole year or month, not an instant (give the day)");
  }
  return t.seconds;
}

/** {@link parseTime}, or a finite number of seconds since 1970 as it is. */
export function timeSeconds(time: string | number, key: string): number {
  if (typeof time === "number") {
    if (!Number.isFinite(time)) throw new ConfigError(key, `${time} is not a time in seconds since 1970`);
    return time;
  }
  return parseTime(time, key);
}

/** The first second after the period `t` names (a year, month, day, hour, minute or second). */
function periodEnd(t: ParsedTime): number {
  switch (t.precision) {
    case "year":
      return daysFromCivil(t.year + 1, 1, 1) * 86400;
    case "month":
      return t.month === 12 ? daysFromCivil(t.year + 1, 1, 1) * 86400 : daysFromCivil(t.year, t.month + 1, 1) * 86400;
    case "day":
      return t.seconds + 86400;
    case "hour":
      return t.seconds + 3600;
    case "minute":
      return t.seconds + 60;
    case "second":
      return t.seconds + 1;
  }
}

/**
 * Parse a range `FROM/TO` (inclusive, seconds) or a single period. Each end
 * may be coarser than an instant (`YYYY`, `YYYY-MM`) and the end covers
 * the whole period it names, to its last second: `2020-01` is all of
 * January 2020, `2020-01-01/2020-01-31T18` ends at 18:59:59. Used where a
 * range selects data by period (`convert --time`).
 */
export function parseTimeRange(text: string, key: string): [number, number] {
  const forms = `YYYY, YYYY-MM or ${TIME_FORMS}, alone or as FROM/TO`;
  const [a, b, extra] = text.split("/");
  if (extra !== undefined) throw refuse(key, text, "has more than one /", forms);
  const from = parseTimeParts(a, key, forms), to = parseTimeParts(b ?? a, key, forms);
  const end = periodEnd(to) - 1;
  if (end < from.seconds) throw new ConfigError(key, `"${text}": the end lies before the start`);
  return [from.seconds, end];
}

/**
 * Check a configuration's `[from, to]` pair of instants (inclusive); errors
 * name `key[0]`, `key[1]` or `key`. The ends are instants, not periods:
 * `["2020-01-01", "2020-01-31"]` ends at 2020-01-31T00:00Z.
 */
export function parseTimePair(pair: unknown, key: string): [number, number] {
  if (!Array.isArray(pair) || pair.length !== 2) {
    throw new ConfigError(key, `must be [from, to], two times (${TIME_FORMS})`);
  }
  const [from, to] = pair.map((t, i) => parseTime(t, `${key}[${i}]`));
  if (to < from) throw new ConfigError(key, `${JSON.stringify(pair)}: the end lies before the start`);
  return [from, to];
}

/** A month `YYYY-MM` as [year, month 1–12]; a ConfigError on `key` quoting `text` otherwise. */
export function parseMonth(text: string, key: string): [number, number] {
  const m = typeof text === "string" ? /^(\d{4})-(\d{2})$/.exec(text.trim()) : null;
  const month = m ? Number(m[2]) : NaN;
  if (!m || month < 1 || month > 12) {
    throw new ConfigError(key, `"${text}" is not YYYY-MM${m ? ` (month ${month} is not 01–12)` : ""}`);
  }
  return [Number(m[1]), month];
}
