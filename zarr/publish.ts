/**
 * The completeness protocol of a store: a store is built under a staging
 * name, its root group metadata (`.zgroup` + `.zmetadata` in v2, the root
 * `zarr.json` with consolidated metadata in v3) is written last by
 * {@link finalizeStore}, and it is then renamed into place by
 * {@link publishStore}. Until then no zarr reader (zarr-python, xarray,
 * zarrita, AtmoRep) can open it as a group, and {@link assertComplete}
 * says why. Every step is a kill point of the crash tests
 * (zarr/fault_hook.ts).
 *
 * @module
 */
import { join } from "node:path";
import { IncompleteStoreError } from "../errors.ts";
import { beforeWrite, faultPoint } from "./fault_hook.ts";
import { groupDocs, type MetadataDocs, writeJson, type ZarrFormat } from "./metadata.ts";

/** True when a file or directory exists (any failure to stat it counts as absent). */
export function pathExists(path: string): boolean {
  try {
    Deno.statSync(path);
    return true;
  } catch {
    return false;
  }
}

/**
 * Publish a store: write the root group metadata and consolidated metadata
 * over all nodes found on disk. This is the last write of every conversion.
 */
export function finalizeStore(
  root: string,
  format: ZarrFormat,
  attributes: Record<string, unknown>,
): void {
  const nodes = collectMetadata(root, format);
  if (format === 2) {
    Object.assign(nodes, groupDocs("", 2, attributes));
    writeJson(join(root, ".zmetadata"), { zarr_consolidated_format: 1, metadata: nodes });
    writeJson(join(root, ".zattrs"), attributes);
    writeJson(join(root, ".zgroup"), { zarr_format: 2 });
  } else {
    const metadata: Record<string, unknown> = {};
    for (const [key, doc] of Object.entries(nodes)) metadata[key.replace(/\/?zarr\.json$/, "")] = doc;
    writeJson(join(root, "zarr.json"), {
      zarr_format: 3,
      node_type: "group",
      attributes,
      consolidated_metadata: { kind: "inline", must_understand: false, metadata },
    });
  }
}

/** The metadata documents of every node below the root, keyed relative to the root. */
function collectMetadata(root: string, format: ZarrFormat, rel = ""): MetadataDocs {
  const docs: MetadataDocs = {};
  const names = format === 2 ? [".zarray", ".zgroup", ".zattrs"] : ["zarr.json"];
  for (const entry of Deno.readDirSync(join(root, rel))) {
    const key = rel ? `${rel}/${entry.name}` : entry.name;
    if (entry.isFile && rel && names.includes(entry.name)) {
      docs[key] = JSON.parse(Deno.readTextFileSync(join(root, key)));
    } else if (entry.isDirectory && !entry.name.startsWith(".") && entry.name !== "c") {
      const sub = join(root, key);
      const isNode = names.some((n) => pathExists(join(sub, n)));
      if (isNode) Object.assign(docs, collectMetadata(root, format, key));
    }
  }
  return docs;
}

/** Remove a store directory if it exists. */
export function removeStore(path: string): void {
  beforeWrite(path);
  try {
    Deno.removeSync(path, { recursive: true });
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
    return;
  }
  faultPoint(path);
}

/**
 * Publish a staged store at `dest` by renaming; an existing `dest` is moved
 * aside first and removed only once the new store is in place.
 */
export function publishStore(staged: string, dest: string): void {
  beforeWrite(dest);
  const old = `${dest}.old-${Deno.pid}`;
  const hadOld = pathExists(dest);
  if (hadOld) {
    Deno.renameSync(dest, old);
    faultPoint(old);
  }
  Deno.renameSync(staged, dest);
  faultPoint(dest);
  if (hadOld) removeStore(old);
}

/** The file in a staged store that says what it is and how to redo it (zarr/outputs.ts markStaged). */
export const STAGE_MARKER = ".staged.json";

/** The marker of a staged store, if it has one. */
function stageMarker(root: string): { kind: string; redo: string } | undefined {
  try {
    const m = JSON.parse(Deno.readTextFileSync(join(root, STAGE_MARKER)));
    return typeof m?.kind === "string" && typeof m?.redo === "string" ? m : undefined;
  } catch {
    return undefined;
  }
}

/** Detect the zarr format of a finished store, or throw {@link IncompleteStoreError}. */
export function assertComplete(root: string): ZarrFormat {
  if (!pathExists(root)) throw new IncompleteStoreError(root, "no such store");
  // A staged store may already hold its root metadata (finalize writes it before publishing): never complete.
  const marker = stageMarker(root);
  if (marker) {
    throw new IncompleteStoreError(
      root,
      `incomplete ${marker.kind}: the staged output of a run that did not finish; ${marker.redo}`,
    );
  }
  if (pathExists(join(root, ".build")) || /\.partial\/*$/.test(root)) {
    throw new IncompleteStoreError(
      root,
      "incomplete store: a conversion in progress (staged store); finish it with --part/--finalize, or convert again",
    );
  }
  if (pathExists(join(root, ".zgroup"))) return 2;
  if (pathExists(join(root, "zarr.json"))) return 3;
  if (pathExists(join(root, ".zattrs")) || pathExists(join(root, "data")) || pathExists(join(root, ".build"))) {
    throw new IncompleteStoreError(
      root,
      `incomplete store: the root group metadata is missing, so the conversion that wrote it did not finish; convert again`,
    );
  }
  throw new IncompleteStoreError(root, "not a zarr store (no .zgroup or zarr.json)");
}
