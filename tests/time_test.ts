/**
 * The one time parser (time.ts) against Python's datetime: every accepted
 * form gives the seconds Python computes (tests/oracles/utc_times.py, UTC),
 * invalid dates and non-UTC offsets are refused naming the key and quoting
 * the string, a period's end covers the period, the config case is
 * accepted, the process's TZ never moves a value, and every CLI verb that
 * takes a time refuses a bad one naming its flag.
 *
 * @module
 */
import assert from "node:assert/strict";
import { parseMonth, parseTime, parseTimePair, parseTimeRange } from "../time.ts";
import { isPipelineError } from "../errors.ts";
import { checkForecastTrainConfig, checkTrainConfig, type TrainConfig } from "../training/config.ts";
import { parseTimeRange as parseConvertTime } from "../converters/era5/remote/spec.ts";
import { planRequests } from "../converters/era5/remote/retrieve.ts";
import { python, ROOT, run, runTask } from "./_helpers/common.ts";

/** Strings every time key must accept (each form, with and without a zone, odd years and leap days). */
const ACCEPTED = [
  "2020-01-01",
  "2020-01-01Z",
  "1996-01-16T00",
  "1996-01-16T00Z",
  "1996-01-16T06:30",
  "1996-01-16T06:30Z",
  "1996-01-16T06:30:15",
  "1996-01-16T06:30:15Z",
  "1996-01-16 06:30:15", // as xarray and pandas print times
  "1996-01-16 06",
  "2020-01-01T00:00:00.000Z", // as JavaScript's toISOString (and our messages) print them
  "2020-01-01T00:00:00.5",
  "2020-01-01T12:00+00:00",
  "2020-01-01T12:00-00:00",
  "2020-01-01T12+0000",
  "2020-02-29T23:59:59Z",
  "2400-02-29",
  "1969-12-31T23:59:59",
  "0099-12-31T23:59", // not 1999: JavaScript's Date.UTC maps years 0–99 to 1900–1999
  " 2020-06-30T18 ",
];

/** Strings refused, with what the message must say beyond the key and the quoted string. */
const REFUSED: [string, RegExp][] = [
  ["2020-02-30", /2020-02 has 29 days/],
  ["2019-02-29", /2019-02 has 28 days/],
  ["2100-02-29", /2100-02 has 28 days/],
  ["2020-04-31", /2020-04 has 30 days/],
  ["2020-13-01", /month 13/],
  ["2020-00-10", /month 0/],
  ["2020-01-00", /has 31 days/],
  ["2020-01-01T24", /hour 24/],
  ["2020-01-01T24:00", /hour 24/],
  ["2020-01-01T23:60", /minute 60/],
  ["2020-01-01T23:59:60", /second 60/],
  ["2020-01-01T00+05:00", /offset \+05:00.*UTC/],
  ["2020-01-01T00:00-03:30", /offset -03:30/],
  ["2020-01-01T00+01", /offset \+01/],
  ["2020-01", /whole year or month/],
  ["2020", /whole year or month/],
  ["20200101", /is not a time/],
  ["2020-1-1", /is not a time/],
  ["2020-01-01T", /is not a time/],
  ["2020-01-01T6", /is not a time/],
  ["2020-01-01T06:3", /is not a time/],
  ["", /is not a time/],
  ["yesterday", /is not a time/],
  ["Jan 1 2020", /is not a time/],
];

/** Assert `f` throws a ConfigError on `key` quoting `text` and matching `why`. */
function refusedWith(f: () => unknown, key: string, text: string, why: RegExp): void {
  assert.throws(f, (e: Error) => {
    assert.ok(isPipelineError(e, "config"), `${text}: ${e}`);
    assert.equal(e.path, key, text);
    assert.ok(e.message.startsWith(`${key}: `), e.message);
    assert.ok(e.message.includes(`"${text}"`), `${text}: the message quotes the string: ${e.message}`);
    assert.match(e.message, why);
    return true;
  });
}

