/**
 * Per-point moments for the normalization coefficients: block sums against a
 * two-pass float64 computation with NaN skipped, reuse, and the SIMD and
 * tile-workspace paths bit-identical to the scalar code.
 *
 * @module
 */
import assert from "node:assert/strict";
import { mergeMoments, momentsOf, PointMoments, ShiftedPointSums } from "../../normalization/moments.ts";
import { tileWorkspace } from "../../simd/tiles.ts";

/** Random planes (steps × rows × cols) around 280 with NaN at some points in some steps, and whole-NaN points. */
function planes(steps: number, rows: number, cols: number, seed: number): Float32Array {
  let x = seed;
  const rand = () => (x = (x * 1103515245 + 12345) >>> 0) / 2 ** 32;
  const out = new Float32Array(steps * rows * cols);
  for (let i = 0; i < out.length; i++) {
    const point = i % (rows * cols);
    out[i] = point % 17 === 3 ? NaN : point % 11 === 5 && rand() < 0.5 ? NaN : 280 + 40 * (rand() - 0.5);
  }
  return out;
}

Deno.test("per-point sums over blocks equal a two-pass float64 computation, NaN skipped per value", () => {
  const rows = 9, cols = 14, plane = rows * cols;
  const acc = new ShiftedPointSums(plane);
  const all: Float32Array[] = [];
  // Three stacks of planes, each added in blocks of 4 rows × 5 columns (edge blocks smaller), as a task adds chunks.
  for (const [steps, seed] of [[6, 1], [1, 2], [5, 3]]) {
    const data = planes(steps, rows, cols, seed);
    all.push(data);
    for (let i0 = 0; i0 < rows; i0 += 4) {
      for (let j0 = 0; j0 < cols; j0 += 5) {
        const r = Math.min(4, rows - i0), c = Math.min(5, cols - j0);
        acc.addBlock(data, i0 * cols + j0, plane, cols, steps, r, c, i0 * cols + j0, cols);
      }
    }
  }
  const { points, global } = acc.finish();
  const stacked = new Float32Array(all.reduce((a, d) => a + d.length, 0));
  all.reduce((o, d) => (stacked.set(d, o), o + d.length), 0);
  let pooled = momentsOf(new Float32Array(0));
  for (let p = 0; p < plane; p++) {
    const values = Float32Array.from({ length: stacked.length / plane }, (_, s) => stacked[s * plane + p]);
    const want = momentsOf(values);
    pooled = mergeMoments(pooled, want);
    assert.equal(points.count[p], want.count, `count at ${p}`);
    if (want.count === 0) continue;
    assert.ok(Math.abs(points.mean[p] - want.mean) <= 1e-12 * Math.abs(want.mean), `mean at ${p}`);
    assert.ok(
      Math.abs(points.m2[p] - want.m2) <= 1e-9 * Math.max(want.m2, 1),
      `m2 at ${p}: ${points.m2[p]} vs ${want.m2}`,
    );
  }
  // The data hold all-NaN points and partly NaN ones.
  assert.ok(points.count.some((c) => c === 0) && points.count.some((c) => c > 0 && c < 12));
  assert.equal(global.count, pooled.count);
  assert.equal(global.min, pooled.min);
  assert.equal(global.max, pooled.max);
  assert.ok(Math.abs(global.mean - pooled.mean) <= 1e-12 * pooled.mean);
  assert.ok(Math.abs(global.m2 - pooled.m2) <= 1e-9 * pooled.m2);
  // Merging two halves' point moments equals the whole.
  const half = new PointMoments(plane, points.count.slice(), points.mean.slice(), points.m2.slice());
  half.merge(new PointMoments(plane));
  assert.deepEqual([...half.mean], [...points.mean]);
});

Deno.test("per-point sums reset for reuse give the same moments as fresh ones", () => {
  const data = planes(5, 4, 6, 9), other = planes(3, 4, 6, 4);
  const fresh = new ShiftedPointSums(24);
  fresh.addPlanes(data, 0, 5);
  const want = fresh.finish();
  const reused = new ShiftedPointSums(24);
  reused.addPlanes(other, 0, 3);
  reused.finish();
  reused.reset();
  reused.addPlanes(data, 0, 5);
  const got = reused.finish();
  assert.deepEqual(got.global, want.global);
  assert.deepEqual([...got.points.count], [...want.points.count]);
  assert.deepEqual([...got.points.mean], [...want.points.mean]);
  assert.deepEqual([...got.points.m2], [...want.points.m2]);
  assert.throws(() => reused.finish(), /finished twice/);
});

