/**
 * The one training loop: whatever is trained, {@link runTraining} steps
 * it through its phases (each with its optimizer configuration, so its
 * learning-rate schedule), validates when the task can, writes metrics as
 * JSON lines, writes and prunes checkpoints, draws the loss curve, reports
 * progress, and resumes from a checkpoint exactly where the run stopped
 * (same weights, moments, random stream, step). One run at a time per
 * checkpoint directory: the run holds the directory's lock (`run.lock`,
 * naming the holder to a second run), removes the temporary files of
 * killed checkpoint writes there, refuses to start afresh over another
 * run's checkpoints or metrics unless asked to start over (which removes
 * those files by name), prunes only checkpoints of its own run (the run id
 * every checkpoint header records, kept on resume) and never empties
 * metrics.jsonl before it has a line to add. What differs between
 * trainings is a {@link TrainingTask} (training/tasks/): its inputs per
 * step, its loss, which parameters train, what its checkpoints record and
 * how it validates.
 *
 * On a device (`RunOptions.device`): the given tensors (the model's
 * parameters) move there after a resume and back at the end, the steps run
 * there (training/step.ts), and the loss and metrics are read every
 * `readEvery` steps (and before a validation or checkpoint), their lines
 * then appended together; a validation brings the parameters to the host
 * for its forward passes; a checkpoint reads the weights and moments.
 *
 * @module
 */
import { join } from "node:path";
import type { Device, Random, Tensor } from "../ops/mod.ts";
import {
  type Checkpoint,
  checkpointFiles,
  type CheckpointRecord,
  latestCheckpoint,
  loadParameters,
  pruneCheckpoints,
  readCheckpoint,
  removeStalePartials,
  writeCheckpoint,
} from "../models/checkpoint.ts";
import { acquireLock } from "../zarr/lock.ts";
import { ConfigError } from "../errors.ts";
import { AdamW, type OptimizerConfig } from "./adamw.ts";
import { type GradientStep, gradientStep } from "./step.ts";
import { type CurvePoint, lossCurvePng } from "./plot.ts";

/** What every line of metrics.jsonl has. */
export interface MetricsRecord {
  /** `train` or `validation` (tasks that validate). */
  kind?: "train" | "validation";
  /** Step after which it was measured (1-based count of updates done). */
  step: number;
  /** Loss. */
  loss: number;
}

/** A validation line: the loss and the MSE of the ensemble mean per field on held-out data. */
export interface ValidationLine extends MetricsRecord {
  kind: "validation";
  /** MSE of the ensemble mean per field. */
  mse: Record<string, number>;
}

/** Steps trained with one optimizer configuration; the optimizer (and its moments) start afresh with each phase. */
export interface TrainingPhase {
  /** Optimizer steps. */
  steps: number;
  /** AdamW and its learning-rate schedule (over the phase's steps). */
  optimizer: OptimizerConfig;
}

/**
 * What a training is: the loop asks it for each step's inputs and loss,
 * the metrics line of a step, a checkpoint's header, and (if it
 * validates) the validation loss.
 */
export interface TrainingTask<I, L extends MetricsRecord = MetricsRecord> {
  /** Directory of checkpoints, metrics.jsonl and loss.png. */
  readonly dir: string;
  /** The parameters that train: the optimizer's, and the tensors of the checkpoints. */
  readonly params: Map<string, Tensor>;
  /** The random stream the task draws from (its state is in every checkpoint). */
  readonly rng: Random;
  /** The phases, in order. */
  readonly phases: TrainingPhase[];
  /** A checkpoint every this many steps (always one at the end of each phase and of the run). */
  readonly checkpointEvery?: number;
  /** Checkpoints kept (the newest). */
  readonly keep: number;
  /** Draw loss.png with every checkpoint. */
  readonly lossCurve?: boolean;
  /** The title of loss.png. */
  readonly lossTitle?: string;
  /** Validation: every this many steps (and at the end), `run` gives the loss on held-out data. */
  readonly validation?: { every: number; run(step: number): ValidationLine };
  /** Refuse a checkpoint this task cannot continue from (another task, network, coefficient set…). */
  verify(ck: Checkpoint): void;
  /** Get ready to give the inputs of steps `first`, `first + 1`, … (start a data loader). */
  open?(first: number): Promise<void>;
  /** Release what {@link open} started. */
  close?(): void;
  /** The inputs of step `step` (0-based). */
  inputs(step: number): Promise<I>;
  /** The loss of `inputs` (a scalar tensor the gradients flow from), and metrics. */
  loss(inputs: I, phase: number): { loss: Tensor; mse?: Record<string, number> };
  /** The metrics line of a step: `done` steps done, `seconds` the step's wall time including waiting for inputs. */
  metrics(
    done: number,
    inputs: I,
    step: GradientStep<{ loss: Tensor; mse?: Record<string, number> }>,
    phase: number,
    seconds: number,
  ): L;
  /** What the checkpoint after `step` steps records besides its tensors. */
  header(step: number): CheckpointRecord;
  /** Error for a loss that is not finite at step `step` (1-based). */
  diverged(loss: number, step: number): Error;
}

