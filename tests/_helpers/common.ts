/**
 * Test helpers: temporary directories, the bundled sample, extra cases
 * written by netCDF-C, and running the CLI verbs and Python checks.
 *
 * @module
 */
import assert from "node:assert/strict";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { convertEra5 } from "../../converters/era5/convert.ts";
import { convertFesom } from "../../converters/fesom/convert.ts";
import { expandInputs } from "../../cli/inputs.ts";

/** Debian's Python, which has netCDF4, xarray and zarr 2 (not a pyenv one). */
export const PYTHON = "/usr/bin/python3";

/** Repository root. */
export const ROOT = fileURLToPath(new URL("../../", import.meta.url));

/** The bundled ERA5 sample directories. */
export const SAMPLE = { legacy: `${ROOT}samples/era5/legacy`, new: `${ROOT}samples/era5/new` };

/** Output of a subprocess. */
export interface RunResult {
  /** Exit code. */
  code: number;
  /** Standard output. */
  stdout: string;
  /** Standard error. */
  stderr: string;
}

/**
 * `deno run` flags that switch the test hooks on in a spawned task
 * (zarr/fault_hook.ts: the `ATMOREP_TEST_*` variables are dead without them).
 */
export const TEST_HOOKS = ["--preload", `${ROOT}tests/_helpers/test_hooks.ts`];

/** Where and with what environment a command runs (default: the project root, the test's environment). */
export interface RunOptions {
  /** Working directory. */
  cwd?: string;
  /** Extra environment variables. */
  env?: Record<string, string>;
}

/** Run a command and collect its output. */
export async function run(cmd: string, args: string[], opts: RunOptions = {}): Promise<RunResult> {
  const out = await new Deno.Command(cmd, {
    args,
    stdout: "piped",
    stderr: "piped",
    cwd: opts.cwd ?? ROOT,
    // The folder it runs in is the caller's folder (a task moves to INIT_CWD, which the test runner may have set).
    env: { INIT_CWD: opts.cwd ?? ROOT, ...opts.env },
  })
    .output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

/** Run a `tasks/` verb with the same permissions as its deno.json task. */
export function runTask(verb: string, args: string[], opts: RunOptions = {}): Promise<RunResult> {
  return run(Deno.execPath(), [
    "run",
    "--allow-read",
    "--allow-write",
    "--allow-env",
    "--allow-ffi",
    `${ROOT}tasks/${verb}.ts`,
    ...args,
  ], opts);
}

/** Run a Python script from tests/oracles and parse its JSON output. */
export async function python<T = Record<string, unknown>>(script: string, args: string[]): Promise<T> {
  const r = await run(PYTHON, [`${ROOT}tests/oracles/${script}`, ...args]);
  if (r.code !== 0) throw new Error(`${script} failed (${r.code}):\n${r.stderr}`);
  return JSON.parse(r.stdout.trim().split("\n").at(-1)!);
}

let casesDir: Promise<string> | undefined;

/** Extra input files written by netCDF-C (make_sample.py --cases), made once per run. */
export function cases(): Promise<string> {
  casesDir ??= (async () => {
    const dir = await Deno.makeTempDir({ prefix: "era5-cases-" });
    const r = await run(PYTHON, [`${ROOT}samples/era5/make_sample.py`, "--cases", dir]);
    if (r.code !== 0) throw new Error(`make_sample.py --cases failed:\n${r.stderr}`);
    return dir;
  })();
  return casesDir;
}

/** A fresh temporary directory. */
export function tempDir(): Promise<string> {
  return Deno.makeTempDir({ prefix: "atmorep-test-" });
}

/** True when a path exists. */
export function exists(path: string): boolean {
  try {
    Deno.statSync(path);
    return true;
  } catch {
    return false;
  }
}

/** Every file of a store except the root attributes (they name the store and the time). */
export function files(root: string, dir = root): Map<string, Uint8Array> {
  const out = new Map<string, Uint8Array>();
  for (const e of Deno.readDirSync(dir)) {
    const p = join(dir, e.name);
    if (e.isDirectory) { for (const [k, v] of files(root, p)) out.set(k, v); }
    else if (![".zattrs", ".zmetadata"].includes(e.name) || dir !== root) {
      out.set(relative(root, p), Deno.readFileSync(p));
    }
  }
  return out;
}

/** Two stores hold the same files, byte for byte (root attributes aside). */
export function assertSameStore(a: string, b: string): void {
  const fa = files(a), fb = files(b);
  assert.deepEqual([...fa.keys()].sort(), [...fb.keys()].sort());
  for (const [k, v] of fa) assert.deepEqual(v, fb.get(k), k);
}

let gribDir: Promise<string> | undefined;

/** GRIB test files written by ecCodes, CDO and NCEP g2c (tests/oracles/make_grib.py), made once per run. */
export function gribFiles(): Promise<string> {
  gribDir ??= (async () => {
    const dir = await tempDir();
    const r = await run(PYTHON, [`${ROOT}tests/oracles/make_grib.py`, dir]);
    if (r.code !== 0) throw new Error(`make_grib.py failed:\n${r.stderr}`);
    return dir;
  })();
  return gribDir;
}

/**
 * The ERA5 sample and FESOM sst over the same dates (2019-12/2020-01 periods
 * made from the pi output by tests/oracles/fesom_cases.py), converted into `dir`:
 * an atmosphere store and an ocean store to sample together.
 */
export async function era5AndFesomStores(dir: string): Promise<{ era5: string; fesom: string }> {
  const cases = join(dir, "cases");
  const r = await run(PYTHON, [
    `${ROOT}tests/oracles/fesom_cases.py`,
    `${ROOT}samples/fesom/pi-output`,
    `${ROOT}samples/fesom/pi-mesh`,
    cases,
  ]);
  if (r.code !== 0) throw new Error(`fesom_cases.py failed:\n${r.stderr}`);
  const era5 = await convertEra5({
    inputs: expandInputs([SAMPLE.legacy, SAMPLE.new]),
    out: join(dir, "era5.zarr"),
    workers: 0,
  });
  const fesom = await convertFesom({
    mesh: `${ROOT}samples/fesom/pi-mesh`,
    inputs: [join(cases, "y2020", "sst.fesom.2019.nc"), join(cases, "y2020", "sst.fesom.2020.nc")],
    out: join(dir, "fesom.zarr"),
  });
  return { era5: era5.out, fesom: fesom.out };
}
