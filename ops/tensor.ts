/**
 * The project's own tensor and reverse-mode autograd: a tensor is a plain
 * Float32Array (C order) with a shape; an op run while a tape is recording
 * appends its backward step to the tape, and {@link valueAndGrad} replays
 * the tape in reverse. Why our own and not tfjs: every op of the model is
 * one of our kernels (OpenBLAS matmuls, fused layer norm, GELU and chunked
 * attention with their own backward), so tfjs would add only dispatch
 * overhead, its per-op tensor bookkeeping, and — on its wasm backend — a
 * 4 GiB heap that AtmoRep's 2160-token sequences do not fit in
 * (docs/design/backends.md, "Why not tfjs"). Arrays here live in V8's ordinary
 * heap of ArrayBuffers, bounded by machine memory only.
 *
 * @module
 */

/** A float32 tensor in C order. */
export class Tensor {
  /** Values. */
  readonly data: Float32Array;
  /** Shape. */
  readonly shape: readonly number[];
  /** Gradient of the last {@link valueAndGrad} (same shape), when the tensor needs one. */
  grad?: Float32Array;
  /** Whether gradients flow to this tensor (parameters, and op results that depend on them). */
  readonly requiresGrad: boolean;

  constructor(data: Float32Array, shape: readonly number[], requiresGrad = false) {
    const n = shape.reduce((a, b) => a * b, 1);
    if (data.length !== n) throw new Error(`tensor of shape [${shape}] needs ${n} values, got ${data.length}`);
    this.data = data;
    this.shape = shape;
    this.requiresGrad = requiresGrad;
  }

  /** Number of values. */
  get size(): number {
    return this.data.length;
  }

  /** Length of the last axis. */
  get last(): number {
    return this.shape[this.shape.length - 1];
  }

  /** Rows: product of all axes but the last. */
  get rows(): number {
    return this.data.length / (this.last || 1);
  }

  /** Same values, another shape (shares the array; gradients flow through). */
  reshape(shape: readonly number[]): Tensor {
    const out = new Tensor(this.data, shape, this.requiresGrad);
    record(out, [this], () => accumulate(this, out.grad!, true));
    return out;
  }
}

/** A tensor holding `data` with `shape` that gradients do not flow to. */
export function constant(data: Float32Array, shape: readonly number[]): Tensor {
  return new Tensor(data, shape, false);
}

/** A trainable tensor. */
export function parameter(data: Float32Array, shape: readonly number[]): Tensor {
  return new Tensor(data, shape, true);
}

let tape: (() => void)[] | null = null;

/** Whether a tape is recording (gradients will be asked for). */
export function recording(): boolean {
  return tape !== null;
}

/**
 * Register `out` as computed from `inputs`: when a tape records and any
 * input needs gradients, `backward` (which reads `out.grad` and adds into
 * the inputs' {@link gradOf}) is appended to the tape.
 */
export function record(out: Tensor, inputs: Tensor[], backward: () => void): void {
  if (tape === null || !inputs.some((t) => t.requiresGrad)) return;
  (out as { requiresGrad: boolean }).requiresGrad = true;
  tape.push(() => {
    if (out.grad) backward();
  });
}

/** The gradient array of `t`, allocated (zeros) on first use. */
export function gradOf(t: Tensor): Float32Array {
  return t.grad ??= new Float32Array(t.size);
}

/**
 * Add `g` into `t`'s gradient. With `owned`, `g` may become `t`'s gradient
 * array itself when `t` has none yet (no copy): pass it only for an array
 * no other tensor will accumulate into (the gradient of an op result whose
 * backward step has run).
 */
export function accumulate(t: Tensor, g: Float32Array, owned = false): void {
  if (!t.grad) t.grad = owned ? g : g.slice();
  else addInto(t.grad, g);
}

/** a += b, elementwise. */
export function addInto(a: Float32Array, b: Float32Array): void {
  for (let i = 0; i < a.length; i++) a[i] += b[i];
}

/** A result tensor: requires gradients when a tape records and an input does. */
export function result(data: Float32Array, shape: readonly number[], inputs: Tensor[]): Tensor {
  return new Tensor(data, shape, tape !== null && inputs.some((t) => t.requiresGrad));
}

/**
 * Run `f` recording a tape, then back-propagate from its scalar result.
 * Gradients are added into each parameter's `grad` (zero them between
 * steps); intermediate gradients are dropped with the tape.
 */
export function valueAndGrad(f: () => Tensor): number {
  if (tape !== null) throw new Error("valueAndGrad does not nest");
  tape = [];
  let steps: (() => void)[];
  let loss: Tensor;
  try {
    loss = f();
  } finally {
    steps = tape;
    tape = null;
  }
  if (loss.size !== 1) throw new Error(`valueAndGrad needs a scalar, got shape [${loss.shape}]`);
  (loss.grad ??= new Float32Array(1))[0] = 1;
  for (let i = steps.length - 1; i >= 0; i--) steps[i]();
  return loss.data[0];
}