/** Options of {@link runTraining}. */
export interface RunOptions<L> {
  /** Resume: a checkpoint file, or true for the newest in the checkpoint directory. */
  resume?: string | boolean;
  /**
   * Start afresh in a directory holding another run's checkpoints or
   * metrics: remove them (checkpoints, metrics.jsonl, loss.png, by name)
   * first. Without it (and without `resume`) such a directory is an error.
   */
  startOver?: boolean;
  /** What holds the run lock (for the message a second run gets). Default `train`. */
  purpose?: string;
  /** Stop after this many steps of this run (tests: interrupt a run). */
  stopAfter?: number;
  /** Called after every step (on a device: when its metrics are read). */
  onStep?: (step: number, total: number, line: L) => void;
  /** Train on this device: `tensors` (every parameter of the model, trained or not) move there for the run. */
  device?: { device: Device; tensors: Iterable<Tensor> };
  /** On a device: read the loss and metrics every this many steps. Default 10. */
  readEvery?: number;
}

/** What a run produced. */
export interface TrainingRun {
  /** Checkpoint directory. */
  dir: string;
  /** Last checkpoint written by this run. */
  checkpoint?: string;
  /** The checkpoint resumed from. */
  resumedFrom?: string;
  /** Metrics file. */
  metrics: string;
  /** Loss curve. */
  plot: string;
  /** Steps done in total. */
  steps: number;
  /** Loss of each step of this run. */
  losses: number[];
  /** Last validation, per field. */
  validation?: Record<string, number>;
}

/** Train `task` (or resume it) through all its phases. */
export async function runTraining<I, L extends MetricsRecord>(
  task: TrainingTask<I, L>,
  opt: RunOptions<L> = {},
): Promise<TrainingRun> {
  await Deno.mkdir(task.dir, { recursive: true });
  const lock = acquireLock(join(task.dir, "run.lock"), task.dir, opt.purpose ?? "train");
  try {
    return await runLocked(task, opt);
  } finally {
    lock.release();
  }
}

/** The files of a run in `dir` that a new run would mix with or overwrite. */
function previousRunFiles(dir: string): string[] {
  const files = checkpointFiles(dir);
  for (const name of ["metrics.jsonl", "loss.png"]) {
    try {
      if (Deno.statSync(join(dir, name)).isFile) files.push(name);
    } catch { /* absent */ }
  }
  return files;
}

/**
 * Before a run starts in its (locked) directory: remove killed writers'
 * temporary files, and refuse to start afresh over another run's files
 * unless `startOver` (then remove them by name, saying so).
 */
function prepareDirectory(dir: string, fresh: boolean, startOver: boolean | undefined): void {
  const stale = removeStalePartials(dir);
  if (stale.length) {
    console.error(
      `removed ${stale.length} unfinished checkpoint write(s) of a killed run in ${dir}: ${stale.join(", ")}`,
    );
  }
  if (!fresh) return;
  const old = previousRunFiles(dir);
  if (!old.length) return;
  if (!startOver) {
    throw new ConfigError(
      "checkpoints.dir",
      `${dir} holds another run's files (${old.join(", ")}): pass --resume to continue that run, ` +
        `--start-over to delete those files and train afresh, or choose another checkpoint directory`,
    );
  }
  for (const name of old) Deno.removeSync(join(dir, name));
  console.error(`started over in ${dir}: removed ${old.join(", ")}`);
}

