/**
 * The per-point sums of ShiftedPointSums (normalization/moments.ts) in
 * WebAssembly SIMD: four points per step (one f32x4 load per time step,
 * widened to two f64x2 halves), with the same float64 operations in the
 * same order per point as the scalar code that closes this file
 * ({@link addBlockScalar}, {@link finishScalar}), so the sums are
 * bit-identical to it. The module is
 * assembled here (see ./asm.ts); each set of sums gets its own instance and
 * memory (count, sum, sum of squares and shift per point, then the min/max
 * lanes, then room for one block of values), so views of one never go
 * stale when another grows. Where there is a tile workspace (./tiles.ts)
 * the module imports it, to read its values in place.
 *
 * @module
 */
import { type Code, growMemory, type Local, type Memory, type ValType, WasmModule } from "./asm.ts";
import { tileWorkspace } from "./tiles.ts";

/** Lanes 2 and 3 of an f32x4 moved to lanes 0 and 1 (for promote_low). */
const HIGH_HALF = [8, 9, 10, 11, 12, 13, 14, 15, 8, 9, 10, 11, 12, 13, 14, 15];
/** The low 8 bytes of two vectors joined. */
const LOW_HALVES = [0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23];
const ZERO = new Array(16).fill(0);
const ONES = [...new Uint8Array(new Float64Array([1, 1]).buffer)];

/** The parameters (i32) of `block`; see {@link blockKernel}. */
const BLOCK_PARAMS: ValType[] = new Array(10).fill("i32");

/**
 * What the pieces of `block` share: the code, the memories it reads values
 * from (`data`) and keeps the sums in (`sums`), its parameters and locals.
 * Vector locals come in lo/hi pairs: the f64x2 halves of four points.
 */
function blockContext(f: Code, data: Memory, sums: Memory) {
  const [dataAt, stepBytes, rowBytes, steps, rows, groups, points, pointRowBytes, planeBytes, minmax] = f.params;
  const [r, g, xo, po, p, xa] = f.newLocals("i32", 6);
  const [lo, hi, x, kl, kh, al, ah, bl, bh, cl, ch, dl, dh, first, nl, nh, stepsV] = f.newLocals("v128", 17);
  return {
    f,
    data,
    sums,
    params: { dataAt, stepBytes, rowBytes, steps, rows, groups, points, pointRowBytes, planeBytes, minmax },
    /** Row r; group g; x offset of the group's values, po of its points; step p at xa. */
    r,
    g,
    xo,
    po,
    p,
    xa,
    /** Running min (lo) and max (hi) lanes; x the values of one step. */
    lo,
    hi,
    x,
    /** Shifts (k), sums (a), sums of squares (b), counts (c), deviations (d), counts before (n). */
    kl,
    kh,
    al,
    ah,
    bl,
    bh,
    cl,
    ch,
    dl,
    dh,
    nl,
    nh,
    /** The first finite value of each lane (for points never visited). */
    first,
    /** The number of steps in both f64 lanes. */
    stepsV,
  };
}
type Block = ReturnType<typeof blockContext>;

/** Address of point array k (0 count, 1 sum, 2 sum of squares, 3 shift) of the group: po + k · planeBytes. */
function pointArray({ f, po, params }: Block, k: number): void {
  f.local.get(po);
  if (k) f.local.get(params.planeBytes).i32.const(k).i32.mul().i32.add();
}

/** dl, dh = both halves of x widened, minus the shifts. */
function deviations({ f, x, kl, kh, dl, dh }: Block): void {
  f.local.get(x).f64x2.promote_low_f32x4().local.get(kl).f64x2.sub().local.set(dl);
  f.local.get(x).local.get(x).i8x16.shuffle(HIGH_HALF).f64x2.promote_low_f32x4().local.get(kh).f64x2.sub()
    .local.set(dh);
}

/** acc += v for a v128 accumulator (v pushed by `value`). */
function accumulate(f: Code, acc: Local, value: () => void): void {
  f.local.get(acc);
  value();
  f.f64x2.add().local.set(acc);
}

/** acc = d is not NaN ? acc + v : acc, lane by lane (NaN lanes leave the sums as they are, as the scalar code skips them). */
function accumulateUnlessNaN(f: Code, acc: Local, value: () => void, d: Local): void {
  f.local.get(acc);
  value();
  f.f64x2.add().local.get(acc).local.get(d).local.get(d).f64x2.eq().v128.bitselect().local.set(acc);
}

const square = (f: Code, d: Local) => () => f.local.get(d).local.get(d).f64x2.mul();

