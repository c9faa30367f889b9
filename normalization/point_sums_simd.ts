/**
 * The per-point sums of {@link ./moments.ts ShiftedPointSums} in
 * WebAssembly SIMD: four points per step (one f32x4 load per time step,
 * widened to two f64x2 halves), with the same float64 operations in the
 * same order per point as the scalar code, so the sums are bit-identical
 * to it. The module is assembled here from its instructions; each set of
 * sums gets its own instance and memory (count, sum, sum of squares and
 * shift per point, then the min/max lanes, then room for one block of
 * values), so views of one never go stale when another grows.
 *
 * @module
 */
import {
  BLOCK,
  br,
  brIf,
  END,
  growMemory,
  I32,
  i32Const as i32,
  i8x16Shuffle as shuffle,
  leb128,
  localGet as get,
  localSet as set,
  LOOP,
  memarg,
  v128Load,
  v128Store,
  wasmModule,
} from "../wasm.ts";
import { tileWorkspace } from "../zarr/simd_tiles.ts";

const { add: I32_ADD, sub: I32_SUB, mul: I32_MUL, ltU: I32_LT_U, geU: I32_GE_U } = I32;
const F64_CONVERT_I32_U = 0xb8;
const IF = [0x04, 0x40];
const simd = (op: number) => [0xfd, ...leb128(op)];
/** Memory indices the body being assembled uses: values read (`data`), sums (`sums`); see {@link blockBody}. */
const memories = { data: 0, sums: 0 };
const loadData = (offset = 0) => v128Load(memories.data, offset);
const loadSums = (offset = 0) => v128Load(memories.sums, offset);
const storeSums = (offset = 0) => v128Store(memories.sums, offset);
const vconst = (bytes: number[]) => [...simd(0x0c), ...bytes];
const F64X2_SPLAT = simd(0x14), F32X4_EQ = simd(0x41), F64X2_EQ = simd(0x47), F64X2_NE = simd(0x48);
const V128_OR = simd(0x50), BITSELECT = simd(0x52), ANY_TRUE = simd(0x53);
const DEMOTE = simd(0x5e), PROMOTE_LOW = simd(0x5f);
const PMIN = simd(0xea), PMAX = simd(0xeb), F64X2_ADD = simd(0xf0), F64X2_SUB = simd(0xf1), F64X2_MUL = simd(0xf2);
/** Lanes 2 and 3 of an f32x4 moved to lanes 0 and 1 (for promote_low). */
const HIGH_HALF = [8, 9, 10, 11, 12, 13, 14, 15, 8, 9, 10, 11, 12, 13, 14, 15];
/** The low 8 bytes of two vectors joined. */
const LOW_HALVES = [0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23];
const ZERO = vconst(new Array(16).fill(0));
const ONES = vconst([...new Uint8Array(new Float64Array([1, 1]).buffer)]);

// Parameters (i32).
const DATA = 0, STEP_BYTES = 1, ROW_BYTES = 2, STEPS = 3, ROWS = 4, GROUPS = 5, POINTS = 6, POINT_ROW_BYTES = 7;
const PLANE_BYTES = 8, MINMAX = 9;
// Locals: i32, then v128.
const R = 10, G = 11, XO = 12, PO = 13, P = 14, XA = 15;
const [LO, HI, X, KL, KH, AL, AH, BL, BH, CL, CH, DL, DH, F, NL, NH, STEPSV] = Array.from(
  { length: 17 },
  (_, i) => 16 + i,
);

/** `get(v)` of both halves of x widened, minus the shifts: leaves dl, dh set. */
const deviations = [
  ...get(X),
  ...PROMOTE_LOW,
  ...get(KL),
  ...F64X2_SUB,
  ...set(DL),
  ...get(X),
  ...get(X),
  ...shuffle(HIGH_HALF),
  ...PROMOTE_LOW,
  ...get(KH),
  ...F64X2_SUB,
  ...set(DH),
];

