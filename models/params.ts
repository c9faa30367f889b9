/**
 * Named parameters of a network: created once with a seeded
 * initialization (PyTorch's defaults: Linear weights uniform in
 * ±1/√fan_in, biases zero, norms one/zero), iterated in creation order for
 * the optimizer and checkpoints.
 *
 * @module
 */
import { parameter, Random, type Tensor } from "../ops/mod.ts";

/** A set of named parameters. */
export class Params {
  /** By name, in creation order. */
  readonly map: Map<string, Tensor> = new Map<string, Tensor>();
  private readonly rng: Random;

  constructor(seed: number) {
    this.rng = new Random(seed);
  }

  private add(name: string, t: Tensor): Tensor {
    if (this.map.has(name)) throw new Error(`parameter ${name} defined twice`);
    this.map.set(name, t);
    return t;
  }

  /** A Linear weight [fanIn, fanOut], uniform in ±1/√fanIn; `zero` for zero-initialized layers. */
  weight(name: string, fanIn: number, fanOut: number, zero = false): Tensor {
    const a = 1 / Math.sqrt(fanIn);
    const d = new Float32Array(fanIn * fanOut);
    if (!zero) { for (let i = 0; i < d.length; i++) d[i] = (2 * this.rng.next() - 1) * a; }
    return this.add(name, parameter(d, [fanIn, fanOut]));
  }

  /** A vector filled with `value` (biases, norm scales and shifts). */
  vector(name: string, n: number, value = 0): Tensor {
    return this.add(name, parameter(new Float32Array(n).fill(value), [n]));
  }

  /** Total number of values. */
  count(): number {
    let n = 0;
    for (const t of this.map.values()) n += t.size;
    return n;
  }
}

/** A dense layer's parameters. */
export interface Dense {
  /** Weight [in, out]. */
  w: Tensor;
  /** Bias [out]. */
  b?: Tensor;
}

/** Create a dense layer `name.w`, `name.b`. */
export function dense(p: Params, name: string, fanIn: number, fanOut: number, bias = true): Dense {
  return { w: p.weight(`${name}.w`, fanIn, fanOut), b: bias ? p.vector(`${name}.b`, fanOut) : undefined };
}