Deno.test("time: every accepted form gives the seconds Python's datetime computes in UTC", async () => {
  const want = await python<(number | null)[]>("utc_times.py", [JSON.stringify(ACCEPTED)]);
  for (const [i, text] of ACCEPTED.entries()) {
    assert.notEqual(want[i], null, `Python refuses ${text}`);
    assert.equal(parseTime(text, "k"), want[i], text);
  }
  // Hand-derived check of the string: 1970–1995 is 26 years with 6 leap days (1972 … 1992),
  // so 1996-01-01 is day 26·365 + 6 = 9496, and the 16th is day 9511: 9511 · 86400 s.
  assert.equal(parseTime("1996-01-16T00", "k"), 9511 * 86400);
});

Deno.test("time: invalid dates, hours, minutes, offsets and other forms are refused naming the key and the string", async () => {
  for (const [text, why] of REFUSED) {
    refusedWith(() => parseTime(text, "sampler.timeRange[0]"), "sampler.timeRange[0]", text, why);
  }
  assert.throws(() => parseTime("2020-01-01T24", "k"), /accepted: YYYY-MM-DD, YYYY-MM-DDTHH, YYYY-MM-DDTHH:MM/);
  // Python agrees these are not valid UTC times (invalid dates, or a non-zero offset).
  const impossible = [
    "2020-02-30",
    "2019-02-29",
    "2100-02-29",
    "2020-13-01",
    "2020-01-01T23:60",
    "2020-01-01T00+05:00",
  ];
  assert.deepEqual(await python("utc_times.py", [JSON.stringify(impossible)]), impossible.map(() => null));
});

Deno.test("time: a range's end covers the period it names (convert --time), each end against Python's datetime", async () => {
  // [range, first instant, first instant after the range]: the expected end is one second before the latter.
  const cases: [string, string, string][] = [
    ["2020-02", "2020-02-01", "2020-03-01"],
    ["2019-02", "2019-02-01", "2019-03-01"],
    ["2020-12", "2020-12-01", "2021-01-01"],
    ["1979/1980", "1979-01-01", "1981-01-01"],
    ["2020-01-01/2020-01-31T18", "2020-01-01", "2020-01-31T19"],
    ["2020-01-31T20/2020-02-01T04", "2020-01-31T20", "2020-02-01T05"],
    ["2020-01-15", "2020-01-15", "2020-01-16"],
    ["2020-01-15T06:30/2020-01-15T06:45Z", "2020-01-15T06:30", "2020-01-15T06:46"],
    ["2020-01-15 06:30:00/2020-01-15T06:30:10", "2020-01-15T06:30", "2020-01-15T06:30:11"],
  ];
  const bounds = await python<number[]>("utc_times.py", [JSON.stringify(cases.flatMap((c) => [c[1], c[2]]))]);
  for (const [i, [text]] of cases.entries()) {
    const want = [bounds[2 * i], bounds[2 * i + 1] - 1];
    assert.deepEqual(parseTimeRange(text, "--time"), want, text);
    assert.deepEqual(parseConvertTime(text), want, `convert --time ${text}`);
  }
  refusedWith(() => parseConvertTime("2020-01-01T00+02:00"), "--time", "2020-01-01T00+02:00", /offset/);
  refusedWith(() => parseConvertTime("2020-02-30/2020-03"), "--time", "2020-02-30", /has 29 days/);
  assert.throws(() => parseConvertTime("2020-02/2020-01"), /--time: "2020-02\/2020-01": the end lies before the start/);
});

Deno.test("time: months (retrieve --months, evaluate --months, normalize --from/--to) are YYYY-MM, nothing else", () => {
  assert.deepEqual(parseMonth("2020-02", "--months"), [2020, 2]);
  for (const bad of ["2020-13", "2020-2", "2020-02-01", "2020", "2020-02Z"]) {
    assert.throws(() => parseMonth(bad, "--months"), new RegExp(`^ConfigError: --months: "${bad}"|--months: "${bad}"`));
  }
  const plan = planRequests({
    dataset: "single-levels",
    variables: ["2m_temperature"],
    months: ["2019-12", "2020-02"],
    out: "x",
  });
  assert.equal(plan.length, 3);
  assert.throws(
    () =>
      planRequests({
        dataset: "single-levels",
        variables: ["2m_temperature"],
        months: ["2020-13", "2020-14"],
        out: "x",
      }),
    /--months: "2020-13"/,
  );
});

const tiny = () => JSON.parse(Deno.readTextFileSync(`${ROOT}configs/tiny.json`)) as TrainConfig;