/** acc += v for a v128 accumulator (v's code given). */
const accumulate = (acc: number, v: number[]) => [...get(acc), ...v, ...F64X2_ADD, ...set(acc)];
/** acc = m ? acc + v : acc (NaN lanes leave the sums as they are, as the scalar code skips them). */
const accumulateWhere = (acc: number, v: number[], mask: number[]) => [
  ...get(acc),
  ...v,
  ...F64X2_ADD,
  ...get(acc),
  ...mask,
  ...BITSELECT,
  ...set(acc),
];
/** v128 at po + k · plane bytes + offset: the address code. */
const pointArray = (k: number) => k === 0 ? get(PO) : [...get(PO), ...get(PLANE_BYTES), ...i32(k), I32_MUL, I32_ADD];
/** array[k] += v for both halves of the group (v's code per half). */
const addToArray = (k: number, lo: number[], hi: number[]) => [
  ...pointArray(k),
  ...pointArray(k),
  ...loadSums(0),
  ...lo,
  ...F64X2_ADD,
  ...storeSums(0),
  ...pointArray(k),
  ...pointArray(k),
  ...loadSums(16),
  ...hi,
  ...F64X2_ADD,
  ...storeSums(16),
];
/** for (p = 0, xa = xo; p < steps; p++, xa += stepBytes) { x = load(xa); body } (steps ≥ 1). */
const overSteps = (body: number[]) => [
  ...i32(0),
  ...set(P),
  ...get(XO),
  ...set(XA),
  ...LOOP,
  ...get(XA),
  ...loadData(0),
  ...set(X),
  ...body,
  ...get(XA),
  ...get(STEP_BYTES),
  I32_ADD,
  ...set(XA),
  ...get(P),
  ...i32(1),
  I32_ADD,
  ...set(P),
  ...get(P),
  ...get(STEPS),
  I32_LT_U,
  ...brIf(0),
  END,
];

/**
 * block(data, stepBytes, rowBytes, steps, rows, groups, points, pointRowBytes, planeBytes, minmax):
 * add `steps` × `rows` × 4·`groups` float32 values at byte `data` (strides in
 * bytes) to the points whose count is at byte `points` (row stride
 * `pointRowBytes`); sums, sums of squares and shifts follow at 1, 2 and 3
 * × `planeBytes`. Min and max lanes (f32x4 each) are read from and written
 * back to `minmax`.
 */
