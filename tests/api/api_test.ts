/**
 * The public surface and the import graph: each entry point deno.json
 * exports (mod.ts, model.ts, forecast.ts) exports exactly the names in its
 * snapshot under tests/api/, and no module imports a folder above its own
 * layer.
 *
 * @module
 */
import assert from "node:assert/strict";
import { join, relative } from "node:path";
import { ROOT } from "../_helpers/common.ts";

/** The entry points deno.json exports, and the snapshot of each one's public API. */
const ENTRIES: Record<string, { file: string; snapshot: string }> = {
  ".": { file: "mod.ts", snapshot: "mod.txt" },
  "./model": { file: "model.ts", snapshot: "model.txt" },
  "./forecast": { file: "forecast.ts", snapshot: "forecast.txt" },
};

/** Type names a module's text exports: `export type { … }`, `type X` inside `export { … }`, declared types. */
function typeNames(text: string): string[] {
  const listed = [...text.matchAll(/export type \{([^}]*)\}/g)].flatMap((m) => m[1].split(","));
  const inline = [...text.matchAll(/export \{([^}]*)\}/g)].flatMap((m) =>
    m[1].split(",").filter((s) => /^\s*type\s/.test(s)).map((s) => s.replace(/^\s*type\s+/, ""))
  );
  const declared = [...text.matchAll(/^export (?:interface|type) (\w+)/gm)].map((m) => m[1]);
  return [...listed, ...inline, ...declared].map((s) => s.trim().split(/\s+as\s+/).at(-1)!).filter(Boolean);
}

/**
 * Every name an entry file exports, values and types, sorted; a namespace
 * (`export * as ns from "…"`) is listed as `ns.` + each name of its module.
 */
async function exportedNames(file: string): Promise<string[]> {
  const path = join(ROOT, file);
  const mod: Record<string, unknown> = await import(path);
  const text = Deno.readTextFileSync(path);
  const names = new Set(typeNames(text));
  const namespaces = new Map(
    [...text.matchAll(/export \* as (\w+) from "([^"]+)"/g)].map((m) => [m[1], join(path, "..", m[2])]),
  );
  for (const [key, value] of Object.entries(mod)) {
    const target = namespaces.get(key);
    if (!target) {
      names.add(key);
      continue;
    }
    for (const member of Object.keys(value as object)) names.add(`${key}.${member}`);
    for (const t of typeNames(Deno.readTextFileSync(target))) names.add(`${key}.${t}`);
  }
  return [...names].sort();
}

for (const [entry, { file, snapshot }] of Object.entries(ENTRIES)) {
  Deno.test(`${file} (entry "${entry}") exports exactly the public API in tests/api/${snapshot} (UPDATE_API_SNAPSHOT=1 rewrites it when the API changes on purpose)`, async () => {
    const path = join(ROOT, "tests", "api", snapshot);
    const names = await exportedNames(file);
    if (Deno.env.get("UPDATE_API_SNAPSHOT")) Deno.writeTextFileSync(path, names.join("\n") + "\n");
    const want = Deno.readTextFileSync(path).trim().split("\n");
    assert.deepEqual(names, want);
  });
}

Deno.test("deno.json exports the three entry points", () => {
  const config = JSON.parse(Deno.readTextFileSync(join(ROOT, "deno.json")));
  assert.deepEqual(
    config.exports,
    Object.fromEntries(Object.entries(ENTRIES).map(([entry, { file }]) => [entry, `./${file}`])),
  );
});

/**
 * Layers, lowest first: a module may import its own folder and lower
 * layers only. Converters sit beside the reading path (they may use zarr,
 * normalization and geometry), tasks on top of everything.
 */
const ALLOWED: Record<string, string[]> = {
  ".": [],
  geometry: ["."],
  native: ["."],
  simd: [".", "native"],
  zarr: [".", "native", "simd"],
  datasets: [".", "zarr"],
  normalization: [".", "native", "simd", "zarr", "datasets"],
  tokenizers: [".", "zarr", "datasets", "normalization", "geometry"],
  samplers: [".", "zarr", "datasets", "normalization", "tokenizers", "geometry"],
  models: [".", "zarr", "datasets", "normalization", "tokenizers", "samplers", "ops"],
  ops: [".", "native", "simd"],
  // Forecast is inference only: it loads checkpoints (models/checkpoint.ts) but never imports training.
  forecast: [".", "zarr", "datasets", "normalization", "tokenizers", "samplers", "models", "ops", "cli"],
  training: [".", "zarr", "datasets", "normalization", "tokenizers", "samplers", "models", "ops", "forecast", "cli"],
  cli: ["."],
  converters: [".", "native", "simd", "zarr", "normalization", "geometry", "cli"],
  stores: [".", "zarr", "normalization", "converters"],
  // The testbed generates data and writes it through the converter, like an input would arrive.
  testbed: [".", "converters"],
};

function sources(dir: string, out: string[] = []): string[] {
  for (const e of Deno.readDirSync(dir)) {
    const p = join(dir, e.name);
    if (e.isDirectory && !["node_modules", "tests", "bench", "tasks", "samples", ".git"].includes(e.name)) {
      sources(p, out);
    } else if (e.isFile && e.name.endsWith(".ts")) out.push(p);
  }
  return out;
}

function layerOf(file: string): string {
  const rel = relative(ROOT, file);
  return rel.includes("/") ? rel.split("/")[0] : ".";
}

Deno.test("layering: lower layers never import higher ones (zarr ← datasets ← normalization ← tokenizers ← samplers ← models)", () => {
  const violations: string[] = [];
  for (const file of sources(ROOT)) {
    const from = layerOf(file);
    if (from === "." && Object.values(ENTRIES).some((e) => e.file === relative(ROOT, file))) continue;
    const allowed = ALLOWED[from];
    if (!allowed) {
      violations.push(`${relative(ROOT, file)}: folder "${from}" has no place in the layering (add it to ALLOWED)`);
      continue;
    }
    const text = Deno.readTextFileSync(file);
    for (
      const m of text.matchAll(
        /(?:import|export)[^"';]*?from\s+"(\.{1,2}\/[^"]+)"|import\s*\(\s*"(\.{1,2}\/[^"]+)"\s*\)/g,
      )
    ) {
      const target = join(file, "..", m[1] ?? m[2]);
      const to = layerOf(target);
      if (to !== from && !allowed.includes(to)) {
        violations.push(`${relative(ROOT, file)} imports ${relative(ROOT, target)}`);
      }
    }
  }
  assert.deepEqual(violations, []);
});
