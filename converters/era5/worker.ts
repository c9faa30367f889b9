/**
 * Worker entry: runs the conversion's jobs (tasks, finalize's merges) sent by {@link ./pool.ts}.
 *
 * @module
 */
/// <reference lib="deno.worker" />
import { TaskContext } from "./task.ts";
import type { Grid } from "./grid.ts";
import { type PoolJob, postError, runJob } from "./pool.ts";

let ctx: TaskContext | undefined;
// Tasks share the context's buffers: run them strictly one after another.
let queue: Promise<void> = Promise.resolve();

self.onmessage = (e: MessageEvent) => {
  const msg = e.data as { type: "init"; grid: Grid } | { type: "job"; job: PoolJob } | { type: "close" };
  if (msg.type === "init") ctx = new TaskContext(msg.grid);
  else if (msg.type === "close") {
    ctx?.close();
    self.close();
  } else {
    queue = queue.then(async () => {
      try {
        self.postMessage({ type: "done", result: await runJob(msg.job, ctx!) });
      } catch (err) {
        self.postMessage({ type: "error", id: msg.job.id, error: postError(err) });
      }
    });
  }
};
