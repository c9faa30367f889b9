/**
 * netCDF3 (classic and 64-bit offset) reader: netcdfjs parses the header
 * from a prefix of the file; values are read with positioned reads and
 * converted from big-endian here (netcdfjs' own data path returns boxed JS
 * arrays and needs the whole file in memory).
 *
 * @module
 */
import { NetCDFReader } from "netcdfjs";
import { type FormatReader, type NumericArray, readHead, type SourceDataset, type SourceVariable } from "./dataset.ts";
import { InputError } from "../../errors.ts";
import type { Packing } from "../cf.ts";
import { adviseHugePages } from "../../native/malloc.ts";

const TYPES: Record<string, { dtype: string; size: number }> = {
  byte: { dtype: "int8", size: 1 },
  char: { dtype: "char", size: 1 },
  short: { dtype: "int16", size: 2 },
  int: { dtype: "int32", size: 4 },
  float: { dtype: "float32", size: 4 },
  double: { dtype: "float64", size: 8 },
};

interface Layout {
  offset: number;
  record: boolean;
  elementSize: number;
}

class NetCDF3Dataset implements SourceDataset {
  readonly path: string;
  readonly format: string;
  readonly dims: Record<string, number> = {};
  readonly variables = new Map<string, SourceVariable>();
  readonly attrs: Record<string, unknown> = {};
  private readonly layout = new Map<string, Layout>();
  private readonly recordStep: number;
  private file: Deno.FsFile;

  constructor(path: string, reader: NetCDFReader, fileSize: number) {
    this.path = path;
    this.format = reader.version === "classic format" ? "netcdf3-classic" : "netcdf3-64bit";
    const dims = reader.dimensions;
    const rec = reader.recordDimension;
    this.recordStep = rec.recordStep ?? 0;
    for (const [i, d] of dims.entries()) this.dims[d.name] = i === rec.id ? rec.length : d.size;
    for (const a of reader.globalAttributes) this.attrs[a.name] = a.value;
    let end = 0;
    for (const v of reader.variables) {
      const type = TYPES[v.type];
      if (!type) throw new InputError(path, `variable ${v.name} has unsupported type ${v.type}`);
      const names = v.dimensions.map((id) => dims[id].name);
      const attrs: Record<string, unknown> = {};
      for (const a of v.attributes as { name: string; value: unknown }[]) attrs[a.name] = a.value;
      this.variables.set(v.name, {
        name: v.name,
        dims: names,
        shape: names.map((n) => this.dims[n]),
        dtype: type.dtype,
        attrs,
      });
      this.layout.set(v.name, { offset: v.offset, record: v.record, elementSize: type.size });
      const last = v.record ? v.offset + v.size + this.recordStep * Math.max(0, rec.length - 1) : v.offset + v.size;
      end = Math.max(end, last);
    }
    // Padding after the last variable may legally be absent.
    const slack = 4;
    if (fileSize + slack < end) {
      throw new InputError(
        path,
        `truncated netCDF3 file: the header describes ${end} bytes of data but the file has ${fileSize}`,
      );
    }
    this.file = Deno.openSync(path, { read: true });
  }

  read(name: string, start: number[], count: number[]): NumericArray {
    const v = this.variables.get(name);
    if (!v) throw new InputError(this.path, `no variable ${name}`);
    return convert(this.readBytes(name, start, count), v.dtype);
  }

  /**
   * Packed shorts (old CDS files) decoded in one pass: the big-endian bytes
   * index a 65536-entry table of their float32 values (computed once per
   * packing in float64 and rounded once, as unpackInto does).
   */
  readDecoded(name: string, start: number[], count: number[], packing: Packing, out: Float32Array): boolean {
    const v = this.variables.get(name);
    if (!v || v.dtype !== "int16") return false;
    const n = count.reduce((a, b) => a * b, 1);
    if (out.length < n) throw new Error(`readDecoded: output of ${out.length} values for ${n}`);
    if (scratch.byteLength < 2 * n) adviseHugePages(new Uint8Array(scratch = new ArrayBuffer(2 * n)));
    this.readBytes(name, start, count, new Uint8Array(scratch, 0, 2 * n));
    const table = decodeTable(packing);
    const words = new Uint16Array(scratch, 0, n);
    for (let i = 0; i < n; i++) out[i] = table[words[i]];
    return true;
  }

  /** The stored (big-endian) bytes of a hyperslab, into `into` when given. */
  private readBytes(name: string, start: number[], count: number[], into?: Uint8Array): Uint8Array {
    const v = this.variables.get(name);
    const lay = this.layout.get(name);
    if (!v || !lay) throw new InputError(this.path, `no variable ${name}`);
    const rank = v.shape.length;
    const n = count.reduce((a, b) => a * b, 1);
    const bytes = into ?? new Uint8Array(n * lay.elementSize);
    if (n === 0) return bytes;
    // A block is contiguous on disk: the run along dimension `bd` times all
    // later (whole) dimensions. Record variables restart at every record.
    const minDim = lay.record ? 1 : 0;
    let bd = rank - 1;
    while (bd > minDim && start[bd] === 0 && count[bd] === v.shape[bd]) bd--;
    if (bd < minDim) bd = rank;
    const blockElems = bd < rank ? count[bd] * innerSize(v.shape, bd) : 1;
    const blockLen = blockElems * lay.elementSize;
    const outer = count.slice(0, bd);
    const idx = new Array(bd).fill(0);
    const total = outer.reduce((a, b) => a * b, 1);
    let dst = 0;
    for (let k = 0; k < total; k++) {
      let pos = lay.offset;
      for (let j = 0; j < bd; j++) {
        const i = start[j] + idx[j];
        pos += j === 0 && lay.record ? i * this.recordStep : i * innerSize(v.shape, j) * lay.elementSize;
      }
      if (bd < rank) pos += start[bd] * innerSize(v.shape, bd) * lay.elementSize;
      this.pread(pos, bytes.subarray(dst, dst + blockLen));
      dst += blockLen;
      for (let j = bd - 1; j >= 0; j--) {
        if (++idx[j] < outer[j]) break;
        idx[j] = 0;
      }
    }
    return bytes;
  }

