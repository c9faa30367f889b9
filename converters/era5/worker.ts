/**
 * Worker entry: runs the conversion's jobs (tasks, finalize's merges) sent by {@link ./pool.ts}.
 *
 * @module
 */
/// <reference lib="deno.worker" />
import { TaskContext } from "./task.ts";
import type { Grid } from "./grid.ts";
import { type PoolJob, postError, runJob } from "./pool.ts";
import { onObjectFetched } from "../../zarr/http.ts";

// Cloud-store downloads reported to the pool as they come in (at most every 250 ms, and before each result).
let fetched = { bytes: 0, objects: 0 };
let reporter: ReturnType<typeof setTimeout> | undefined;
const report = () => {
  if (fetched.objects > 0) self.postMessage({ type: "fetched", ...fetched });
  fetched = { bytes: 0, objects: 0 };
  reporter = undefined;
};
onObjectFetched((bytes) => {
  fetched.bytes += bytes;
  fetched.objects++;
  reporter ??= setTimeout(report, 250);
});

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
        const result = await runJob(msg.job, ctx!);
        clearTimeout(reporter);
        report();
        self.postMessage({ type: "done", result });
      } catch (err) {
        self.postMessage({ type: "error", id: msg.job.id, error: postError(err) });
      }
    });
  }
};
