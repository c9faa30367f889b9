/**
 * Progress reporting on stderr: a cli-progress bar on a terminal, plain
 * periodic lines otherwise (CI logs, SLURM output files).
 *
 * @module
 */
// @ts-types="npm:@types/cli-progress@3.11.6"
import cliProgress from "cli-progress";
import process from "node:process";

/** A progress display for one phase at a time. */
export interface ProgressDisplay {
  /** Update: units done of total, and a payload shown after the bar. */
  update(phase: string, done: number, total: number, detail?: string): void;
  /** Finish and release the terminal line. */
  stop(): void;
}

/**
 * Show the cursor and turn line wrap back on (the bar hides the one and
 * turns off the other); harmless when they already are. Only on a terminal.
 */
export function restoreTerminal(): void {
  try {
    if (Deno.stderr.isTerminal()) Deno.stderr.writeSync(new TextEncoder().encode("\x1b[?25h\x1b[?7h"));
  } catch { /* stderr closed */ }
}

/** Create a progress display on stderr (silent when `quiet`). */
export function progressDisplay(quiet = false): ProgressDisplay {
  if (quiet) return { update() {}, stop() {} };
  const tty = Deno.stderr.isTerminal();
  let bar: cliProgress.SingleBar | undefined;
  let current = "";
  let lastLine = 0;
  const start = (phase: string, total: number) => {
    bar?.stop();
    current = phase;
    bar = new cliProgress.SingleBar({
      format: `${phase.padEnd(9)} [{bar}] {percentage}% {value}/{total} {detail} eta {eta_formatted}`,
      stream: process.stderr,
      noTTYOutput: false,
      hideCursor: true,
      clearOnComplete: false,
    }, cliProgress.Presets.shades_classic);
    bar.start(total, 0, { detail: "" });
  };
  return {
    update(phase, done, total, detail = "") {
      if (!tty) {
        const now = performance.now();
        if (phase !== current || done === total || now - lastLine > 2000) {
          current = phase;
          lastLine = now;
          console.error(`${phase}: ${done}/${total} ${detail}`.trimEnd());
        }
        return;
      }
      if (phase !== current || !bar) start(phase, total);
      bar!.update(done, { detail });
    },
    stop() {
      bar?.stop();
      bar = undefined;
      if (tty) restoreTerminal();
    },
  };
}
