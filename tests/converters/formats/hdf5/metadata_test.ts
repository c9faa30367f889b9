/**
 * The own HDF5 metadata reader (hdf5/group.ts, hdf5/attributes.ts) against h5wasm on files
 * written by netCDF-C (python-netCDF4, ncgen) and HDF5 through h5py
 * (libver earliest and latest, creation order tracked and indexed or not):
 * members, dataset addresses, shapes, types and attributes equal what
 * h5wasm gives; a damaged v2 structure is an InputError naming file and
 * variable; what it does not read goes to h5wasm and opens as before; a
 * scan of netCDF-C files never loads h5wasm.
 *
 * @module
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import h5wasm, { type Dataset, Module } from "h5wasm/node";
import { type HDF5Dataset, openHdf5 } from "../../../../converters/formats/hdf5/dataset.ts";
import { attrsOf } from "../../../../converters/formats/hdf5/h5wasm.ts";
import { Hdf5CorruptMember, readHdf5Metadata } from "../../../../converters/formats/hdf5/group.ts";
import { Hdf5Unsupported } from "../../../../converters/formats/hdf5/cursor.ts";
import { lookup3 } from "../../../../converters/formats/hdf5/lookup3.ts";
import { InputError } from "../../../../errors.ts";
import { PYTHON, python, ROOT, run, SAMPLE, tempDir } from "../../../_helpers/common.ts";

interface Cases {
  files: string[];
  fallback: string[];
  corrupt: { file: string; var: string }[];
}

let made: Promise<Cases> | undefined;
function cases(): Promise<Cases> {
  made ??= tempDir().then((dir) => python<Cases>("hdf5_meta_cases.py", [dir]));
  return made;
}

/** Equal values and the same key order. */
function assertSameAttrs(own: Record<string, unknown>, lib: Record<string, unknown>, label: string): void {
  assert.deepEqual(Object.keys(own), Object.keys(lib), `${label}: attribute order`);
  assert.deepEqual(own, lib, `${label}: attribute values`);
}

Deno.test("HDF5 metadata: members, dataset addresses, shapes, types and attributes equal h5wasm's", async () => {
  const { files } = await cases();
  assert.ok(files.length >= 21, `only ${files.length} files`);
  await h5wasm.ready;
  for (const path of [...files, ...Deno.readDirSync(SAMPLE.new).map((e) => join(SAMPLE.new, e.name))]) {
    const name = path.split("/").at(-1)!;
    const own = readHdf5Metadata(path);
    const lib = new h5wasm.File(path, "r");
    try {
      assert.deepEqual(own.members, lib.keys(), `${name}: members (and their order)`);
      assertSameAttrs(own.attrs, attrsOf(lib), `${name} /`);
      const typeOf = (m: string) => (lib.get(m) as { type?: string } | null)?.type;
      const libDatasets = own.members.filter((m) => typeOf(m) === "Dataset");
      assert.deepEqual(own.datasets.map((d) => d.name), libDatasets, `${name}: datasets`);
      assert.deepEqual(own.groups, own.members.filter((m) => typeOf(m) === "Group"), `${name}: groups`);
      for (const d of own.datasets) {
        const ds = lib.get(d.name) as Dataset;
        const ref = Array.from(Module.create_object_reference(lib.file_id, `/${d.name}`) as ArrayLike<number>);
        assert.equal(d.address, ref.reduceRight((a, b) => a * 256 + b, 0), `${name} ${d.name}: header address`);
        assert.deepEqual(d.shape, ds.shape ?? [], `${name} ${d.name}: shape`);
        assertSameAttrs(d.attrs, attrsOf(ds), `${name} ${d.name}`);
      }
    } finally {
      lib.close();
    }
    // Through openHdf5: own metadata, and the same dataset as h5wasm's metadata gives (types, dimensions too).
    const a = await openHdf5(path, "own"), b = await openHdf5(path, "h5wasm");
    try {
      assert.equal(a.metadataSource, "own", name);
      assert.equal(b.metadataSource, "h5wasm", name);
      assertSameDataset(a, b, name);
    } finally {
      a.close();
      b.close();
    }
  }
});

/** Same dimensions, attributes, variables (in order) and coordinate values. */
function assertSameDataset(a: HDF5Dataset, b: HDF5Dataset, label: string): void {
  assert.deepEqual(a.dims, b.dims, `${label}: dims`);
  assertSameAttrs(a.attrs, b.attrs, `${label} /`);
  assert.deepEqual([...a.variables.keys()], [...b.variables.keys()], `${label}: variables`);
  for (const [name, v] of a.variables) {
    const w = b.variables.get(name)!;
    assert.deepEqual({ ...v, attrs: {} }, { ...w, attrs: {} }, `${label} ${name}`);
    assertSameAttrs(v.attrs, w.attrs, `${label} ${name}`);
    // h5wasm gives a scalar's value as a number, the own readers a 1-element array: compare the others.
    if (v.shape.length > 0 && v.dtype !== "unknown") {
      assert.deepEqual(a.readAll(name), b.readAll(name), `${label} ${name}: values`);
      if (v.dtype === "string" && v.shape.length === 1 && v.shape[0] > 1) {
        assert.deepEqual(a.read(name, [1], [v.shape[0] - 1]), b.read(name, [1], [v.shape[0] - 1]), `${label} ${name}`);
      }
    }
  }
}

