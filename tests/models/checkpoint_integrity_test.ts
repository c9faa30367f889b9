/**
 * Checkpoint integrity: every load verifies the header's and each tensor's
 * CRC-32C and the tensor table against the file; every single flipped bit
 * of a checkpoint is an error naming the file (and the tensor, for a flip
 * in the weights); format 1 checkpoints (no checksums) load with a warning
 * and their tensor table checked; stale temporary files of killed writers
 * are removed when a run starts; an engine checkpoint given where a
 * Multiformer one belongs says what it is.
 *
 * @module
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import {
  type CheckpointRecord,
  decodeCheckpoint,
  readCheckpoint,
  removeStalePartials,
  writeCheckpoint,
} from "../../models/checkpoint.ts";
import { loadFrozenBase } from "../../forecast/stepper.ts";
import { isPipelineError } from "../../errors.ts";
import { Random } from "../../ops/mod.ts";
import { tempDir } from "../_helpers/common.ts";

/** A small masked-token header (what readers need of it is not interpreted here). */
function record(step: number, task: "masked-token" | "engine-rollout" = "masked-token"): CheckpointRecord {
  const common = {
    step,
    rng: [1, 2, 3, 4],
    config: { sampler: {}, model: { neighbours: 5 } } as unknown as CheckpointRecord["config"],
    layouts: [],
    coefficientSets: [],
    stores: ["/data/era5.zarr"],
  };
  return task === "masked-token" ? { task, ...common } : {
    task,
    ...common,
    forecast: {
      base: { path: "/runs/base/step-00000100.ckpt", sha256: "ab".repeat(32), step: 100 },
      engine: {} as never,
      overlap: [1, 1],
      memberNoise: 0,
      stepHours: 6,
      training: {},
    },
  };
}

function tensors(seed: number) {
  const rng = new Random(seed);
  const t = (name: string, kind: "param" | "m" | "v", shape: number[]) => {
    const data = new Float32Array(shape.reduce((a, b) => a * b, 1));
    for (let i = 0; i < data.length; i++) data[i] = rng.next() - 0.5;
    return { name, kind, shape, data };
  };
  return [t("a.w", "param", [3, 5]), t("a.w", "m", [3, 5]), t("a.w", "v", [3, 5]), t("b", "param", [7])];
}

async function written(task?: "masked-token" | "engine-rollout"): Promise<{ path: string; bytes: Uint8Array }> {
  const dir = await tempDir();
  const path = await writeCheckpoint(dir, record(10, task), tensors(7));
  return { path, bytes: await Deno.readFile(path) };
}

function errorOf(f: () => unknown): Error | undefined {
  try {
    f();
  } catch (e) {
    return e as Error;
  }
  return undefined;
}

/** Where the data section starts (format 2). */
function dataStart(bytes: Uint8Array): number {
  const n = new DataView(bytes.buffer, bytes.byteOffset).getUint32(8, true);
  return 16 + n + ((4 - ((16 + n) % 4)) % 4);
}

Deno.test("checkpoint: a written checkpoint reads back exactly, with a CRC-32C per tensor", async () => {
  const { path } = await written();
  const ck = await readCheckpoint(path);
  assert.equal(ck.header.format, 2);
  assert.ok(ck.header.tensors.every((t) => typeof t.crc32c === "number"));
  for (const t of tensors(7)) assert.deepEqual(ck.tensors.get(`${t.kind}:${t.name}`), t.data);
});

Deno.test("checkpoint fuzz: every single-bit flip anywhere in the file is an error naming the file", async () => {
  const { path, bytes } = await written();
  const start = dataStart(bytes);
  let flips = 0;
  for (let byte = 0; byte < bytes.length; byte++) {
    for (let bit = 0; bit < 8; bit++) {
      const b = bytes.slice();
      b[byte] ^= 1 << bit;
      const e = errorOf(() => decodeCheckpoint(path, b));
      assert.ok(e, `flip of bit ${bit} of byte ${byte} went unnoticed`);
      assert.ok(isPipelineError(e, "checkpoint"), `byte ${byte} bit ${bit}: ${e}`);
      assert.ok(e.message.includes(path), e.message);
      if (byte >= start) {
        // A flip in the weights names the tensor it hit.
        const element = Math.floor((byte - start) / 4);
        const name = element < 45 ? "a.w" : "b";
        const kind = element < 45 ? ["param", "m", "v"][Math.floor(element / 15)] : "param";
        assert.match(e.message, new RegExp(`corrupt tensor ${kind}:${name.replace(".", "\\.")}: CRC-32C`));
      }
      flips++;
    }
  }
  assert.equal(flips, bytes.length * 8);
});

