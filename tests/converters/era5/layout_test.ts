/**
 * How an ERA5 conversion is cut into tasks (time ranges of whole months or
 * smaller pieces) and the overflow check on monthly statistics.
 *
 * @module
 */
import assert from "node:assert/strict";
import { timeGroups } from "../../../converters/era5/layout.ts";
import { monthIndex } from "../../../converters/cf.ts";
import { type StatisticsTarget, writeMonthStatistics } from "../../../converters/era5/merge.ts";
import { monthLabel } from "../../../normalization/sets.ts";
import { PointMoments } from "../../../normalization/moments.ts";
import { isPipelineError } from "../../../errors.ts";

/** Hourly times from 2020-01-01 for `hours` hours, in seconds. */
const hourly = (hours: number) => Float64Array.from({ length: hours }, (_, h) => 1577836800 + 3600 * h);

/** Every group is whole time chunks of one month, and the groups tile the axis in order. */
function assertTiles(groups: [number, number][], times: Float64Array, tc: number): void {
  let next = 0;
  for (const [a, b] of groups) {
    assert.equal(a, next);
    assert.ok(a % tc === 0 && (b % tc === 0 || b === times.length), `[${a}, ${b}) is whole chunks`);
    assert.equal(monthIndex(times[a]), monthIndex(times[b - 1]), `[${a}, ${b}) lies in one month`);
    next = b;
  }
  assert.equal(next, times.length);
}

Deno.test("task time ranges: whole months when there are enough field levels, else pieces down to 4 days", () => {
  const times = hourly((31 + 29) * 24); // January and February 2020
  // Many field levels: one task per month each (no month shared by tasks, nothing to merge).
  const many = timeGroups(times, 6, 128);
  assertTiles(many, times, 6);
  assert.deepEqual(many, [[0, 744], [744, 1440]]);
  // Few: months split until there are enough tasks, but never below 96 steps.
  const few = timeGroups(times, 6, 2);
  assertTiles(few, times, 6);
  assert.ok(few.length === 16 && few.every(([a, b]) => b - a <= 96), JSON.stringify(few));
  const some = timeGroups(times, 6, 48);
  assertTiles(some, times, 6);
  assert.ok(some.length * 48 >= 256 && some.length < few.length, `${some.length} groups`);
  // A month shorter than 96 steps stays whole, whatever the count.
  assert.deepEqual(timeGroups(hourly(24), 6, 1), [[0, 24]]);
});

Deno.test("statistics too large for float64 are a StoreError naming field, level and month (YYYY-MM)", () => {
  const target = {
    stageOut: "/nowhere/out.zarr.partial",
    label: { field: "t", level: 850 },
    months: [202001, 202002].map(monthLabel),
  } as StatisticsTarget;
  const global = { count: 4, mean: Infinity, m2: NaN, min: 1, max: Infinity };
  assert.throws(
    () => writeMonthStatistics(target, 1, global, new PointMoments(1)),
    (e: Error) =>
      isPipelineError(e, "store") && /statistics of t level 850 in month 2020-02 are not finite/.test(e.message),
  );
});
