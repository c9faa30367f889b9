/**
 * The global rollout loop: denormalize, write, normalize and tokenize
 * round-trip, so an oracle stepper reproduces the store; tile neighbours and
 * positions; regional grids; a shifted second tiling blends back exactly.
 *
 * @module
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { convertEra5 } from "../../converters/era5/convert.ts";
import { expandInputs } from "../../cli/inputs.ts";
import { MultifieldSampler, type SamplerConfig } from "../../samplers/sampler.ts";
import { GlobalRollout, type Stepper } from "../../forecast/rollout.ts";
import type { TokenGrid } from "../../tokenizers/patches.ts";
import { PYTHON, run, SAMPLE, tempDir } from "../_helpers/common.ts";

const GRID: TokenGrid = { numTokens: [2, 2, 4], tokenSize: [3, 9, 9] };

let store: Promise<string> | undefined;
function era5(): Promise<string> {
  store ??= (async () =>
    (await convertEra5({
      inputs: expandInputs([SAMPLE.legacy, SAMPLE.new]),
      out: join(await tempDir(), "era5.zarr"),
      workers: 0,
    })).out)();
  return store;
}

async function samplerConfig(): Promise<SamplerConfig> {
  return {
    datasets: [{
      store: await era5(),
      fields: [
        { name: "t", levels: [500, 850], tokens: GRID, normalization: "local" },
        { name: "u", levels: [850], tokens: GRID },
        { name: "t2m", levels: [0], tokens: GRID, normalization: "local" },
        { name: "sst", levels: [0], tokens: GRID },
      ],
    }],
    batchSize: 1,
    masking: { strategy: "forecast" },
    seed: 1,
  };
}

/**
 * A stepper that knows the future: the next slab of every tile as the sampler cuts it from the store. It also
 * checks that what the rollout fed it equals the sampler's own tokens and token info for the same windows.
 */
function oracle(
  s: MultifieldSampler,
  r: GlobalRollout,
  overlap: [number, number],
  seen: { checked: number },
  grid = GRID,
): Stepper {
  const [nt, nh, nw] = grid.numTokens, N = nt * nh * nw, P = nh * nw;
  const V = grid.tokenSize[0] * grid.tokenSize[1] * grid.tokenSize[2];
  return (fields, ctx) => {
    const end = ctx.times[ctx.times.length - 1];
    const now = s.batchAt(s.tiles(end, overlap), { masking: { strategy: "forecast" } });
    for (const [i, f] of fields.entries()) {
      const want = now.fields[i];
      assert.deepEqual(f.tokenInfo, want.tokenInfo, `${f.field}: token info at step ${ctx.step}`);
      let worst = 0;
      for (let k = 0; k < f.tokens.length; k++) {
        const a = f.tokens[k], b = want.tokens[k];
        if (Number.isNaN(b)) assert.ok(Number.isNaN(a));
        else worst = Math.max(worst, Math.abs(a - b));
      }
      assert.ok(worst < 2e-4, `${f.field}: fed-back tokens differ from the sampler's by ${worst} at step ${ctx.step}`);
      seen.checked++;
    }
    // The future in the units of the input's last step, which a stepper predicts in (across 1 February too).
    const future = { fields: r.fieldBatches(r.stateAt(end + r.stepSteps * r.dt), ctx.tiles, end) };
    const out = new Map<string, Float32Array>();
    for (const f of future.fields) {
      const L = f.levels.length, B = ctx.tiles.length, x = new Float32Array(B * L * P * V);
      for (let b = 0; b < B; b++) {
        for (let l = 0; l < L; l++) {
          const src = ((b * L + l) * N + (nt - 1) * P) * V;
          x.set(f.tokens.subarray(src, src + P * V), (b * L + l) * P * V);
        }
      }
      out.set(f.field, x);
    }
    return out;
  };
}

