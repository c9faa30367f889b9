/**
 * The forecast engine network (models/): untrained it predicts persistence,
 * gradients reach its heads, and its config is resolved with errors naming
 * the key.
 *
 * @module
 */
import assert from "node:assert/strict";
import { constant, linear, Random, valueAndGrad } from "../../ops/mod.ts";
import { ForecastEngine, resolveEngineConfig } from "../../models/forecast_engine.ts";
import type { FieldLayout } from "../../models/config.ts";
import { isPipelineError } from "../../errors.ts";

const layout: FieldLayout = {
  field: "t",
  levels: 2,
  tokens: 2 * 2 * 3,
  values: 3 * 4 * 4,
  kind: "grid",
  axes: [2, 2, 3],
};
const fields = [{ layout, width: 16, timeSteps: 3 }];

function input(tiles: number, seed: number) {
  const r = new Random(seed), N = layout.levels * layout.tokens;
  const states = new Float32Array(tiles * N * 16).map(() => r.normal());
  const tokens = new Float32Array(tiles * N * layout.values).map(() => r.normal());
  const P = 6, position = new Float32Array(tiles * P * 4).map(() => r.normal());
  const neighbours = Int32Array.from({ length: tiles * 2 }, (_, k) => (k % 2 === 0 ? k / 2 : (k - 1) / 2 + 1) % tiles);
  return {
    states: new Map([["t", constant(states, [tiles, N, 16])]]),
    tokens: new Map([["t", tokens]]),
    position,
    neighbours,
  };
}

Deno.test("forecast engine network: untrained it is persistence (last input step repeated); gradients reach its heads", () => {
  const e = new ForecastEngine(fields, { latentWidth: 8, heads: 2, neighbours: 2, forecasterLayers: 1 }, 1);
  const x = input(3, 7);
  const out = e.step(x, 3).get("t")!;
  assert.deepEqual(out.shape, [3, 2 * 6, 48]);
  // Token (tile b, level l, position p): the last time token's last step (its last 16 values), repeated 3 times.
  const N = layout.tokens, V = 48, x0 = x.tokens.get("t")!;
  for (let b = 0; b < 3; b++) {
    for (let l = 0; l < 2; l++) {
      for (let p = 0; p < 6; p++) {
        const src = ((b * 2 + l) * N + 6 + p) * V + 32, dst = ((b * 2 + l) * 6 + p) * V;
        for (let t = 0; t < 3; t++) for (let k = 0; k < 16; k++) assert.equal(out.data[dst + t * 16 + k], x0[src + k]);
      }
    }
  }
  // One training step's gradient reaches the zero-initialized heads (and through them nothing else yet).
  for (const t of e.params.map.values()) t.grad = undefined;
  valueAndGrad(() => {
    const y = e.step(x, 3).get("t")!;
    return linear(y.reshape([1, y.size]), constant(new Float32Array(y.size).fill(1), [y.size, 1])).reshape([1]);
  });
  const head = [...e.params.map].filter(([k]) => k.startsWith("engine.head"));
  assert.ok(head.length === 2 && head.every(([, t]) => t.grad?.some((g) => g !== 0)));
});

Deno.test("forecast engine config: input window in time tokens, errors name the key", () => {
  const all = new ForecastEngine(fields, { latentWidth: 8, heads: 2 }, 1);
  const last = new ForecastEngine(fields, { latentWidth: 8, heads: 2, inputTimeTokens: 1 }, 1);
  assert.equal(all.timeTokens, 2);
  assert.equal(last.timeTokens, 1);
  assert.deepEqual(all.params.map.get("engine.adapter.w")!.shape, [2 * 2 * 16, 8]);
  assert.deepEqual(last.params.map.get("engine.adapter.w")!.shape, [2 * 1 * 16, 8]);
  // With one time token, the adapter cannot see the first: changing it changes nothing.
  const a = input(2, 3), b = input(2, 3);
  const s = b.states.get("t")!.data;
  for (let i = 0; i < 6 * 16; i++) s[i] += 1; // tile 0, level 0, time token 0 (its 6 positions)
  assert.deepEqual(last.adapt(a, 2).data, last.adapt(b, 2).data);
  assert.notDeepEqual(all.adapt(a, 2).data, all.adapt(b, 2).data);
  assert.throws(
    () => new ForecastEngine(fields, { inputTimeTokens: 3 }, 1),
    (e) => isPipelineError(e, "config") && /inputTimeTokens/.test(String(e)),
  );
  assert.throws(() => resolveEngineConfig({ latentWidth: 10, heads: 4 }), /engine\.heads/);
});

Deno.test("forecast engine queryFields: `all` reads every grid field's neighbourhood, `own` only its own; errors name the key", () => {
  const u: FieldLayout = { ...layout, field: "u", levels: 1, tokens: layout.tokens };
  const two = [...fields, { layout: u, width: 16, timeSteps: 3 }];
  const both = (tiles: number, seed: number, uShift = 0) => {
    const x = input(tiles, seed), r = new Random(seed + 1);
    const uTokens = new Float32Array(tiles * u.tokens * u.values).map(() => r.normal() + uShift);
    const uStates = new Float32Array(tiles * u.tokens * 16).map(() => 0.5);
    return {
      ...x,
      states: new Map([...x.states, ["u", constant(uStates, [tiles, u.tokens, 16])]]),
      tokens: new Map([...x.tokens, ["u", uTokens]]),
    };
  };
  const own = new ForecastEngine(two, { latentWidth: 8, heads: 2, neighbours: 2 }, 1);
  const all = new ForecastEngine(two, { latentWidth: 8, heads: 2, neighbours: 2, queryFields: "all" }, 1);
  assert.deepEqual(own.params.map.get("engine.query.t.w")!.shape, [9 * 48, 8]);
  assert.deepEqual(all.params.map.get("engine.query.t.w")!.shape, [9 * (2 * 48 + 48), 8]);
  // Heads are zero at first (persistence): give them weights so the query's path shows in the output.
  for (const e of [own, all]) {
    for (const [k, t] of e.params.map) {
      if (k.startsWith("engine.head")) t.data.forEach((_, i) => t.data[i] = 0.01 * (i % 7));
    }
  }
  // Moving u's values (not its encoder states) moves t's read-out only when t's query reads u.
  const t = (e: ForecastEngine, uShift: number) => e.readOut(e.forecast(e.adapt(both(3, 5), 3)), both(3, 5, uShift), 3);
  assert.deepEqual(t(own, 0).get("t")!.data, t(own, 1).get("t")!.data);
  assert.notDeepEqual(t(all, 0).get("t")!.data, t(all, 1).get("t")!.data);
  assert.throws(
    () => resolveEngineConfig({ queryFields: "every" as "all" }),
    (e) => isPipelineError(e, "config") && /engine\.queryFields/.test(String(e)),
  );
});