function blockBody(dataMemory: number, sumsMemory: number): number[] {
  memories.data = dataMemory;
  memories.sums = sumsMemory;
  const firstVisit = [
    // Lanes never visited take the first finite value of their steps as shift (searched backwards).
    ...get(KL),
    ...DEMOTE,
    ...get(KH),
    ...DEMOTE,
    ...shuffle(LOW_HALVES),
    ...set(F),
    ...get(STEPS),
    ...set(P),
    ...get(XO),
    ...get(STEPS),
    ...get(STEP_BYTES),
    I32_MUL,
    I32_ADD,
    ...set(XA),
    ...LOOP,
    ...get(XA),
    ...get(STEP_BYTES),
    I32_SUB,
    ...set(XA),
    ...get(XA),
    ...loadData(0),
    ...set(X),
    ...get(X),
    ...get(F),
    ...get(X),
    ...get(X),
    ...F32X4_EQ,
    ...BITSELECT,
    ...set(F),
    ...get(P),
    ...i32(1),
    I32_SUB,
    ...set(P),
    ...get(P),
    ...brIf(0),
    END,
    ...get(F),
    ...PROMOTE_LOW,
    ...get(KL),
    ...get(NL),
    ...ZERO,
    ...F64X2_EQ,
    ...BITSELECT,
    ...set(KL),
    ...get(F),
    ...get(F),
    ...shuffle(HIGH_HALF),
    ...PROMOTE_LOW,
    ...get(KH),
    ...get(NH),
    ...ZERO,
    ...F64X2_EQ,
    ...BITSELECT,
    ...set(KH),
    ...pointArray(3),
    ...get(KL),
    ...storeSums(0),
    ...pointArray(3),
    ...get(KH),
    ...storeSums(16),
  ];
  const sums = overSteps([
    ...get(LO),
    ...get(X),
    ...PMIN,
    ...set(LO),
    ...get(HI),
    ...get(X),
    ...PMAX,
    ...set(HI),
    ...deviations,
    ...accumulate(AL, get(DL)),
    ...accumulate(BL, [...get(DL), ...get(DL), ...F64X2_MUL]),
    ...accumulate(AH, get(DH)),
    ...accumulate(BH, [...get(DH), ...get(DH), ...F64X2_MUL]),
  ]);
  const notNaN = (d: number) => [...get(d), ...get(d), ...F64X2_EQ];
  const recount = [
    // Some lane met a NaN: count and sum again, skipping NaN lane by lane.
    ...ZERO,
    ...set(AL),
    ...ZERO,
    ...set(AH),
    ...ZERO,
    ...set(BL),
    ...ZERO,
    ...set(BH),
    ...ZERO,
    ...set(CL),
    ...ZERO,
    ...set(CH),
    ...overSteps([
      ...deviations,
      ...accumulateWhere(AL, get(DL), notNaN(DL)),
      ...accumulateWhere(BL, [...get(DL), ...get(DL), ...F64X2_MUL], notNaN(DL)),
      ...accumulateWhere(CL, ONES, notNaN(DL)),
      ...accumulateWhere(AH, get(DH), notNaN(DH)),
      ...accumulateWhere(BH, [...get(DH), ...get(DH), ...F64X2_MUL], notNaN(DH)),
      ...accumulateWhere(CH, ONES, notNaN(DH)),
    ]),
  ];
  const group = [
    ...get(PO),
    ...loadSums(0),
    ...set(NL),
    ...get(PO),
    ...loadSums(16),
    ...set(NH),
    ...pointArray(3),
    ...loadSums(0),
    ...set(KL),
    ...pointArray(3),
    ...loadSums(16),
    ...set(KH),
    ...get(NL),
    ...ZERO,
    ...F64X2_EQ,
    ...get(NH),
    ...ZERO,
    ...F64X2_EQ,
    ...V128_OR,
    ...ANY_TRUE,
    ...IF,
    ...firstVisit,
    END,
    ...ZERO,
    ...set(AL),
    ...ZERO,
    ...set(AH),
    ...ZERO,
    ...set(BL),
    ...ZERO,
    ...set(BH),
    ...sums,
    ...get(STEPSV),
    ...set(CL),
    ...get(STEPSV),
    ...set(CH),
    ...get(AL),
    ...get(AL),
    ...F64X2_NE,
    ...get(AH),
    ...get(AH),
    ...F64X2_NE,
    ...V128_OR,
    ...ANY_TRUE,
    ...IF,
    ...recount,
    END,
    ...addToArray(0, get(CL), get(CH)),
    ...addToArray(1, get(AL), get(AH)),
    ...addToArray(2, get(BL), get(BH)),
  ];
  return [
    0x02,
    0x06,
    0x7f,
    17,
    0x7b,
    ...get(MINMAX),
    ...loadSums(0),
    ...set(LO),
    ...get(MINMAX),
    ...loadSums(16),
    ...set(HI),
    ...get(STEPS),
    F64_CONVERT_I32_U,
    ...F64X2_SPLAT,
    ...set(STEPSV),
    ...BLOCK,
    ...LOOP, // rows
    ...get(R),
    ...get(ROWS),
    I32_GE_U,
    ...brIf(1),
    ...get(DATA),
    ...get(R),
    ...get(ROW_BYTES),
    I32_MUL,
    I32_ADD,
    ...set(XO),
    ...get(POINTS),
    ...get(R),
    ...get(POINT_ROW_BYTES),
    I32_MUL,
    I32_ADD,
    ...set(PO),
    ...i32(0),
    ...set(G),
    ...BLOCK,
    ...LOOP, // groups of four points
    ...get(G),
    ...get(GROUPS),
    I32_GE_U,
    ...brIf(1),
    ...group,
    ...get(XO),
    ...i32(16),
    I32_ADD,
    ...set(XO),
    ...get(PO),
    ...i32(32),
    I32_ADD,
    ...set(PO),
    ...get(G),
    ...i32(1),
    I32_ADD,
    ...set(G),
    ...br(0),
    END,
    END,
    ...get(R),
    ...i32(1),
    I32_ADD,
    ...set(R),
    ...br(0),
    END,
    END,
    ...get(MINMAX),
    ...get(LO),
    ...storeSums(0),
    ...get(MINMAX),
    ...get(HI),
    ...storeSums(16),
    END,
  ];
}

