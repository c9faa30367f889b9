/**
 * Loopback servers in processes of their own (the cloud-store server and
 * the fake CDS, used by tests and by bench:convert --remote): the parent
 * starts one and reads the port it prints; the server stops when its
 * parent closes its stdin (or dies), or after its lifetime.
 *
 * @module
 */

/** A started loopback server process. */
export interface LoopbackServer {
  /** Port on 127.0.0.1. */
  port: number;
  /** Stop it and wait for it to exit. */
  close(): Promise<void>;
}

/** Run `deno run ARGS` (a server script and its arguments) and wait for the `{"port": N}` line it prints. */
export async function startLoopbackServer(args: string[]): Promise<LoopbackServer> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", ...args],
    stdin: "piped",
    stdout: "piped",
    stderr: "null",
  }).spawn();
  const reader = child.stdout.getReader();
  let text = "";
  while (!text.includes("\n")) {
    const { value, done } = await reader.read();
    if (done) throw new Error(`${args.find((a) => a.endsWith(".ts"))} exited before listening`);
    text += new TextDecoder().decode(value);
  }
  reader.releaseLock();
  return {
    port: JSON.parse(text.split("\n")[0]).port as number,
    close: async () => {
      await child.stdin.close();
      await child.stdout.cancel();
      await child.status;
    },
  };
}

/**
 * Server side: print the port, then serve until the parent closes stdin or
 * `lifetimeMs` has passed, and exit.
 */
export async function serveUntilParentCloses(
  server: Deno.HttpServer<Deno.NetAddr>,
  ac: AbortController,
  lifetimeMs: number,
): Promise<never> {
  console.log(JSON.stringify({ port: server.addr.port }));
  const timer = setTimeout(() => ac.abort(), lifetimeMs);
  (async () => {
    const buf = new Uint8Array(64);
    try {
      while ((await Deno.stdin.read(buf)) !== null) { /* nothing */ }
    } catch { /* closed */ }
    ac.abort();
  })();
  await server.finished;
  clearTimeout(timer);
  Deno.exit(0);
}
