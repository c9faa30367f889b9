/**
 * `deno task bench:located [--workers N] [--rounds N] [INPUT...]`
 *
 * CPU seconds of a conversion part (`--part 1/1`, N worker threads) on
 * netCDF4 inputs with located reads (workers read values at the places the
 * scan found, with the own chunk reader alone) vs the same part from a
 * build without locations (each worker opens its files through h5wasm for
 * the metadata, as before located reads). Both parts run from the same
 * init, in fresh processes, rounds interleaved (the machine may be shared);
 * prints min/median/max CPU and wall seconds, the ratio of the medians and
 * the CPU saved per worker. Default input: the bundled netCDF4 sample.
 *
 * @module
 */
import { parseArgs } from "node:util";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { join } from "node:path";

const root = fileURLToPath(new URL("../../", import.meta.url));

if (Deno.args[0] === "--child") {
  // One part in this process: CPU of every thread (main + workers) around it.
  const { runConversionPart } = await import("../../converters/era5/convert.ts");
  const t0 = process.cpuUsage(), w0 = performance.now();
  await runConversionPart(Deno.args[1], 1, 1, { workers: Number(Deno.args[2]) });
  const t = process.cpuUsage(t0);
  console.log(JSON.stringify({ cpu: (t.user + t.system) / 1e6, wall: (performance.now() - w0) / 1000 }));
  Deno.exit(0);
}

const { values: args, positionals } = parseArgs({
  args: Deno.args,
  options: { workers: { type: "string", default: "2" }, rounds: { type: "string", default: "5" } },
  allowPositionals: true,
});
const workers = Number(args.workers), rounds = Math.max(1, Number(args.rounds));
const inputs = positionals.length ? positionals : [join(root, "samples/era5/new")];

async function deno(argv: string[]): Promise<string> {
  const out = await new Deno.Command(Deno.execPath(), { args: argv, stdout: "piped", stderr: "piped" }).output();
  const dec = new TextDecoder();
  if (out.code !== 0) throw new Error(`deno ${argv.join(" ")} failed:\n${dec.decode(out.stderr)}`);
  return dec.decode(out.stdout);
}

const PERMS = ["--allow-read", "--allow-write", "--allow-env", "--allow-ffi", `--config=${join(root, "deno.json")}`];
const dir = await Deno.makeTempDir({ prefix: "bench-located-" });
const outs = { located: join(dir, "located.zarr"), h5wasm: join(dir, "h5wasm.zarr") };
for (const out of Object.values(outs)) {
  await deno(["run", ...PERMS, join(root, "tasks/convert.ts"), "era5", "-q", "--init", "--out", out, ...inputs]);
}
// The peer: the same build without locations, as init wrote it before located reads.
const buildOf = (out: string) => join(`${out}.partial`, ".build");
const peer = JSON.parse(Deno.readTextFileSync(join(buildOf(outs.h5wasm), "build.json")));
let located = 0;
for (const t of peer.tasks) for (const r of t.runs) located += r.located ? (delete r.located, 1) : 0;
Deno.writeTextFileSync(join(buildOf(outs.h5wasm), "build.json"), JSON.stringify(peer));
console.log(`${peer.tasks.length} tasks, ${located} located runs, ${workers} worker(s), ${rounds} rounds`);
if (located === 0) throw new Error("nothing located: are the inputs netCDF4?");

const seconds: Record<string, { cpu: number[]; wall: number[] }> = {
  located: { cpu: [], wall: [] },
  h5wasm: { cpu: [], wall: [] },
};
for (let round = 0; round < rounds; round++) {
  for (const [name, out] of Object.entries(outs)) {
    // Forget finished tasks so that the part runs all of them again.
    for (const sub of ["done", "stats"]) {
      Deno.removeSync(join(buildOf(out), sub), { recursive: true });
      Deno.mkdirSync(join(buildOf(out), sub));
    }
    const text = await deno(["run", ...PERMS, import.meta.filename!, "--child", out, String(workers)]);
    const r = JSON.parse(text.trim().split("\n").at(-1)!);
    seconds[name].cpu.push(r.cpu);
    seconds[name].wall.push(r.wall);
  }
}
Deno.removeSync(dir, { recursive: true });

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1];
const fmt = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return `${s[0].toFixed(3)} / ${median(s).toFixed(3)} / ${s.at(-1)!.toFixed(3)}`;
};
console.log("part CPU s and wall s, min / median / max:");
for (const [name, s] of Object.entries(seconds)) {
  const label = name === "located" ? "located reads (own reader only)" : "no locations (h5wasm metadata) ";
  console.log(`  ${label}  cpu ${fmt(s.cpu)}   wall ${fmt(s.wall)}`);
}
const [a, b] = [median(seconds.located.cpu), median(seconds.h5wasm.cpu)];
console.log(
  `CPU ratio located/h5wasm (medians): ${(a / b).toFixed(3)}; saved ${(b - a).toFixed(3)} s, ` +
    `${((b - a) / Math.max(1, workers)).toFixed(3)} s per worker`,
);
console.log(
  `wall ratio (medians): ${(median(seconds.located.wall) / median(seconds.h5wasm.wall)).toFixed(3)}`,
);
