/**
 * `deno task bench:sampler [--batches N] [--workers N]`: neighborhoods per second,
 * read amplification and peak RSS of this project's sampler vs an AtmoRep-style
 * Python loader (Debian zarr-python), same data (0.25°, 48 h, t and u on 5 levels
 * + t2m; generated), same batch shape (96 samples of 12×3×6 tokens of 3×18×18),
 * the baseline on AtmoRep's chunking, ours on this project's default chunking.
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
  options: { batches: { type: "string", default: "4" }, workers: { type: "string", default: "2" } },
});

async function sh(cmd: string, argv: string[]): Promise<string> {
  const out = await new Deno.Command(cmd, { args: argv, stdout: "piped", stderr: "piped" }).output();
  if (out.code !== 0) throw new Error(`${cmd} ${argv.join(" ")}: ${new TextDecoder().decode(out.stderr)}`);
  return new TextDecoder().decode(out.stdout);
}

const dir = join(here, "data", "sampler");
console.error("generating the stores (cached) …");
await sh(PYTHON, [join(here, "gen_sampler_stores.py"), dir]);
const measure = async (cmd: string[]) => {
  const lines = (await sh(PYTHON, [join(here, "peak_rss.py"), ...cmd.slice(0, 1), ...cmd.slice(1)])).trim().split("\n");
  return JSON.parse(lines.at(-1)!);
};
// peak_rss.py prints only its own line; the loaders print theirs to stdout, which peak_rss discards, so run twice:
// once for the figures, once for the memory.
const batches = args.batches, bs = "96";
console.error("AtmoRep-style loader …");
const base = JSON.parse(
  (await sh(PYTHON, [join(here, "atmorep_loader.py"), join(dir, "atmorep.zarr"), batches, bs])).trim(),
);
const baseRss = await measure([PYTHON, join(here, "atmorep_loader.py"), join(dir, "atmorep.zarr"), batches, bs]);
const deno = [Deno.execPath(), "run", "--allow-read", "--allow-write", "--allow-env", join(here, "sampler_ours.ts")];
const rows: string[] = [];
const result: Record<string, { sps: number; amp: number; rss: number }> = {};
for (const mode of ["own windows", "shared window"]) {
  console.error(`ours (${mode}) …`);
  const argv = [
    ...deno,
    join(dir, "ours.zarr"),
    batches,
    bs,
    args.workers,
    mode === "shared window" ? "shared" : "own",
  ];
  const r = JSON.parse((await sh(argv[0], argv.slice(1))).trim().split("\n").at(-1)!);
  const rss = await measure(argv);
  result[mode] = { sps: r.samples_per_second, amp: r.bytes_decoded / r.bytes_delivered, rss: rss.peak_rss_mb };
}
rows.push("loader                         samples/s  read amplification  peak RSS");
rows.push(
  `AtmoRep-style (1 process)   ${base.samples_per_second.toFixed(1).padStart(10)} ${
    (base.bytes_decoded / base.bytes_delivered).toFixed(2).padStart(20)
  } ${baseRss.peak_rss_mb.toFixed(0).padStart(7)} MB`,
);
for (const [mode, r] of Object.entries(result)) {
  rows.push(
    `ours, ${mode.padEnd(14)} (${args.workers} w) ${r.sps.toFixed(1).padStart(8)} ${r.amp.toFixed(2).padStart(20)} ${
      r.rss.toFixed(0).padStart(7)
    } MB   ratio ${(r.sps / base.samples_per_second).toFixed(2)}×`,
  );
}
console.log(
  `batch 96 × (2 fields × 5 levels + 1 surface field), tokens 12×3×6 of 3×18×18, ${batches} batches\n` +
    rows.join("\n"),
);
