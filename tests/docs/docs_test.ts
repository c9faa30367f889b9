/**
 * Checks that the documentation keeps up with the project: every user-facing
 * task of `deno.json` (all but `test`, `check` and `bench:*`) has its page
 * `docs/cli/<task>.md`, and every relative link in `README.md`,
 * `bench/RESULTS.md` and `docs/**.md` points to a file or folder that exists
 * (anchors are not checked). The same checks run on a small made-up tree, so
 * the test is known to fail when a page is missing or a link is dead.
 *
 * @module
 */
import { deepStrictEqual as assertEquals } from "node:assert/strict";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { tmpdir } from "node:os";
import { fileURLToPath } from "node:url";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..", "..");

/** Tasks a user runs (not the test, the check or a benchmark). */
function userTasks(dir: string): string[] {
  const config = JSON.parse(readFileSync(join(dir, "deno.json"), "utf8")) as { tasks?: Record<string, string> };
  return Object.keys(config.tasks ?? {}).filter((t) => t !== "test" && t !== "check" && !t.startsWith("bench:"));
}

/** User-facing tasks of `dir/deno.json` without `docs/cli/<task>.md` (`build:cuda` → `build-cuda.md`: no colons in file names, which Windows refuses). */
export function missingCliPages(dir: string): string[] {
  return userTasks(dir).filter((t) => !existsSync(join(dir, "docs", "cli", `${t.replaceAll(":", "-")}.md`)));
}

/** The Markdown files whose links are checked: README.md, bench/RESULTS.md and everything under docs/. */
function markdownFiles(dir: string): string[] {
  const files = ["README.md", join("bench", "RESULTS.md")].filter((f) => existsSync(join(dir, f)));
  const walk = (sub: string) => {
    if (!existsSync(join(dir, sub))) return;
    for (const e of readdirSync(join(dir, sub), { withFileTypes: true })) {
      const path = join(sub, e.name);
      if (e.isDirectory()) walk(path);
      else if (e.name.endsWith(".md")) files.push(path);
    }
  };
  walk("docs");
  return files;
}

/** Link targets of a Markdown text, code blocks and code spans left out. */
function linkTargets(markdown: string): string[] {
  const prose = markdown.replace(/^```[\s\S]*?^```/gm, "").replace(/`[^`\n]*`/g, "");
  const targets: string[] = [];
  for (const m of prose.matchAll(/\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)/g)) targets.push(m[1]);
  for (const m of prose.matchAll(/^\s*\[[^\]]+\]:\s*(\S+)/gm)) targets.push(m[1]); // reference definitions
  return targets;
}

/** `file: target` for every relative link under `dir` whose file does not exist. */
export function deadLinks(dir: string): string[] {
  const dead: string[] = [];
  for (const file of markdownFiles(dir)) {
    for (const target of linkTargets(readFileSync(join(dir, file), "utf8"))) {
      if (/^[a-z][a-z0-9+.-]*:/i.test(target) || target.startsWith("#")) continue; // URLs, mail, anchors
      const path = decodeURIComponent(target.split("#")[0].split("?")[0]);
      const to = path.startsWith("/") ? join(dir, path) : resolve(dir, dirname(file), path);
      if (!existsSync(to) || relative(dir, to).startsWith("..")) dead.push(`${file}: ${target}`);
    }
  }
  return dead;
}

Deno.test("every user-facing deno.json task has its page docs/cli/<task>.md", () => {
  assertEquals(missingCliPages(root), []);
});

Deno.test("every relative link in README.md, bench/RESULTS.md and docs/ points to a file that exists", () => {
  assertEquals(deadLinks(root), []);
});

Deno.test("the documentation checks report a missing page and a dead link", () => {
  const dir = mkdtempSync(join(tmpdir(), "docs_test_"));
  try {
    writeFileSync(
      join(dir, "deno.json"),
      JSON.stringify({ tasks: { test: "x", check: "x", "bench:a": "x", convert: "x", inspect: "x" } }),
    );
    mkdirSync(join(dir, "docs", "cli"), { recursive: true });
    writeFileSync(join(dir, "docs", "cli", "convert.md"), "[back](../../README.md#top) [gone](../formats/none.md)\n");
    writeFileSync(
      join(dir, "README.md"),
      "[page](docs/cli/convert.md) [web](https://example.org/x.md) [here](#verbs)\n" +
        "`[code](not/checked.md)`\n```\n[block](not/checked.md)\n```\n[missing](docs/cli/inspect.md)\n" +
        "[outside](../elsewhere.md)\n",
    );
    assertEquals(missingCliPages(dir), ["inspect"]);
    assertEquals(deadLinks(dir), [
      "README.md: docs/cli/inspect.md",
      "README.md: ../elsewhere.md",
      "docs/cli/convert.md: ../formats/none.md",
    ]);
  } finally {
    rmSync(dir, { recursive: true });
  }
});
