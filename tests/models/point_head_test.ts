/**
 * The forecast engine's point head and raw-value adapter: each point's
 * stencil holds the grid values around it (across token edges), an
 * untrained point head leaves the engine persistence, its gradient is the
 * numerical one, and the adapter reads the raw values only when asked.
 *
 * @module
 */
import assert from "node:assert/strict";
import { add, constant, linear, Random, valueAndGrad } from "../../ops/mod.ts";
import { ForecastEngine, type ForecastEngineConfig } from "../../models/forecast_engine.ts";
import { PointHead } from "../../models/point_head.ts";
import { Params } from "../../models/params.ts";
import type { FieldLayout } from "../../models/config.ts";
import { isPipelineError } from "../../errors.ts";

// Tiles of 2 × 3 tokens of 1 step × 4 × 4 points; two time tokens.
const [nh, nw, th, tw] = [2, 3, 4, 4], P = nh * nw, V = th * tw;
const layout = (field: string, levels: number): FieldLayout => ({
  field,
  levels,
  tokens: 2 * P,
  values: V,
  kind: "grid",
  axes: [2, nh, nw],
});
const fields = [
  { layout: layout("z", 2), width: 8, timeSteps: 1, tokenSize: [1, th, tw] },
  { layout: layout("u", 1), width: 8, timeSteps: 1, tokenSize: [1, th, tw] },
];

/** A plane's value at a point of the canvas, as rows R and columns C of the tile (beyond its edges too). */
const value = (plane: number, R: number, C: number) => plane * 10000 + (R + 10) * 100 + (C + 10);

/** The 3 × 3 token neighbourhoods of a tile's tokens, from {@link value} × `scale` [tiles·levels·P·9·V]. */
function neighbourhoods(tiles: number, levels: number, plane0: number, scale = 1): Float32Array {
  const out = new Float32Array(tiles * levels * P * 9 * V);
  for (let b = 0; b < tiles; b++) {
    for (let l = 0; l < levels; l++) {
      for (let p = 0; p < P; p++) {
        for (let k = 0; k < 9; k++) {
          for (let i = 0; i < th; i++) {
            for (let j = 0; j < tw; j++) {
              const R = (Math.floor(p / nw) + Math.floor(k / 3) - 1) * th + i, C = (p % nw + (k % 3) - 1) * tw + j;
              out[((((b * levels + l) * P + p) * 9 + k) * th + i) * tw + j] = scale * (value(plane0 + l, R, C) + b);
            }
          }
        }
      }
    }
  }
  return out;
}

Deno.test("point head: each point's stencils are the grid and its change around it, across token edges, then its latitude", () => {
  const r = 2,
    head = new PointHead(
      new Params(1),
      [{ field: "z", levels: 2, timeSteps: 1 }, {
        field: "u",
        levels: 1,
        timeSteps: 1,
      }],
      [2, nh, nw],
      [1, th, tw],
      r,
      8,
    );
  const tiles = 2, latitudes = Float32Array.from({ length: tiles * nh * th * 2 }, (_, k) => k);
  const s = head.stencils({
    deltas: new Map(),
    neighbourhoods: new Map([["z", neighbourhoods(tiles, 2, 0)], ["u", neighbourhoods(tiles, 1, 2)]]),
    // One time token earlier the grid was 0.25 of it: its change since is 0.75 of it.
    previous: new Map([["z", neighbourhoods(tiles, 2, 0, 0.25)], ["u", neighbourhoods(tiles, 1, 2, 0.25)]]),
    latitudes,
    tiles,
  });
  const width = head.featureWidth(), side = 2 * r + 1;
  assert.equal(width, 3 * 2 * side * side + 2);
  assert.equal(s.length, tiles * P * V * width);
  let checked = 0;
  for (let b = 0; b < tiles; b++) {
    for (let p = 0; p < P; p++) {
      for (let i = 0; i < th; i++) {
        for (let j = 0; j < tw; j++) {
          const row = ((b * P + p) * th + i) * tw + j, R = Math.floor(p / nw) * th + i, C = (p % nw) * tw + j;
          for (let plane = 0; plane < 3; plane++) {
            for (let di = -r; di <= r; di++) {
              for (let dj = -r; dj <= r; dj++) {
                const at = row * width + plane * 2 * side * side + (di + r) * side + dj + r;
                const want = value(plane, R + di, C + dj) + b;
                assert.equal(s[at], want, `tile ${b} token ${p} point ${i},${j}`);
                assert.ok(Math.abs(s[at + side * side] - 0.75 * want) <= 1e-6 * want, `change at ${b} ${p} ${i},${j}`);
                checked++;
              }
            }
          }
          const lat = ((b * nh + Math.floor(p / nw)) * th + i) * 2;
          assert.deepEqual([s[row * width + width - 2], s[row * width + width - 1]], [
            latitudes[lat],
            latitudes[lat + 1],
          ]);
        }
      }
    }
  }
  assert.equal(checked, tiles * P * V * 3 * side * side);
  assert.throws(
    () => new PointHead(new Params(1), [{ field: "z", levels: 1, timeSteps: 1 }], [2, nh, nw], [1, th, tw], 5, 8),
    (e) => isPipelineError(e, "config") && /stencilRadius/.test(String(e)),
  );
});