Deno.test("time: the issue's case — validation.timeRange with date + hour strings is accepted, as in sampler.timeRange", () => {
  const c = tiny();
  c.sampler.timeRange = ["1996-01-01T00", "1996-01-15T18"];
  c.validation = { timeRange: ["1996-01-16T00", "1996-01-31T18Z"], batches: 1, every: 10 };
  assert.doesNotThrow(() => checkTrainConfig(c));
  assert.deepEqual(parseTimePair(c.validation.timeRange, "validation.timeRange"), [
    9511 * 86400,
    (9526 * 24 + 18) * 3600,
  ]);
});

Deno.test("time: a bad time in any config key is refused naming the key path and the string", () => {
  const train = (edit: (c: TrainConfig) => void) => () => {
    const c = tiny();
    edit(c);
    checkTrainConfig(c);
  };
  refusedWith(
    train((c) => c.validation = { timeRange: ["1996-01-16T00+01:00", "1996-01-20"] }),
    "validation.timeRange[0]",
    "1996-01-16T00+01:00",
    /offset \+01:00/,
  );
  refusedWith(
    train((c) => c.sampler.timeRange = ["1996-01-01", "1996-02-30"]),
    "sampler.timeRange[1]",
    "1996-02-30",
    /1996-02 has 29 days/,
  );
  assert.throws(
    train((c) => c.validation = { timeRange: ["1996-01-20", "1996-01-16"] }),
    /^ConfigError: validation\.timeRange: .*the end lies before the start/,
  );
  assert.throws(train((c) => c.validation = { timeRange: ["1996-01-20"] as never }), /validation\.timeRange: must be/);
  const forecast = JSON.parse(Deno.readTextFileSync(`${ROOT}configs/tiny_forecast.json`));
  forecast.timeRange = ["2020-01-01 00:00", "2020-01-01T24"];
  refusedWith(() => checkForecastTrainConfig(forecast), "timeRange[1]", "2020-01-01T24", /hour 24/);
  forecast.timeRange = ["2020-01-01 00:00", "2020-01-01T23Z"];
  assert.doesNotThrow(() => checkForecastTrainConfig(forecast));
});

Deno.test("time: the process's time zone never moves a parsed value (child processes with TZ set)", async () => {
  const here = ACCEPTED.map((t) => parseTime(t, "k"));
  const script = `import { parseTime } from "${ROOT}time.ts";
const texts = ${JSON.stringify(ACCEPTED)};
console.log(JSON.stringify({ offset: new Date(2020, 0, 1).getTimezoneOffset(), seconds: texts.map((t) => parseTime(t, "k")) }));`;
  for (const [tz, offset] of [["America/New_York", 300], ["Asia/Kolkata", -330]] as const) {
    const r = await run(Deno.execPath(), ["eval", script], { env: { TZ: tz } });
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout);
    // The child really is in that zone (else this test could not fail) …
    assert.equal(out.offset, offset, tz);
    // … and reads every string as UTC all the same.
    assert.deepEqual(out.seconds, here, tz);
  }
});

Deno.test("time: every verb that takes a time refuses a bad one naming its flag and the string, exit code 1", async () => {
  const cases: [string, string[], string][] = [
    [
      "forecast",
      ["--checkpoint", "x.ckpt", "--init", "2020-01-01T00+02:00", "--steps", "1", "--out", "f.zarr"],
      "--init",
    ],
    ["evaluate", ["--checkpoint", "x.ckpt", "--mode", "BERT", "--date", "2020-02-30T00", "--out", "d"], "--date"],
    ["convert", ["era5", "gs://bucket/x.zarr", "--out", "o.zarr", "--time", "2020-01-01T24"], "--time"],
    ["normalize", ["store.zarr", "--out", "n.zarr", "--from", "2020-13"], "--from"],
    [
      "retrieve",
      ["era5", "--dataset", "single-levels", "--variables", "2m_temperature", "--months", "2020-1", "-o", "d"],
      "--months",
    ],
  ];
  for (const [verb, args, flag] of cases) {
    const bad = args[args.indexOf(flag) + 1];
    const r = await runTask(verb, args);
    assert.equal(r.code, 1, `${verb}: ${r.stdout}${r.stderr}`);
    assert.ok(r.stderr.includes(`${flag}: "${bad}"`), `${verb}: ${r.stderr}`);
  }
});
