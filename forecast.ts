/**
 * The `./forecast` entry: forecast inference. {@link runForecast} runs a
 * trained engine from a checkpoint into a forecast store; the rollout
 * classes step any stepper over the globe (tiles cut, stepped and blended)
 * or a mesh; the store writer, and the `scores` and `maps` namespaces
 * (weighted RMSE, ACC, CRPS, score boards; PNG maps and score plots).
 * Training the engine is in the `./model` entry.
 *
 * @module
 */

// Run a forecast.
export { runForecast } from "./forecast/run.ts";
export type { ForecastRunOptions, ForecastRunSummary } from "./forecast/run.ts";

// Rollout: a stepper stepped over tiles of the globe (blended) or over a mesh.
export { GlobalRollout } from "./forecast/rollout.ts";
export type { Plane, RolloutState, StepContext, Stepper } from "./forecast/rollout.ts";
export { TileBlender } from "./forecast/blend.ts";
export type { BlendGrid, BlendOptions, TilePlace } from "./forecast/blend.ts";
export { MeshRollout, MeshTimeAxis } from "./forecast/mesh.ts";
export type { MeshPlane, MeshWindow } from "./forecast/mesh.ts";
export { engineFields, EngineStepper, loadFrozenBase } from "./forecast/stepper.ts";
export type { EngineStepperOptions, FrozenBase } from "./forecast/stepper.ts";
export type { ForecastHeader } from "./models/checkpoint.ts";

// The forecast store.
export { ForecastStoreWriter } from "./forecast/store.ts";
export type { ForecastLayout, ForecastStoreOptions, MeshStoreOptions } from "./forecast/store.ts";

// Scores and maps.
export * as scores from "./forecast/scores.ts";
export * as maps from "./forecast/maps.ts";
