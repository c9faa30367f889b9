/**
 * `deno task bench:train [--rounds N] [--steps N] [--configs tiny,medium]`:
 * this project's Multiformer training step against a PyTorch reference of
 * the same model (bench/peers/train_torch.py, Debian python3-torch, CPU), same
 * shapes and parameter count (printed by both), at 1 and 2 threads, in
 * interleaved rounds: seconds per step (min / median / max), tokens per
 * second, peak RSS, and the ratio of medians (ours / PyTorch).
 *
 * With `--atmorep SNAPSHOT` (an extracted clessig/atmorep), both sides run
 * AtmoRep's exact network: ours with `ATMOREP_NETWORK`, the PyTorch side
 * AtmoRep's own classes imported from the snapshot (bench/peers/train_atmorep.py)
 * on AtmoRep's config of the same network (`atmorepJson`).
 *
 * @module
 */
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { ATMOREP_NETWORK } from "../../models/config.ts";
import { type AtmorepFieldSpec, atmorepJson } from "../../models/atmorep_import.ts";
import type { TrainConfig } from "../../training/config.ts";
import { type BenchConfig, MEDIUM, trainSpec } from "../inputs/train_configs.ts";

const here = fileURLToPath(new URL(".", import.meta.url));
const PYTHON = "/usr/bin/python3";
const { values: args } = parseArgs({
  args: Deno.args,
  options: {
    rounds: { type: "string", default: "2" },
    steps: { type: "string", default: "5" },
    configs: { type: "string", default: "tiny,medium" },
    threads: { type: "string", default: "1,2" },
    atmorep: { type: "string" },
  },
});

const tiny = JSON.parse(Deno.readTextFileSync(join(here, "..", "..", "configs", "tiny.json"))) as TrainConfig;
const CONFIGS: Record<string, BenchConfig> = {
  tiny: { sampler: tiny.sampler.datasets.flatMap((d) => d.fields), model: tiny.model, batch: tiny.sampler.batchSize },
  medium: MEDIUM,
};

/** Run under bench/tools/peak_rss.py: the command's JSON line plus its peak RSS. */
async function sh(cmd: string, argv: string[]): Promise<Record<string, unknown>> {
  const out = await new Deno.Command(PYTHON, {
    args: [join(here, "..", "tools", "peak_rss.py"), cmd, ...argv],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(out.stdout);
  if (out.code !== 0) throw new Error(`${cmd} ${argv.join(" ")}: ${new TextDecoder().decode(out.stderr)}`);
  const lines = text.trim().split("\n");
  const rss = JSON.parse(lines.at(-1)!);
  if (rss.code !== 0) throw new Error(`${cmd} ${argv.join(" ")} exited with ${rss.code}`);
  return { ...JSON.parse(lines.at(-2)!), peakRss: rss.peak_rss_mb * 2 ** 20 };
}

const tmp = await Deno.makeTempDir({ prefix: "bench-train-" });
const steps = Number(args.steps), rounds = Number(args.rounds);
const threadList = args.threads.split(",").map(Number);
type Run = { times: number[]; peakRss: number; parameters: number };
const results = new Map<string, Run[]>();
const tokensPerStep = new Map<string, number>();
for (let round = 1; round <= rounds; round++) {
  for (const name of args.configs.split(",")) {
    const c0 = CONFIGS[name];
    const c = args.atmorep ? { ...c0, model: { ...c0.model, network: { ...ATMOREP_NETWORK } } } : c0;
    const atmorep = args.atmorep
      ? atmorepJson(c.model, c.sampler as AtmorepFieldSpec[], { wandb_id: `bench_${name}` }).raw
      : undefined;
    tokensPerStep.set(name, trainSpec(c, { warmup: 2, steps, threads: 1 }).tokensPerStep);
    for (const threads of threadList) {
      const spec = { ...trainSpec(c, { warmup: 2, steps, threads }), atmorep };
      const path = join(tmp, `${name}-${threads}.json`);
      await Deno.writeTextFile(path, JSON.stringify(spec));
      const ours = await sh(Deno.execPath(), [
        "run",
        "--allow-read",
        "--allow-ffi",
        join(here, "train_ours.ts"),
        path,
      ]) as Run & { kernel: string; phases: Record<string, number> };
      const torch = await sh(
        PYTHON,
        args.atmorep
          ? [join(here, "..", "peers", "train_atmorep.py"), args.atmorep, path]
          : [join(here, "..", "peers", "train_torch.py"), path],
      ) as Run;
      if (ours.parameters !== torch.parameters) {
        throw new Error(`${name}: parameter counts differ: ours ${ours.parameters}, PyTorch ${torch.parameters}`);
      }
      const ph = Object.entries(ours.phases).map(([k, v]) => `${k} ${(v as number).toFixed(3)}`).join(", ");
      console.error(
        `round ${round} ${name} ${threads} thr: ${ours.parameters} parameters (both); ours ${ours.kernel}: ${ph} s`,
      );
      for (const [who, r] of [["ours", ours], ["pytorch", torch]] as const) {
        const key = `${name}|${threads}|${who}`;
        results.set(key, [...(results.get(key) ?? []), r]);
      }
    }
  }
}
await Deno.remove(tmp, { recursive: true });

const med = (a: number[]) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)];
const f3 = (x: number) => x.toFixed(3);
console.log(`machine: ${navigator.hardwareConcurrency} cores (shared with other work: compare ratios within a round)`);
console.log(
  args.atmorep
    ? `network: AtmoRep's exact network; PyTorch side: AtmoRep's own classes from ${args.atmorep}`
    : "network: this project's; PyTorch side: bench/peers/train_torch.py (written from our TypeScript)",
);
console.log(
  "config  | thr | framework | params    | s/step min / med / max (per round)        | tokens/s | peak RSS | ratio",
);
for (const name of args.configs.split(",")) {
  for (const threads of threadList) {
    const ours = results.get(`${name}|${threads}|ours`)!, torch = results.get(`${name}|${threads}|pytorch`)!;
    for (const [who, runs] of [["ours", ours], ["pytorch", torch]] as const) {
      const perRound = runs.map((r) => `${f3(Math.min(...r.times))}/${f3(med(r.times))}/${f3(Math.max(...r.times))}`);
      const m = med(runs.map((r) => med(r.times)));
      const ratios = ours.map((r, i) => med(r.times) / med(torch[i].times));
      console.log(
        `${name.padEnd(7)} | ${threads}   | ${who.padEnd(9)} | ${String(runs[0].parameters).padEnd(9)} | ${
          perRound.join("  ").padEnd(41)
        } | ${(tokensPerStep.get(name)! / m).toFixed(0).padStart(8)} | ${
          (Math.max(...runs.map((r) => r.peakRss)) / 2 ** 20).toFixed(0).padStart(5)
        } MiB | ${who === "ours" ? ratios.map((x) => x.toFixed(2)).join(", ") : ""}`,
      );
    }
  }
}
