/**
 * Shared entry wrapper of the CLI verbs: errors become one clear line on
 * stderr and a non-zero exit code, never a stack trace.
 *
 * @module
 */

/** Run a verb's main function; print errors as `error: message` and exit 1. */
export async function runMain(main: () => Promise<void>): Promise<void> {
  try {
    await main();
  } catch (e) {
    const message = e instanceof Error ? e.message : String(e);
    console.error(`error: ${message}`);
    const debug = Deno.permissions.querySync({ name: "env", variable: "ATMOREP_DEBUG" }).state === "granted" &&
      Deno.env.get("ATMOREP_DEBUG");
    if (debug && e instanceof Error) console.error(e.stack);
    Deno.exit(1);
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
      if (!Number.isFinite(n)) throw new Error(`${option}: "${s}" is not a number`);
      return n;
    });
}

/** Parse an integer option. */
export function parseInteger(option: string): (text: string) => number {
  return (text) => {
    const n = Number(text);
    if (!Number.isInteger(n)) throw new Error(`${option}: "${text}" is not an integer`);
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
