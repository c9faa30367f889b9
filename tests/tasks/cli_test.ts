/**
 * The command line as a new user meets it: `--help` of every task works
 * with exactly the permissions deno.json gives the task (commander's color
 * check must not need env access), and counts that make no sense (steps,
 * threads, members ≤ 0) are refused naming the option, before anything runs.
 *
 * @module
 */
import assert from "node:assert/strict";
import { ROOT, run, tempDir } from "../_helpers/common.ts";

/** The deno.json tasks that run a `tasks/` verb: name → [permission flags, script]. */
function verbs(): Map<string, { flags: string[]; script: string }> {
  const tasks = JSON.parse(Deno.readTextFileSync(`${ROOT}deno.json`)).tasks as Record<string, string>;
  const out = new Map<string, { flags: string[]; script: string }>();
  for (const [name, command] of Object.entries(tasks)) {
    const words = command.split(/\s+/);
    const script = words.find((w) => /^tasks\/[\w-]+\.ts$/.test(w));
    if (words[0] === "deno" && words[1] === "run" && script) {
      out.set(name, { flags: words.filter((w) => w.startsWith("--allow")), script });
    }
  }
  return out;
}

/** Run task `name` with exactly its deno.json permissions, stdin closed (a permission prompt would fail). */
async function task(name: string, args: string[]) {
  const v = verbs().get(name)!;
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", ...v.flags, `${ROOT}${v.script}`, ...args],
    cwd: ROOT,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

/** The subcommands a help text lists under "Commands:" (without `help`). */
function subcommands(help: string): string[] {
  const section = help.split(/^Commands:$/m)[1] ?? "";
  return [...section.matchAll(/^ {2}([a-z][\w-]*)/gm)].map((m) => m[1]).filter((c) => c !== "help");
}

Deno.test("every task's --help, and each of its subcommands', works with exactly the permissions deno.json gives it", async () => {
  const names = [...verbs().keys()];
  for (const user of ["inspect", "normalize", "train", "forecast", "convert", "demo"]) assert.ok(names.includes(user));
  for (const name of names) {
    const r = await task(name, ["--help"]);
    assert.equal(r.code, 0, `${name} --help: ${r.stderr}`);
    assert.match(r.stdout, /^Usage: /, name);
    assert.doesNotMatch(r.stderr, /Requires .* access/, name);
    for (const sub of subcommands(r.stdout)) {
      const s = await task(name, [sub, "--help"]);
      assert.equal(s.code, 0, `${name} ${sub} --help: ${s.stderr}`);
      assert.match(s.stdout, /^Usage: /, `${name} ${sub}`);
    }
  }
  assert.ok(
    subcommands((await task("convert", ["--help"])).stdout).includes("era5"),
    "convert's subcommands are found",
  );
});

Deno.test("train refuses --steps 0, --steps -5 and --threads 0 naming the option; forecast --steps 0 and --members 0 too", async () => {
  for (
    const [name, args, option] of [
      ["train", ["--config", "configs/tiny.json", "--steps", "0"], "--steps"],
      ["train", ["--config", "configs/tiny.json", "--steps", "-5"], "--steps"],
      ["train", ["--config", "configs/tiny.json", "--threads", "0"], "--threads"],
      ["forecast", ["--checkpoint", "x.ckpt", "--init", "2020-02-01T00", "--out", "o.zarr", "--steps", "0"], "--steps"],
      [
        "forecast",
        ["--checkpoint", "x.ckpt", "--init", "2020-02-01T00", "--out", "o.zarr", "--steps", "-2"],
        "--steps",
      ],
      [
        "forecast",
        ["--checkpoint", "x.ckpt", "--init", "2020-02-01T00", "--out", "o.zarr", "--steps", "1", "--members", "0"],
        "--members",
      ],
    ] as [string, string[], string][]
  ) {
    const cwd = await tempDir();
    const r = await run(Deno.execPath(), ["run", ...verbs().get(name)!.flags, `${ROOT}tasks/${name}.ts`, ...args], {
      cwd: args[1].startsWith("configs/") ? ROOT : cwd,
    });
    assert.notEqual(r.code, 0, `${name} ${args.join(" ")}`);
    assert.match(r.stderr, new RegExp(`error: ${option}: "-?\\d+" is not a whole number ≥ 1`), r.stderr);
    assert.doesNotMatch(r.stdout, /trained/);
  }
});
