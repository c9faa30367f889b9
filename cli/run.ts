/**
 * Shared entry wrapper of the CLI verbs: errors become one clear line on
 * stderr and a non-zero exit code, never a stack trace.
 *
 * @module
 */

import { fileURLToPath } from "node:url";
import { cleanupErrorsOf, ConfigError } from "../errors.ts";
import { parseTime } from "../time.ts";
import { restoreTerminal } from "./progress.ts";

/** The project folder (where deno.json is, and where `deno task` runs every task). */
const PROJECT = fileURLToPath(new URL("..", import.meta.url)).replace(/\/+$/, "");

function realPath(p: string): string | undefined {
  try {
    return Deno.realPathSync(p);
  } catch {
    return undefined;
  }
}

/**
 * Under `deno task`, make relative paths the user's: Deno runs a task in
 * the project folder and names the folder it was called from in
 * `INIT_CWD` (read only where the task's permissions allow that variable).
 * Only when the process runs in the project folder, so a task started
 * elsewhere on purpose (a script, a test) keeps its folder.
 */
export function enterInvokingFolder(): void {
  try {
    if (Deno.permissions.querySync({ name: "env", variable: "INIT_CWD" }).state !== "granted") return;
    const from = Deno.env.get("INIT_CWD");
    if (!from) return;
    const here = realPath(Deno.cwd()), there = realPath(from);
    if (here && there && here !== there && here === realPath(PROJECT)) Deno.chdir(there);
  } catch { /* stay where we are */ }
}

/** The run was stopped by SIGINT (Ctrl-C); its message says what was kept or removed. */
export class InterruptedError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "InterruptedError";
  }
}

const interrupt = new AbortController();

/**
 * Aborted on the first SIGINT: long verbs pass it down, stop at the next
 * task, clean up (or keep a resumable state) and say which. A second SIGINT
 * exits at once.
 */
export function interruptSignal(): AbortSignal {
  return interrupt.signal;
}

function onSigint(): void {
  if (interrupt.signal.aborted) {
    restoreTerminal();
    console.error("error: interrupted twice (SIGINT); exiting without cleanup");
    Deno.exit(130);
  }
  interrupt.abort(new InterruptedError("interrupted (SIGINT)"));
}

/** Run a verb's main function; print errors as `error: message` and exit 1 (130 after SIGINT). */
export async function runMain(main: () => Promise<void>): Promise<void> {
  enterInvokingFolder();
  try {
    Deno.addSignalListener("SIGINT", onSigint);
  } catch { /* no signals here (Windows without console) */ }
  try {
    await main();
  } catch (e) {
    restoreTerminal();
    const message = e instanceof Error ? e.message : String(e);
    console.error(`error: ${message}`);
    for (const c of cleanupErrorsOf(e)) {
      console.error(`error: cleaning up after that also failed: ${c instanceof Error ? c.message : String(c)}`);
    }
    const debug = Deno.permissions.querySync({ name: "env", variable: "ATMOREP_DEBUG" }).state === "granted" &&
      Deno.env.get("ATMOREP_DEBUG");
    if (debug && e instanceof Error) console.error(e.stack);
    Deno.exit(e instanceof InterruptedError || interrupt.signal.aborted ? 130 : 1);
  } finally {
    try {
      Deno.removeSignalListener("SIGINT", onSigint);
    } catch { /* not added */ }
  }
}

/**
 * Commander's output settings for every task (`new Command(…).configureOutput(COMMAND_OUTPUT)`):
 * colored help only on a terminal and unless NO_COLOR is set, both as Deno
 * itself sees them. Commander 15 decides from FORCE_COLOR and
 * CLICOLOR_FORCE, which needs env access that most tasks are not given:
 * without this, `--help` of such a task fails on the permission.
 */
export const COMMAND_OUTPUT = {
  getOutHasColors: (): boolean => !Deno.noColor && Deno.stdout.isTerminal(),
  getErrHasColors: (): boolean => !Deno.noColor && Deno.stderr.isTerminal(),
};

/** What {@link parseSubcommands} needs of a commander command. */
interface ParentCommand {
  commands: readonly unknown[];
  configureOutput(o: typeof COMMAND_OUTPUT): unknown;
  parseAsync(argv: string[], o: { from: "user" }): Promise<unknown>;
}

/**
 * Parse the arguments with a command that has subcommands (`exitOverride`
 * set). Every subcommand gets {@link COMMAND_OUTPUT} (commander's
 * `addCommand` does not pass output settings on); commander has already
 * printed usage errors and help, so its own exits become the process's exit
 * code; other errors go on to runMain.
 */
export async function parseSubcommands(program: ParentCommand): Promise<void> {
  const configure = (c: ParentCommand) => {
    c.configureOutput(COMMAND_OUTPUT);
    for (const sub of c.commands) configure(sub as ParentCommand);
  };
  configure(program);
  try {
    await program.parseAsync(Deno.args, { from: "user" });
  } catch (e) {
    const code = (e as { exitCode?: number; code?: string }).exitCode;
    if (code !== undefined && (e as { code?: string }).code?.startsWith("commander.")) Deno.exit(code);
    throw e;
  }
}

/** Parse a comma-separated list. */
export function parseList(text: string): string[] {
  return text.split(",").map((s) => s.trim()).filter(Boolean);
}

/** Parse a comma-separated list of numbers, naming the option on error. */
export function parseNumbers(option: string): (text: string) => number[] {
  return (text) =>
    parseList(text).map((s) => {
      const n = Number(s);
      if (!Number.isFinite(n)) throw new ConfigError(option, `"${s}" is not a number`);
      return n;
    });
}

/** Parse an integer option. */
export function parseInteger(option: string): (text: string) => number {
  return (text) => {
    const n = Number(text);
    if (!Number.isInteger(n)) throw new ConfigError(option, `"${text}" is not an integer`);
    return n;
  };
}

/** Parse a positive count option (steps, threads, members): an integer ≥ 1. */
export function parsePositive(option: string): (text: string) => number {
  return (text) => {
    const n = Number(text);
    if (!Number.isInteger(n) || n < 1 || text.trim() === "") {
      throw new ConfigError(option, `"${text}" is not a whole number ≥ 1`);
    }
    return n;
  };
}

/** Parse a count option: an integer ≥ 0. */
export function parseCount(option: string): (text: string) => number {
  return (text) => {
    const n = Number(text);
    if (!Number.isInteger(n) || n < 0 || text.trim() === "") {
      throw new ConfigError(option, `"${text}" is not a whole number ≥ 0`);
    }
    return n;
  };
}

/** Format a byte count. */
export function formatBytes(n: number): string {
  const units = ["B", "KB", "MB", "GB", "TB"];
  let i = 0;
  while (n >= 1000 && i < units.length - 1) (n /= 1000, i++);
  return `${n.toFixed(i === 0 ? 0 : 1)} ${units[i]}`;
}

/**
 * Parse a repeatable time option (`--init T [T …]`, `--date T …`): each
 * value is checked by the project's one time parser (time.ts, UTC) and kept
 * as written; an error names the option and quotes the value.
 */
export function parseTimes(option: string): (text: string, previous?: string[]) => string[] {
  return (text, previous) => {
    parseTime(text, option);
    return [...(previous ?? []), text];
  };
}
