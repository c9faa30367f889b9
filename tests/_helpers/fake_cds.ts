/**
 * A loopback stand-in for the Climate Data Store's retrieve API, for the
 * `retrieve` tests: jobs posted to `/api/retrieve/v1/processes/DATASET/execution`
 * (key `good-key` in `PRIVATE-TOKEN`, else 401 with the CDS's problem JSON)
 * go accepted → running → successful over three polls; a request whose
 * variable list holds `unlicensed` is refused with 403 ("required licences
 * not accepted"), one holding `broken` fails with the CDS's error body.
 * The asset is the request's JSON padded to 200 000 bytes; its download
 * honours Range and, with `--drop-first`, the first download of each asset
 * is cut halfway. Run as its own process:
 *
 *   deno run --allow-net=127.0.0.1 --allow-write=LOG tests/_helpers/fake_cds.ts LOG [--drop-first]
 *
 * It prints `{"port": P}`, appends every request as a line to LOG, and stops
 * when its stdin closes (or after 120 s).
 *
 * @module
 */
import { serveUntilParentCloses } from "./loopback.ts";
const log = Deno.args[0];
const dropFirst = Deno.args.includes("--drop-first");
const jobs = new Map<string, { polls: number; request: Record<string, unknown>; dataset: string }>();
const downloads = new Map<string, number>();
const problem = (status: number, title: string, detail: string, traceback?: string) =>
  new Response(JSON.stringify({ type: "about:blank", title, status, detail, ...(traceback ? { traceback } : {}) }), {
    status,
    headers: { "content-type": "application/problem+json" },
  });

function asset(id: string): Uint8Array<ArrayBuffer> {
  const text = JSON.stringify(jobs.get(id)!.request);
  const bytes = new Uint8Array(200_000).fill(32);
  bytes.set(new TextEncoder().encode(text));
  return bytes;
}

const ac = new AbortController();
const server = Deno.serve({ hostname: "127.0.0.1", port: 0, signal: ac.signal, onListen: () => {} }, async (req) => {
  const url = new URL(req.url);
  Deno.writeTextFileSync(log, `${req.method} ${url.pathname} ${req.headers.get("range") ?? ""}\n`, { append: true });
  const base = `${url.origin}/api/retrieve/v1`;
  const dl = /^\/download\/(\w+)\.nc$/.exec(url.pathname);
  if (dl) {
    const bytes = asset(dl[1]);
    const n = (downloads.get(dl[1]) ?? 0) + 1;
    downloads.set(dl[1], n);
    const range = /^bytes=(\d+)-$/.exec(req.headers.get("range") ?? "");
    const from = range ? Number(range[1]) : 0;
    const body = bytes.subarray(from);
    if (dropFirst && n === 1) {
      const cut = Math.floor(body.length / 2);
      const stream = new ReadableStream<Uint8Array>({
        start(c) {
          c.enqueue(body.subarray(0, cut));
          setTimeout(() => c.error(new Error("dropped")), 20);
        },
      });
      return new Response(stream, { headers: { "content-length": String(body.length) } });
    }
    return new Response(body, {
      status: range ? 206 : 200,
      headers: {
        "content-length": String(body.length),
        ...(range ? { "content-range": `bytes ${from}-${bytes.length - 1}/${bytes.length}` } : {}),
      },
    });
  }
  if (req.headers.get("PRIVATE-TOKEN") !== "good-key") {
    return problem(401, "Authentication failed", "The provided authentication token is not valid.");
  }
  const exec = /^\/api\/retrieve\/v1\/processes\/([\w-]+)\/execution$/.exec(url.pathname);
  if (exec && req.method === "POST") {
    const { inputs } = await req.json();
    const variables = (inputs.variable ?? []) as string[];
    if (variables.includes("unlicensed")) {
      return problem(
        403,
        "required licences not accepted",
        "required licences not accepted; please accept the following licences to proceed: licence-to-use-copernicus-products",
      );
    }
    const id = crypto.randomUUID().replaceAll("-", "");
    jobs.set(id, { polls: 0, request: inputs, dataset: exec[1] });
    return Response.json({
      processID: exec[1],
      jobID: id,
      status: "accepted",
      links: [{ href: `${base}/jobs/${id}`, rel: "monitor" }],
    }, { status: 201 });
  }
  const job = /^\/api\/retrieve\/v1\/jobs\/(\w+)(\/results)?$/.exec(url.pathname);
  if (job && jobs.has(job[1])) {
    const j = jobs.get(job[1])!;
    const broken = ((j.request.variable ?? []) as string[]).includes("broken");
    if (job[2]) {
      if (broken) {
        return problem(400, "The job has failed", "MARS returned no data", "Traceback: mars - ERROR - no data");
      }
      const size = asset(job[1]).length;
      return Response.json({
        asset: {
          value: { type: "application/netcdf", href: `${url.origin}/download/${job[1]}.nc`, "file:size": size },
        },
      });
    }
    j.polls++;
    const status = j.polls === 1 ? "accepted" : j.polls === 2 ? "running" : broken ? "failed" : "successful";
    return Response.json({ jobID: job[1], status, processID: j.dataset });
  }
  return problem(404, "not found", url.pathname);
});
await serveUntilParentCloses(server, ac, 120_000);