/** array[k] += v for both halves of the group. */
function addToArray(b: Block, k: number, lo: Local, hi: Local): void {
  const { f, sums } = b;
  for (const [half, offset] of [[lo, 0], [hi, 16]] as const) {
    pointArray(b, k);
    pointArray(b, k);
    f.v128.load(sums, { offset }).local.get(half).f64x2.add().v128.store(sums, { offset });
  }
}

/** for (p = 0, xa = xo; p < steps; p++, xa += stepBytes) { x = load(xa); body } (steps ≥ 1). */
function overSteps(b: Block, body: () => void): void {
  const { f, p, xa, xo, x, params } = b;
  f.i32.const(0).local.set(p).local.get(xo).local.set(xa);
  f.doWhile(() => {
    f.local.get(xa).v128.load(b.data).local.set(x);
    body();
    f.local.get(xa).local.get(params.stepBytes).i32.add().local.set(xa);
    f.local.get(p).i32.const(1).i32.add().local.set(p);
  }, () => f.local.get(p).local.get(params.steps).i32.lt_u());
}

/** Lanes never visited take the first finite value of their steps as shift (searched backwards). */
function firstVisit(b: Block): void {
  const { f, kl, kh, nl, nh, first, p, xa, xo, x, params, sums } = b;
  f.local.get(kl).f32x4.demote_f64x2_zero().local.get(kh).f32x4.demote_f64x2_zero().i8x16.shuffle(LOW_HALVES)
    .local.set(first);
  f.local.get(params.steps).local.set(p);
  f.local.get(xo).local.get(params.steps).local.get(params.stepBytes).i32.mul().i32.add().local.set(xa);
  f.doWhile(() => {
    f.local.get(xa).local.get(params.stepBytes).i32.sub().local.set(xa);
    f.local.get(xa).v128.load(b.data).local.set(x);
    f.local.get(x).local.get(first).local.get(x).local.get(x).f32x4.eq().v128.bitselect().local.set(first);
    f.local.get(p).i32.const(1).i32.sub().local.set(p);
  }, () => f.local.get(p));
  // k = n == 0 ? first : k, per half.
  f.local.get(first).f64x2.promote_low_f32x4();
  f.local.get(kl).local.get(nl).v128.const(ZERO).f64x2.eq().v128.bitselect().local.set(kl);
  f.local.get(first).local.get(first).i8x16.shuffle(HIGH_HALF).f64x2.promote_low_f32x4();
  f.local.get(kh).local.get(nh).v128.const(ZERO).f64x2.eq().v128.bitselect().local.set(kh);
  pointArray(b, 3);
  f.local.get(kl).v128.store(sums);
  pointArray(b, 3);
  f.local.get(kh).v128.store(sums, { offset: 16 });
}

/** The sums over the group's steps, min and max lanes with them (NaN spreads into the sums; see {@link recount}). */
function sumSteps(b: Block): void {
  const { f, lo, hi, x, al, ah, bl, bh, dl, dh } = b;
  overSteps(b, () => {
    f.local.get(lo).local.get(x).f32x4.pmin().local.set(lo);
    f.local.get(hi).local.get(x).f32x4.pmax().local.set(hi);
    deviations(b);
    accumulate(f, al, () => f.local.get(dl));
    accumulate(f, bl, square(f, dl));
    accumulate(f, ah, () => f.local.get(dh));
    accumulate(f, bh, square(f, dh));
  });
}

/** Some lane met a NaN: count and sum again, skipping NaN lane by lane. */
function recount(b: Block): void {
  const { f, al, ah, bl, bh, cl, ch, dl, dh } = b;
  for (const acc of [al, ah, bl, bh, cl, ch]) f.v128.const(ZERO).local.set(acc);
  const one = () => f.v128.const(ONES);
  overSteps(b, () => {
    deviations(b);
    accumulateUnlessNaN(f, al, () => f.local.get(dl), dl);
    accumulateUnlessNaN(f, bl, square(f, dl), dl);
    accumulateUnlessNaN(f, cl, one, dl);
    accumulateUnlessNaN(f, ah, () => f.local.get(dh), dh);
    accumulateUnlessNaN(f, bh, square(f, dh), dh);
    accumulateUnlessNaN(f, ch, one, dh);
  });
}