/** {@link runTraining} once the directory's lock is held. */
async function runLocked<I, L extends MetricsRecord>(
  task: TrainingTask<I, L>,
  opt: RunOptions<L>,
): Promise<TrainingRun> {
  const path = opt.resume === true ? latestCheckpoint(task.dir) : opt.resume || undefined;
  if (opt.resume === true && !path) console.error(`no checkpoint in ${task.dir}: starting from step 0`);
  prepareDirectory(task.dir, !path, opt.startOver);
  const resumed = path ? await resumeCheckpoint(task, path) : undefined;
  const start = resumed?.header.step ?? 0;
  // The run's identity: kept from the checkpoint resumed from, so pruning knows its own checkpoints.
  const runId = resumed?.header.run ?? crypto.randomUUID();
  const metrics = await MetricsLog.open(join(task.dir, "metrics.jsonl"), start);
  const plot = join(task.dir, "loss.png");
  const drawCurve = async () => Deno.writeFile(plot, await metrics.lossCurve(task.lossTitle));
  const total = task.phases.reduce((a, p) => a + p.steps, 0);
  const end = Math.min(total, start + (opt.stopAfter ?? Infinity));
  const run: TrainingRun = {
    dir: task.dir,
    resumedFrom: resumed?.path,
    metrics: metrics.path,
    plot,
    steps: start,
    losses: [],
  };
  await task.open?.(start);
  const device = opt.device?.device, moved = [...opt.device?.tensors ?? []];
  const toDevice = () => moved.forEach((t) => t.toDevice(device!));
  const toHost = () => Promise.all(moved.map((t) => t.toHost()));
  if (device) toDevice();
  try {
    let first = 0; // the phase's first step
    for (const [p, phase] of task.phases.entries()) {
      const last = first + phase.steps;
      if (first >= end) break;
      if (last > start) { // a resumed run skips the phases it finished
        const optimizer = phaseOptimizer(
          task,
          phase,
          start > first ? { ck: resumed!, done: start - first } : undefined,
        );
        const pending: PendingStep<I>[] = [];
        let since = performance.now();
        // The steps' metrics lines, once their values are read (every step on the host, every readEvery on a device).
        const report = async () => {
          const each = (performance.now() - since) / 1000 / pending.length;
          for (const s of pending) {
            await s.g.read();
            run.losses.push(s.g.loss);
            const line = task.metrics(s.done, s.inputs, s.g, p, device ? each : s.seconds);
            await metrics.append(line);
            opt.onStep?.(s.done, total, line);
          }
          pending.length = 0;
          since = performance.now();
        };
        for (let done = Math.max(start, first); done < last && done < end;) {
          const t0 = performance.now();
          const inputs = await task.inputs(done);
          const step = done + 1;
          const g = gradientStep(optimizer, () => task.loss(inputs, p), (loss) => {
            throw task.diverged(loss, step);
          });
          done++;
          run.steps = done;
          pending.push({ g, inputs, done, seconds: (performance.now() - t0) / 1000 });
          const validate = task.validation && (done % task.validation.every === 0 || done === total);
          const every = task.checkpointEvery;
          const checkpoint = (every && done % every === 0) || done === end || done === last;
          if (!device || pending.length >= (opt.readEvery ?? 10) || validate || checkpoint) await report();
          if (validate) {
            if (device) await toHost();
            const v = task.validation!.run(done);
            if (device) toDevice();
            await metrics.append(v);
            run.validation = v.mse;
          }
          if (checkpoint) {
            run.checkpoint = await saveCheckpoint(task, optimizer, done, runId);
            if (task.lossCurve) await drawCurve();
          }
        }
      }
      first = last;
    }
  } finally {
    task.close?.();
    if (device) await toHost();
  }
  if (end === start && task.lossCurve) await drawCurve();
  return run;
}

/** A step whose metrics line waits for its values. */
interface PendingStep<I> {
  g: GradientStep<{ loss: Tensor; mse?: Record<string, number> }>;
  inputs: I;
  /** Steps done after it. */
  done: number;
  /** Its wall time (host steps). */
  seconds: number;
}

