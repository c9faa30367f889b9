/**
 * Failures end in an error naming the file and the problem (or in a correct
 * result), never in exit 0 with a wrong store, and never cost the user's
 * files: two writers of one --out, --overwrite of what this project did not
 * write, corrupt inputs (HDF5 filters, header checksums, GRIB section 7),
 * ±Inf values, stores with missing or corrupt chunks, non-ASCII metadata,
 * SIGINT and Ctrl-C, a full disk, and an interrupted or inconsistent
 * --finalize. Bad inputs are made here by byte edits of copies of the
 * samples or with netCDF4-python; pre-existing files are checked unchanged
 * by checksum.
 *
 * @module
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { ArrayReader, readRootAttributes } from "../../zarr/reader.ts";
import { isPipelineError, StoreError } from "../../errors.ts";
import { convertEra5 } from "../../converters/era5/convert.ts";
import { exists, gribFiles, PYTHON, ROOT, run, runTask, SAMPLE, tempDir, TEST_HOOKS } from "../_helpers/common.ts";

const SFC = `${SAMPLE.new}/era5_single_levels_20200201.nc`;
const PERMS = ["--allow-read", "--allow-write", "--allow-env", "--allow-ffi"];

/** SHA-256 of every file under `path` (or of the file), by relative name. */
async function checksums(path: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  const walk = async (p: string, rel: string) => {
    const st = Deno.statSync(p);
    if (st.isDirectory) {
      for (const e of Deno.readDirSync(p)) await walk(join(p, e.name), rel ? `${rel}/${e.name}` : e.name);
    } else {
      const hash = await crypto.subtle.digest("SHA-256", Deno.readFileSync(p));
      out[rel || "."] = Array.from(new Uint8Array(hash), (b) => b.toString(16).padStart(2, "0")).join("");
    }
  };
  await walk(path, "");
  return out;
}

/** Run netCDF4-python code with `src` and `dst` bound. */
async function py(code: string): Promise<void> {
  const r = await run(PYTHON, ["-c", `import netCDF4, numpy as np, shutil\n${code}`]);
  if (r.code !== 0) throw new Error(`python failed:\n${r.stderr}`);
}

/** `convert era5` expected to fail: no store or staged store left, no stack trace. */
async function convertFails(args: string[], out: string): Promise<string> {
  const r = await runTask("convert", ["era5", "-q", "--out", out, ...args]);
  assert.notEqual(r.code, 0, `expected failure:\n${r.stdout}`);
  assert.match(r.stderr, /^error: /m);
  assert.doesNotMatch(r.stderr, /\n\s+at /, "no stack trace");
  const norm = out.replace(/\.zarr$/, ".norm.zarr");
  for (const p of [`${out}.partial`, `${norm}.partial`, `${out}.lock`]) assert.ok(!exists(p), `${p} left behind`);
  return r.stderr;
}

function spawnConvert(args: string[], env: Record<string, string> = {}): Deno.ChildProcess {
  return new Deno.Command(Deno.execPath(), {
    args: ["run", ...PERMS, ...TEST_HOOKS, `${ROOT}tasks/convert.ts`, "era5", ...args],
    env,
    stdout: "piped",
    stderr: "piped",
  }).spawn();
}