/** Four points (one group) over all steps of a row. */
function group(b: Block): void {
  const { f, po, nl, nh, kl, kh, al, ah, bl, bh, cl, ch, stepsV, sums } = b;
  f.local.get(po).v128.load(sums).local.set(nl);
  f.local.get(po).v128.load(sums, { offset: 16 }).local.set(nh);
  pointArray(b, 3);
  f.v128.load(sums).local.set(kl);
  pointArray(b, 3);
  f.v128.load(sums, { offset: 16 }).local.set(kh);
  // Any point not counted yet?
  f.local.get(nl).v128.const(ZERO).f64x2.eq().local.get(nh).v128.const(ZERO).f64x2.eq().v128.or().v128.any_true();
  f.if(() => firstVisit(b));
  for (const acc of [al, ah, bl, bh]) f.v128.const(ZERO).local.set(acc);
  sumSteps(b);
  f.local.get(stepsV).local.set(cl).local.get(stepsV).local.set(ch);
  // Any sum NaN?
  f.local.get(al).local.get(al).f64x2.ne().local.get(ah).local.get(ah).f64x2.ne().v128.or().v128.any_true();
  f.if(() => recount(b));
  addToArray(b, 0, cl, ch);
  addToArray(b, 1, al, ah);
  addToArray(b, 2, bl, bh);
}

/**
 * block(data, stepBytes, rowBytes, steps, rows, groups, points, pointRowBytes, planeBytes, minmax):
 * add `steps` × `rows` × 4·`groups` float32 values at byte `data` (strides in
 * bytes) of memory `data` to the points whose count is at byte `points`
 * (row stride `pointRowBytes`) of memory `sums`; sums, sums of squares and
 * shifts follow at 1, 2 and 3 × `planeBytes`. Min and max lanes (f32x4
 * each) are read from and written back to `minmax` (in `sums`).
 */
function blockKernel(f: Code, data: Memory, sums: Memory): void {
  const b = blockContext(f, data, sums);
  const { r, g, xo, po, lo, hi, stepsV, params } = b;
  f.local.get(params.minmax).v128.load(sums).local.set(lo);
  f.local.get(params.minmax).v128.load(sums, { offset: 16 }).local.set(hi);
  f.local.get(params.steps).f64.convert_i32_u().f64x2.splat().local.set(stepsV);
  f.until(() => f.local.get(r).local.get(params.rows).i32.ge_u(), () => {
    f.local.get(params.dataAt).local.get(r).local.get(params.rowBytes).i32.mul().i32.add().local.set(xo);
    f.local.get(params.points).local.get(r).local.get(params.pointRowBytes).i32.mul().i32.add().local.set(po);
    f.i32.const(0).local.set(g);
    f.until(() => f.local.get(g).local.get(params.groups).i32.ge_u(), () => {
      group(b);
      f.local.get(xo).i32.const(16).i32.add().local.set(xo);
      f.local.get(po).i32.const(32).i32.add().local.set(po);
      f.local.get(g).i32.const(1).i32.add().local.set(g);
    });
    f.local.get(r).i32.const(1).i32.add().local.set(r);
  });
  f.local.get(params.minmax).local.get(lo).v128.store(sums);
  f.local.get(params.minmax).local.get(hi).v128.store(sums, { offset: 16 });
}

/**
 * finish(points, planeBytes, coefficients, results): the scalar code's
 * `finish`, `pooled` and `coefficientsInto` in one function, operation for
 * operation (so bit-identical): per point, mean into the shift array and
 * M2 into the sums of squares (both 0 where nothing was counted); the
 * float32 mean plane then std plane at `coefficients` (NaN where nothing
 * was counted); and at `results` the pooled count, mean and M2 as float64.
 * Everything is in memory `sums`.
 */