Deno.test("rollout loop: denormalize → write → normalize → tokenize round-trips; an oracle stepper reproduces the store", async () => {
  const s = new MultifieldSampler(await samplerConfig());
  for (const overlap of [[0, 1], [1, 2]] as [number, number][]) {
    const r = new GlobalRollout(s, overlap);
    assert.equal(r.stepHours, 3);
    const init = "2020-01-31T17";
    let state = r.stateAt(init);
    const tiles = r.tiles(init);
    const seen = { checked: 0 };
    const stepper = oracle(s, r, overlap, seen);
    for (let n = 0; n < 4; n++) {
      const out = r.step(state, tiles, stepper, n);
      state = out.state;
      const truth = r.stateAt(out.times[out.times.length - 1]);
      for (const [i, p] of r.planes.entries()) {
        const T = r.window[0], plane = r.grid.rows * r.grid.cols, tt = r.stepSteps;
        let worst = 0, missing = 0;
        for (let k = 0; k < tt * plane; k++) {
          const want = truth.values[i][(T - tt) * plane + k], got = out.slab[i][k];
          if (Number.isNaN(want)) {
            // Permanently missing points (land in sst) stay missing through the loop.
            assert.ok(Number.isNaN(got), `${p.field}: a missing point got a value`);
            missing++;
            continue;
          }
          worst = Math.max(worst, Math.abs(got - want) / Math.max(1, Math.abs(want)));
        }
        if (p.field === "sst") assert.ok(missing > 0, "sst has land points");
        assert.ok(worst < 1e-5, `${p.field}/${p.level} step ${n}: physical slab differs by ${worst}`);
      }
      assert.deepEqual(state.times, truth.times);
    }
    assert.equal(seen.checked, 4 * 4);
  }
});

Deno.test("rollout loop: a persistence stepper gives physical persistence across a month's change (the output is in the units of the input's last step)", async () => {
  const s = new MultifieldSampler(await samplerConfig());
  const r = new GlobalRollout(s, [0, 1]);
  // 3-hourly from 31 January 17 UTC: the third step is 1 February 02 UTC, in another month's coefficients.
  const init = "2020-01-31T17", tiles = r.tiles(init);
  const [nt, nh, nw] = GRID.numTokens, P = nh * nw, N = nt * P, V = GRID.tokenSize.reduce((a, b) => a * b, 1);
  const plane = V / GRID.tokenSize[0];
  // Every token's next slab: its last input step, repeated.
  const persistence: Stepper = (fields, ctx) =>
    new Map(fields.map((f) => {
      const L = f.levels.length, x = new Float32Array(ctx.tiles.length * L * P * V);
      for (let r = 0; r < ctx.tiles.length * L; r++) {
        for (let p = 0; p < P; p++) {
          const last = f.tokens.subarray(
            (r * N + (nt - 1) * P + p) * V + V - plane,
            (r * N + (nt - 1) * P + p + 1) * V,
          );
          for (let t = 0; t < GRID.tokenSize[0]; t++) x.set(last, (r * P + p) * V + t * plane);
        }
      }
      return [f.field, x];
    }));
  let state = r.stateAt(init);
  const first = state.values.map((v) => v.slice((r.window[0] - 1) * r.grid.rows * r.grid.cols));
  let crossed = false;
  for (let n = 0; n < 3; n++) {
    const out = r.step(state, tiles, persistence, n);
    crossed ||= new Date(out.times[out.times.length - 1] * 1000).getUTCMonth() === 1;
    for (const [i, p] of r.planes.entries()) {
      let worst = 0;
      for (let k = 0; k < out.slab[i].length; k++) {
        const want = first[i][k % first[i].length], got = out.slab[i][k];
        if (Number.isNaN(want)) assert.ok(Number.isNaN(got));
        else worst = Math.max(worst, Math.abs(got - want) / Math.max(1, Math.abs(want)));
      }
      assert.ok(worst < 1e-5, `${p.field}/${p.level} step ${n}: persistence moved by ${worst}`);
    }
    state = out.state;
  }
  assert.ok(crossed, "the rollout reached February");
});