Deno.test("checkpoint fuzz: random bit flips in a larger checkpoint's weights are all caught", async () => {
  const dir = await tempDir();
  const big = [{ name: "w", kind: "param" as const, shape: [256, 256], data: new Float32Array(65536).fill(0.033) }];
  const path = await writeCheckpoint(dir, record(3), big);
  const bytes = await Deno.readFile(path);
  const start = dataStart(bytes);
  const rng = new Random(11);
  for (let i = 0; i < 200; i++) {
    const at = start + Math.floor(rng.next() * (bytes.length - start));
    const bit = Math.floor(rng.next() * 8);
    bytes[at] ^= 1 << bit;
    assert.throws(() => decodeCheckpoint(path, bytes), /corrupt tensor param:w: CRC-32C/);
    bytes[at] ^= 1 << bit;
  }
  assert.doesNotThrow(() => decodeCheckpoint(path, bytes));
});

/** Rewrite the header JSON of a format 2 checkpoint, keeping it valid JSON and of the same length. */
function editHeader(bytes: Uint8Array, from: string, to: string): Uint8Array {
  const n = new DataView(bytes.buffer, bytes.byteOffset).getUint32(8, true);
  const text = new TextDecoder().decode(bytes.subarray(16, 16 + n));
  assert.ok(text.includes(from), `header has no ${from}`);
  assert.equal(from.length, to.length);
  const out = bytes.slice();
  out.set(new TextEncoder().encode(text.replace(from, to)), 16);
  return out;
}

Deno.test("checkpoint: an edit of the header that stays valid JSON is refused (header checksum)", async () => {
  const { path, bytes } = await written();
  const edited = editHeader(bytes, `"neighbours":5`, `"neighbours":7`);
  assert.throws(() => decodeCheckpoint(path, edited), (e: Error) => {
    assert.ok(isPipelineError(e, "checkpoint"));
    assert.match(e.message, /corrupt header: CRC-32C 0x[0-9a-f]{8}, recorded 0x[0-9a-f]{8}/);
    assert.ok(e.message.includes(path));
    return true;
  });
});

/** The format 1 bytes (no checksums) of a header and a data section. */
function formatOne(header: object, data: Float32Array): Uint8Array {
  const json = new TextEncoder().encode(JSON.stringify(header));
  const pre = 12 + json.length, pad = (4 - (pre % 4)) % 4;
  const bytes = new Uint8Array(pre + pad + data.byteLength);
  bytes.set(new TextEncoder().encode("ATMOCKPT"), 0);
  new DataView(bytes.buffer).setUint32(8, json.length, true);
  bytes.set(json, 12);
  bytes.set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength), pre + pad);
  return bytes;
}

function v1Header(tensorTable: { name: string; kind: string; shape: number[]; offset: number }[]) {
  return { format: 1, version: "0.1.0", ...record(5), tensors: tensorTable, written: "2026-01-01T00:00:00Z" };
}

Deno.test("checkpoint: format 1 (before checksums) loads with a warning naming the file", async () => {
  const dir = await tempDir();
  const path = join(dir, "old.ckpt");
  await Deno.writeFile(
    path,
    formatOne(v1Header([{ name: "w", kind: "param", shape: [2, 2], offset: 0 }]), new Float32Array([1, 2, 3, 4])),
  );
  const warnings: string[] = [];
  const warn = console.error;
  console.error = (...a: unknown[]) => warnings.push(a.join(" "));
  try {
    const ck = await readCheckpoint(path);
    assert.deepEqual([...ck.tensors.get("param:w")!], [1, 2, 3, 4]);
  } finally {
    console.error = warn;
  }
  assert.equal(warnings.length, 1);
  assert.ok(warnings[0].includes(path));
  assert.match(warnings[0], /before checksums \(format 1\)/);
});