function finishKernel(f: Code, sums: Memory): void {
  const [points, plane, coef, results] = f.params;
  const [i, p8, q4] = f.newLocals("i32", 3);
  const [c, a, mean, m2, nt, sum, mu, total, d] = f.newLocals("f64", 9);
  const m8 = (offset = 0) => ({ offset, align: 3 }), m4 = { align: 2 };
  /** Address of array k (0 count, 1 sum, 2 sum of squares, 3 shift) at point i: p8 + k · planeBytes. */
  const at = (k: number) => {
    f.local.get(p8);
    if (k) f.local.get(plane).i32.const(k).i32.mul().i32.add();
  };
  const loadArray = (k: number) => (at(k), f.f64.load(sums, m8()));
  const storeArray = (k: number, value: () => void) => (at(k), value(), f.f64.store(sums, m8()));
  /** Store the float32 `value` as the mean (plane 0) or std (plane 1) coefficient of point i: coef + 4i + plane · 4 · points. */
  const storeCoefficient = (which: number, value: () => void) => {
    f.local.get(coef).local.get(q4).i32.add();
    if (which) f.local.get(points).i32.const(4).i32.mul().i32.add();
    value();
    f.f32.store(sums, m4);
  };
  const forPoints = (body: () => void) => {
    f.i32.const(0).local.set(i);
    f.until(() => f.local.get(i).local.get(points).i32.ge_u(), () => {
      f.local.get(i).i32.const(8).i32.mul().local.set(p8);
      f.local.get(i).i32.const(4).i32.mul().local.set(q4);
      loadArray(0);
      f.local.set(c);
      body();
      f.local.get(i).i32.const(1).i32.add().local.set(i);
    });
  };
  const nothingCounted = () => f.local.get(c).f64.const(0).f64.eq();
  // Per point: mean, M2 and the coefficients; pooled n += count, sum += count · mean.
  forPoints(() => {
    nothingCounted();
    f.if(() => {
      storeArray(3, () => f.f64.const(0));
      storeArray(2, () => f.f64.const(0));
      f.f64.const(0).local.set(mean);
      storeCoefficient(0, () => f.f32.const(NaN));
      storeCoefficient(1, () => f.f32.const(NaN));
    }, () => {
      loadArray(1);
      f.local.get(c).f64.div().local.set(a);
      loadArray(3);
      f.local.get(a).f64.add().local.set(mean);
      storeArray(3, () => f.local.get(mean));
      f.f64.const(0);
      loadArray(2);
      loadArray(1);
      f.local.get(a).f64.mul().f64.sub().f64.max().local.set(m2);
      storeArray(2, () => f.local.get(m2));
      storeCoefficient(0, () => f.local.get(mean).f32.demote_f64());
      storeCoefficient(1, () => f.local.get(m2).local.get(c).f64.div().f64.sqrt().f32.demote_f64());
    });
    f.local.get(nt).local.get(c).f64.add().local.set(nt);
    f.local.get(sum).local.get(c).local.get(mean).f64.mul().f64.add().local.set(sum);
  });
  f.local.get(sum).local.get(nt).f64.div().local.set(mu);
  // Pooled M2: total += m2 + count · (mean − mu)², counted points only.
  forPoints(() => {
    nothingCounted();
    f.i32.eqz();
    f.if(() => {
      loadArray(3);
      f.local.get(mu).f64.sub().local.set(d);
      f.local.get(total);
      loadArray(2);
      f.local.get(c).local.get(d).f64.mul().local.get(d).f64.mul().f64.add().f64.add().local.set(total);
    });
  });
  f.local.get(results).local.get(nt).f64.store(sums, m8(0));
  f.local.get(results).local.get(mu).f64.store(sums, m8(8));
  f.local.get(results).local.get(total).f64.store(sums, m8(16));
}

/**
 * The module's bytes: `block` over values in its own memory; with the tile
 * workspace, which it then imports as memory 0 (its own is memory 1), also
 * `blockWorkspace` over values read in place there.
 */
export function pointSumsModule(withWorkspace: boolean): Uint8Array<ArrayBuffer> {
  const module = new WasmModule();
  const workspace = withWorkspace ? module.importMemory("workspace") : undefined;
  const own = module.memory();
  module.func("block", BLOCK_PARAMS, [], (f) => blockKernel(f, own, own));
  if (workspace) module.func("blockWorkspace", BLOCK_PARAMS, [], (f) => blockKernel(f, workspace, own));
  return module.func("finish", ["i32", "i32", "i32", "i32"], [], (f) => finishKernel(f, own)).bytes();
}

/** The compiled module (with or without the workspace); null where WebAssembly SIMD is missing. */
let compiled: WebAssembly.Module | null | undefined;

/** The kernel's signature; offsets and strides in bytes (see {@link blockKernel}). */
export type SumsKernel = (
  data: number,
  stepBytes: number,
  rowBytes: number,
  steps: number,
  rows: number,
  groups: number,
  points: number,
  pointRowBytes: number,
  planeBytes: number,
  minmax: number,
) => void;

/** One set of sums in its own WebAssembly memory (see the module comment for its layout). */
export interface SimdSumsMemory {
  /** The instance's memory (its buffer is replaced when it grows). */
  readonly memory: WebAssembly.Memory;
  /** The kernel over values in {@link memory}. */
  block: SumsKernel;
  /** The kernel over values in the tile workspace (`data` a byte offset there), where there is one. */
  blockWorkspace?: SumsKernel;
  /** See {@link finishKernel}; offsets in bytes. */
  finish(points: number, planeBytes: number, coefficients: number, results: number): void;
  /** The tile workspace's memory `blockWorkspace` reads. */
  workspace?: WebAssembly.Memory;
}

