/**
 * `deno task bench:convert --remote [--times N] [--latency-ms 20] [--mbps 0,20] [--rounds 2]
 *  [--connections 1,2,4,8,16] [--keep]`
 *
 * A cloud zarr store → our store, over HTTP: an ARCO-ERA5-like store
 * (bench/inputs/gen_remote_store.py: zarr v2, Blosc-LZ4 + shuffle, one time
 * step with all levels per chunk, 0.25° global; `temperature` on 4 levels
 * and `2m_temperature`, N hourly steps) served by the loopback server
 * (tests/_helpers/remote_server.ts) with a per-request latency and a
 * per-connection bandwidth cap, converted by `convert era5 URL` and by
 * xarray + zarr-python (`xr.open_zarr(url)[…].to_zarr(…)` with dask, the
 * same codec and chunks: bench/peers/xarray_remote.py). Rounds alternate
 * and so does which runs first; wall times include process start-up.
 * Prints MB/s (decoded bytes / wall time) per setting, the ratio of the
 * medians, and how ours scales with the requests in flight per worker
 * (ATMOREP_HTTP_CONNECTIONS). The server shares the machine's cores with
 * both.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { fileURLToPath } from "node:url";
import { join } from "node:path";
import { type LoopbackServer, startLoopbackServer } from "../../tests/_helpers/loopback.ts";

const PYTHON = "/usr/bin/python3";
const root = fileURLToPath(new URL("../../", import.meta.url));

/** Run the remote benchmark with `argv` (the arguments after `--remote`). */
export async function main(argv: string[]): Promise<void> {
  const { values: a } = parseArgs({
    args: argv,
    options: {
      times: { type: "string", default: "12" },
      "latency-ms": { type: "string", default: "20" },
      mbps: { type: "string", default: "0,20" },
      rounds: { type: "string", default: "2" },
      connections: { type: "string", default: "1,2,4,8,16" },
      keep: { type: "boolean", default: false },
    },
  });
  const nt = Number(a.times), latency = Number(a["latency-ms"]), rounds = Math.max(1, Number(a.rounds));
  const data = join(root, "bench", "data");
  const storeName = `remote_arco_${nt}t.zarr`;
  const store = join(data, storeName);
  Deno.mkdirSync(data, { recursive: true });
  try {
    Deno.statSync(store);
  } catch {
    console.error(`generating ${storeName} (${nt} hourly steps, 0.25°) …`);
    await sh(PYTHON, [join(root, "bench/inputs/gen_remote_store.py"), store, String(nt)]);
  }
  const rawMB = nt * 5 * 721 * 1440 * 4 / 1e6;
  const work = await Deno.makeTempDir({ prefix: "bench-remote-" });
  console.log(
    `# remote conversion: ${storeName}, ${rawMB.toFixed(0)} MB decoded, latency ${latency} ms, ${rounds} rounds`,
  );
  try {
    for (const mbps of a.mbps.split(",").map(Number)) {
      const server = await serve(data, latency, mbps);
      const url = `http://127.0.0.1:${server.port}/${storeName}`;
      const host = `127.0.0.1:${server.port}`;
      try {
        const ours: number[] = [], xr: number[] = [];
        for (let r = 0; r < rounds; r++) {
          const order = r % 2 === 0 ? ["ours", "xarray"] : ["xarray", "ours"];
          for (const who of order) {
            const out = join(work, `${who}.zarr`);
            await Deno.remove(out, { recursive: true }).catch(() => {});
            await Deno.remove(out.replace(".zarr", ".norm.zarr"), { recursive: true }).catch(() => {});
            const s = who === "ours" ? await runOurs(url, host, out, {}) : await runXarray(url, out);
            (who === "ours" ? ours : xr).push(s);
          }
        }
        const cap = mbps > 0 ? `${mbps} MB/s per connection` : "no bandwidth cap";
        const mo = median(ours), mx = median(xr);
        console.log(
          `${cap}: ours ${fmt(rawMB, ours)} MB/s, xarray ${fmt(rawMB, xr)} MB/s (min/median/max); ` +
            `ratio of medians ${(mx / mo).toFixed(2)}×`,
        );
        const scaling: string[] = [];
        for (const c of a.connections.split(",").map(Number)) {
          const out = join(work, `conn${c}.zarr`);
          const s = await runOurs(url, host, out, { ATMOREP_HTTP_CONNECTIONS: String(c) });
          scaling.push(`${c}: ${(rawMB / s).toFixed(0)}`);
          await Deno.remove(out, { recursive: true }).catch(() => {});
          await Deno.remove(out.replace(".zarr", ".norm.zarr"), { recursive: true }).catch(() => {});
        }
        console.log(`  ours by requests in flight per worker (MB/s): ${scaling.join(", ")}`);
      } finally {
        await server.close();
      }
    }
  } finally {
    if (!a.keep) await Deno.remove(work, { recursive: true });
  }
}

function median(v: number[]): number {
  const s = [...v].sort((x, y) => x - y);
  return s[Math.floor(s.length / 2)];
}

function fmt(mb: number, seconds: number[]): string {
  const rates = seconds.map((s) => mb / s).sort((x, y) => x - y);
  return `${rates[0].toFixed(0)}/${median(rates).toFixed(0)}/${rates.at(-1)!.toFixed(0)}`;
}

async function sh(cmd: string, argv: string[], env: Record<string, string> = {}): Promise<void> {
  const out = await new Deno.Command(cmd, { args: argv, env, stdout: "piped", stderr: "piped" }).output();
  if (out.code !== 0) {
    throw new Error(`${cmd} ${argv.join(" ")} failed (${out.code})\n${new TextDecoder().decode(out.stderr)}`);
  }
}

async function timed(f: () => Promise<void>): Promise<number> {
  const t = performance.now();
  await f();
  return (performance.now() - t) / 1000;
}

function runOurs(url: string, host: string, out: string, env: Record<string, string>): Promise<number> {
  return timed(() =>
    sh(Deno.execPath(), [
      "run",
      "--allow-read",
      "--allow-write",
      "--allow-env",
      "--allow-ffi",
      `--allow-net=${host}`,
      join(root, "tasks/convert.ts"),
      "era5",
      url,
      "--fields",
      "t,t2m",
      "--out",
      out,
      "-q",
    ], env)
  );
}

function runXarray(url: string, out: string): Promise<number> {
  // Our codec (byte shuffle + zstd 1) and chunks (6 steps × 91 × 180).
  return timed(() => sh(PYTHON, [join(root, "bench/peers/xarray_remote.py"), url, out, "1", "6", "91", "180"]));
}

function serve(dir: string, latency: number, mbps: number): Promise<LoopbackServer> {
  return startLoopbackServer([
    "--allow-net=127.0.0.1",
    `--allow-read=${dir}`,
    join(root, "tests/_helpers/remote_server.ts"),
    dir,
    "--latency-ms",
    String(latency),
    "--mbps",
    String(mbps),
    "--lifetime-s",
    "1800",
  ]);
}
