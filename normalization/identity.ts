/**
 * Identity of a coefficient set: its path and a content hash of its
 * metadata (every `.zattrs`, `.zarray`, `.zgroup`, `zarr.json`, in path
 * order). A checkpoint records it; a model is later refused against a set
 * whose hash differs, wherever the set has been moved to.
 *
 * @module
 */
import { join, relative, resolve } from "node:path";
import { NormalizationError } from "../errors.ts";

/** Who a coefficient set is. */
export interface CoefficientSetIdentity {
  /** Absolute path where it was read. */
  path: string;
  /** SHA-256 (hex) of its metadata files and their relative paths. */
  hash: string;
}

const METADATA = new Set([".zattrs", ".zarray", ".zgroup", "zarr.json"]);

function metadataFiles(root: string, dir: string, out: string[]): void {
  for (const e of Deno.readDirSync(dir)) {
    const p = join(dir, e.name);
    if (e.isDirectory) metadataFiles(root, p, out);
    else if (e.isFile && METADATA.has(e.name)) out.push(relative(root, p));
  }
}

/** Compute the identity of the coefficient set at `path`. */
export async function coefficientSetIdentity(path: string): Promise<CoefficientSetIdentity> {
  const root = resolve(path);
  const files: string[] = [];
  try {
    metadataFiles(root, root, files);
  } catch (e) {
    throw new NormalizationError(path, `cannot read the coefficient set: ${(e as Error).message}`, { cause: e });
  }
  if (!files.length) throw new NormalizationError(path, "not a coefficient set (no zarr metadata)");
  files.sort();
  const enc = new TextEncoder();
  const parts: Uint8Array[] = [];
  for (const f of files) parts.push(enc.encode(`${f}\0`), Deno.readFileSync(join(root, f)), enc.encode("\0"));
  const all = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) (all.set(p, o), o += p.length);
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", all));
  return { path: root, hash: [...digest].map((b) => b.toString(16).padStart(2, "0")).join("") };
}

/** Throw a {@link NormalizationError} naming both paths when `actual` is not the set `expected` names. */
export function assertSameCoefficientSet(expected: CoefficientSetIdentity, actual: CoefficientSetIdentity): void {
  if (expected.hash !== actual.hash) {
    throw new NormalizationError(
      actual.path,
      `another coefficient set than the one recorded (${expected.path}, sha256 ${expected.hash.slice(0, 12)}…; ` +
        `this one is sha256 ${actual.hash.slice(0, 12)}…)`,
    );
  }
}
