/**
 * A small seeded random stream (xoshiro128**) whose whole state is four
 * integers, so a checkpoint can store it and a resumed run draws the same
 * dropout masks and initial weights as the uninterrupted one.
 *
 * @module
 */
import { Xoshiro128 } from "../random.ts";

/** Seeded random numbers with a savable state. */
export class Random extends Xoshiro128 {
  /** The state (four unsigned 32-bit words). */
  get state(): number[] {
    return Array.from(this.s);
  }

  /** Restore a state from {@link state}. */
  set state(v: number[]) {
    if (v.length !== 4) throw new Error("random state needs 4 words");
    this.s = Uint32Array.from(v);
  }

  /** Standard normal (Box–Muller). */
  normal(): number {
    const u = 1 - this.next(), v = this.next();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
  }
}
