/**
 * The Multiformer's evaluation forward on a device (`deno task evaluate
 * --backend cuda|webgpu`): the parameters moved there once, the evaluated
 * samples run in consecutive batches (`global_forecast`: one per date, its
 * tiles), each in one scope with its inputs uploaded once and every
 * predicted field's members read back in one read; the members are put back
 * in the order of the whole batch's targets, as the host's forward gives them.
 *
 * @module
 */
import type { Multiformer } from "../models/multiformer.ts";
import type { FieldInput } from "../models/inputs.ts";
import { concatLast } from "../ops/mod.ts";
import type { Device } from "../ops/device.ts";

/** One predicted field's members, on the host. */
export interface PredictedMembers {
  /** Field name. */
  field: string;
  /** Rows (b·S + s) of the masked tokens in the whole batch. */
  rows: Int32Array;
  /** [targets, members, values]. */
  shape: [number, number, number];
  /** The members' values, in `shape`. */
  values: Float32Array;
}

/** Samples [from, to) of a field's model input; `picked`: the indices of the whole input's targets kept, in order. */
export function inputSlice(x: FieldInput, from: number, to: number): { input: FieldInput; picked: number[] } {
  const S = x.length, t = x.targets, R = t.rows.length;
  const picked: number[] = [];
  for (let i = 0; i < R; i++) if (t.rows[i] >= from * S && t.rows[i] < to * S) picked.push(i);
  const pick = (a: Float32Array) => {
    const k = R ? a.length / R : 0, o = new Float32Array(picked.length * k);
    picked.forEach((i, j) => o.set(a.subarray(i * k, (i + 1) * k), j * k));
    return o;
  };
  const per = (a: Float32Array, k: number) => a.subarray(from * S * k, to * S * k);
  const input: FieldInput = {
    ...x,
    batch: to - from,
    features: per(x.features, x.width),
    info: per(x.info, x.info.length / (x.batch * S)),
    keyMask: x.keyMask?.subarray(from * S, to * S),
    targets: {
      rows: Int32Array.from(picked, (i) => t.rows[i] - from * S),
      values: pick(t.values),
      valid: pick(t.valid),
      latWeight: pick(t.latWeight),
      valueWeights: t.valueWeights ? pick(t.valueWeights) : undefined,
    },
  };
  return { input, picked };
}

/**
 * The members of every predicted field, without dropout (no random stream),
 * computed on `device` in batches of `sizes` consecutive samples: one scope
 * and one read per batch.
 */
export async function deviceForward(
  model: Multiformer,
  inputs: Map<string, FieldInput>,
  device: Device,
  sizes: number[],
): Promise<PredictedMembers[]> {
  for (const t of model.params.map.values()) t.toDevice(device);
  const whole = new Map<string, PredictedMembers>();
  let from = 0;
  for (const n of sizes) {
    const slices = new Map([...inputs].map(([k, x]) => [k, inputSlice(x, from, from + n)]));
    device.beginScope();
    try {
      const outs = model.forward(new Map([...slices].map(([k, s]) => [k, s.input])));
      const flat = outs.map((out) => out.members.reshape([1, out.members.size]));
      const all = await (flat.length === 1 ? flat[0] : concatLast(flat)).read();
      let at = 0;
      for (const out of outs) {
        const [, E, V] = out.members.shape, rows = inputs.get(out.field)!.targets.rows;
        let m = whole.get(out.field);
        if (!m) {
          m = { field: out.field, rows, shape: [rows.length, E, V], values: new Float32Array(rows.length * E * V) };
          whole.set(out.field, m);
        }
        const values = m.values;
        slices.get(out.field)!.picked.forEach((i, j) =>
          values.set(all.subarray(at + j * E * V, at + (j + 1) * E * V), i * E * V)
        );
        at += out.members.size;
      }
    } finally {
      device.endScope();
    }
    from += n;
  }
  return [...whole.values()];
}