async function waitFor(what: string, cond: () => boolean, ms = 30000): Promise<void> {
  for (const t0 = Date.now(); !cond();) {
    if (Date.now() - t0 > ms) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

async function finish(child: Deno.ChildProcess): Promise<{ code: number; stdout: string; stderr: string }> {
  const o = await child.output();
  const d = new TextDecoder();
  return { code: o.code, stdout: d.decode(o.stdout), stderr: d.decode(o.stderr) };
}

function doneCount(out: string): number {
  try {
    return [...Deno.readDirSync(join(`${out}.partial`, ".build", "done"))].length;
  } catch {
    return 0;
  }
}

Deno.test("a second writer of the same --out fails at once naming the first; the first publishes; a stale lock is taken over", async () => {
  const dir = await tempDir();
  const out = join(dir, "x.zarr");
  // 12 tasks (field levels of the new-CDS sample), slowed down so the second run starts while the first runs.
  const args = ["-q", "--workers", "0", "--out", out, SAMPLE.new];
  const first = spawnConvert(args, { ATMOREP_TEST_TASK_DELAY_MS: "600" });
  await waitFor("the first run's first task", () => doneCount(out) >= 1);
  const second = await runTask("convert", ["era5", ...args]);
  assert.notEqual(second.code, 0);
  assert.match(second.stderr, /x\.zarr: is being written by pid \d+ on .* \(convert era5, started 20\d\d-/);
  const a = await finish(first);
  assert.equal(a.code, 0, a.stderr);
  assert.deepEqual(readRootAttributes(out).fields_sfc, ["t2m", "msl", "sst"]);
  const ins = await runTask("inspect", [out]);
  assert.equal(ins.code, 0, ins.stderr);

  // A lock file left by a dead process (no flock held) does not block, and is named.
  const out2 = join(dir, "y.zarr");
  Deno.writeTextFileSync(
    `${out2}.lock`,
    JSON.stringify({ pid: 4242, host: "gone", started: "2020-01-01T00:00:00Z", purpose: "convert era5" }),
  );
  const r = await runTask("convert", ["era5", "-q", "--fields", "t2m", "--out", out2, SFC]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /y\.zarr\.lock: took over the lock of pid 4242 on gone/);
  assert.ok(!exists(`${out2}.lock`));
});

Deno.test("--overwrite replaces only stores this project wrote: never inputs, files, folders, or the data store", async () => {
  const dir = await tempDir();
  // The inputs' own folder as --out.
  const inputs = join(dir, "inputs");
  Deno.mkdirSync(inputs);
  Deno.copyFileSync(SFC, join(inputs, "sfc.nc"));
  const before = await checksums(inputs);
  let err = await convertFails(["--overwrite", inputs], inputs);
  assert.match(err, /inputs: holds the input .*sfc\.nc; an output must not be or contain an input/);
  assert.deepEqual(await checksums(inputs), before);
  // A plain file and a folder of the user's files.
  const file = join(dir, "notes.txt"), folder = join(dir, "mine");
  Deno.writeTextFileSync(file, "my notes");
  Deno.mkdirSync(folder);
  Deno.writeTextFileSync(join(folder, "thesis.tex"), "chapter 1");
  for (const target of [file, folder]) {
    const sums = await checksums(target);
    err = await convertFails(["--overwrite", SFC], target);
    assert.match(err, /is not a data store written by atmorep-ts; --overwrite replaces only those/);
    assert.deepEqual(await checksums(target), sums);
  }
  // normalize: never the data store itself, never another data store.
  const store = join(dir, "s.zarr"), other = join(dir, "o.zarr");
  for (const s of [store, other]) {
    const r = await runTask("convert", ["era5", "-q", "--fields", "t2m", "--out", s, SFC]);
    assert.equal(r.code, 0, r.stderr);
  }
  const storeSums = await checksums(store), otherSums = await checksums(other);
  let n = await run(Deno.execPath(), [
    "run",
    "--allow-read",
    "--allow-write",
    `${ROOT}tasks/normalize.ts`,
    store,
    "--out",
    store,
    "--overwrite",
  ]);
  assert.notEqual(n.code, 0);
  assert.match(n.stderr, /s\.zarr: is the data store .*s\.zarr \(or holds it\)/);
  n = await run(Deno.execPath(), [
    "run",
    "--allow-read",
    "--allow-write",
    `${ROOT}tasks/normalize.ts`,
    store,
    "--out",
    other,
    "--overwrite",
  ]);
  assert.notEqual(n.code, 0);
  assert.match(n.stderr, /o\.zarr: is not a coefficient set; --overwrite replaces only coefficient sets/);
  assert.deepEqual(await checksums(store), storeSums);
  assert.deepEqual(await checksums(other), otherSums);
  // A store of ours is replaced.
  const again = await runTask("convert", ["era5", "-q", "--fields", "t2m", "--overwrite", "--out", store, SFC]);
  assert.equal(again.code, 0, again.stderr);
  // demo: --help prints help and writes nothing; a folder of the user's files is never wiped.
  const help = await runTask("demo", ["--help"]);
  assert.equal(help.code, 0, help.stderr);
  assert.match(help.stdout, /Usage: demo \[options\] \[out_dir\]/);
  assert.ok(!exists(join(ROOT, "--help")) && !exists(join(ROOT, "out", "--help")));
  // The demo writes OUT_DIR/era5_sample.zarr: a folder of the user's files by that name is never replaced.
  const demoDir = join(dir, "demo");
  await Deno.mkdir(demoDir);
  await Deno.rename(folder, join(demoDir, "era5_sample.zarr"));
  const folderSums = await checksums(join(demoDir, "era5_sample.zarr"));
  const demo = await runTask("demo", [demoDir]);
  assert.notEqual(demo.code, 0);
  assert.match(demo.stderr, /era5_sample\.zarr: is not a data store written by atmorep-ts/);
  assert.deepEqual(await checksums(join(demoDir, "era5_sample.zarr")), folderSums);
});

/** Offset of byte `n` (0-based) of section `num` of the first GRIB2 message. */
function grib2SectionByte(bytes: Uint8Array, num: number, n: number): number {
  const v = new DataView(bytes.buffer, bytes.byteOffset);
  let pos = 16;
  while (pos < bytes.length) {
    const len = v.getUint32(pos), sec = bytes[pos + 4];
    if (sec === num) return pos + n;
    pos += len;
  }
  throw new Error(`section ${num} not found`);
}

Deno.test("corrupt inputs are errors naming file and variable: HDF5 filter failure, bad header checksum, GRIB section 7", async () => {
  const dir = await tempDir();
  const sample = Deno.readFileSync(SFC);
  // 4000 bytes zeroed in the middle (inside msl's compressed chunks): HDF5's filter fails.
  const zeroed = sample.slice();
  zeroed.fill(0, 120000, 124000);
  Deno.writeFileSync(join(dir, "zeroed.nc"), zeroed);
  let err = await convertFails([join(dir, "zeroed.nc")], join(dir, "a.zarr"));
  // The own HDF5 chunk reader names the chunk; variables it hands to h5wasm name the read that failed.
  assert.match(
    err,
    /zeroed\.nc: (chunk \(\d+, 0, 0\) of msl .*(invalid|corrupt)|cannot read msl at \[\d+, 0, 0\].*read failure \(a filter or checksum failed)/,
  );
  // One byte of msl's long_name flipped: its object header fails its checksum.
  const badsum = sample.slice();
  const at = new TextDecoder("latin1").decode(badsum).indexOf("Mean sea level pressure");
  badsum[at + 5] ^= 0x20;
  Deno.writeFileSync(join(dir, "badsum.nc"), badsum);
  err = await convertFails([join(dir, "badsum.nc")], join(dir, "b.zarr"));
  assert.match(err, /badsum\.nc: variable msl cannot be read: its HDF5 object header is corrupt/);
  // GRIB2: bits per value edited from 16 to 24, so section 7 is too short for the values (ecCodes refuses it).
  const grib = Deno.readFileSync(join(await gribFiles(), "t_only.grib2"));
  const bitsAt = grib2SectionByte(grib, 5, 19);
  assert.equal(grib[bitsAt], 16);
  grib[bitsAt] = 24;
  Deno.writeFileSync(join(dir, "bits.grib2"), grib);
  const ec = await run("grib_get", ["-p", "shortName", "-w", "count=1", join(dir, "bits.grib2")]);
  const ecDump = await run("grib_get_data", [join(dir, "bits.grib2")]);
  assert.ok(ec.code !== 0 || ecDump.code !== 0, "ecCodes refuses the edited message too");
  err = await convertFails([join(dir, "bits.grib2")], join(dir, "c.zarr"));
  assert.match(
    err,
    /bits\.grib2: t \(message at byte 0\): the data section holds \d+ bytes, but \d+ values of 24 bits need/,
  );
});

Deno.test("±Inf is an error naming file, variable and place; --inf-to-nan stores NaN; NaN is counted per field", async () => {
  const dir = await tempDir();
  const src = join(dir, "inf.nc");
  await py(
    `shutil.copy(${JSON.stringify(SFC)}, ${JSON.stringify(src)})\n` +
      `d = netCDF4.Dataset(${JSON.stringify(src)}, "a"); d["t2m"][2, 5, 7] = np.inf; d.close()`,
  );
  const err = await convertFails([src], join(dir, "a.zarr"));
  assert.match(err, /inf\.nc: t2m holds \+Inf at time index 2, point \d+; pass --inf-to-nan/);
  // -Inf too, also where the statistics see log-transformed values (log of -Inf is NaN, not an extreme).
  const neg = join(dir, "neg.nc");
  await py(
    `shutil.copy(${JSON.stringify(SFC)}, ${JSON.stringify(neg)})\n` +
      `d = netCDF4.Dataset(${JSON.stringify(neg)}, "a"); d["msl"][3, 1, 1] = -np.inf; d.close()`,
  );
  assert.match(await convertFails([neg], join(dir, "n.zarr")), /neg\.nc: msl holds -Inf at time index 3, point 121;/);
  await assert.rejects(
    convertEra5({ inputs: [neg], out: join(dir, "log.zarr"), fields: ["msl"], logTransform: { msl: 1 }, workers: 0 }),
    (e: Error) => isPipelineError(e, "input") && /neg\.nc: msl holds -Inf at time index 3, point 121/.test(e.message),
  );
  const out = join(dir, "b.zarr");
  const r = await runTask("convert", ["era5", "-q", "--inf-to-nan", "--out", out, src]);
  assert.equal(r.code, 0, r.stderr);
  const attrs = readRootAttributes(out);
  const nan = attrs.nan_counts as Record<string, number>;
  assert.equal(nan.t2m, 1);
  assert.equal(nan.msl, 0);
  assert.ok(nan.sst > 1000, `sst over land is NaN: ${nan.sst}`);
  const fields = attrs.fields_sfc as string[];
  const t2m = new ArrayReader(out, "data_sfc").read([[2, 3], [fields.indexOf("t2m"), fields.indexOf("t2m") + 1], [
    0,
    61,
  ], [
    0,
    120,
  ]]) as Float32Array;
  assert.equal(t2m.filter((v) => Number.isNaN(v)).length, 1);
  for (const k of ["mean", "m2", "min", "max"]) {
    const stats = new ArrayReader(out, `statistics/${k}_sfc`).read() as Float64Array;
    const count = new ArrayReader(out, "statistics/count_sfc").read() as Float64Array;
    stats.forEach((v, i) => assert.ok(count[i] === 0 || Number.isFinite(v), `statistics/${k}_sfc[${i}] = ${v}`));
  }
});

Deno.test("store checks: a missing chunk, a corrupt chunk and a shape that disagrees with time name array and chunk", async () => {
  const dir = await tempDir();
  const out = join(dir, "s.zarr");
  const r = await runTask("convert", ["era5", "-q", "--fields", "t2m", "--out", out, SFC]);
  assert.equal(r.code, 0, r.stderr);
  // A deleted chunk: an error for reads and for the sampler's bulk reads, not NaN.
  Deno.removeSync(join(out, "data_sfc", "1.0.0.0"));
  const reader = new ArrayReader(out, "data_sfc");
  assert.throws(() => reader.read(), (e) => {
    assert.ok(e instanceof StoreError);
    assert.match(e.message, /s\.zarr\/data_sfc: chunk \[1, 0, 0, 0\] is missing \(.*data_sfc\/1\.0\.0\.0\)/);
    return true;
  });
  assert.throws(() => reader.storedChunks([[0, 0, 0, 0], [1, 0, 0, 0]]), /chunk \[1, 0, 0, 0\] is missing/);
  const ins = await runTask("inspect", [out]);
  assert.notEqual(ins.code, 0);
  assert.match(
    ins.stderr,
    /s\.zarr\/data_sfc: 1 chunk file\(s\) missing \(first: chunk \[1, 0, 0, 0\], .*1\.0\.0\.0\)/,
  );
  // A corrupt chunk: the error names the chunk file, for both read paths.
  const chunk = join(out, "data_sfc", "0.0.0.0");
  const bytes = Deno.readFileSync(chunk);
  bytes.fill(0x5a, 0, 16);
  Deno.writeFileSync(chunk, bytes);
  assert.throws(() => reader.readChunk([0, 0, 0, 0]), /data_sfc\/0\.0\.0\.0: chunk of .*data_sfc cannot be decoded/);
  const [stored] = reader.storedChunks([[0, 0, 0, 0]]);
  const into = new Float32Array(reader.chunks.reduce((a, b) => a * b, 1));
  assert.throws(() => reader.decodeStored(stored, into), /data_sfc\/0\.0\.0\.0: chunk of .*cannot be decoded/);
  // An array whose shape disagrees with its time coordinate.
  const meta = JSON.parse(Deno.readTextFileSync(join(out, "data_sfc", ".zarray")));
  meta.shape[0] = 13;
  Deno.writeTextFileSync(join(out, "data_sfc", ".zarray"), JSON.stringify(meta));
  assert.throws(
    () => new ArrayReader(out, "data_sfc"),
    /data_sfc: shape \[13, 1, 61, 120\] has 13 along time, but the coordinate array .*s\.zarr\/time has 12/,
  );
});

Deno.test("metadata is ASCII JSON: a path with ü and units °C open in xarray under the C locale", async () => {
  const dir = join(await tempDir(), "Müller");
  Deno.mkdirSync(dir);
  const src = join(dir, "sfc.nc");
  await py(
    `shutil.copy(${JSON.stringify(SFC)}, ${JSON.stringify(src)})\n` +
      `d = netCDF4.Dataset(${JSON.stringify(src)}, "a"); d["t2m"].units = "°C"; d.close()`,
  );
  const out = join(dir, "s.zarr");
  const r = await runTask("convert", ["era5", "-q", "--out", out, src]);
  assert.equal(r.code, 0, r.stderr);
  for (const f of [".zmetadata", ".zattrs"]) {
    const bytes = Deno.readFileSync(join(out, f));
    assert.ok(bytes.every((b) => b < 0x80), `${f} is ASCII`);
  }
  // An ASCII script; the store path (with ü) comes in argv, which Python decodes with surrogateescape under C.
  const script = join(await tempDir(), "open.py");
  Deno.writeTextFileSync(
    script,
    `import json, sys, xarray
ds = xarray.open_zarr(sys.argv[1])
print(json.dumps({"units": ds.attrs["field_metadata"]["t2m"]["units"], "input": ds.attrs["provenance"]["inputs"][0]["path"]}))
`,
  );
  const o = await new Deno.Command(PYTHON, {
    args: [script, out],
    env: { LC_ALL: "C", LANG: "C", PYTHONUTF8: "0", PYTHONIOENCODING: "ascii:backslashreplace" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const d = new TextDecoder();
  assert.equal(o.code, 0, d.decode(o.stderr));
  const got = JSON.parse(d.decode(o.stdout).trim().split("\n").at(-1)!);
  assert.equal(got.units, "°C");
  assert.match(got.input, /Müller\/sfc\.nc$/);
});

Deno.test("SIGINT: a conversion removes its partial stores, a part keeps its finished tasks; both say so", async () => {
  const dir = await tempDir();
  const out = join(dir, "i.zarr");
  const args = ["-q", "--workers", "0", "--out", out];
  const whole = spawnConvert([...args, SAMPLE.new], { ATMOREP_TEST_TASK_DELAY_MS: "400" });
  await waitFor("a finished task", () => doneCount(out) >= 1);
  whole.kill("SIGINT");
  let r = await finish(whole);
  assert.equal(r.code, 130, r.stderr);
  assert.match(
    r.stderr,
    /interrupted \(SIGINT\): removed the partial stores .*i\.zarr\.partial and .*i\.norm\.zarr\.partial/,
  );
  for (const p of [out, `${out}.partial`, join(dir, "i.norm.zarr.partial"), `${out}.lock`]) assert.ok(!exists(p), p);

  const init = await runTask("convert", ["era5", "--init", ...args, SAMPLE.new]);
  assert.equal(init.code, 0, init.stderr);
  const part = spawnConvert(["--part", "1/1", ...args], { ATMOREP_TEST_TASK_DELAY_MS: "400" });
  await waitFor("two finished tasks", () => doneCount(out) >= 2);
  part.kill("SIGINT");
  r = await finish(part);
  assert.equal(r.code, 130, r.stderr);
  assert.match(
    r.stderr,
    /interrupted \(SIGINT\): finished tasks are kept in .*i\.zarr\.partial; run the same --part again/,
  );
  const kept = doneCount(out);
  assert.ok(kept >= 2 && kept < 12, `${kept} tasks kept`);
  const again = await runTask("convert", ["era5", "--part", "1/1", ...args]);
  assert.equal(again.code, 0, again.stderr);
  assert.match(again.stdout, new RegExp(`ran ${12 - kept} tasks, ${kept} already done`));
  const fin = await runTask("convert", ["era5", "--finalize", "-q", "--out", out]);
  assert.equal(fin.code, 0, fin.stderr);
});

Deno.test("Ctrl-C on a terminal restores the cursor and line wrap", async () => {
  const dir = await tempDir();
  const out = join(dir, "t.zarr");
  const cmd = [
    "timeout",
    "-s",
    "INT",
    "6",
    Deno.execPath(),
    "run",
    ...PERMS,
    ...TEST_HOOKS,
    `${ROOT}tasks/convert.ts`,
    "era5",
    "--workers",
    "0",
    "--out",
    out,
    SAMPLE.new,
  ].map((a) => `'${a}'`).join(" ");
  // script(1) gives the conversion a terminal; its output holds the escape sequences written to it.
  const o = await new Deno.Command("script", {
    args: ["-q", "-e", "-c", cmd, "/dev/null"],
    env: { ATMOREP_TEST_TASK_DELAY_MS: "600" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(o.stdout);
  assert.match(text, /interrupted \(SIGINT\)/);
  const hidden = text.lastIndexOf("\x1b[?25l");
  assert.ok(hidden >= 0, "the progress bar hid the cursor");
  assert.ok(text.indexOf("\x1b[?25h", hidden) > hidden, "the cursor is shown again after the last hide");
  const wrapOff = text.lastIndexOf("\x1b[?7l");
  if (wrapOff >= 0) assert.ok(text.indexOf("\x1b[?7h", wrapOff) > wrapOff, "line wrap is turned back on");
  assert.ok(!exists(`${out}.partial`));
});

Deno.test("--init rerun with other options, irregular time names the file, --workers -3, normalize --from alone", async () => {
  const dir = await tempDir();
  const out = join(dir, "p.zarr");
  let r = await runTask("convert", ["era5", "-q", "--init", "--fields", "t2m", "--out", out, SFC]);
  assert.equal(r.code, 0, r.stderr);
  r = await runTask("convert", ["era5", "-q", "--init", "--fields", "t2m,sst", "--out", out, SFC]);
  assert.notEqual(r.code, 0);
  assert.match(
    r.stderr,
    /--fields: .*p\.zarr\.partial was initialized with other options \(fields: \["t2m"\] then, \["t2m","sst"\] now\)/,
  );
  r = await runTask("convert", ["era5", "-q", "--init", "--fields", "t2m", "--out", out, SFC]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /already initialized; continuing it/);

  const irr = join(dir, "irregular.nc");
  await py(
    `shutil.copy(${JSON.stringify(SFC)}, ${JSON.stringify(irr)})\n` +
      `d = netCDF4.Dataset(${JSON.stringify(irr)}, "a"); d["valid_time"][5] = d["valid_time"][5] + 1000; d.close()`,
  );
  let err = await convertFails([irr], join(dir, "q.zarr"));
  assert.match(err, /irregular\.nc: irregular time axis: 2020-02-01T01:00:00 is not a multiple of the 0\.7\d* h step/);

  err = await convertFails(["--workers", "-3", SFC], join(dir, "w.zarr"));
  assert.match(err, /--workers: "-3" is not a whole number ≥ 0/);

  const store = join(dir, "n.zarr");
  r = await runTask("convert", ["era5", "-q", "--fields", "t2m", "--out", store, SFC]);
  assert.equal(r.code, 0, r.stderr);
  const n = await run(Deno.execPath(), [
    "run",
    "--allow-read",
    "--allow-write",
    `${ROOT}tasks/normalize.ts`,
    store,
    "--out",
    join(dir, "n2.norm.zarr"),
    "--from",
    "2031-01",
  ]);
  assert.notEqual(n.code, 0);
  assert.match(n.stderr, /--from: 2031-01 is after the last month of .*n\.zarr \(2020-02\)/);
  assert.doesNotMatch(n.stderr, /undefined/);
});

Deno.test("nlvls.out values beyond the mesh's levels are refused, naming the file and line", async () => {
  const dir = await tempDir();
  const mesh = join(dir, "mesh");
  Deno.mkdirSync(mesh);
  for (const e of Deno.readDirSync(`${ROOT}samples/fesom/pi-mesh`)) {
    Deno.copyFileSync(`${ROOT}samples/fesom/pi-mesh/${e.name}`, join(mesh, e.name));
  }
  const lines = Deno.readTextFileSync(join(mesh, "nlvls.out")).split("\n");
  lines[3] = "999";
  Deno.writeTextFileSync(join(mesh, "nlvls.out"), lines.join("\n"));
  const inputs = [...Deno.readDirSync(`${ROOT}samples/fesom/pi-output`)].map((e) =>
    `${ROOT}samples/fesom/pi-output/${e.name}`
  )
    .filter((p) => p.endsWith(".nc")).slice(0, 1);
  const out = join(dir, "f.zarr");
  const r = await runTask("convert", ["fesom", "--mesh", mesh, "--out", out, ...inputs]);
  assert.notEqual(r.code, 0);
  assert.match(
    r.stderr,
    /mesh\/nlvls\.out: value 4 \(line 4\) is 999, outside 0\.\.\d+: the mesh \(aux3d\.out\) has \d+ levels/,
  );
  assert.ok(!exists(out) && !exists(`${out}.partial`));
});

Deno.test({
  name: "disk full with workers: the real error (No space left on device) is reported and partial stores are removed",
  async fn(t) {
    const uid = await run("id", ["-u"]);
    if (uid.stdout.trim() !== "0") {
      console.log("skipped: mounting a small tmpfs needs root");
      return;
    }
    const mnt = await tempDir();
    const m = await run("mount", ["-t", "tmpfs", "-o", "size=3m", "tmpfs", mnt]);
    if (m.code !== 0) {
      console.log(`skipped: cannot mount a tmpfs here (${m.stderr.trim()})`);
      return;
    }
    try {
      // Small chunks (a 4 KB page each on tmpfs) and 4 workers: a worker's write fails first, while the others
      // still write; before the fix, about every other run reported "Directory not empty" and left the stages.
      await t.step("convert with 4 workers into a 3 MB file system, three times", async () => {
        for (let i = 0; i < 3; i++) {
          const out = join(mnt, "full.zarr");
          const r = await runTask("convert", [
            "era5",
            "-q",
            "--workers",
            "4",
            "--chunks",
            "time=1,lat=16,lon=16",
            "--out",
            out,
            SAMPLE.legacy,
            SAMPLE.new,
          ]);
          assert.notEqual(r.code, 0);
          assert.match(r.stderr, /No space left on device/);
          assert.doesNotMatch(r.stderr, /Directory not empty/);
          assert.deepEqual([...Deno.readDirSync(mnt)].map((e) => e.name), [], "nothing left on the full file system");
        }
      });
    } finally {
      await run("umount", [mnt]);
    }
  },
});

Deno.test("--finalize verifies each task's statistics against its done marker and names the task to redo", async () => {
  const dir = await tempDir();
  const out = join(dir, "v.zarr");
  const args = ["-q", "--workers", "0", "--out", out];
  for (const step of [["--init", ...args, SFC], ["--part", "1/1", ...args]]) {
    const r = await runTask("convert", ["era5", ...step]);
    assert.equal(r.code, 0, r.stderr);
  }
  const build = join(`${out}.partial`, ".build");
  const stats = join(build, "stats", "1");
  const bytes = Deno.readFileSync(stats);
  bytes[bytes.length - 3] ^= 0xff; // one flipped bit deep in the per-point sums: same size, other content
  Deno.writeFileSync(stats, bytes);
  let r = await runTask("convert", ["era5", "--finalize", ...args]);
  assert.notEqual(r.code, 0);
  assert.match(
    r.stderr,
    /stats\/1: task statistics do not match their done marker .*task 1 must be redone: run its --part again/,
  );
  assert.ok(!exists(join(build, "done", "1")), "the bad task is no longer marked done");
  assert.ok(!exists(out), "nothing published");
  r = await runTask("convert", ["era5", "--part", "1/1", ...args]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /ran 1 tasks, 2 already done/);
  r = await runTask("convert", ["era5", "--finalize", ...args]);
  assert.equal(r.code, 0, r.stderr);
  assert.ok(exists(out) && !exists(`${out}.partial`) && !exists(`${out}.partial.build`));
});

Deno.test("a real process exit in the middle of --finalize (ATMOREP_TEST_ABORT_AFTER_WRITES): the CLI resume path completes", async () => {
  const dir = await tempDir();
  const out = join(dir, "r.zarr");
  const args = ["-q", "--fields", "t2m", "--workers", "0", "--out", out];
  for (const step of [["--init", ...args, SFC], ["--part", "1/1", ...args]]) {
    const r = await runTask("convert", ["era5", ...step]);
    assert.equal(r.code, 0, r.stderr);
  }
  // Exit after the 14th write of finalize: the coefficient set is published, the data store is not yet.
  const killed = await new Deno.Command(Deno.execPath(), {
    args: ["run", ...PERMS, ...TEST_HOOKS, `${ROOT}tasks/convert.ts`, "era5", "--finalize", ...args],
    env: { ATMOREP_TEST_ABORT_AFTER_WRITES: "14" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.equal(killed.code, 86, new TextDecoder().decode(killed.stderr));
  assert.ok(exists(`${out}.lock`), "the dead process's lock file stays behind");
  assert.ok(exists(join(dir, "r.norm.zarr")) && exists(`${out}.partial`), "killed between the two publications");
  const inspect = await runTask("inspect", [out]);
  assert.notEqual(inspect.code, 0, "nothing looks finished yet");
  for (const step of [["--init", ...args, SFC], ["--part", "1/1", ...args], ["--finalize", ...args]]) {
    const r = await runTask("convert", ["era5", ...step]);
    assert.equal(r.code, 0, `${step[0]}: ${r.stderr}`);
  }
  const ins = await runTask("inspect", [out]);
  assert.equal(ins.code, 0, ins.stderr);
  assert.ok(!exists(`${out}.partial`) && !exists(`${out}.partial.build`) && !exists(`${out}.lock`));
});

Deno.test("a time or latitude dimension of size zero is an error naming the file, not an empty store", async () => {
  const dir = await tempDir();
  for (const [name, nt, nlat] of [["no_times", 0, 3], ["no_rows", 2, 0]] as const) {
    const path = join(dir, `${name}.nc`);
    await py(`d = netCDF4.Dataset(${JSON.stringify(path)}, "w")
d.createDimension("valid_time", ${nt}); d.createDimension("latitude", ${nlat}); d.createDimension("longitude", 4)
t = d.createVariable("valid_time", "i8", ("valid_time",)); t.units = "seconds since 1970-01-01"; t[:] = np.arange(${nt}) * 3600
la = d.createVariable("latitude", "f8", ("latitude",)); la[:] = np.linspace(10, -10, ${nlat})
lo = d.createVariable("longitude", "f8", ("longitude",)); lo[:] = [0, 90, 180, 270]
v = d.createVariable("t2m", "f4", ("valid_time", "latitude", "longitude")); v.units = "K"
d.close()`);
    const out = join(dir, `${name}.zarr`);
    const err = await convertFails([path], out);
    assert.match(err, new RegExp(`${name}\\.nc: (valid_time|latitude) has length 0: the file holds no data`));
    assert.ok(!exists(out));
  }
});
