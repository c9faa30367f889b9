/**
 * Worker entry: runs conversion tasks sent by {@link ../era5/convert.ts}.
 *
 * @module
 */
/// <reference lib="deno.worker" />
import { type ConvertTask, runTask, TaskContext } from "./task.ts";
import type { Grid } from "./grid.ts";
import { postError } from "./pool.ts";

let ctx: TaskContext | undefined;
// Tasks share the context's buffers: run them strictly one after another.
let queue: Promise<void> = Promise.resolve();

self.onmessage = (e: MessageEvent) => {
  const msg = e.data as { type: "init"; grid: Grid } | { type: "task"; task: ConvertTask } | { type: "close" };
  if (msg.type === "init") ctx = new TaskContext(msg.grid);
  else if (msg.type === "close") {
    ctx?.close();
    self.close();
  } else {
    queue = queue.then(async () => {
      try {
        const result = await runTask(msg.task, ctx!);
        const transfer = result.partials.flatMap((p) => [p.count.buffer, p.mean.buffer, p.m2.buffer]) as ArrayBuffer[];
        self.postMessage({ type: "done", result }, transfer);
      } catch (err) {
        self.postMessage({ type: "error", id: msg.task.id, error: postError(err) });
      }
    });
  }
};