Deno.test("per-point sums in SIMD are bit-identical to the scalar code (NaN, ±Inf, first visits, tails, reuse)", () => {
  const rows = 7, cols = 23, plane = rows * cols;
  const simd = new ShiftedPointSums(plane), scalar = new ShiftedPointSums(plane, { simd: false });
  const stacks: [number, number][] = [[6, 1], [1, 2], [5, 3], [3, 4]];
  for (const [steps, seed] of stacks) {
    const data = planes(steps, rows, cols, seed);
    // Whole-NaN first steps at some points (their shift comes from a later step), ±Inf at two.
    for (let p = 0; p < plane; p += 5) data[p] = NaN;
    if (seed === 3) (data[plane + 8] = Infinity, data[2 * plane + 8] = -Infinity, data[9] = -Infinity);
    for (let i0 = 0; i0 < rows; i0 += 3) {
      for (let j0 = 0; j0 < cols; j0 += 9) {
        const r = Math.min(3, rows - i0), c = Math.min(9, cols - j0);
        for (const acc of [simd, scalar]) {
          acc.addBlock(data, i0 * cols + j0, plane, cols, steps, r, c, i0 * cols + j0, cols);
        }
      }
    }
  }
  // Whole planes too (one row of all points).
  const more = planes(2, rows, cols, 7);
  for (const acc of [simd, scalar]) acc.addPlanes(more, 0, 2);
  const a = simd.finish(), b = scalar.finish();
  const bits = (x: Float64Array) => [...new BigUint64Array(x.buffer, x.byteOffset, x.length)];
  assert.deepEqual(bits(a.points.count), bits(b.points.count));
  assert.deepEqual(bits(a.points.mean), bits(b.points.mean));
  assert.deepEqual(bits(a.points.m2), bits(b.points.m2));
  assert.deepEqual(a.global, b.global);
  assert.ok(a.points.count.some((c) => c === 0) && [...a.points.m2].some((m) => Number.isNaN(m)));
  // The coefficient planes computed on the way equal the scalar ones, bit for bit (NaN where nothing counted).
  const f32bits = (x: Float32Array) => [...new Uint32Array(x.buffer, x.byteOffset, x.length)];
  assert.ok(a.coefficients && !b.coefficients);
  assert.deepEqual(f32bits(a.coefficients), f32bits(b.points.coefficientsInto(new Float32Array(2 * plane))));
  // A larger block than the kernel's room grows its memory and keeps the sums.
  const big = new ShiftedPointSums(plane), bigScalar = new ShiftedPointSums(plane, { simd: false });
  const tall = planes(1000, rows, cols, 11);
  for (const acc of [big, bigScalar]) (acc.addPlanes(tall, 0, 1000), acc.addPlanes(more, 0, 2));
  assert.deepEqual(bits(big.finish().points.m2), bits(bigScalar.finish().points.m2));
});

Deno.test("per-point sums read in place from the tile workspace are bit-identical to the scalar code", () => {
  const ws = tileWorkspace();
  if (!ws) return; // no WebAssembly SIMD or multi-memory: nothing to compare
  const rows = 9, cols = 26, plane = rows * cols, steps = 5;
  const data = planes(steps, rows, cols, 21);
  for (let p = 0; p < plane; p += 7) data[p] = NaN;
  data[3 * plane + 11] = Infinity;
  const inPlace = new ShiftedPointSums(plane), scalar = new ShiftedPointSums(plane, { simd: false });
  const at = 100; // values at a float offset in the workspace, as a slab there
  const slab = ws.reserve(4 * (at + data.length)).subarray(at, at + data.length);
  slab.set(data);
  for (let i0 = 0; i0 < rows; i0 += 4) {
    for (let j0 = 0; j0 < cols; j0 += 12) {
      const r = Math.min(4, rows - i0), c = Math.min(12, cols - j0);
      inPlace.addBlock(slab, i0 * cols + j0, plane, cols, steps, r, c, i0 * cols + j0, cols);
      scalar.addBlock(data, i0 * cols + j0, plane, cols, steps, r, c, i0 * cols + j0, cols);
    }
  }
  const a = inPlace.finish(), b = scalar.finish();
  const bits = (x: Float64Array) => [...new BigUint64Array(x.buffer, x.byteOffset, x.length)];
  assert.deepEqual(bits(a.points.m2), bits(b.points.m2));
  assert.deepEqual(bits(a.points.mean), bits(b.points.mean));
  assert.deepEqual(bits(a.points.count), bits(b.points.count));
  assert.deepEqual(a.global, b.global);
});
