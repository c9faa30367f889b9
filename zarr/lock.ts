/**
 * Exclusive locks of outputs and build tasks: a lock file next to what it
 * protects, holding the owner's pid, host, purpose and start date, and an
 * exclusive `flock` held by the owner for its lifetime. A second writer
 * fails at once naming the owner; a lock file left by a process that died
 * (even by SIGKILL: the kernel drops its flock) is detected and taken over
 * with a line saying so. (`/proc` is not readable under Deno's narrow
 * permissions, so liveness comes from the flock, not from the pid.)
 *
 * @module
 */
import { dirname } from "node:path";
import { StoreError } from "../errors.ts";
import { beforeWrite, simulatedKilled } from "./fault_hook.ts";

/** What a lock file holds. */
export interface LockOwner {
  /** Process id. */
  pid: number;
  /** Host name (from /proc or /etc/hostname). */
  host: string;
  /** ISO date the lock was taken. */
  started: string;
  /** What holds it (e.g. `convert era5`). */
  purpose: string;
}

/** A held lock; {@link OutputLock.release} removes its file. */
export interface OutputLock {
  /** The lock file. */
  readonly path: string;
  /** Remove the lock file (idempotent; never throws). */
  release(): void;
}

function readText(path: string): string | undefined {
  try {
    return Deno.readTextFileSync(path).trim();
  } catch {
    return undefined;
  }
}

/** This machine's host name, without needing `--allow-sys`. */
export function hostName(): string {
  return readText("/etc/hostname") ?? "unknown-host";
}

function me(purpose: string): LockOwner {
  return { pid: Deno.pid, host: hostName(), started: new Date().toISOString(), purpose };
}

function describe(owner: LockOwner): string {
  return `pid ${owner.pid} on ${owner.host} (${owner.purpose}, started ${owner.started})`;
}

function parseOwner(text: string): LockOwner | undefined {
  try {
    const o = JSON.parse(text) as LockOwner;
    return typeof o.pid === "number" ? o : undefined;
  } catch {
    return undefined;
  }
}

/** Read a lock file's recorded owner (undefined when absent or unreadable). */
export function readLock(path: string): LockOwner | undefined {
  const text = readText(path);
  return text === undefined ? undefined : parseOwner(text);
}

function sameFile(a: Deno.FileInfo, b: Deno.FileInfo): boolean {
  return a.ino === b.ino && a.dev === b.dev;
}

/**
 * Take the lock file `path` for `subject` (the output or task it protects):
 * the file records the owner, and the owner holds an exclusive `flock` on
 * it for as long as it lives, so a killed owner's lock is free at once.
 * Fails with a {@link StoreError} naming the owner when a live process
 * holds it; a lock file left by a dead process is taken over, saying so.
 */
export function acquireLock(path: string, subject: string, purpose: string): OutputLock {
  beforeWrite(path);
  // The output's folder may not exist yet (a fresh `demo OUT_DIR`): the lock sits beside the output.
  Deno.mkdirSync(dirname(path), { recursive: true });
  for (let attempt = 0; attempt < 5; attempt++) {
    const file = Deno.openSync(path, { read: true, write: true, create: true });
    let locked = false;
    try {
      locked = file.tryLockSync(true);
    } catch (e) {
      file.close();
      throw e;
    }
    if (!locked) {
      file.close();
      const held = readLock(path);
      throw new StoreError(
        subject,
        `is being written by ${held ? describe(held) : "another process"}; wait for it to finish`,
      );
    }
    // The file may have been removed by its previous owner between our open and our lock: then retry.
    let current: Deno.FileInfo | undefined;
    try {
      current = Deno.statSync(path);
    } catch { /* removed */ }
    if (!current || !sameFile(current, file.statSync())) {
      file.close();
      continue;
    }
    const before = new Uint8Array(file.statSync().size);
    file.seekSync(0, Deno.SeekMode.Start);
    let got = 0;
    while (got < before.length) {
      const n = file.readSync(before.subarray(got));
      if (!n) break;
      got += n;
    }
    const stale = parseOwner(new TextDecoder().decode(before.subarray(0, got)));
    if (stale) console.error(`note: ${path}: took over the lock of ${describe(stale)}, which is no longer running`);
    const owner = me(purpose);
    file.truncateSync(0);
    file.seekSync(0, Deno.SeekMode.Start);
    file.writeSync(new TextEncoder().encode(JSON.stringify(owner)));
    let released = false;
    return {
      path,
      release() {
        if (released) return;
        released = true;
        // After a simulated kill the file stays, as after a real one (only the flock goes).
        if (!simulatedKilled()) {
          try {
            Deno.removeSync(path);
          } catch { /* already gone */ }
        }
        try {
          file.close();
        } catch { /* closed */ }
      },
    };
  }
  throw new StoreError(subject, `could not take the lock ${path} (other processes keep taking it)`);
}

/** The owner of a lock file when a live process holds it, else undefined. */
export function liveOwner(path: string): LockOwner | undefined {
  let file: Deno.FsFile;
  try {
    file = Deno.openSync(path, { read: true, write: true });
  } catch {
    return undefined;
  }
  try {
    if (file.tryLockSync(true)) return undefined; // nobody holds it (we drop it again on close)
    return readLock(path) ?? { pid: 0, host: "?", started: "?", purpose: "unknown" };
  } finally {
    file.close();
  }
}

/** Describe a lock owner for messages. */
export function describeOwner(owner: LockOwner): string {
  return describe(owner);
}
