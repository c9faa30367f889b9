/**
 * `deno task forecast`: load a forecast checkpoint and its frozen base,
 * refuse another coefficient set than the one trained on, roll the globe
 * out N steps from each initial time (ensemble members in lockstep, each
 * with its own latent noise), write the forecast store as it goes and
 * publish it at the end; with a truth store, score the forecast against
 * persistence and climatology on the same dates (JSON + PNG per field
 * level) and draw maps of chosen steps.
 *
 * @module
 */
import { join } from "node:path";
import { Random } from "../ops/mod.ts";
import { ForecastEngine } from "../models/forecast_engine.ts";
import { readCheckpoint } from "../training/checkpoint.ts";
import { assertSameCoefficientSet } from "../normalization/identity.ts";
import { toSeconds } from "../datasets/window.ts";
import { readRootAttributes } from "../zarr/reader.ts";
import { CheckpointError, isPipelineError } from "../errors.ts";
import { GlobalRollout, type RolloutState } from "./rollout.ts";
import { engineFields, EngineStepper, type ForecastHeader, loadFrozenBase } from "./engine.ts";
import { baseSampler } from "./train.ts";
import { ForecastStoreWriter } from "./store.ts";
import { latitudeWeights, type PlaneScores, ScoreBoard } from "./scores.ts";
import { forecastMapPng, scorePlotPng } from "./maps.ts";

/** Options of {@link runForecast}. */
export interface ForecastRunOptions {
  /** Forecast checkpoint (from `train --stage forecast`). */
  checkpoint: string;
  /** Initial times (ISO). */
  inits: string[];
  /** Steps. */
  steps: number;
  /** Output store. */
  out: string;
  /** Replace an existing output store. */
  overwrite?: boolean;
  /** A store with the truth (same grid): scores and maps. */
  truth?: string;
  /** Coefficient set to normalize with (default the base run's); must be the one trained on. */
  norm?: string;
  /** Ensemble members (from the Multiformer's tail ensemble, plus latent noise). Default 1. */
  members?: number;
  /**
   * Scale of the tail-ensemble perturbation of each member's input (the
   * tail member's deviation from the tails' mean); 0 = latent noise only.
   * Default 1.
   */
  tailScale?: number;
  /** Latent noise of members m > 0 (× the latent's RMS). Default the checkpoint's `memberNoise`. */
  memberNoise?: number;
  /**
   * Also step a second tiling shifted by half a token and blend both with
   * token bumps (smooths token-edge seams; twice the cost). Default false.
   */
  shiftedTiling?: boolean;
  /** Keep the members in the store. */
  keepMembers?: boolean;
  /** Steps to draw maps of (1-based), for the first initial time. Default the last step. */
  mapSteps?: number[];
  /** Directory for scores and maps. Default OUT without .zarr + `.eval`. */
  evalDir?: string;
  /** Called after every step. */
  onStep?: (done: number, total: number) => void;
  /** The command line, for provenance. */
  command?: string;
}

/** What a forecast run produced. */
export interface ForecastRunSummary {
  /** The forecast store. */
  out: string;
  /** Scores (with a truth store). */
  scores?: PlaneScores[];
  /** Scores of mesh fields at their points (cos φ weights), against the mesh store's steps (with a truth store). */
  meshScores?: PlaneScores[];
  /** Scores JSON. */
  scoresPath?: string;
  /** PNG plots of RMSE against lead time, per field level. */
  plots: string[];
  /** PNG maps. */
  maps: string[];
  /** Seconds summed over the run: encode, adapter + forecaster, read-out, blend + denormalize, write; and steps. */
  seconds: { encode: number; engine: number; readout: number; blend: number; write: number; steps: number };
}

