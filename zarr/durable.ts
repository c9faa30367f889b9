/**
 * Durable small writes and the test-only fault hook of the build protocol.
 *
 * Every file that a later step relies on (build state, task statistics,
 * done markers, zarr metadata) is written to a temporary name, fsynced and
 * renamed, so a reader sees the old file or the new one, never half of one.
 *
 * `ATMOREP_TEST_ABORT_AFTER_WRITES=k` (read only when `--allow-env` grants
 * it) makes the process exit with code {@link TEST_ABORT_EXIT_CODE} right
 * after its k-th state-changing step, without running any cleanup: a kill at
 * that exact point. Tests use it to kill a conversion at every point.
 *
 * @module
 */
import { basename, dirname, join } from "node:path";

/** Exit code of a process stopped by the test fault hook. */
export const TEST_ABORT_EXIT_CODE = 86;

const VARIABLE = "ATMOREP_TEST_ABORT_AFTER_WRITES";

function abortAfter(): number {
  try {
    if (Deno.permissions.querySync({ name: "env", variable: VARIABLE }).state !== "granted") return 0;
    return Number(Deno.env.get(VARIABLE) ?? 0) || 0;
  } catch {
    return 0;
  }
}

const limit = abortAfter();
let steps = 0;

/** Thrown by the in-process kill simulation ({@link simulateKillAfter}). */
export class SimulatedKill extends Error {
  constructor(what: string) {
    super(`simulated kill (${what})`);
    this.name = "SimulatedKill";
  }
}

let simulation: { limit: number; steps: number; killed: boolean } | undefined;

/**
 * Test only: "kill" this process right after its k-th state-changing step
 * from now on. The step throws {@link SimulatedKill} and from then on every
 * guarded write, rename or removal ({@link beforeWrite}) throws too, so no
 * cleanup runs and lock files stay behind (their flock is dropped, as the
 * kernel does for a dead process): the files are exactly what a SIGKILL at
 * that point leaves. `undefined` ends the simulation.
 */
export function simulateKillAfter(k: number | undefined): void {
  simulation = k === undefined ? undefined : { limit: k, steps: 0, killed: false };
}

/** True once a simulated kill happened (see {@link simulateKillAfter}). */
export function simulatedKilled(): boolean {
  return simulation?.killed === true;
}

/** Call before a write, rename or removal: after a simulated kill nothing more may change. */
export function beforeWrite(what: string): void {
  if (simulation?.killed) throw new SimulatedKill(`after the kill: ${what}`);
}

/**
 * Count one state-changing step (a file written, renamed or removed). Under
 * the test hook, the k-th step ends the process at once, as a kill would.
 */
export function faultPoint(what: string): void {
  if (simulation && !simulation.killed && ++simulation.steps >= simulation.limit) {
    simulation.killed = true;
    throw new SimulatedKill(what);
  }
  if (limit <= 0) return;
  if (++steps >= limit) {
    console.error(`test hook: aborting after write ${steps} (${what})`);
    Deno.exit(TEST_ABORT_EXIT_CODE);
  }
}

/** Write all of `bytes` to an open file (a write may take fewer bytes than it was given). */
export function writeAllSync(file: Deno.FsFile, bytes: Uint8Array): void {
  let done = 0;
  while (done < bytes.length) done += file.writeSync(bytes.subarray(done));
}

/**
 * Create or replace `path` with `bytes`, written straight from the caller's
 * buffer. Not `Deno.writeFileSync`: that copies the whole buffer into fresh
 * native memory first (1 GB to /dev/null here: 5.3 s and +1 GB peak RSS,
 * against 12 ms and nothing for a file handle's writes), which on a
 * conversion meant a copy, and often fresh pages, for every chunk.
 */
export function writeBytesSync(path: string, bytes: Uint8Array): void {
  const file = Deno.openSync(path, { write: true, create: true, truncate: true });
  try {
    writeAllSync(file, bytes);
  } finally {
    file.close();
  }
}

/** Write a file (given whole or in pieces) via a temporary name, fsync it, rename it into place. */
export function writeFileDurable(
  path: string,
  bytes: Uint8Array | Uint8Array[],
  options: { sync?: boolean; tmpDir?: string } = {},
): void {
  beforeWrite(path);
  Deno.mkdirSync(dirname(path), { recursive: true });
  // A separate temporary folder (same file system) keeps half-written files out of listings of the target's.
  if (options.tmpDir) Deno.mkdirSync(options.tmpDir, { recursive: true });
  const tmp = options.tmpDir
    ? join(options.tmpDir, `${basename(path)}.tmp-${crypto.randomUUID().slice(0, 8)}`)
    : `${path}.tmp-${crypto.randomUUID().slice(0, 8)}`;
  const file = Deno.openSync(tmp, { write: true, create: true, truncate: true });
  try {
    for (const piece of Array.isArray(bytes) ? bytes : [bytes]) writeAllSync(file, piece);
    if (options.sync) file.syncDataSync();
  } catch (e) {
    file.close();
    try {
      Deno.removeSync(tmp);
    } catch { /* the original error matters */ }
    throw e;
  }
  file.close();
  Deno.renameSync(tmp, path);
  faultPoint(path);
}

/** {@link writeFileDurable} for text. */
export function writeTextDurable(path: string, text: string, options: { sync?: boolean; tmpDir?: string } = {}): void {
  writeFileDurable(path, new TextEncoder().encode(text), options);
}
