/**
 * A loopback HTTP server for the cloud-store tests and the remote
 * benchmark: serves a directory (GET only, 127.0.0.1 only) like a public
 * bucket, with a per-request latency, a per-response bandwidth cap and
 * injected faults. Run as its own process:
 *
 *   deno run --allow-net=127.0.0.1 --allow-read=DIR tests/_helpers/remote_server.ts DIR \
 *     [--latency-ms N] [--mbps N] [--faults JSON] [--lifetime-s N] [--log FILE] [--port P]
 *
 * It prints `{"port": P}` once listening and stops when its stdin closes or
 * after `--lifetime-s` (default 300). The number of requests per path so
 * far (HEADs as `HEAD PATH`) is in `GET /__requests` and, with `--log`, rewritten into FILE after
 * each request. Faults: a JSON list of
 * `{"path": REGEX, "kind": "status"|"drop"|"truncate", "status"?: N, "times"?: N}`,
 * applied to the first `times` requests whose path matches (all when
 * absent): `status` answers with that status, `drop` sends half the body
 * and cuts the connection, `truncate` sends a shorter body with a matching
 * Content-Length (a cut object in the bucket).
 *
 * @module
 */
import { join, normalize } from "node:path";
import { serveUntilParentCloses } from "./loopback.ts";

interface Fault {
  path: string;
  kind: "status" | "drop" | "truncate";
  status?: number;
  times?: number;
}

function arg(name: string): string | undefined {
  const i = Deno.args.indexOf(name);
  return i >= 0 ? Deno.args[i + 1] : undefined;
}

const root = Deno.args[0];
const latencyMs = Number(arg("--latency-ms") ?? 0);
const mbps = Number(arg("--mbps") ?? 0);
const lifetime = Number(arg("--lifetime-s") ?? 300);
const faults = (JSON.parse(arg("--faults") ?? "[]") as Fault[]).map((f) => ({
  ...f,
  re: new RegExp(f.path),
  left: f.times ?? Infinity,
}));
const log = arg("--log");
const requests: Record<string, number> = {};
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A body sent in 64 KiB pieces at `mbps` (MB/s), optionally cut after `cut` bytes with an error. */
function paced(bytes: Uint8Array<ArrayBuffer>, cut?: number): ReadableStream<Uint8Array> {
  const piece = 65536;
  let at = 0;
  return new ReadableStream({
    async pull(c) {
      if (cut !== undefined && at >= cut) {
        c.error(new Error("connection dropped (injected)"));
        return;
      }
      const end = Math.min(bytes.length, at + piece, cut ?? Infinity);
      if (mbps > 0) await sleep(((end - at) / (mbps * 1e6)) * 1000);
      c.enqueue(bytes.subarray(at, end));
      at = end;
      if (at >= bytes.length) c.close();
    },
  });
}

const ac = new AbortController();
const server = Deno.serve({
  hostname: "127.0.0.1",
  port: Number(arg("--port") ?? 0),
  signal: ac.signal,
  onListen: () => {},
}, async (req) => {
  const path = decodeURIComponent(new URL(req.url).pathname);
  if (path === "/__requests") return Response.json(requests);
  const counted = req.method === "GET" ? path : `${req.method} ${path}`;
  requests[counted] = (requests[counted] ?? 0) + 1;
  if (log) Deno.writeTextFileSync(log, JSON.stringify(requests));
  if (latencyMs > 0) await sleep(latencyMs);
  if (req.method !== "GET" && req.method !== "HEAD") return new Response("method not allowed", { status: 405 });
  const fault = faults.find((f) => f.left > 0 && f.re.test(path));
  if (fault) fault.left--;
  if (fault?.kind === "status") {
    return new Response(`<Error><Code>Injected</Code><Message>status ${fault.status}</Message></Error>`, {
      status: fault.status ?? 503,
      headers: fault.status === 429 ? { "retry-after": "0" } : {},
    });
  }
  const file = normalize(join(root, path));
  if (!file.startsWith(normalize(root))) return new Response("forbidden", { status: 403 });
  let bytes: Uint8Array<ArrayBuffer>;
  try {
    if (!(await Deno.stat(file)).isFile) throw new Deno.errors.NotFound();
    bytes = await Deno.readFile(file);
  } catch {
    return new Response("<Error><Code>NoSuchKey</Code></Error>", { status: 404 });
  }
  if (fault?.kind === "truncate") bytes = bytes.subarray(0, Math.floor(bytes.length / 2));
  const headers = { "content-length": String(bytes.length), "content-type": "application/octet-stream" };
  if (req.method === "HEAD") return new Response(null, { headers });
  if (fault?.kind === "drop") return new Response(paced(bytes, Math.floor(bytes.length / 2)), { headers });
  return new Response(mbps > 0 ? paced(bytes) : bytes, { headers });
});
await serveUntilParentCloses(server, ac, lifetime * 1000);