Deno.test("rollout geometry: neighbours start with the tile itself and are the nearest; positions are unit vectors", async () => {
  const s = new MultifieldSampler(await samplerConfig());
  const r = new GlobalRollout(s, [0, 1]);
  const tiles = r.tiles("2020-01-31T17");
  const nb = r.neighbours(tiles, 5);
  assert.equal(nb.length, tiles.length * 5);
  for (let b = 0; b < tiles.length; b++) {
    assert.equal(nb[b * 5], b);
    assert.equal(new Set(nb.subarray(b * 5, b * 5 + 5)).size, 5);
  }
  // A polar tile's nearest neighbours are the other polar tiles (all longitudes meet at the pole).
  const polar = tiles.findIndex((w) => w.i0 === 0);
  assert.ok([...nb.subarray(polar * 5 + 1, polar * 5 + 5)].every((j) => tiles[j].i0 === 0));
  const pos = r.positions(tiles);
  for (let k = 0; k < pos.length; k += 4) {
    assert.ok(
      Math.abs(pos[k] ** 2 + pos[k + 1] ** 2 - 1) < 1e-5 && Math.abs(pos[k + 2] ** 2 + pos[k + 3] ** 2 - 1) < 1e-5,
    );
  }
});

Deno.test("a token's query neighbourhood comes from the whole grid: across tile edges and 0°/360°, 0 beyond the poles and at missing points; of the last or an earlier time token", async () => {
  const s = new MultifieldSampler(await samplerConfig());
  const r = new GlobalRollout(s, [0, 1]);
  const init = "2020-01-31T17", state = r.stateAt(init), tiles = r.tiles(init);
  const [nt, nh, nw] = GRID.numTokens, [tt, th, tw] = GRID.tokenSize, P = nh * nw, V = tt * th * tw;
  const { rows, cols } = r.grid;
  let acrossEdges = 0, beyondPoles = 0, missing = 0;
  for (const a of [undefined, 0]) {
    const hoods = r.neighbourhoods(r.fieldBatches(state, tiles), tiles, a);
    const first = (a ?? nt - 1) * tt;
    for (const [slot, spec] of s.slots.entries()) {
      const q = hoods.get(spec.field)!, L = spec.levels.length;
      assert.equal(q.length, tiles.length * L * P * 9 * V);
      for (const [l] of spec.levels.entries()) {
        const pi = r.planes.findIndex((p) => p.slot === slot && p.levelIndex === l);
        // The oracle: the plane normalized on the whole grid (not cut into tiles), its last time token.
        const normed = r.normalize(r.planes[pi], state.values[pi], state.times);
        for (const [b, w] of tiles.entries()) {
          for (let p = 0; p < P; p++) {
            for (let k = 0; k < 9; k++) {
              const ti = Math.floor(p / nw) + Math.floor(k / 3) - 1, tj = p % nw + (k % 3) - 1;
              if (ti < 0 || ti >= nh || tj < 0 || tj >= nw) acrossEdges++;
              for (let t = 0; t < tt; t++) {
                for (let i = 0; i < th; i++) {
                  for (let j = 0; j < tw; j++) {
                    const row = w.i0 + ti * th + i, col = (((w.j0 + tj * tw + j) % cols) + cols) % cols;
                    let want = 0;
                    if (row < 0 || row >= rows) beyondPoles++;
                    else {
                      want = normed[((first + t) * rows + row) * cols + col];
                      if (Number.isNaN(want)) (want = 0, missing++);
                    }
                    const got = q[((((b * L + l) * P + p) * 9 + k) * tt + t) * th * tw + i * tw + j];
                    assert.equal(got, want, `${spec.field}/${spec.levels[l]} tile ${b} token ${p} neighbour ${k}`);
                  }
                }
              }
            }
          }
        }
      }
    }
  }
  assert.ok(acrossEdges > 0 && beyondPoles > 0 && missing > 0, `${acrossEdges} ${beyondPoles} ${missing}`);
});