/**
 * The module's bytes: `block` over values in its own memory; with the tile
 * workspace, which it then imports as memory 0 (its own is memory 1), also
 * `blockWorkspace` over values read in place there.
 */
function moduleBytes(withWorkspace: boolean): Uint8Array<ArrayBuffer> {
  const params = new Array(10).fill(0x7f);
  const finish = {
    name: "finish",
    params: [0x7f, 0x7f, 0x7f, 0x7f],
    result: [],
    body: finishBody(withWorkspace ? 1 : 0),
  };
  if (!withWorkspace) return wasmModule([{ name: "block", params, result: [], body: blockBody(0, 0) }, finish]);
  return wasmModule([
    { name: "block", params, result: [], body: blockBody(1, 1) },
    { name: "blockWorkspace", params, result: [], body: blockBody(0, 1) },
    finish,
  ], { imported: ["workspace"] });
}

/**
 * finish(points, planeBytes, coefficients, results): the scalar code's
 * `finish`, `pooled` and `coefficientsInto` in one module, operation for
 * operation (so bit-identical): per point, mean into the shift array and
 * M2 into the sums of squares (both 0 where nothing was counted); the
 * float32 mean plane then std plane at `coefficients` (NaN where nothing
 * was counted); and at `results` the pooled count, mean and M2 as float64.
 */
