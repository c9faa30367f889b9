/**
 * Tile blending of forecast read-outs: an identity read-out reconstructs
 * global and regional grids exactly, across 0°/360° and the poles, with
 * tapered weights that sum to one.
 *
 * @module
 */
import assert from "node:assert/strict";
import { tileGrid } from "../../datasets/tiling.ts";
import { type BlendGrid, cutTile, taper1d, TileBlender } from "../../forecast/blend.ts";

/** A smooth field with structure at every scale, plus a point-wise pattern (seams would show in it). */
function field(grid: BlendGrid, planes = 1): Float32Array {
  const f = new Float32Array(planes * grid.rows * grid.cols);
  for (let p = 0; p < planes; p++) {
    for (let i = 0; i < grid.rows; i++) {
      for (let j = 0; j < grid.cols; j++) {
        f[(p * grid.rows + i) * grid.cols + j] = 250 + 30 * Math.sin(i / 17 + p) + 10 * Math.cos(j / 23) +
          ((i * 7 + j * 13) % 5);
      }
    }
  }
  return f;
}

/** Tile, read out with the identity (optionally adding a per-tile offset), blend; the blended field and weights. */
function roundTrip(
  grid: BlendGrid,
  tile: [number, number],
  token: [number, number],
  overlapTokens: [number, number],
  offset = (_k: number) => 0,
  planes = 1,
) {
  const tiles = tileGrid(grid, { window: tile, token, overlap: overlapTokens });
  const overlap: [number, number] = [overlapTokens[0] * token[0], overlapTokens[1] * token[1]];
  const blender = new TileBlender(grid, { tile, overlap, planes });
  const truth = field(grid, planes);
  for (const [k, t] of tiles.entries()) {
    const v = cutTile(truth, grid, t, tile, planes);
    const c = offset(k);
    if (c) { for (let i = 0; i < v.length; i++) v[i] += c; }
    blender.add(t, v);
  }
  return { tiles, truth, blended: blender.result(), weights: blender.weightSum(), blender };
}

function assertExact(truth: Float32Array, blended: Float32Array, weights: Float64Array, what: string): void {
  assert.ok(weights.every((w) => w > 0), `${what}: every point covered with a positive weight`);
  let worst = 0;
  for (let i = 0; i < truth.length; i++) worst = Math.max(worst, Math.abs(blended[i] - truth[i]));
  assert.ok(worst < 1e-4, `${what}: identity read-out reconstructs the field (worst ${worst})`);
}

Deno.test("blending with an identity read-out reconstructs the 0.25° globe exactly (AtmoRep's 14×14 tiles, with and without overlap)", () => {
  const grid = { rows: 721, cols: 1440, periodic: true };
  for (const ov of [[0, 0], [1, 2]] as [number, number][]) {
    const r = roundTrip(grid, [54, 108], [18, 18], ov);
    if (ov[0] === 0) assert.equal(r.tiles.length, 196);
    assertExact(r.truth, r.blended, r.weights, `0.25° overlap ${ov}`);
  }
});

Deno.test("blending on a coarse globe: exact across 0°/360° and at both poles; normalized weights sum to one; no seams", () => {
  const grid = { rows: 61, cols: 120, periodic: true };
  const r = roundTrip(grid, [18, 36], [9, 9], [1, 1], () => 0, 3);
  assert.ok(r.tiles.some((t) => t.j0 + 36 > 120), "a tile wraps around 0°/360°");
  assert.ok(r.tiles.some((t) => t.i0 === 0) && r.tiles.some((t) => t.i0 + 18 === 61), "tiles at both poles");
  assertExact(r.truth, r.blended, r.weights, "coarse, 3 planes");
  // Normalized weights: Σₖ wₖ(p) / W(p) = 1 at every point, recomputed tile by tile.
  const sums = new Float64Array(61 * 120);
  for (const t of r.tiles) {
    const w = r.blender.weights(t);
    for (let i = 0; i < 18; i++) {
      for (let j = 0; j < 36; j++) {
        const g = (t.i0 + i) * 120 + (t.j0 + j) % 120;
        sums[g] += w[i * 36 + j] / r.weights[g];
      }
    }
  }
  for (const s of sums) assert.ok(Math.abs(s - 1) < 1e-9, `weights sum to ${s}`);
  // Tiles that disagree (each off by its own constant) meet without a seam: neighbouring points differ in
  // their error by a fraction of the disagreement, where overwriting would jump by all of it.
  const offsets = (k: number) => ((k * 37) % 11) - 5;
  const d = roundTrip(grid, [18, 36], [9, 9], [1, 1], offsets);
  const err = d.blended.map((v, i) => v - d.truth[i]);
  let jump = 0;
  for (let i = 0; i < 61; i++) {
    for (let j = 0; j < 120; j++) {
      const e = err[i * 120 + j];
      jump = Math.max(jump, Math.abs(e - err[i * 120 + (j + 1) % 120]));
      if (i + 1 < 61) jump = Math.max(jump, Math.abs(e - err[(i + 1) * 120 + j]));
    }
  }
  const spread = 10;
  assert.ok(
    jump < 0.35 * spread,
    `largest jump between neighbours ${jump.toFixed(2)} of a disagreement up to ${spread}`,
  );
  assert.ok(jump > 0, "the offsets do show");
  // Overwriting (AtmoRep) would show the whole disagreement somewhere.
  const over = new Float32Array(61 * 120);
  for (const [k, t] of d.tiles.entries()) {
    for (let i = 0; i < 18; i++) for (let j = 0; j < 36; j++) over[(t.i0 + i) * 120 + (t.j0 + j) % 120] = offsets(k);
  }
  let overJump = 0;
  for (let i = 0; i < 61; i++) {
    for (let j = 0; j < 120; j++) {
      overJump = Math.max(overJump, Math.abs(over[i * 120 + j] - over[i * 120 + (j + 1) % 120]));
    }
  }
  assert.ok(overJump > 2 * jump, `overwriting jumps by ${overJump}, blending by ${jump.toFixed(2)}`);
});

Deno.test("blending a regional grid (no wrap): exact, edges not tapered, last column ends at the east edge", () => {
  const grid = { rows: 100, cols: 250, periodic: false };
  const r = roundTrip(grid, [54, 108], [18, 18], [1, 1]);
  assert.ok(r.tiles.every((t) => t.j0 + 108 <= 250));
  assertExact(r.truth, r.blended, r.weights, "regional");
  // The corner tile weighs its domain corner fully: no taper at the border.
  const w = r.blender.weights({ i0: 0, j0: 0 });
  assert.equal(w[0], 1);
  assert.ok(w[53 * 108 + 107] < 0.05, "tapered towards its inner neighbours");
  assert.deepEqual([...taper1d(4, 0, false, false)], [1, 1, 1, 1]);
  assert.throws(() => new TileBlender(grid, { tile: [120, 108], overlap: [0, 0] }), /does not fit/);
});
