/**
 * Test hook: the kill points of the build protocol, for the crash tests.
 * Production code marks every state-changing step — a file written,
 * renamed or removed — with {@link beforeWrite} before it and
 * {@link faultPoint} after it; unless a test switched the hook on, both
 * are a counter check and do nothing.
 *
 * Two ways to switch it on, both for tests only:
 * - in-process, {@link simulateKillAfter}`(k)`: the k-th step throws
 *   {@link SimulatedKill} and every later step throws too, so nothing
 *   (cleanup included) changes the files after the "kill";
 * - across processes, `ATMOREP_TEST_ABORT_AFTER_WRITES=k` (read only when
 *   `--allow-env` grants it): the process exits with code
 *   {@link TEST_ABORT_EXIT_CODE} right after its k-th step, without any
 *   cleanup, as a SIGKILL at that exact point would leave it.
 *
 * The environment variables of the test hooks ({@link testVariable}) are
 * dead in the shipped command line: they are read only in a process
 * started with the test preload (`deno run --preload
 * tests/_helpers/test_hooks.ts …`), which sets {@link TEST_HOOKS}. A
 * variable left set in a user's shell changes nothing.
 *
 * @module
 */

/** Exit code of a process stopped by the test fault hook. */
export const TEST_ABORT_EXIT_CODE = 86;

/** The global the test preload sets to switch the environment hooks on. */
export const TEST_HOOKS: unique symbol = Symbol.for("atmorep.testHooks");

/**
 * The number in test variable `name` (`ATMOREP_TEST_…`), or 0: always 0
 * unless the process was started with the test preload and may read it.
 */
export function testVariable(name: string): number {
  if ((globalThis as Record<symbol, unknown>)[TEST_HOOKS] !== true) return 0;
  try {
    if (Deno.permissions.querySync({ name: "env", variable: name }).state !== "granted") return 0;
    return Number(Deno.env.get(name) ?? 0) || 0;
  } catch {
    return 0;
  }
}

// Read at the first step, not at load: the test preload imports this module before it sets TEST_HOOKS.
let limit: number | undefined;
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
  limit ??= testVariable("ATMOREP_TEST_ABORT_AFTER_WRITES");
  if (limit <= 0) return;
  if (++steps >= limit) {
    console.error(`test hook: aborting after write ${steps} (${what})`);
    Deno.exit(TEST_ABORT_EXIT_CODE);
  }
}
