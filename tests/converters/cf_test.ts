/**
 * CF conventions as the converters read them: time units and epochs, the
 * noleap and 360_day calendars, refused unit forms, and scale/offset packing
 * with fill values becoming NaN.
 *
 * @module
 */
import assert from "node:assert/strict";
import { decodeTimes, packingOf, parseTimeUnits, unpackInto } from "../../converters/cf.ts";

const iso = (s: number) => new Date(s * 1000).toISOString().slice(0, 19);

Deno.test("CF time units: legacy CDS hours since 1900, new CDS seconds since 1970", () => {
  assert.equal(
    iso(decodeTimes([1051908], parseTimeUnits("hours since 1900-01-01 00:00:00.0", "gregorian"))[0]),
    "2020-01-01T12:00:00",
  );
  assert.equal(
    iso(decodeTimes([1580515200n], parseTimeUnits("seconds since 1970-01-01", "proleptic_gregorian"))[0]),
    "2020-02-01T00:00:00",
  );
});

Deno.test("CF time units: other units, epochs and time zones", () => {
  assert.equal(iso(decodeTimes([1.5], parseTimeUnits("days since 2000-01-01T00:00:00Z"))[0]), "2000-01-02T12:00:00");
  assert.equal(iso(decodeTimes([90], parseTimeUnits("minutes since 2000-01-01 06:00"))[0]), "2000-01-01T07:30:00");
  assert.equal(
    iso(decodeTimes([0], parseTimeUnits("hours since 2000-01-01 06:00:00 +02:00"))[0]),
    "2000-01-01T04:00:00",
  );
  assert.equal(
    iso(decodeTimes([24], parseTimeUnits("hours since 1-1-1 00:00:00", "proleptic_gregorian"))[0]),
    "0001-01-02T00:00:00",
  );
});

Deno.test("CF calendars: noleap skips 29 February, 360_day has 30-day months", () => {
  // 2020-02-28 + 1 day in noleap = 2020-03-01 (no leap day).
  assert.equal(iso(decodeTimes([58], parseTimeUnits("days since 2020-01-01", "noleap"))[0]), "2020-02-28T00:00:00");
  assert.equal(iso(decodeTimes([59], parseTimeUnits("days since 2020-01-01", "365_day"))[0]), "2020-03-01T00:00:00");
  assert.equal(iso(decodeTimes([59], parseTimeUnits("days since 2020-01-01", "all_leap"))[0]), "2020-02-29T00:00:00");
  assert.equal(iso(decodeTimes([45], parseTimeUnits("days since 2021-01-01", "360_day"))[0]), "2021-02-16T00:00:00");
  assert.throws(
    () => decodeTimes([59], parseTimeUnits("days since 2021-01-01", "360_day")),
    /does not exist in the real calendar/,
  );
  assert.throws(() => decodeTimes([-1], parseTimeUnits("days since 2021-03-01", "360_day")), /2021-2-30/);
  assert.equal(iso(decodeTimes([-3], parseTimeUnits("days since 2021-03-01", "360_day"))[0]), "2021-02-28T00:00:00");
});

Deno.test("CF time units: unsupported forms give clear errors", () => {
  assert.throws(() => parseTimeUnits("months since 2000-01-01"), /ambiguous/);
  assert.throws(() => parseTimeUnits("hours after 2000"), /UNIT since DATE/);
  assert.throws(() => parseTimeUnits("hours since 2000-01-01", "mayan"), /calendar "mayan"/);
});

Deno.test("CF packing: scale/offset in float64, both fill attributes become NaN", () => {
  const p = packingOf({ scale_factor: 0.5, add_offset: 100, _FillValue: -32767, missing_value: -32766 });
  const out = new Float32Array(4);
  unpackInto(Int16Array.from([0, 2, -32767, -32766]), p, out);
  assert.deepEqual([...out], [100, 101, NaN, NaN]);
  const nanFill = packingOf({ _FillValue: NaN });
  const f = new Float32Array(2);
  unpackInto(Float32Array.from([NaN, 3]), nanFill, f);
  assert.deepEqual([...f], [NaN, 3]);
});