Deno.test("HDF5 metadata: a damaged fractal heap, v2 B-tree or heap block is an InputError naming file and variable", async () => {
  const { corrupt } = await cases();
  assert.equal(corrupt.length, 3);
  for (const c of corrupt) {
    assert.throws(() => readHdf5Metadata(c.file), (e: unknown) => {
      assert.ok(e instanceof Hdf5CorruptMember, `${c.file}: ${e}`);
      assert.equal(e.member, c.var);
      assert.match(e.message, /checksum mismatch/);
      return true;
    });
    await assert.rejects(openHdf5(c.file, "own"), (e: unknown) => {
      assert.ok(e instanceof InputError, `${c.file}: not an InputError: ${e}`);
      assert.equal(e.file, c.file);
      assert.equal(e.field, c.var);
      assert.match(
        e.message,
        new RegExp(`variable ${c.var} cannot be read: its HDF5 attributes are corrupt .*checksum`),
      );
      return true;
    });
  }
});

Deno.test("HDF5 metadata: a soft link, a compound or an enum attribute go to h5wasm, and the file opens as before", async () => {
  const { fallback } = await cases();
  assert.equal(fallback.length, 3);
  for (const path of fallback) {
    const name = path.split("/").at(-1)!;
    assert.throws(() => readHdf5Metadata(path), Hdf5Unsupported, name);
    const a = await openHdf5(path, "own"), b = await openHdf5(path, "h5wasm");
    try {
      assert.equal(a.metadataSource, "h5wasm", name);
      assertSameDataset(a, b, name);
      assert.ok(a.variables.size > 0, name);
      for (const v of a.variables.values()) assert.match(a.readerOf(v.name), /^own \(/, `${name} ${v.name}`);
    } finally {
      a.close();
      b.close();
    }
  }
});

Deno.test("HDF5 metadata: lookup3 gives Bob Jenkins' published hashlittle values", () => {
  const text = new TextEncoder().encode("Four score and seven years ago");
  assert.equal(lookup3(new Uint8Array(0)), 0xdeadbeef);
  assert.equal(lookup3(text), 0x17770551);
  assert.equal(lookup3(text, 1), 0xcd628161);
});

/** Scan files (the ERA5 inventory) in a fresh process; whether it loaded h5wasm. */
async function scanLoadsH5wasm(files: string[], env: Record<string, string> = {}): Promise<boolean> {
  const dir = await tempDir();
  const script = join(dir, "scan.ts");
  Deno.writeTextFileSync(
    script,
    `import "${ROOT}converters/formats/registry.ts";
import { scanFile } from "${ROOT}converters/era5/inventory.ts";
import { h5wasmLoaded } from "${ROOT}converters/formats/hdf5/h5wasm.ts";
for (const f of Deno.args) await scanFile(f);
console.log(JSON.stringify({ h5wasm: h5wasmLoaded() }));`,
  );
  const r = await run(Deno.execPath(), ["run", "-A", `--config=${ROOT}deno.json`, script, ...files], { env });
  assert.equal(r.code, 0, r.stderr);
  return JSON.parse(r.stdout.trim().split("\n").at(-1)!).h5wasm;
}

Deno.test("HDF5 metadata: scanning netCDF-C files (ERA5 samples, CDS-like) does not load h5wasm", async () => {
  const { files } = await cases();
  const netcdf = [
    ...Deno.readDirSync(SAMPLE.new).map((e) => join(SAMPLE.new, e.name)),
    ...files.filter((f) => /\/cds_[a-z]+\.nc$/.test(f)),
  ];
  assert.equal(netcdf.length, 4);
  assert.equal(await scanLoadsH5wasm(netcdf), false, "the scan loaded h5wasm");
  // The flag can fail: h5wasm asked for, or a file the own metadata reader does not read.
  assert.equal(await scanLoadsH5wasm(netcdf, { ATMOREP_HDF5_READER: "h5wasm" }), true);
  const compound = join(await tempDir(), "cds_compound.nc");
  const r = await run(PYTHON, [
    "-c",
    `import shutil, h5py, numpy as np; shutil.copy(${JSON.stringify(netcdf[0])}, ${JSON.stringify(compound)}); ` +
    `h5py.File(${JSON.stringify(compound)}, "a").attrs["pair"] = np.array([(1, 2.5)], dtype="i4,f8")`,
  ]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(await scanLoadsH5wasm([compound]), true);
});