function finishBody(sums: number): number[] {
  const [POINTS, PLANE, COEF, RESULTS] = [0, 1, 2, 3];
  const [I, P8, Q4] = [4, 5, 6];
  const [C, A, MEAN, M2, NT, SUM, MU, TOTAL, D] = [7, 8, 9, 10, 11, 12, 13, 14, 15];
  const F64_LOAD = 0x2b, F64_STORE = 0x39, F32_STORE = 0x38;
  const [F64_EQ, F64_ADD, F64_SUB, F64_MUL, F64_DIV, F64_MAX, F64_SQRT, DEMOTE_F32] = [
    0x61,
    0xa0,
    0xa1,
    0xa2,
    0xa3,
    0xa5,
    0x9f,
    0xb6,
  ];
  const f64 = (v: number) => [0x44, ...new Uint8Array(new Float64Array([v]).buffer)];
  const f32NaN = [0x43, 0x00, 0x00, 0xc0, 0x7f];
  const m8 = (offset = 0) => memarg(sums, offset, 3);
  const m4 = (offset = 0) => memarg(sums, offset, 2);
  /** Address of array k (0 count, 1 sum, 2 sum of squares, 3 shift) at point i: p8 + k · planeBytes. */
  const at = (k: number) => k === 0 ? get(P8) : [...get(P8), ...get(PLANE), ...i32(k), I32_MUL, I32_ADD];
  const loadArray = (k: number) => [...at(k), F64_LOAD, ...m8()];
  const storeArray = (k: number, value: number[]) => [...at(k), ...value, F64_STORE, ...m8()];
  /** Address of the mean (plane 0) or std (plane 1) coefficient of point i: coef + 4i + plane · 4 · points. */
  const coefAt = (plane: number) => [
    ...get(COEF),
    ...get(Q4),
    I32_ADD,
    ...(plane ? [...get(POINTS), ...i32(4), I32_MUL, I32_ADD] : []),
  ];
  const forPoints = (body: number[]) => [
    ...i32(0),
    ...set(I),
    ...BLOCK,
    ...LOOP,
    ...get(I),
    ...get(POINTS),
    I32_GE_U,
    ...brIf(1),
    ...get(I),
    ...i32(8),
    I32_MUL,
    ...set(P8),
    ...get(I),
    ...i32(4),
    I32_MUL,
    ...set(Q4),
    ...loadArray(0),
    ...set(C),
    ...body,
    ...get(I),
    ...i32(1),
    I32_ADD,
    ...set(I),
    ...br(0),
    END,
    END,
  ];
  const first = forPoints([
    ...get(C),
    ...f64(0),
    F64_EQ,
    0x04,
    0x40, // if nothing counted
    ...storeArray(3, f64(0)),
    ...storeArray(2, f64(0)),
    ...f64(0),
    ...set(MEAN),
    ...coefAt(0),
    ...f32NaN,
    F32_STORE,
    ...m4(),
    ...coefAt(1),
    ...f32NaN,
    F32_STORE,
    ...m4(),
    0x05, // else
    ...loadArray(1),
    ...get(C),
    F64_DIV,
    ...set(A),
    ...loadArray(3),
    ...get(A),
    F64_ADD,
    ...set(MEAN),
    ...storeArray(3, get(MEAN)),
    ...f64(0),
    ...loadArray(2),
    ...loadArray(1),
    ...get(A),
    F64_MUL,
    F64_SUB,
    F64_MAX,
    ...set(M2),
    ...storeArray(2, get(M2)),
    ...coefAt(0),
    ...get(MEAN),
    DEMOTE_F32,
    F32_STORE,
    ...m4(),
    ...coefAt(1),
    ...get(M2),
    ...get(C),
    F64_DIV,
    F64_SQRT,
    DEMOTE_F32,
    F32_STORE,
    ...m4(),
    END,
    // pooled: n += count, sum += count · mean
    ...get(NT),
    ...get(C),
    F64_ADD,
    ...set(NT),
    ...get(SUM),
    ...get(C),
    ...get(MEAN),
    F64_MUL,
    F64_ADD,
    ...set(SUM),
  ]);
  const second = forPoints([
    ...get(C),
    ...f64(0),
    F64_EQ,
    0x45, // i32.eqz: counted points only
    0x04,
    0x40,
    ...loadArray(3),
    ...get(MU),
    F64_SUB,
    ...set(D),
    ...get(TOTAL),
    ...loadArray(2),
    ...get(C),
    ...get(D),
    F64_MUL,
    ...get(D),
    F64_MUL,
    F64_ADD,
    F64_ADD,
    ...set(TOTAL),
    END,
  ]);
  return [
    0x02,
    0x03,
    0x7f,
    0x09,
    0x7c,
    ...first,
    ...get(SUM),
    ...get(NT),
    F64_DIV,
    ...set(MU),
    ...second,
    ...get(RESULTS),
    ...get(NT),
    F64_STORE,
    ...m8(0),
    ...get(RESULTS),
    ...get(MU),
    F64_STORE,
    ...m8(8),
    ...get(RESULTS),
    ...get(TOTAL),
    F64_STORE,
    ...m8(16),
    END,
  ];
}

/** The compiled module (with or without the workspace); null where WebAssembly SIMD is missing. */
let compiled: WebAssembly.Module | null | undefined;

/** The kernel's signature; offsets and strides in bytes (see {@link blockBody}). */
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
  /** See {@link finishBody}; offsets in bytes. */
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
    const bytes = moduleBytes(workspace !== undefined);
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
