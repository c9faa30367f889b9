/**
 * Device memory as both device backends (ops/webgpu_device.ts,
 * ops/cuda/device.ts) keep it: buffers pooled by size in bytes, and scopes
 * ({@link Device.beginScope}) that hand a step's buffers and batch uploads
 * back at their end. Why pool: a training step allocates the same sizes
 * every time, and creating device memory costs far more than reusing it;
 * the queue runs work in order, so a buffer released at a scope's end is
 * safe for the next step's first kernel.
 *
 * @module
 */
import type { DeviceBuffer } from "./device.ts";

/** A buffer of the pool: the backend's memory `M` (a GPUBuffer, a CUDA allocation) and its size in bytes. */
export class PooledBuffer<M> implements DeviceBuffer {
  constructor(
    readonly length: number,
    readonly persistent: boolean,
    readonly memory: M,
    readonly bytes: number,
  ) {}
}

/** The memory `M` behind a buffer of a {@link BufferPool}. */
export function memoryOf<M>(b: DeviceBuffer): M {
  return (b as PooledBuffer<M>).memory;
}

/** Pooled memory and scopes; `create` makes new memory of a size in bytes (a multiple of `align`). */
export class BufferPool<M> {
  private readonly free = new Map<number, M[]>();
  /** Open scopes: their buffers, and the host arrays whose uploads they hold. */
  private readonly scopes: { buffers: PooledBuffer<M>[]; uploads: object[] }[] = [];
  private readonly uploaded = new WeakMap<object, PooledBuffer<M>>();

  constructor(private readonly align: number, private readonly create: (bytes: number) => M) {}

  /** A buffer of `n` words, from the pool when one of its size is free; a scope's unless `persistent`. */
  alloc(n: number, persistent: boolean): PooledBuffer<M> {
    const bytes = Math.max(this.align, Math.ceil((n * 4) / this.align) * this.align);
    const memory = this.free.get(bytes)?.pop() ?? this.create(bytes);
    const b = new PooledBuffer(n, persistent, memory, bytes);
    if (!persistent) this.scopes[this.scopes.length - 1]?.buffers.push(b);
    return b;
  }

  /** Give a buffer's memory back to the pool. */
  release(buf: DeviceBuffer): void {
    const b = buf as PooledBuffer<M>;
    const list = this.free.get(b.bytes);
    if (list) list.push(b.memory);
    else this.free.set(b.bytes, [b.memory]);
  }

  /**
   * The upload of a host array made once and reused while it lives: in a
   * scope (a step's batch) as long as the scope, outside one as long as the
   * array. `upload` makes it (persistent outside a scope).
   */
  uploadOnce(data: object, upload: (persistent: boolean) => DeviceBuffer): DeviceBuffer {
    let b = this.uploaded.get(data);
    if (b) return b;
    const scope = this.scopes[this.scopes.length - 1];
    this.uploaded.set(data, b = upload(!scope) as PooledBuffer<M>);
    scope?.uploads.push(data);
    return b;
  }

  beginScope(): void {
    this.scopes.push({ buffers: [], uploads: [] });
  }

  endScope(): void {
    const s = this.scopes.pop();
    if (!s) throw new Error("endScope without beginScope");
    for (const k of s.uploads) this.uploaded.delete(k);
    for (const b of s.buffers) this.release(b);
  }
}

/**
 * The memory half of a device backend on a {@link BufferPool}: allocation,
 * release, uploads and scopes, the same for every backend. A backend
 * supplies how memory is made and how a host array is written into it.
 */
export abstract class PooledDevice<M> {
  protected readonly memory: BufferPool<M>;

  constructor(align: number) {
    this.memory = new BufferPool<M>(align, (bytes) => this.createMemory(bytes));
  }

  /** New device memory of `bytes` (a multiple of the alignment). */
  protected abstract createMemory(bytes: number): M;

  /** Copy `data` into the start of `buf` (in queue order). */
  abstract write(buf: DeviceBuffer, data: Float32Array | Int32Array): void;

  alloc(n: number, persistent = false): DeviceBuffer {
    return this.memory.alloc(n, persistent);
  }

  release(buf: DeviceBuffer): void {
    this.memory.release(buf);
  }

  upload(data: Float32Array | Int32Array, persistent = false): DeviceBuffer {
    const b = this.alloc(data.length, persistent);
    this.write(b, data);
    return b;
  }

  uploadOnce(data: Float32Array | Int32Array): DeviceBuffer {
    return this.memory.uploadOnce(data, (persistent) => this.upload(data, persistent));
  }

  beginScope(): void {
    this.memory.beginScope();
  }

  endScope(): void {
    this.memory.endScope();
  }
}
