/**
 * The testbed's perfect-model forecasts (testbed/perfect_model.ts) scored
 * as `forecast --truth` scores a forecast: the same truth store, the same
 * persistence and climatology (the coefficient set's monthly means, read
 * through a rollout of the checkpoint's sampler), latitude weights and
 * ScoreBoard.
 *
 * @module
 */
import { parseTime } from "../../time.ts";
import { GlobalRollout } from "../../forecast/rollout.ts";
import { baseSampler } from "../../forecast/stepper.ts";
import { latitudeWeights, type PlaneScores, ScoreBoard } from "../../forecast/scores.ts";
import type { RecordedRunConfig } from "../../models/checkpoint.ts";
import { perfectModelForecasts } from "../../testbed/perfect_model.ts";
import { testbedGrid, type TestbedOptions } from "../../testbed/store.ts";

/** Scores of the perfect model from `inits` (ISO, on the testbed's 6-hourly times), `steps` steps of 6 h. */
export function perfectModelScores(
  testbed: TestbedOptions,
  config: Pick<RecordedRunConfig, "sampler">,
  inits: string[],
  steps: number,
): PlaneScores[] {
  const rollout = new GlobalRollout(baseSampler(config), [0, 1]);
  const start = parseTime(testbed.start ?? "2021-01-01T00:00:00Z", "start"), dt = 6 * 3600;
  const at = inits.map((s) => parseTime(s, "init"));
  const forecasts = perfectModelForecasts(testbed, at.map((t) => Math.round((t - start) / dt)), steps);
  const board = new ScoreBoard(latitudeWeights(testbedGrid().lat));
  const lastStep = (values: Float32Array) => values.subarray(values.length - rollout.grid.rows * rollout.grid.cols);
  for (const [k, init] of at.entries()) {
    const before = rollout.stateAt(init);
    for (let n = 0; n < steps; n++) {
      const valid = init + (n + 1) * dt, truth = rollout.stateAt(valid);
      for (const [i, p] of rollout.planes.entries()) {
        board.add(p.field, p.level, (n + 1) * 6, {
          members: [forecasts[k][n][p.field as "u" | "v" | "z" | "q"]],
          truth: lastStep(truth.values[i]),
          persistence: lastStep(before.values[i]),
          climatology: rollout.climatology(p, valid),
        });
      }
    }
  }
  return board.result(false);
}