Deno.test("checkpoint: the tensor table is checked against the file (offsets, overlaps, gaps, shapes, inside the file)", () => {
  const data = new Float32Array(8);
  const cases: [object[], RegExp][] = [
    // Tensor offset moved by two elements (the 49152 → 49150, in elements).
    [
      [{ name: "a", kind: "param", shape: [4], offset: 0 }, { name: "b", kind: "param", shape: [4], offset: 2 }],
      /overlaps tensor param:a/,
    ],
    [
      [{ name: "a", kind: "param", shape: [4], offset: 0 }, { name: "b", kind: "param", shape: [2], offset: 6 }],
      /elements 4\.\.6 between tensor param:a and tensor param:b belong to no tensor/,
    ],
    [
      [{ name: "a", kind: "param", shape: [4], offset: 0 }, { name: "b", kind: "param", shape: [4], offset: 4.5 }],
      /invalid offset 4\.5/,
    ],
    [
      [{ name: "a", kind: "param", shape: [4], offset: 0 }, { name: "b", kind: "param", shape: [-4], offset: 4 }],
      /invalid shape \[-4\]/,
    ],
    [
      [{ name: "a", kind: "param", shape: [4], offset: 0 }, { name: "b", kind: "param", shape: [4], offset: 6 }],
      /runs past|belong to no tensor|truncated/,
    ],
    [
      [{ name: "a", kind: "param", shape: [4], offset: 0 }, { name: "a", kind: "param", shape: [4], offset: 4 }],
      /param:a appears twice/,
    ],
    [
      [{ name: "a", kind: "param", shape: [4], offset: 0 }, { name: "b", kind: "x", shape: [4], offset: 4 }],
      /unknown kind/,
    ],
    [[{ name: "a", kind: "param", shape: [4], offset: 0 }], /cover 4 of the data section's 8 elements/],
  ];
  for (const [table, message] of cases) {
    const bytes = formatOne(v1Header(table as never), data);
    const warn = console.error;
    console.error = () => {};
    try {
      assert.throws(() => decodeCheckpoint("/runs/x.ckpt", bytes), (e: Error) => {
        assert.ok(isPipelineError(e, "checkpoint"), String(e));
        assert.match(e.message, /\/runs\/x\.ckpt/);
        assert.match(e.message, message);
        return true;
      });
    } finally {
      console.error = warn;
    }
  }
});

Deno.test("checkpoint: stale temporary files of killed writers are found and removed; checkpoints stay", async () => {
  const dir = await tempDir();
  await writeCheckpoint(dir, record(5), tensors(1));
  await Deno.writeFile(join(dir, "step-00000010.ckpt.partial-4242"), new Uint8Array(100));
  await Deno.writeFile(join(dir, "notes.partial-1"), new Uint8Array(1));
  assert.deepEqual(removeStalePartials(dir), ["step-00000010.ckpt.partial-4242"]);
  const left = [...Deno.readDirSync(dir)].map((e) => e.name).sort();
  assert.deepEqual(left, ["notes.partial-1", "step-00000005.ckpt"]);
});

Deno.test("checkpoint: an engine checkpoint given as the Multiformer base (train --from) says what it is and what to pass", async () => {
  const { path } = await written("engine-rollout");
  await assert.rejects(() => loadFrozenBase(path), (e: Error) => {
    assert.ok(isPipelineError(e, "checkpoint"));
    assert.ok(e.message.includes(path));
    assert.match(e.message, /is a forecast-engine checkpoint \(written by train --stage forecast\)/);
    assert.match(e.message, /pass the pre-trained Multiformer checkpoint.*its base: \/runs\/base\/step-00000100\.ckpt/);
    return true;
  });
});
