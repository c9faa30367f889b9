import assert from "node:assert/strict";
import {
  type ResultsItem,
  resultsName,
  writeBertResults,
  writeForecastResults,
} from "../../forecast/atmorep_results.ts";
import { python, tempDir } from "../_helpers/common.ts";

const H = 3600_000;
const T0 = Date.UTC(2021, 0, 2, 0);

/** An item of `shape` whose values count up from `start`. */
function item(shape: number[], start: number, extra: Partial<ResultsItem> = {}): ResultsItem {
  const n = shape.reduce((a, b) => a * b, 1);
  return {
    data: Float32Array.from({ length: n }, (_, i) => start + i / 4),
    shape,
    levels: [96, 137],
    datetime: [0, 1, 2].map((i) => T0 + i * H),
    lat: [45.25, 45, 44.75, 44.5],
    lon: [10, 10.25, 10.5, 10.75, 11],
    ...extra,
  };
}

type Read = Record<string, Record<string, Record<string, unknown> & { shape: number[]; sum: number; first: number }>>;

Deno.test("AtmoRep results, forecast layout: zarr-python opens the four zip stores as AtmoRep's analysis does; values, levels, datetime64[ns] and coordinates survive", async () => {
  const dir = await tempDir();
  const later = { datetime: [T0 + 3 * H, T0 + 4 * H] };
  const paths = writeForecastResults(dir, "abc123", 0, {
    source: [{ name: "temperature", samples: [item([2, 3, 4, 5], 200), item([2, 3, 4, 5], 300)] }],
    target: [{ name: "temperature", samples: [item([2, 2, 4, 5], 210, later), item([2, 2, 4, 5], 310, later)] }],
    pred: [{ name: "temperature", samples: [item([2, 2, 4, 5], 211, later), item([2, 2, 4, 5], 311, later)] }],
    ens: [{ name: "temperature", samples: [item([3, 2, 2, 4, 5], 212, later), item([3, 2, 2, 4, 5], 312, later)] }],
  });
  assert.deepEqual(paths.map((p) => p.slice(dir.length + 1)), [
    "results_idabc123_epoch00000_source.zarr",
    "results_idabc123_epoch00000_target.zarr",
    "results_idabc123_epoch00000_pred.zarr",
    "results_idabc123_epoch00000_ens.zarr",
  ]);
  const r = await python<Read>("atmorep_results_read.py", [dir, "abc123", "0"]);
  const src = r.source["temperature/sample=00001"];
  assert.deepEqual([src.shape, src.dtype, src.first], [[2, 3, 4, 5], "float32", 300]);
  assert.equal(src.sum, Array.from(item([2, 3, 4, 5], 300).data).reduce((a, b) => a + b, 0));
  assert.deepEqual(src.ml, [96, 137]);
  assert.equal(src.datetime_dtype, "datetime64[ns]");
  assert.deepEqual(src.datetime, [
    "2021-01-02T00:00:00.000000000",
    "2021-01-02T01:00:00.000000000",
    "2021-01-02T02:00:00.000000000",
  ]);
  assert.deepEqual([src.lat, src.lat_dtype, src.lon], [[45.25, 45, 44.75, 44.5], "float32", [
    10,
    10.25,
    10.5,
    10.75,
    11,
  ]]);
  assert.deepEqual(Object.keys(r.target), ["temperature/sample=00000", "temperature/sample=00001"]);
  assert.deepEqual(r.target["temperature/sample=00000"].datetime, [
    "2021-01-02T03:00:00.000000000",
    "2021-01-02T04:00:00.000000000",
  ]);
  assert.equal(r.pred["temperature/sample=00000"].first, 211);
  assert.deepEqual(r.ens["temperature/sample=00001"].shape, [3, 2, 2, 4, 5]);
  assert.equal(r.ens["temperature/sample=00001"].first, 312);
});

Deno.test("AtmoRep results, BERT layout: target, pred and ens per sample and level (ml=<LLLLL>, ml a scalar), masked tokens with their own coordinates", async () => {
  const dir = await tempDir();
  const tok = (start: number, level: number, shape = [2, 3, 2, 2]): ResultsItem =>
    item(shape, start, {
      levels: level,
      datetime: [T0, T0 + H, T0 + 3 * H, T0 + 4 * H, T0, T0 + H],
      datetimeShape: [2, 3],
      lat: [45, 44.75, 44.5, 44.25],
      latShape: [2, 2],
      lon: [10, 10.25, 11, 11.25],
      lonShape: [2, 2],
    });
  writeBertResults(dir, "xyz", 7, [{ name: "velocity_u", samples: [item([2, 3, 4, 5], 1)] }], {
    target: [{ name: "velocity_u", samples: [[tok(5, 96), tok(6, 137)]] }],
    pred: [{ name: "velocity_u", samples: [[tok(7, 96), tok(8, 137)]] }],
    ens: [{ name: "velocity_u", samples: [[tok(9, 96, [2, 4, 3, 2, 2]), tok(10, 137, [2, 4, 3, 2, 2])]] }],
  });
  assert.equal(resultsName("xyz", 7, "pred"), "results_idxyz_epoch00007_pred.zarr");
  const r = await python<Read>("atmorep_results_read.py", [dir, "xyz", "7"]);
  assert.deepEqual(Object.keys(r.source), ["velocity_u/sample=00000"]);
  assert.deepEqual(Object.keys(r.target), ["velocity_u/sample=00000/ml=00096", "velocity_u/sample=00000/ml=00137"]);
  const t = r.target["velocity_u/sample=00000/ml=00137"];
  assert.deepEqual([t.shape, t.first, t.ml], [[2, 3, 2, 2], 6, 137]);
  assert.equal((t.datetime as string[]).length, 6);
  assert.equal((t.datetime as string[])[2], "2021-01-02T03:00:00.000000000");
  assert.deepEqual(t.lon, [10, 10.25, 11, 11.25]);
  assert.equal(r.pred["velocity_u/sample=00000/ml=00096"].first, 7);
  assert.deepEqual(r.ens["velocity_u/sample=00000/ml=00137"].shape, [2, 4, 3, 2, 2]);
});