  readAll(name: string): NumericArray | string[] {
    const v = this.variables.get(name);
    if (!v) throw new InputError(this.path, `no variable ${name}`);
    const raw = this.read(name, v.shape.map(() => 0), v.shape);
    if (v.dtype !== "char") return raw;
    const width = v.shape.at(-1) ?? 1;
    const out: string[] = [];
    const dec = new TextDecoder();
    for (let i = 0; i < raw.length; i += width) {
      out.push(dec.decode(raw.subarray(i, i + width) as Uint8Array).replace(/\0+$/, ""));
    }
    return out;
  }

  private pread(pos: number, into: Uint8Array): void {
    this.file.seekSync(pos, Deno.SeekMode.Start);
    let got = 0;
    while (got < into.length) {
      const r = this.file.readSync(into.subarray(got));
      if (r === null || r === 0) {
        throw new InputError(this.path, `truncated netCDF3 file: read past the end at byte ${pos + got}`);
      }
      got += r;
    }
  }

  close(): void {
    this.file.close();
  }
}

/** Read buffer of readDecoded, shared by all files of this thread. */
let scratch = new ArrayBuffer(0);
const tables = new Map<string, Float32Array>();

/**
 * float32 value of every 16-bit pattern as read little-endian from
 * big-endian int16 data: fill values NaN, others `raw * scale + offset`
 * in float64 rounded once (the same values as unpackInto).
 */
function decodeTable(p: Packing): Float32Array {
  const key = `${p.scale},${p.offset},${p.fills.join(",")}`;
  let table = tables.get(key);
  if (table) return table;
  table = new Float32Array(65536);
  const nf = p.fills.length, f0 = p.fills[0], f1 = p.fills[1];
  for (let w = 0; w < 65536; w++) {
    const u = ((w & 0xff) << 8) | (w >>> 8);
    const r = u >= 32768 ? u - 65536 : u;
    table[w] = nf > 0 && (r === f0 || r === f1) ? NaN : r * p.scale + p.offset;
  }
  if (tables.size >= 64) tables.clear();
  tables.set(key, table);
  return table;
}

/** Bytes per step of dimension `d` counted in elements (product of the later dims). */
function innerSize(shape: number[], d: number): number {
  let n = 1;
  for (let i = d + 1; i < shape.length; i++) n *= shape[i];
  return n;
}

/** Big-endian bytes to a native typed array. */
function convert(bytes: Uint8Array, dtype: string): NumericArray {
  const n = bytes.length;
  switch (dtype) {
    case "int8":
      return new Int8Array(bytes.buffer, bytes.byteOffset, n);
    case "char":
      return bytes;
    case "int16": {
      const out = new Int16Array(n / 2);
      const u = new Uint16Array(out.buffer);
      for (let i = 0, j = 0; i < u.length; i++, j += 2) u[i] = (bytes[j] << 8) | bytes[j + 1];
      return out;
    }
    default: {
      const size = dtype === "float64" ? 8 : 4;
      for (let i = 0; i < n; i += size) {
        for (let a = i, b = i + size - 1; a < b; a++, b--) {
          const t = bytes[a];
          bytes[a] = bytes[b];
          bytes[b] = t;
        }
      }
      if (dtype === "int32") return new Int32Array(bytes.buffer, bytes.byteOffset, n / 4);
      if (dtype === "float32") return new Float32Array(bytes.buffer, bytes.byteOffset, n / 4);
      return new Float64Array(bytes.buffer, bytes.byteOffset, n / 8);
    }
  }
}

/** Parse the header from growing prefixes; netcdfjs needs the whole header in its buffer. */
function parseHeader(path: string, size: number): NetCDFReader {
  let n = 64 * 1024;
  for (;;) {
    const head = readHead(path, Math.min(n, size));
    try {
      return new NetCDFReader(head);
    } catch (e) {
      if (n >= size) {
        throw new InputError(path, `corrupt or truncated netCDF3 header (${(e as Error).message})`);
      }
      n *= 8;
    }
  }
}

/** The netCDF3 format plug-in (classic `CDF\x01` and 64-bit offset `CDF\x02`). */
export const netcdf3Reader: FormatReader = {
  name: "netcdf3",
  sniff: (h: Uint8Array) => h[0] === 0x43 && h[1] === 0x44 && h[2] === 0x46 && (h[3] === 1 || h[3] === 2),
  open(path: string): Promise<SourceDataset> {
    const size = Deno.statSync(path).size;
    return Promise.resolve(new NetCDF3Dataset(path, parseHeader(path, size), size));
  },
  /** CDF-5 files get a clear refusal rather than "not a netCDF file". */
  refuses: [{
    variant: "cdf5",
    sniff: (h: Uint8Array) => h[0] === 0x43 && h[1] === 0x44 && h[2] === 0x46 && h[3] === 5,
    reason: "netCDF CDF-5 (64-bit data) is not supported; convert it with `nccopy -k nc4 IN OUT`",
  }],
};
