/**
 * The client side of tests/_helpers/remote_server.ts for tests: serve a
 * directory as a bucket on 127.0.0.1 in its own process, with injected
 * faults, and read its request counts (the cloud-store converter's tests
 * and the stores-by-URL tests both use it).
 *
 * @module
 */
import { join } from "node:path";
import { exists, ROOT, tempDir } from "./common.ts";
import { startLoopbackServer } from "./loopback.ts";

/** A started store server. */
export interface StoreServer {
  /** `http://127.0.0.1:PORT`. */
  url: string;
  /** `127.0.0.1:PORT`, for `--allow-net`. */
  host: string;
  /** Requests per path so far (HEADs as `HEAD PATH`). */
  requests(): Promise<Record<string, number>>;
  close(): Promise<void>;
}

/** Serve `dir` with `faults` (remote_server.ts's list) on `port` (0: any free one). */
export async function serveStoreDir(dir: string, faults: unknown[] = [], port = 0): Promise<StoreServer> {
  const log = join(await tempDir(), "requests.json");
  const server = await startLoopbackServer([
    "--allow-net=127.0.0.1",
    `--allow-read=${dir}`,
    `--allow-write=${log}`,
    `${ROOT}tests/_helpers/remote_server.ts`,
    dir,
    "--faults",
    JSON.stringify(faults),
    "--log",
    log,
    "--lifetime-s",
    "120",
    "--port",
    String(port),
  ]);
  return {
    url: `http://127.0.0.1:${server.port}`,
    host: `127.0.0.1:${server.port}`,
    requests: () => readLog(log),
    close: server.close,
  };
}

/** The server's request log, read again while the server is rewriting it. */
async function readLog(log: string): Promise<Record<string, number>> {
  for (let i = 0;; i++) {
    try {
      return exists(log) ? JSON.parse(Deno.readTextFileSync(log)) : {};
    } catch (e) {
      if (i === 20) throw e;
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}