/** Run a forecast. */
export async function runForecast(o: ForecastRunOptions): Promise<ForecastRunSummary> {
  const ck = await readCheckpoint(o.checkpoint);
  const fh = (ck.header as unknown as { forecast?: ForecastHeader }).forecast;
  if (!fh) throw new CheckpointError(o.checkpoint, "is not a forecast engine checkpoint (train --stage forecast)");
  const base = await loadFrozenBase(fh.base.path);
  if (base.sha256 !== fh.base.sha256) {
    throw new CheckpointError(fh.base.path, `is not the base checkpoint the engine was trained on (SHA-256 differs)`);
  }
  const sampler = baseSampler(base.checkpoint.header.config, o.norm);
  const sets = await Promise.all(sampler.coefficients.map((c) => c.identity()));
  for (const [i, s] of sets.entries()) {
    try {
      assertSameCoefficientSet(ck.header.coefficientSets[i], s);
    } catch (e) {
      if (!isPipelineError(e, "normalization")) throw e;
      throw new CheckpointError(o.checkpoint, `was trained on another coefficient set: ${e.message}`, { cause: e });
    }
  }
  const rollout = new GlobalRollout(sampler, fh.overlap);
  if (rollout.stepHours !== fh.stepHours) {
    throw new CheckpointError(
      o.checkpoint,
      `was trained on ${fh.stepHours} h steps; the store gives ${rollout.stepHours} h steps`,
    );
  }
  const engine = new ForecastEngine(engineFields(base.model, rollout.tokens), fh.engine, 1);
  for (const [name, t] of engine.params.map) {
    const v = ck.tensors.get(`param:${name}`);
    if (!v || v.length !== t.size) {
      throw new CheckpointError(o.checkpoint, `parameter ${name} missing or of another shape`);
    }
    t.data.set(v);
  }
  const M = o.members ?? 1, tailScale = M > 1 ? o.tailScale ?? 1 : 0, memberNoise = o.memberNoise ?? fh.memberNoise;
  const steppers = Array.from({ length: M }, (_, m) =>
    new EngineStepper(base.model, engine, rollout, {
      noise: m > 0 && memberNoise > 0 ? { std: memberNoise, rng: new Random(1000 + m) } : undefined,
      tail: tailScale > 0 ? { member: m, members: M, scale: tailScale } : undefined,
    }));
  const truthRollout = o.truth
    ? new GlobalRollout(
      baseSampler(
        { sampler: { ...sampler.config, datasets: [{ ...sampler.config.datasets[0], store: o.truth }] } },
        o.norm,
      ),
      fh.overlap,
    )
    : undefined;
  if (truthRollout && truthRollout.grid.rows * truthRollout.grid.cols !== rollout.grid.rows * rollout.grid.cols) {
    throw new CheckpointError(o.truth!, "the truth store has another grid than the forecast");
  }
  const d = rollout.dataset;
  const lat = Float64Array.from(d.colat, (c) => 90 - c);
  const levels = [...new Set(rollout.planes.map((p) => p.level))].sort((a, b) => a - b);
  const fields = [...new Set(rollout.planes.map((p) => p.field))];
  const fieldMetadata = (readRootAttributes(d.root).field_metadata ?? {}) as Record<string, { units?: string }>;
  const meta = Object.fromEntries(
    rollout.planes.map((p) => [p.field, fieldMetadata[p.source] ?? fieldMetadata[p.field] ?? {}]),
  );
  const meshPlanes = rollout.meshPlanes;
  const meshFields = [...new Set(meshPlanes.map((p) => p.field))];
  const meshMeta = Object.fromEntries(meshPlanes.map((p) => {
    const attrs = readRootAttributes(sampler.datasets[p.dataset].root).field_metadata ?? {};
    return [p.field, (attrs as Record<string, { units?: string }>)[p.source.name] ?? {}];
  }));
  const inits = o.inits.map(toSeconds);
  const leads = Array.from({ length: o.steps }, (_, k) => (k + 1) * rollout.stepHours);
  const writer = new ForecastStoreWriter({
    out: o.out,
    overwrite: o.overwrite,
    inits,
    leads,
    fields,
    levels,
    lat,
    lon: d.lons,
    fieldMetadata: meta,
    members: o.keepMembers ? M : 0,
    mesh: meshPlanes.length
      ? {
        fields: meshFields,
        levels: [...new Set(meshPlanes.map((p) => p.level))].sort((a, b) => a - b),
        ...rollout.mesh!.coordinates(meshPlanes[0]),
        fieldMetadata: meshMeta,
      }
      : undefined,
    attributes: {
      provenance: {
        checkpoint: o.checkpoint,
        base_checkpoint: fh.base,
        coefficient_sets: sets,
        stores: sampler.config.datasets.map((x) => x.store),
        truth: o.truth ?? null,
        members: M,
        member_noise: memberNoise,
        member_tail_scale: tailScale,
        members_from: tailScale > 0
          ? "tail ensemble of the base Multiformer (member m: tail member m mod its size), plus latent noise for m > 0"
          : "latent noise for m > 0",
        step_hours: rollout.stepHours,
        tile_overlap_tokens: fh.overlap,
        shifted_tiling: o.shiftedTiling ?? false,
        command: o.command ?? "",
      },
      lead_time_meaning: "hours after init_time of the valid time",
    },
  });
  const units = Object.fromEntries(fields.map((f) => [f, meta[f]?.units ?? ""]));
  const board = new ScoreBoard(latitudeWeights(lat), units);
  // Mesh fields: scored at their points (cos φ weights) against the mesh store's own steps.
  const meshBoard = meshPlanes.length
    ? new ScoreBoard(
      Float64Array.from(rollout.mesh!.coordinates(meshPlanes[0]).lat, (v) => Math.max(0, Math.cos(v * Math.PI / 180))),
      Object.fromEntries(meshFields.map((f) => [f, meshMeta[f]?.units ?? ""])),
    )
    : undefined;
  const evalDir = o.evalDir ?? o.out.replace(/\/+$/, "").replace(/\.zarr$/, "") + ".eval";
  const maps: string[] = [], plots: string[] = [];
  const plane = rollout.grid.rows * rollout.grid.cols, tt = rollout.stepSteps;
  const secs = { encode: 0, engine: 0, readout: 0, blend: 0, write: 0, steps: 0 };
  const mapSteps = o.mapSteps ?? [o.steps];
  try {
    let done = 0;
    for (const [ii, init] of inits.entries()) {
      const tiles = rollout.tiles(init);
      const shifted = o.shiftedTiling ? rollout.shiftedTiles(tiles) : undefined;
      const start = rollout.stateAt(init);
      // Persistence is the truth at initial time (the same as the input when the truth is the input store).
      const truthStart = truthRollout?.stateAt(init);
      let states: RolloutState[] = steppers.map(() => start);
      for (let n = 0; n < o.steps; n++) {
        const slabs: Float32Array[][] = [];
        for (const [m, st] of steppers.entries()) {
          const fieldBatches = rollout.fieldBatches(states[m], tiles);
          const next = st.stepper(fieldBatches, { step: n, tiles, times: states[m].times });
          const more = shifted
            ? [{
              next: st.stepper(rollout.fieldBatches(states[m], shifted), {
                step: n,
                tiles: shifted,
                times: states[m].times,
              }),
              tiles: shifted,
            }]
            : [];
          const t0 = performance.now();
          const { slab, times } = rollout.physicalSlab(states[m], next, tiles, more);
          states[m] = rollout.advance(states[m], slab, times, { next, fields: fieldBatches, tiles });
          secs.blend += (performance.now() - t0) / 1000;
          slabs.push(slab);
        }
        const valid = states[0].times[states[0].times.length - 1];
        const t1 = performance.now();
        for (const [pi, p] of rollout.planes.entries()) {
          const members = slabs.map((s) => s[pi].subarray((tt - 1) * plane, tt * plane));
          writer.write(ii, n, p.field, p.level, members);
        }
        // Mesh fields: their window's last step (the mesh's step at or before the valid time).
        for (const [mi, p] of meshPlanes.entries()) {
          const members = states.map((st) => {
            const w = st.mesh![mi], T = w.times.length;
            return w.values.subarray((T - 1) * p.points, T * p.points);
          });
          writer.writeMesh(ii, n, p.field, p.level, members);
          if (truthRollout && meshBoard) {
            // The mesh store's step at or before the valid time (none past its end: not scored there).
            const axis = rollout.mesh!.axis(p.dataset), k = axis.lastAtOrBefore(valid);
            if (k < axis.times.length) {
              const truth = rollout.mesh!.stateAt(valid)[mi], start = rollout.mesh!.stateAt(init)[mi];
              const T = truth.times.length, last = (w: typeof truth) => w.values.subarray((T - 1) * p.points);
              meshBoard.add(p.field, p.level, leads[n], {
                members,
                truth: last(truth),
                persistence: last(start),
                climatology: rollout.mesh!.climatology(p, truth.times[T - 1]),
              });
            }
          }
        }
        secs.write += (performance.now() - t1) / 1000;
        if (truthRollout) {
          const truth = truthRollout.stateAt(valid);
          const T = truth.times.length;
          for (const [pi, p] of rollout.planes.entries()) {
            const members = slabs.map((s) => s[pi].subarray((tt - 1) * plane, tt * plane));
            const truthNow = truth.values[pi].subarray((T - 1) * plane, T * plane);
            board.add(p.field, p.level, leads[n], {
              members,
              truth: truthNow,
              persistence: truthStart!.values[pi].subarray((T - 1) * plane, T * plane),
              climatology: rollout.climatology(p, valid),
            });
            if (ii === 0 && mapSteps.includes(n + 1)) {
              await Deno.mkdir(evalDir, { recursive: true });
              const mean = members.length === 1
                ? members[0]
                : members[0].map((_, g) => members.reduce((a, x) => a + x[g], 0) / members.length);
              const path = join(
                evalDir,
                `map_${p.field}${p.level ? p.level : ""}_${o.inits[0].replace(/[:]/g, "")}_+${leads[n]}h.png`,
              );
              await Deno.writeFile(
                path,
                await forecastMapPng({ values: mean, lat, lon: d.lons }, {
                  title: `${p.field}${p.level ? ` ${p.level}` : ""} +${leads[n]} h from ${
                    new Date(init * 1000).toISOString().slice(0, 13)
                  }Z`,
                  units: units[p.field],
                  truth: { values: truthNow, lat, lon: d.lons },
                }),
              );
              maps.push(path);
            }
          }
        }
        secs.steps++;
        o.onStep?.(++done, inits.length * o.steps);
      }
      states = [];
    }
    secs.encode = steppers.reduce((a, s) => a + s.timings.encode, 0) / 1000;
    secs.engine = steppers.reduce((a, s) => a + s.timings.engine, 0) / 1000;
    secs.readout = steppers.reduce((a, s) => a + s.timings.readout, 0) / 1000;
    writer.finish();
  } catch (e) {
    writer.abort();
    throw e;
  }
  if (!truthRollout) return { out: o.out, plots, maps, seconds: secs };
  const scores = board.result(M > 1);
  const meshScores = meshBoard?.result(M > 1).map((x) => ({ ...x, mesh: true }));
  await Deno.mkdir(evalDir, { recursive: true });
  const scoresPath = join(evalDir, "scores.json");
  await Deno.writeTextFile(
    scoresPath,
    JSON.stringify(
      { checkpoint: o.checkpoint, truth: o.truth, inits: o.inits, members: M, scores, mesh_scores: meshScores ?? [] },
      null,
      1,
    ),
  );
  for (const s of scores) {
    const path = join(evalDir, `rmse_${s.field}${s.level ? s.level : ""}.png`);
    await Deno.writeFile(
      path,
      await scorePlotPng(`RMSE ${s.field}${s.level ? ` ${s.level}` : ""} (${s.inits} init)`, s.leads, [
        { name: "forecast", values: s.rmse.forecast, colour: "#d62728" },
        { name: "persistence", values: s.rmse.persistence, colour: "#1f77b4" },
        { name: "climatology", values: s.rmse.climatology, colour: "#7f7f7f" },
      ], s.units),
    );
    plots.push(path);
  }
  return { out: o.out, scores, meshScores, scoresPath, plots, maps, seconds: secs };
}
