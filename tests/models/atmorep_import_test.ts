/**
 * AtmoRep checkpoints that must not load, and the time ranges of AtmoRep's
 * json: an old-layout `.mod` (per-head projections, translated by
 * `translate_weights`) whose per-head tensors disagree in shape, and one
 * whose heads agree with each other but not with the json, are
 * CheckpointErrors naming the file and the key before any model runs; the
 * json's `years_train` / `years_val` become in-sample ranges, and a json
 * without years gives none (null).
 *
 * @module
 */
import { deepStrictEqual as assertEquals, throws as assertThrows } from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ROOT } from "../_helpers/common.ts";
import { atmorepTimeRanges, importAtmorep } from "../../models/atmorep_import.ts";
import { readTorchStateDict, type StateTensor, torchStateDictBytes } from "../../models/torch_archive.ts";
import { rangesHolding } from "../../models/time_ranges.ts";
import { CheckpointError, ConfigError } from "../../errors.ts";

const OLD = join(ROOT, "tests", "fixtures", "atmorep", "old_layout");

/** `sd` with tensor `key` replaced by a [rows, cols] one. */
function reshaped(sd: Map<string, StateTensor>, key: string, rows: number, cols: number): Map<string, StateTensor> {
  const m = new Map(sd);
  m.set(key, { shape: [rows, cols], data: new Float32Array(rows * cols) });
  return m;
}

Deno.test("atmorep import: old-layout heads of another shape, or all heads of a width the json does not say, name the file and the key", () => {
  const sd = readTorchStateDict(join(OLD, "AtmoRep_idgold0006.mod"));
  const json = join(OLD, "model_idgold0006.json");
  const key = "encoders.0.heads.1.heads_self.2.proj_ks.weight";
  const [rows, cols] = sd.get(key)!.shape;
  const tmp = mkdtempSync(join(tmpdir(), "atmorep-old-"));
  try {
    const write = (name: string, m: Map<string, StateTensor>) => {
      const path = join(tmp, `${name}.mod`);
      Deno.writeFileSync(path, torchStateDictBytes("archive", m));
      return path;
    };
    const odd = write("odd", reshaped(sd, key, rows + 1, cols));
    assertThrows(
      () => importAtmorep(odd, json),
      (e: unknown) =>
        e instanceof CheckpointError && e.message.includes(`${odd}: ${key}`) &&
        e.message.includes(`shape [${rows + 1},${cols}]`),
    );
    // every head of the first encoder layer one row wider: consistent among themselves, not with the json
    let wide = new Map(sd);
    for (const k of sd.keys()) {
      if (k.startsWith("encoders.0.heads.0.heads_self.")) wide = reshaped(wide, k, rows + 1, cols);
    }
    const widePath = write("wide", wide);
    assertThrows(
      () => importAtmorep(widePath, json),
      (e: unknown) =>
        e instanceof CheckpointError && e.message.includes(`${widePath}: encoders.0.heads.0.proj_heads.weight`) &&
        /where the json says/.test(e.message),
    );
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
});

Deno.test("atmorep import: the json's years_train and years_val are the ranges scores are marked in-sample by", () => {
  const r = atmorepTimeRanges({ years_train: [2017, 2018], years_val: [2021], file_path: "/data/era5.zarr" })!;
  assertEquals(r.map((x) => [x.use, x.data]), [
    ["train", ["2017-01-01T00:00Z", "2017-12-31T23:59Z"]],
    ["train", ["2018-01-01T00:00Z", "2018-12-31T23:59Z"]],
    ["validation", ["2021-01-01T00:00Z", "2021-12-31T23:59Z"]],
  ]);
  assertEquals(r[0].store, "/data/era5.zarr");
  const at = (iso: string) => rangesHolding(r, Date.parse(iso) / 1000).map((x) => x.use);
  assertEquals(at("2018-07-01T12:00Z"), ["train"]);
  assertEquals(at("2020-07-01T12:00Z"), []);
  assertEquals(at("2021-12-31T18:00Z"), ["validation"]);
  // years_test stands in for years_val (AtmoRep's evaluator does the same)
  assertEquals(atmorepTimeRanges({ years_test: [2022] })!.map((x) => x.use), ["validation"]);
  assertEquals(atmorepTimeRanges({ fields: [] }), null);
  assertThrows(() => atmorepTimeRanges({ years_train: "2018" }), (e: unknown) => e instanceof ConfigError);
});
