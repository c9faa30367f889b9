import assert from "node:assert/strict";
import { join, relative } from "node:path";
import { ROOT } from "./_helpers.ts";

/** Every name mod.ts exports, values and types, sorted. */
async function exportedNames(): Promise<string[]> {
  const values = Object.keys(await import("../mod.ts"));
  const text = Deno.readTextFileSync(join(ROOT, "mod.ts"));
  const types = [...text.matchAll(/export type \{([^}]*)\}/g)].flatMap((m) =>
    m[1].split(",").map((s) => s.trim()).filter(Boolean)
  );
  return [...new Set([...values, ...types])].sort();
}

Deno.test("mod.ts exports exactly the public API in tests/api_snapshot.txt (update it when the API changes on purpose)", async () => {
  const snapshot = join(ROOT, "tests", "api_snapshot.txt");
  const names = await exportedNames();
  if (Deno.env.get("UPDATE_API_SNAPSHOT")) Deno.writeTextFileSync(snapshot, names.join("\n") + "\n");
  const want = Deno.readTextFileSync(snapshot).trim().split("\n");
  assert.deepEqual(names, want);
});

/**
 * Layers, lowest first: a module may import its own folder and lower
 * layers only. Converters sit beside the reading path (they may use zarr,
 * normalization and geometry), tasks on top of everything.
 */
const ALLOWED: Record<string, string[]> = {
  ".": [],
  geometry: ["."],
  zarr: ["."],
  datasets: [".", "zarr"],
  normalization: [".", "zarr", "datasets"],
  tokenizers: [".", "zarr", "datasets", "normalization", "geometry"],
  samplers: [".", "zarr", "datasets", "normalization", "tokenizers", "geometry"],
  models: [".", "datasets", "normalization", "tokenizers", "samplers", "ops"],
  ops: ["."],
  // Forecast is inference only: it loads checkpoints (models/checkpoint.ts) but never imports training.
  forecast: [".", "zarr", "datasets", "normalization", "tokenizers", "samplers", "models", "ops", "cli"],
  training: [".", "zarr", "datasets", "normalization", "tokenizers", "samplers", "models", "ops", "forecast", "cli"],
  cli: ["."],
  converters: [".", "zarr", "normalization", "geometry", "cli"],
  stores: [".", "zarr", "normalization", "converters"],
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
    if (from === "." && relative(ROOT, file) === "mod.ts") continue;
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
