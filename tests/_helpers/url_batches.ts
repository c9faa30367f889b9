/**
 * Load batches with the BatchLoader from a sampler configuration whose
 * stores may be URLs, as a process of its own (the tests have no network
 * permission; this runs with `--allow-net` for the loopback server):
 *
 *   deno run --allow-read --allow-write --allow-env --allow-net=HOST tests/_helpers/url_batches.ts \
 *     CONFIG.json OUT.bin --batches N --workers W [--cache-dir DIR] [--cache-max SIZE]
 *
 * OUT.bin holds every batch's arrays back to back ({@link batchBytes}), for
 * a byte-for-byte comparison with the same batches loaded from disk.
 *
 * @module
 */
import { BatchLoader } from "../../samplers/loader.ts";
import type { Batch, SamplerConfig } from "../../samplers/sampler.ts";
import { parseByteSize } from "../../zarr/url_store.ts";

/** The arrays of a batch (every field's tokens, mask, replacements, token info, points), back to back. */
export function batchBytes(batch: Batch): Uint8Array[] {
  return batch.fields.flatMap((f) =>
    [f.tokens, f.mask, f.replaced, f.replacements, f.tokenInfo, ...(f.points ? [f.points.index] : [])]
      .map((a) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength).slice())
  );
}

/** Load `batches` batches of `config` and return their bytes. */
export async function loadBatches(
  config: SamplerConfig,
  batches: number,
  workers: number,
  cache: { dir?: string; maxBytes?: number } = {},
): Promise<Uint8Array> {
  const loader = new BatchLoader(config, { workers, cache });
  const parts: Uint8Array[] = [];
  try {
    await loader.start();
    for (let b = 0; b < batches; b++) parts.push(...batchBytes((await loader.nextBatch()).batch));
  } finally {
    loader.close();
  }
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) (out.set(p, at), at += p.length);
  return out;
}

if (import.meta.main) {
  const arg = (name: string) => {
    const i = Deno.args.indexOf(name);
    return i >= 0 ? Deno.args[i + 1] : undefined;
  };
  const [configPath, out] = Deno.args;
  const config = JSON.parse(Deno.readTextFileSync(configPath)) as SamplerConfig;
  const cacheMax = arg("--cache-max");
  try {
    const bytes = await loadBatches(config, Number(arg("--batches") ?? 2), Number(arg("--workers") ?? 0), {
      dir: arg("--cache-dir"),
      maxBytes: cacheMax ? parseByteSize(cacheMax) : undefined,
    });
    Deno.writeFileSync(out, bytes);
  } catch (e) {
    console.error(`error: ${(e as Error).message}`);
    Deno.exit(1);
  }
}