/**
 * A fresh instance for sums of `points` points with room for `blockBytes`
 * of values after them, or undefined where WebAssembly SIMD is missing.
 */
export function simdSumsMemory(points: number, blockBytes: number): SimdSumsMemory | undefined {
  const workspace = tileWorkspace()?.memory;
  if (compiled === undefined) {
    const bytes = pointSumsModule(workspace !== undefined);
    compiled = WebAssembly.validate(bytes) ? new WebAssembly.Module(bytes) : null;
  }
  if (!compiled) return undefined;
  const instance = new WebAssembly.Instance(compiled, workspace ? { env: { workspace } } : {});
  const memory = instance.exports.memory as WebAssembly.Memory;
  growMemory(memory, 32 * points + 32 + blockBytes);
  return {
    memory,
    block: instance.exports.block as SumsKernel,
    blockWorkspace: instance.exports.blockWorkspace as SumsKernel | undefined,
    finish: instance.exports.finish as SimdSumsMemory["finish"],
    workspace,
  };
}

// The scalar reference: what `block` and the first part of `finish` compute, in the same float64 operations in
// the same order per point (ShiftedPointSums runs it for the columns left over from groups of four, and
// wherever WebAssembly SIMD is missing; the tests compare the two bit for bit).

/** The arrays of a set of per-point sums: count, sums of x − shift and of its square, and the shift, per point. */
export interface PointSumArrays {
  /** Count. */
  n: Float64Array;
  /** Sum of x − shift. */
  s1: Float64Array;
  /** Sum of (x − shift)². */
  s2: Float64Array;
  /** The shift (the point's first finite value). */
  shift: Float64Array;
}

/** The min and max over all values added so far (widened by {@link addBlockScalar}). */
export interface ValueRange {
  /** Minimum. */
  min: number;
  /** Maximum. */
  max: number;
}

/**
 * Add a block of `steps` × `rows` × `cols` values to `sums` in scalar code:
 * value (p, r, c) is at `offset + p·stepStride + r·rowStride + c` and
 * belongs to point `point0 + r·pointRowStride + c`; NaN values are
 * skipped; `range` widens to the values' min and max.
 */
export function addBlockScalar(
  sums: PointSumArrays,
  range: ValueRange,
  data: Float32Array,
  offset: number,
  stepStride: number,
  rowStride: number,
  steps: number,
  rows: number,
  cols: number,
  point0: number,
  pointRowStride: number,
): void {
  const { n, s1, s2, shift } = sums;
  let lo = range.min, hi = range.max;
  for (let r = 0; r < rows; r++) {
    const rowBase = offset + r * rowStride;
    const pointBase = point0 + r * pointRowStride;
    for (let col = 0; col < cols; col++) {
      const i = pointBase + col;
      let k = shift[i];
      if (n[i] === 0) {
        // First visit: shift by the point's first finite value.
        for (let p = 0, j = rowBase + col; p < steps; p++, j += stepStride) {
          if (data[j] === data[j]) {
            k = shift[i] = data[j];
            break;
          }
        }
      }
      // No NaN checks on the way: NaN propagates into the sums, and only then is the point recounted.
      // (NaN never passes the min/max comparisons.)
      let a = 0, b = 0;
      for (let p = 0, j = rowBase + col; p < steps; p++, j += stepStride) {
        const x = data[j];
        const d = x - k;
        a += d;
        b += d * d;
        if (x < lo) lo = x;
        if (x > hi) hi = x;
      }
      let c = steps;
      if (a !== a) {
        c = a = b = 0;
        for (let p = 0, j = rowBase + col; p < steps; p++, j += stepStride) {
          const d = data[j] - k;
          if (d === d) {
            c++;
            a += d;
            b += d * d;
          }
        }
      }
      n[i] += c;
      s1[i] += a;
      s2[i] += b;
    }
  }
  range.min = lo;
  range.max = hi;
}

/**
 * The per-point part of `finish` in scalar code, in place: `mean` (the
 * shift array, or zeros) becomes the mean and `s2` the M2, both 0 where
 * nothing was counted.
 */
export function finishScalar({ n, s1, s2 }: Omit<PointSumArrays, "shift">, mean: Float64Array): void {
  for (let i = 0; i < n.length; i++) {
    const c = n[i];
    if (c === 0) {
      mean[i] = s2[i] = 0;
      continue;
    }
    const a = s1[i] / c;
    mean[i] += a;
    s2[i] = Math.max(0, s2[i] - s1[i] * a);
  }
}