function input(tiles: number, seed: number) {
  const r = new Random(seed);
  const grid = (L: number) => new Float32Array(tiles * L * 2 * P * V).map(() => r.normal());
  const states = (L: number) =>
    constant(new Float32Array(tiles * L * 2 * P * 8).map(() => r.normal()), [tiles, L * 2 * P, 8]);
  return {
    states: new Map([["z", states(2)], ["u", states(1)]]),
    tokens: new Map([["z", grid(2)], ["u", grid(1)]]),
    position: new Float32Array(tiles * P * 4).map(() => r.normal()),
    latitudes: new Float32Array(tiles * nh * th * 2).map(() => r.normal()),
    previousNeighbourhoods: new Map([
      ["z", new Float32Array(tiles * 2 * P * 9 * V).map(() => r.normal())],
      ["u", new Float32Array(tiles * P * 9 * V).map(() => r.normal())],
    ]),
    neighbours: Int32Array.from({ length: tiles * 2 }, (_, k) => (k % 2 === 0 ? k / 2 : ((k - 1) / 2 + 1) % tiles)),
  };
}

const small: ForecastEngineConfig = { latentWidth: 8, heads: 2, neighbours: 2, forecasterLayers: 1 };

Deno.test("point head: untrained the engine is still persistence; the same engine without it gives the same numbers", () => {
  const x = input(2, 3);
  const plain = new ForecastEngine(fields, small, 1),
    pointed = new ForecastEngine(fields, { ...small, stencilRadius: 2 }, 1);
  // Give the token heads weights, so both predict changes; the point head's last layer starts at zero.
  for (const e of [plain, pointed]) {
    for (const [k, t] of e.params.map) {
      if (k.startsWith("engine.head")) t.data.forEach((_, i) => t.data[i] = 0.01 * (i % 5));
    }
  }
  for (const f of ["z", "u"]) assert.deepEqual(pointed.step(x, 2).get(f)!.data, plain.step(x, 2).get(f)!.data);
  assert.ok([...pointed.params.map.keys()].some((k) => k.startsWith("engine.point.")));
  assert.throws(() => pointed.step({ ...x, latitudes: undefined }, 2), /latitudes/);
  assert.throws(() => pointed.step({ ...x, previousNeighbourhoods: undefined }, 2), /time token before the last/);
});

Deno.test("point head: its gradient is the numerical one (through its MLP and into the token read-out's change)", () => {
  const x = input(2, 5);
  const e = new ForecastEngine(fields, { ...small, stencilRadius: 1, stencilWidth: 6 }, 2);
  for (const [k, t] of e.params.map) {
    if (k.startsWith("engine.head") || k.startsWith("engine.point.down")) {
      t.data.forEach((_, i) => t.data[i] = 0.05 * Math.sin(i + k.length));
    }
  }
  // A scalar: Σ over fields of the prediction times fixed random weights.
  const weights = new Map(["z", "u"].map((f, i) => {
    const r = new Random(9 + i), n = (f === "z" ? 2 : 1) * P * V * 2;
    return [f, constant(new Float32Array(n).map(() => r.normal()), [n, 1])];
  }));
  const loss = () => {
    const terms = [...e.step(x, 2)].map(([f, y]) => linear(y.reshape([1, y.size]), weights.get(f)!));
    return add(terms[0], terms[1]).reshape([1]);
  };
  for (const t of e.params.map.values()) t.grad = undefined;
  valueAndGrad(loss);
  let compared = 0;
  for (const name of ["engine.point.up.w", "engine.point.hidden.w", "engine.head.z.w", "engine.point.down.b"]) {
    const t = e.params.map.get(name)!;
    for (const i of new Set([0, 7 % t.size, Math.floor(t.size / 2), t.size - 1])) {
      const keep = t.data[i], eps = 1e-2;
      t.data[i] = keep + eps;
      const up = loss().data[0];
      t.data[i] = keep - eps;
      const down = loss().data[0];
      t.data[i] = keep;
      const numeric = (up - down) / (2 * eps), analytic = t.grad![i];
      assert.ok(
        Math.abs(numeric - analytic) <= 2e-2 * Math.max(1, Math.abs(numeric)),
        `${name}[${i}]: numeric ${numeric}, analytic ${analytic}`,
      );
      compared++;
    }
  }
  assert.equal(compared, 15);
  assert.ok(e.params.map.get("engine.point.up.w")!.grad!.some((g) => g !== 0));
});

Deno.test("adapter values: the adapter reads the raw values of the time tokens it reads, only when asked", () => {
  const plain = new ForecastEngine(fields, small, 1),
    valued = new ForecastEngine(fields, { ...small, adapterValues: true }, 1);
  const lastOnly = new ForecastEngine(fields, { ...small, adapterValues: true, inputTimeTokens: 1 }, 1);
  assert.deepEqual(plain.params.map.get("engine.adapter.w")!.shape, [(2 + 1) * 2 * 8, 8]);
  assert.deepEqual(valued.params.map.get("engine.adapter.w")!.shape, [(2 + 1) * 2 * (8 + V), 8]);
  // Move the raw values of u's last time token (not its encoder states): only the valued adapter changes.
  const a = input(2, 3), b = input(2, 3);
  const u = b.tokens.get("u")!;
  for (let i = P * V; i < 2 * P * V; i++) u[i] += 1; // tile 0, time token 1
  assert.deepEqual(plain.adapt(a, 2).data, plain.adapt(b, 2).data);
  assert.notDeepEqual(valued.adapt(a, 2).data, valued.adapt(b, 2).data);
  // The first time token's raw values are read by the whole-window adapter, not by the last-token one.
  const c = input(2, 3);
  for (let i = 0; i < P * V; i++) c.tokens.get("u")![i] += 1;
  assert.notDeepEqual(valued.adapt(a, 2).data, valued.adapt(c, 2).data);
  assert.deepEqual(lastOnly.adapt(a, 2).data, lastOnly.adapt(c, 2).data);
  assert.throws(
    () => new ForecastEngine(fields, { ...small, stencilRadius: -1 }, 1),
    (e) => isPipelineError(e, "config") && /engine\.stencilRadius/.test(String(e)),
  );
});