/** The checkpoint to resume from (verified by the task, weights and random stream restored). */
async function resumeCheckpoint<I, L extends MetricsRecord>(
  task: TrainingTask<I, L>,
  path: string,
): Promise<Checkpoint> {
  const ck = await readCheckpoint(path);
  task.verify(ck);
  loadParameters(ck, task.params);
  task.rng.state = ck.header.rng;
  return ck;
}

/** The optimizer of a phase; resuming inside it, with the checkpoint's moments and step count. */
function phaseOptimizer<I, L extends MetricsRecord>(
  task: TrainingTask<I, L>,
  phase: TrainingPhase,
  resumed?: { ck: Checkpoint; done: number },
): AdamW {
  const optimizer = new AdamW(task.params, phase.optimizer);
  if (resumed) {
    optimizer.step = resumed.done;
    const saved = (name: string) => ({
      m: resumed.ck.tensors.get(`m:${name}`)!,
      v: resumed.ck.tensors.get(`v:${name}`)!,
    });
    if (optimizer.device) optimizer.writeMoments(new Map([...task.params.keys()].map((k) => [k, saved(k)])));
    for (const [name, m] of optimizer.moments) {
      m.m.set(saved(name).m);
      m.v.set(saved(name).v);
    }
  }
  return optimizer;
}

/** Write the checkpoint after `step` steps (weights and moments of the task's parameters), prune old ones. */
async function saveCheckpoint<I, L extends MetricsRecord>(
  task: TrainingTask<I, L>,
  optimizer: AdamW,
  step: number,
  run: string,
): Promise<string> {
  const moments = await optimizer.readMoments();
  const values = await Promise.all([...task.params.values()].map((t) => t.read()));
  const tensors = [...task.params].flatMap(([name, t], i) => {
    const m = moments.get(name)!;
    return [
      { name, kind: "param" as const, shape: [...t.shape], data: values[i] },
      { name, kind: "m" as const, shape: [...t.shape], data: m.m },
      { name, kind: "v" as const, shape: [...t.shape], data: m.v },
    ];
  });
  const path = await writeCheckpoint(task.dir, { ...task.header(step), run }, tensors);
  await pruneCheckpoints(task.dir, task.keep, run, step);
  return path;
}

/**
 * metrics.jsonl: kept up to the step resumed from (a resumed run rewrites
 * what followed), then appended to. The file is only rewritten when the
 * first line of this run is added (a run that fails before its first step
 * leaves it as it was), and then by a complete new file renamed over it.
 */
class MetricsLog {
  private kept?: string;

  private constructor(readonly path: string, private readonly lines: MetricsRecord[], kept: string) {
    this.kept = kept;
  }

  /** The log of a run starting at step `start` (a line that is not JSON is an error naming the file and line). */
  static async open(path: string, start: number): Promise<MetricsLog> {
    const kept: MetricsRecord[] = [];
    let text = "";
    if (start > 0) {
      let old = "";
      try {
        old = await Deno.readTextFile(path);
      } catch { /* no metrics yet */ }
      for (const [i, l] of old.split("\n").entries()) {
        if (!l.trim()) continue;
        let m: MetricsRecord;
        try {
          m = JSON.parse(l) as MetricsRecord;
        } catch (e) {
          throw new ConfigError(path, `line ${i + 1} is not JSON (${(e as Error).message}); repair or move the file`);
        }
        if (m.step <= start) (kept.push(m), text += l + "\n");
      }
    }
    return new MetricsLog(path, kept, text);
  }

  /** Append a line. */
  async append(line: MetricsRecord): Promise<void> {
    this.lines.push(line);
    const text = JSON.stringify(line) + "\n";
    if (this.kept !== undefined) {
      const tmp = `${this.path}.partial-${Deno.pid}`;
      await Deno.writeTextFile(tmp, this.kept + text);
      await Deno.rename(tmp, this.path);
      this.kept = undefined;
    } else await Deno.writeTextFile(this.path, text, { append: true });
  }
  /** The loss curve (train and validation lines) as PNG. */
  lossCurve(title?: string): Promise<Uint8Array> {
    const of = (kind: string) =>
      this.lines.filter((m) => m.kind === kind).map((m): CurvePoint => ({ step: m.step, loss: m.loss }));
    return lossCurvePng(of("train"), of("validation"), title);
  }
}
