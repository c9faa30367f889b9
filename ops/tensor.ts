/**
 * The project's own tensor and reverse-mode autograd: a tensor is a plain
 * Float32Array (C order) with a shape — or a buffer on a device
 * (ops/device.ts; docs/design/device.md), whose values are read only by an
 * explicit `await t.read()`; an op run while a tape is recording
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
import type { Device, DeviceBuffer } from "./device.ts";

/** A float32 tensor in C order: values on the host (a Float32Array) or in a device buffer. */
export class Tensor {
  /** Host values (undefined for a device tensor). */
  #host: Float32Array | undefined;
  /** Host gradient. */
  #grad: Float32Array | undefined;
  /** Device and device values (device tensors). */
  #device: Device | undefined;
  #buffer: DeviceBuffer | undefined;
  /** Device gradient of the last backward pass (device tensors; the counterpart of {@link grad}). */
  gradBuffer?: DeviceBuffer;
  /** Shape. */
  readonly shape: readonly number[];
  /** Number of values. */
  readonly size: number;
  /** Whether gradients flow to this tensor (parameters, and op results that depend on them). */
  readonly requiresGrad: boolean;

  constructor(data: Float32Array, shape: readonly number[], requiresGrad?: boolean);
  constructor(data: DeviceBuffer, shape: readonly number[], requiresGrad: boolean, device: Device);
  constructor(data: Float32Array | DeviceBuffer, shape: readonly number[], requiresGrad = false, device?: Device) {
    const n = shape.reduce((a, b) => a * b, 1);
    // A device buffer may be longer (a scalar loss keeps its count beside it).
    if (device ? data.length < n : data.length !== n) {
      throw new Error(`tensor of shape [${shape}] needs ${n} values, got ${data.length}`);
    }
    if (device) (this.#buffer = data as DeviceBuffer, this.#device = device);
    else this.#host = data as Float32Array;
    this.shape = shape;
    this.size = n;
    this.requiresGrad = requiresGrad;
  }

  /** The device holding the values (undefined: a host tensor). */
  get device(): Device | undefined {
    return this.#device;
  }

  /** Device values (device tensors). */
  get buffer(): DeviceBuffer | undefined {
    return this.#buffer;
  }

  /**
   * Move this tensor's values (and gradient) onto `device`, in place: every holder of the tensor (a model's
   * layers) sees it there. Persistent buffers: parameters and model constants.
   */
  toDevice(device: Device): this {
    if (this.#device === device) return this;
    if (this.#device) throw new Error(`tensor [${this.shape}] is on ${this.#device.name} already`);
    this.#buffer = device.upload(this.#host!, true);
    if (this.#grad) this.gradBuffer = device.upload(this.#grad, true);
    this.#device = device;
    this.#host = this.#grad = undefined;
    return this;
  }

  /** Bring a device tensor's values (and gradient) back to the host, in place, releasing its buffers. */
  async toHost(): Promise<this> {
    const d = this.#device;
    if (!d) return this;
    const data = await d.read(this.#buffer!, 0, this.size);
    const grad = this.gradBuffer ? await d.read(this.gradBuffer, 0, this.size) : undefined;
    d.release(this.#buffer!);
    if (this.gradBuffer) d.release(this.gradBuffer);
    this.#device = this.#buffer = this.gradBuffer = undefined;
    this.#host = data;
    this.#grad = grad;
    return this;
  }

  /** Values of a host tensor; a device tensor's are read with `await t.read()` (an error here, not a copy). */
  get data(): Float32Array {
    const d = this.#host;
    if (d === undefined) throw onDevice(this, "data", "await t.read()");
    return d;
  }

  /** Gradient of the last {@link valueAndGrad} (same shape), when the tensor needs one (host tensors). */
  get grad(): Float32Array | undefined {
    if (this.device) throw onDevice(this, "grad", "await t.readGrad()");
    return this.#grad;
  }

  set grad(g: Float32Array | undefined) {
    if (this.device) throw onDevice(this, "grad", "gradBuffer");
    this.#grad = g;
  }

  /** Whether a gradient has reached this tensor (host or device). */
  get hasGrad(): boolean {
    return this.device ? this.gradBuffer !== undefined : this.#grad !== undefined;
  }

  /** The values, wherever they are: a device tensor waits for the device (the one way its data come back). */
  read(): Promise<Float32Array> {
    return this.device ? this.device.read(this.buffer!, 0, this.size) : Promise.resolve(this.#host!);
  }

  /** The gradient's values (zeros when none reached the tensor). */
  async readGrad(): Promise<Float32Array> {
    if (!this.device) return this.#grad ?? new Float32Array(this.size);
    return this.gradBuffer ? await this.device.read(this.gradBuffer, 0, this.size) : new Float32Array(this.size);
  }

  /** Length of the last axis. */
  get last(): number {
    return this.shape[this.shape.length - 1];
  }

  /** Rows: product of all axes but the last. */
  get rows(): number {
    return this.size / (this.last || 1);
  }

  /** Same values, another shape (shares the array; gradients flow through). */
  reshape(shape: readonly number[]): Tensor {
    if (this.device) return deviceReshape(this, shape);
    const out = new Tensor(this.#host!, shape, this.requiresGrad);
    record(out, [this], () => accumulate(this, out.grad!, true));
    return out;
  }
}

/** The error for touching a device tensor's values or gradient from the host. */
function onDevice(t: Tensor, what: string, instead: string): Error {
  return new Error(
    `tensor [${t.shape}] lives on the ${t.device!.name} device: its .${what} is not on the host ` +
      `(use ${instead}; reads are explicit and asynchronous)`,
  );
}

/** Device views (reshapes): they share a buffer, persistent or not, but their gradients live for one step. */
const views = new WeakSet<Tensor>();

/** A device tensor's reshape: the same buffer; its gradient flows back whole. */
function deviceReshape(t: Tensor, shape: readonly number[]): Tensor {
  const out = new Tensor(t.buffer!, shape, t.requiresGrad, t.device!);
  views.add(out);
  record(out, [t], () => accumulateDevice(t, out.gradBuffer!, true));
  return out;
}

/**
 * The device gradient buffer of `t`, allocated (zeros) on first use; persistent when t's values are (parameters),
 * not for a view of them.
 */
export function deviceGradOf(t: Tensor): DeviceBuffer {
  if (t.gradBuffer) return t.gradBuffer;
  const d = t.device!, g = d.alloc(t.size, t.buffer!.persistent && !views.has(t));
  d.fill(g, 0, t.size);
  return t.gradBuffer = g;
}

/** Add the device buffer `g` into t's gradient; with `owned`, g may become it (as {@link accumulate}). */
export function accumulateDevice(t: Tensor, g: DeviceBuffer, owned = false): void {
  if (!t.gradBuffer && owned && g.persistent === (t.buffer!.persistent && !views.has(t))) {
    t.gradBuffer = g;
    return;
  }
  const dst = deviceGradOf(t);
  t.device!.strided({
    src: g,
    srcOff: 0,
    srcStride: t.size,
    dst,
    dstOff: 0,
    dstStride: t.size,
    rows: 1,
    width: t.size,
    accumulate: true,
    alpha: 1,
  });
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
    if (out.hasGrad) backward();
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
 * Run `f` recording a tape, then back-propagate from its scalar result,
 * which is returned (on the host or on the device, as f computed it).
 * Gradients are added into each parameter's `grad` (`gradBuffer` on a
 * device; zero them between steps); intermediate gradients are dropped with
 * the tape. Nothing is read back.
 */
export function backward(f: () => Tensor): Tensor {
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
  if (loss.device) {
    const g = loss.gradBuffer ??= loss.device.alloc(1);
    loss.device.fill(g, 1, 1);
  } else (loss.grad ??= new Float32Array(1))[0] = 1;
  for (let i = steps.length - 1; i >= 0; i--) steps[i]();
  return loss;
}

/**
 * {@link backward} for a host loss, returning its value. A loss on a device
 * is an error here: use `backward` and `await loss.read()` when the value is needed.
 */
export function valueAndGrad(f: () => Tensor): number {
  const loss = backward(f);
  if (loss.device) {
    throw new Error(`the loss is on the ${loss.device.name} device: use backward() and await loss.read()`);
  }
  return loss.data[0];
}