Deno.test("a regional 6-hourly store rolls out: no longitude wrap, tiles end at the east edge, an oracle reproduces it", async () => {
  const dir = await tempDir();
  const py = await run(PYTHON, ["tests/oracles/advected_waves.py", dir, "20", "5", "6", "regional"]);
  assert.equal(py.code, 0, py.stderr);
  const store = (await convertEra5({
    inputs: expandInputs([join(dir, "waves_pl.nc"), join(dir, "waves_sfc.nc")]),
    out: join(dir, "regional.zarr"),
    workers: 0,
  })).out;
  const grid: TokenGrid = { numTokens: [2, 1, 2], tokenSize: [1, 6, 6] };
  const s = new MultifieldSampler({
    datasets: [{
      store,
      fields: [
        { name: "t", levels: [850], tokens: grid, normalization: "local" },
        { name: "t2m", levels: [0], tokens: grid },
      ],
    }],
    batchSize: 1,
    masking: { strategy: "forecast" },
    seed: 1,
  });
  const r = new GlobalRollout(s, [0, 1]);
  assert.equal(r.grid.periodic, false);
  assert.deepEqual([r.grid.rows, r.grid.cols], [11, 25]);
  assert.equal(r.stepHours, 6);
  const init = "2020-01-02T00";
  const tiles = r.tiles(init);
  assert.ok(tiles.every((w) => w.j0 + 12 <= 25) && tiles.some((w) => w.j0 + 12 === 25), "last column at the east edge");
  assert.ok(tiles.some((w) => w.i0 + 6 === 11), "last row at the south edge");
  let state = r.stateAt(init);
  const seen = { checked: 0 };
  const stepper = oracle(s, r, [0, 1], seen, grid);
  for (let n = 0; n < 3; n++) {
    const out = r.step(state, tiles, stepper, n);
    state = out.state;
    const truth = r.stateAt(out.times[0]);
    const plane = r.grid.rows * r.grid.cols;
    for (const [i] of r.planes.entries()) {
      let worst = 0;
      for (let k = 0; k < plane; k++) {
        const want = truth.values[i][plane + k];
        worst = Math.max(worst, Math.abs(out.slab[i][k] - want) / Math.max(1, Math.abs(want)));
      }
      assert.ok(worst < 1e-5, `plane ${i} step ${n}: ${worst}`);
    }
  }
  assert.equal(seen.checked, 3 * 2);
});

Deno.test("a second tiling shifted by half a token blends back exactly: a persistence stepper on both gives the last step", async () => {
  const s = new MultifieldSampler(await samplerConfig());
  const r = new GlobalRollout(s, [0, 1]);
  const init = "2020-01-31T20";
  const tiles = r.tiles(init), shifted = r.shiftedTiles(tiles);
  assert.ok(shifted.every((w, k) => w.j0 === tiles[k].j0 + 4), "columns shifted by half a 9-point token");
  assert.ok(shifted.some((w, k) => w.i0 === tiles[k].i0 + 4) && shifted.some((w, k) => w.i0 === tiles[k].i0));
  const state = r.stateAt(init);
  const [nt, nh, nw] = GRID.numTokens, N = nt * nh * nw, P = nh * nw, [tt, th, tw] = GRID.tokenSize;
  const V = tt * th * tw, plane = th * tw;
  // Persistence: every token's last input step, repeated over the slab.
  const persistence: Stepper = (fields, ctx) =>
    new Map(fields.map((f) => {
      const L = f.levels.length, x = new Float32Array(ctx.tiles.length * L * P * V);
      for (let b = 0; b < ctx.tiles.length * L; b++) {
        for (let p = 0; p < P; p++) {
          const src = (b * N + (nt - 1) * P + p) * V + V - plane;
          for (let t = 0; t < tt; t++) x.set(f.tokens.subarray(src, src + plane), (b * P + p) * V + t * plane);
        }
      }
      return [f.field, x];
    }));
  const ctx = (t: typeof tiles) => ({ step: 0, tiles: t, times: state.times });
  const one = persistence(r.fieldBatches(state, tiles), ctx(tiles));
  const two = persistence(r.fieldBatches(state, shifted), ctx(shifted));
  const { slab } = r.physicalSlab(state, one, tiles, [{ next: two, tiles: shifted }]);
  const G = r.grid.rows * r.grid.cols, T = r.window[0];
  for (const [i, p] of r.planes.entries()) {
    let worst = 0;
    for (let g = 0; g < G; g++) {
      const want = state.values[i][(T - 1) * G + g], got = slab[i][(tt - 1) * G + g];
      if (Number.isNaN(want)) assert.ok(Number.isNaN(got));
      else worst = Math.max(worst, Math.abs(got - want) / Math.max(1, Math.abs(want)));
    }
    assert.ok(worst < 1e-5, `${p.field}/${p.level}: ${worst}`);
  }
});
