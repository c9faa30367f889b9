/**
 * `deno task bench:sampler [--batches N] [--workers N]`: neighborhoods per second,
 * read amplification and peak RSS of this project's sampler vs an AtmoRep-style
 * Python loader (Debian zarr-python), same data (0.25°, 48 h, t and u on 5 levels
 * + t2m; generated), same batch shape (96 samples of 12×3×6 tokens of 3×18×18),
 * the baseline on AtmoRep's chunking, ours on this project's default chunking
 * (zarr v2) and on the sharded layout of `convert era5 --shard` (zarr v3),
 * each with per-sample and per-batch time windows.
 *
 * @module
 */
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";

const here = fileURLToPath(new URL(".", import.meta.url));
const PYTHON = "/usr/bin/python3";
const { values: args } = parseArgs({
  args: Deno.args,
  options: { batches: { type: "string", default: "6" }, workers: { type: "string", default: "2" } },
});

async function sh(cmd: string, argv: string[]): Promise<string> {
  const out = await new Deno.Command(cmd, { args: argv, stdout: "piped", stderr: "piped" }).output();
  if (out.code !== 0) throw new Error(`${cmd} ${argv.join(" ")}: ${new TextDecoder().decode(out.stderr)}`);
  return new TextDecoder().decode(out.stdout);
}

const dir = join(here, "..", "data", "sampler");
console.error("generating the stores (cached) …");
await sh(PYTHON, [join(here, "..", "inputs", "gen_sampler_stores.py"), dir]);
await sh(Deno.execPath(), [
  "run",
  "--allow-read",
  "--allow-write",
  "--allow-ffi",
  join(here, "..", "inputs", "gen_sharded.ts"),
  join(dir, "ours.zarr"),
  join(dir, "ours_sharded.zarr"),
]);
/** Run under peak_rss.py: the command's own JSON line, then peak RSS. */
const measure = async (cmd: string[]) => {
  const lines = (await sh(PYTHON, [join(here, "..", "tools", "peak_rss.py"), ...cmd])).trim().split("\n");
  return { ...JSON.parse(lines.at(-2)!), peak_rss_mb: JSON.parse(lines.at(-1)!).peak_rss_mb };
};
const batches = args.batches, bs = "96";
console.error("AtmoRep-style loader …");
const base = await measure([
  PYTHON,
  join(here, "..", "peers", "atmorep_loader.py"),
  join(dir, "atmorep.zarr"),
  batches,
  bs,
]);
const deno = [
  Deno.execPath(),
  "run",
  "--allow-read",
  "--allow-write",
  "--allow-env",
  "--allow-ffi",
  join(here, "sampler_ours.ts"),
];
const rows: string[] = [];
const fmt = (
  name: string,
  r: { samples_per_second: number; bytes_decoded: number; bytes_delivered: number; peak_rss_mb: number },
) =>
  `${name.padEnd(56)} ${r.samples_per_second.toFixed(1).padStart(9)} ${
    (r.bytes_decoded / r.bytes_delivered).toFixed(2).padStart(14)
  } ${r.peak_rss_mb.toFixed(0).padStart(8)} MB   ${(r.samples_per_second / base.samples_per_second).toFixed(2)}×`;
rows.push(
  `${"loader".padEnd(56)} ${"samples/s".padStart(9)} ${"amplification".padStart(14)} ${
    "peak RSS".padStart(11)
  }   ratio`,
);
rows.push(fmt("AtmoRep-style, 1 process, 8 h whole-globe chunks", base));
for (
  const [store, layout] of [
    ["ours.zarr", "v2 default chunks 6×91×180"],
    ["ours_sharded.zarr", "v3 --shard, inner chunks 6×18×36"],
  ]
) {
  for (const mode of ["own", "shared"]) {
    console.error(`ours (${layout}, ${mode} windows) …`);
    const r = await measure([...deno, join(dir, store), batches, bs, args.workers, mode]);
    rows.push(fmt(`ours, ${layout}, ${mode} windows`, r));
  }
}
console.log(
  `batch 96 × (2 fields × 5 levels + 1 surface field), tokens 12×3×6 of 3×18×18, ${batches} batches, ` +
    `ours with ${args.workers} workers\n` + rows.join("\n"),
);
