/**
 * fixed_location's dates drawn as AtmoRep's `set_location` draws them
 * (`drawMonthlyDates`): per month the asked number of dates, each inside
 * its month on a time step of the store, the day from AtmoRep's formula
 * (a permutation of n·d taken modulo d − 1, plus 1: never the month's last
 * day), reproducible from the seed and different for another seed.
 *
 * @module
 */
import { deepStrictEqual as assertEquals, notDeepStrictEqual, ok as assert, throws } from "node:assert/strict";
import { drawMonthlyDates } from "../../forecast/evaluate.ts";
import { ConfigError } from "../../errors.ts";

Deno.test("fixed_location: dates drawn per month as AtmoRep's set_location, on the store's steps, never a month's last day", () => {
  const months: [number, number][] = [[2020, 2], [2021, 2], [2021, 12]];
  const d = drawMonthlyDates({ months, perMonth: 4, seed: 3 }, 6);
  assertEquals(d.length, 12);
  for (const [i, iso] of d.entries()) {
    const [y, m] = months[Math.floor(i / 4)], t = new Date(`${iso}Z`);
    assertEquals([t.getUTCFullYear(), t.getUTCMonth() + 1], [y, m], iso);
    assert([0, 6, 12, 18].includes(t.getUTCHours()) && t.getUTCMinutes() === 0, iso);
  }
  assertEquals(drawMonthlyDates({ months, perMonth: 4, seed: 3 }, 6), d);
  notDeepStrictEqual(drawMonthlyDates({ months, perMonth: 4, seed: 4 }, 6), d);
  // a large draw: every day but the last of February 2020 (29 days) appears, the last never
  const days = new Set(
    drawMonthlyDates({ months: Array.from({ length: 400 }, () => [2020, 2] as [number, number]), perMonth: 5 }, 1)
      .map((iso) => Number(iso.slice(8, 10))),
  );
  assertEquals([...days].sort((a, b) => a - b), Array.from({ length: 28 }, (_, k) => k + 1));
  throws(() => drawMonthlyDates({ months: [[2020, 13]], perMonth: 1 }, 1), ConfigError);
});
