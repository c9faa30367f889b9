/**
 * GRIB edition 1 and 2 messages: an index built by reading section headers
 * only (no value is unpacked while scanning), and the decoding of one
 * message's values: simple packing at any bit width, bitmaps, GRIB2 complex
 * packing with or without spatial differencing (templates 5.2, 5.3).
 * Other packings (CCSDS, JPEG2000, PNG, GRIB1 second-order, spectral) are
 * refused with the command that converts them.
 *
 * @module
 */
import { grib1Param, grib2Param, type ParamName } from "./params.ts";

/** Grid of a message. */
export interface GribGrid {
  /** `regular_ll`, `regular_gg` or `reduced_gg`. */
  type: "regular_ll" | "regular_gg" | "reduced_gg";
  /** Points along a parallel (0 for reduced grids). */
  ni: number;
  /** Number of parallels. */
  nj: number;
  /** First and last latitude and longitude, degrees. */
  la1: number;
  /** Longitude of the first point. */
  lo1: number;
  /** Latitude of the last point. */
  la2: number;
  /** Longitude of the last point. */
  lo2: number;
  /** Increments, degrees (NaN when not given). */
  di: number;
  /** Latitude increment (regular_ll). */
  dj: number;
  /** Gaussian N (parallels between pole and equator). */
  n: number;
  /** Scanning mode flags. */
  scan: number;
  /** Points per parallel of a reduced grid. */
  pl?: Int32Array;
  /** Number of points. */
  points: number;
}

/** One GRIB message, as indexed. */
export interface GribMessage {
  /** Byte offset of the message in the file. */
  offset: number;
  /** Message length in bytes. */
  length: number;
  /** GRIB edition. */
  edition: 1 | 2;
  /** Parameter. */
  param: ParamName;
  /** Level type: isobaricInhPa, hybrid, surface, meanSea, heightAboveGround, or the code. */
  levelType: string;
  /** Level value (hPa, model level, metres…). */
  level: number;
  /** Valid time, seconds since 1970-01-01. */
  validTime: number;
  /** Grid. */
  grid: GribGrid;
  /** Packing name as ecCodes names it (grid_simple, grid_complex_spatial_differencing, …). */
  packing: string;
  /** Hybrid coefficients (a then b per half level), when the message carries them. */
  pv?: Float64Array;
  /** Where the pieces needed for decoding are. */
  layout: {
    bitmap?: [number, number];
    data: [number, number];
    /** GRIB2 data representation section (template parameters). */
    drs?: [number, number];
    /** GRIB1: decimal scale factor from the PDS, BDS flags. */
    decimal?: number;
  };
}

/** Error with the file and message number. */
export class GribError extends Error {}

const PACKING_2: Record<number, string> = {
  0: "grid_simple",
  2: "grid_complex",
  3: "grid_complex_spatial_differencing",
  4: "grid_ieee",
  40: "grid_jpeg",
  41: "grid_png",
  42: "grid_ccsds",
  50: "spectral_simple",
  51: "spectral_complex",
  61: "grid_simple_log_preprocessing",
};

const LEVEL_1: Record<number, string> = {
  1: "surface",
  100: "isobaricInhPa",
  102: "meanSea",
  105: "heightAboveGround",
  109: "hybrid",
};
const LEVEL_2: Record<number, string> = {
  1: "surface",
  100: "isobaricInhPa",
  101: "meanSea",
  103: "heightAboveGround",
  105: "hybrid",
};

/** Unsigned big-endian integer of `n` bytes. */
function uint(b: Uint8Array, o: number, n: number): number {
  let v = 0;
  for (let i = 0; i < n; i++) v = v * 256 + b[o + i];
  return v;
}

/** GRIB's sign-and-magnitude integers. */
function sint(b: Uint8Array, o: number, n: number): number {
  const v = uint(b, o, n);
  const top = 2 ** (8 * n - 1);
  return v >= top ? -(v - top) : v;
}

/** IBM single-precision float (GRIB1). */
function ibm(b: Uint8Array, o: number): number {
  const sign = b[o] & 0x80 ? -1 : 1;
  const exp = (b[o] & 0x7f) - 64;
  const mant = uint(b, o + 1, 3) / 0x1000000;
  return sign * mant * 16 ** exp;
}

function ieee(b: Uint8Array, o: number): number {
  return new DataView(b.buffer, b.byteOffset + o, 4).getFloat32(0, false);
}

function allOnes(v: number, bytes: number): boolean {
  return v === 2 ** (8 * bytes) - 1;
}

/** Positioned reads on an open file. */
export class FileReader {
  /** File path. */
  readonly path: string;
  private readonly file: Deno.FsFile;
  /** File size. */
  readonly size: number;

  constructor(path: string) {
    this.path = path;
    this.file = Deno.openSync(path, { read: true });
    this.size = this.file.statSync().size;
  }

  /** Read `n` bytes at `pos` (fewer at the end of the file). */
  read(pos: number, n: number): Uint8Array {
    const buf = new Uint8Array(Math.max(0, Math.min(n, this.size - pos)));
    this.file.seekSync(pos, Deno.SeekMode.Start);
    let got = 0;
    while (got < buf.length) {
      const r = this.file.readSync(buf.subarray(got));
      if (!r) break;
      got += r;
    }
    return buf.subarray(0, got);
  }

  /** Close the file. */
  close(): void {
    this.file.close();
  }
}

function validTime1(pds: Uint8Array): number {
  const century = pds[24] || 21;
  const year = (century - 1) * 100 + pds[12];
  const ref = Date.UTC(year, pds[13] - 1, pds[14], pds[15], pds[16]) / 1000;
  const unit = pds[17], p1 = pds[18], p2 = pds[19], tri = pds[20];
  const seconds: Record<number, number> = {
    0: 60,
    1: 3600,
    2: 86400,
    10: 10800,
    11: 21600,
    12: 43200,
    13: 900,
    14: 1800,
    254: 1,
  };
  const us = seconds[unit];
  if (us === undefined) throw new GribError(`unsupported GRIB1 unit of time range ${unit}`);
  const step = tri === 10 ? p1 * 256 + p2 : [2, 3, 4, 5].includes(tri) ? p2 : p1;
  return ref + step * us;
}

function gridFromGds1(gds: Uint8Array): { grid: GribGrid; pv?: Float64Array } {
  const type = gds[5];
  if (type !== 0 && type !== 4) {
    throw new GribError(`GRIB1 grid type ${type} is not supported (regular lat-lon and Gaussian grids are)`);
  }
  const ni = uint(gds, 6, 2), nj = uint(gds, 8, 2);
  const nv = gds[3], pvl = gds[4];
  let pv: Float64Array | undefined;
  let pl: Int32Array | undefined;
  if (nv > 0 && pvl !== 255) {
    pv = new Float64Array(nv);
    for (let k = 0; k < nv; k++) pv[k] = ibm(gds, pvl - 1 + 4 * k);
  }
  const reduced = ni === 0xffff;
  if (reduced) {
    const start = (pvl === 255 || pvl === 0 ? 32 : pvl - 1) + 4 * nv;
    pl = new Int32Array(nj);
    for (let j = 0; j < nj; j++) pl[j] = uint(gds, start + 2 * j, 2);
  }
  const di = uint(gds, 23, 2);
  const grid: GribGrid = {
    type: type === 0 ? "regular_ll" : reduced ? "reduced_gg" : "regular_gg",
    ni: reduced ? 0 : ni,
    nj,
    la1: sint(gds, 10, 3) / 1000,
    lo1: sint(gds, 13, 3) / 1000,
    la2: sint(gds, 17, 3) / 1000,
    lo2: sint(gds, 20, 3) / 1000,
    di: di === 0xffff ? NaN : di / 1000,
    dj: type === 0 ? uint(gds, 25, 2) / 1000 : NaN,
    n: type === 4 ? uint(gds, 25, 2) : 0,
    scan: gds[27],
    pl,
    points: reduced ? pl!.reduce((a, b) => a + b, 0) : ni * nj,
  };
  return { grid, pv };
}

function gridFromSection3(s: Uint8Array): GribGrid {
  const template = uint(s, 12, 2);
  if (template !== 0 && template !== 40) {
    throw new GribError(`GRIB2 grid template 3.${template} is not supported (3.0 lat-lon and 3.40 Gaussian are)`);
  }
  const points = uint(s, 6, 4);
  const listOctets = s[10];
  const niRaw = uint(s, 30, 4), nj = uint(s, 34, 4);
  const basic = uint(s, 38, 4), sub = uint(s, 42, 4);
  const unit = basic === 0 || allOnes(basic, 4) || allOnes(sub, 4) ? 1e-6 : basic / sub;
  const reduced = allOnes(niRaw, 4);
  let pl: Int32Array | undefined;
  if (listOctets > 0) {
    pl = new Int32Array(nj);
    for (let j = 0; j < nj; j++) pl[j] = uint(s, 72 + listOctets * j, listOctets);
  }
  const diRaw = uint(s, 63, 4), djRaw = uint(s, 67, 4);
  return {
    type: template === 0 ? "regular_ll" : reduced ? "reduced_gg" : "regular_gg",
    ni: reduced ? 0 : niRaw,
    nj,
    la1: sint(s, 46, 4) * unit,
    lo1: sint(s, 50, 4) * unit,
    la2: sint(s, 55, 4) * unit,
    lo2: sint(s, 59, 4) * unit,
    di: allOnes(diRaw, 4) ? NaN : diRaw * unit,
    dj: template === 0 && !allOnes(djRaw, 4) ? djRaw * unit : NaN,
    n: template === 40 ? djRaw : 0,
    scan: s[71],
    pl,
    points,
  };
}

/** Index every message of a GRIB file, reading only section headers. */
export function scanGrib(reader: FileReader): GribMessage[] {
  const out: GribMessage[] = [];
  let pos = 0;
  while (pos < reader.size) {
    const head = reader.read(pos, 16);
    if (head.length < 8) break;
    if (!(head[0] === 0x47 && head[1] === 0x52 && head[2] === 0x49 && head[3] === 0x42)) {
      // Padding between messages is allowed; look for the next "GRIB".
      const ahead = reader.read(pos, 65536);
      const at = findGrib(ahead);
      if (at < 0) {
        if (out.length === 0) throw new GribError("no GRIB message found");
        break;
      }
      pos += at;
      continue;
    }
    const edition = head[7];
    const nth = out.length + 1;
    try {
      const msg = edition === 1 ? scan1(reader, pos, head) : edition === 2 ? scan2(reader, pos, head) : undefined;
      if (!msg) throw new GribError(`GRIB edition ${edition} is not supported`);
      if (pos + msg.length > reader.size) {
        throw new GribError(
          `truncated: the message needs ${msg.length} bytes, the file ends after ${reader.size - pos}`,
        );
      }
      const tail = reader.read(pos + msg.length - 4, 4);
      if (new TextDecoder().decode(tail) !== "7777") {
        throw new GribError("message does not end with 7777 (corrupt or truncated)");
      }
      out.push(msg);
      pos += msg.length;
    } catch (e) {
      throw new GribError(`message ${nth} at byte ${pos}: ${(e as Error).message}`);
    }
  }
  return out;
}

function findGrib(b: Uint8Array): number {
  for (let i = 0; i + 3 < b.length; i++) {
    if (b[i] === 0x47 && b[i + 1] === 0x52 && b[i + 2] === 0x49 && b[i + 3] === 0x42) return i;
  }
  return -1;
}

function scan1(reader: FileReader, pos: number, head: Uint8Array): GribMessage {
  const length = uint(head, 4, 3);
  let o = pos + 8;
  const pdsLen = uint(reader.read(o, 3), 0, 3);
  const pds = reader.read(o, pdsLen);
  o += pdsLen;
  const flags = pds[7];
  if (!(flags & 0x80)) throw new GribError("GRIB1 message without a grid description section");
  const gdsLen = uint(reader.read(o, 3), 0, 3);
  const { grid, pv } = gridFromGds1(reader.read(o, gdsLen));
  o += gdsLen;
  let bitmap: [number, number] | undefined;
  if (flags & 0x40) {
    const bms = reader.read(o, 6);
    const bmsLen = uint(bms, 0, 3);
    if (uint(bms, 4, 2) !== 0) throw new GribError("GRIB1 predefined bitmaps are not supported");
    bitmap = [o + 6, bmsLen - 6];
    o += bmsLen;
  }
  const bds = reader.read(o, 11);
  const bdsLen = uint(bds, 0, 3);
  const bflags = bds[3];
  if (bflags & 0x80) {
    throw new GribError(
      "GRIB1 spherical harmonics are not supported; `cdo -f grb1 sp2gp IN OUT` converts them to a grid",
    );
  }
  const packing = bflags & 0x40 ? "grid_second_order" : "grid_simple";
  const levelCode = pds[9];
  const levelType = LEVEL_1[levelCode] ?? `level${levelCode}`;
  const level = [100, 105, 109, 1, 102].includes(levelCode) || !LEVEL_1[levelCode] ? uint(pds, 10, 2) : pds[10];
  return {
    offset: pos,
    length,
    edition: 1,
    param: grib1Param(pds[3], pds[8]),
    levelType,
    level,
    validTime: validTime1(pds),
    grid,
    packing,
    pv,
    layout: { bitmap, data: [o, bdsLen], decimal: sint(pds, 26, 2) },
  };
}

function scan2(reader: FileReader, pos: number, head: Uint8Array): GribMessage {
  const discipline = head[6];
  const length = uint(head, 8, 8);
  let o = pos + 16;
  const end = pos + length - 4;
  let refTime = 0;
  let grid: GribGrid | undefined;
  let product: Uint8Array | undefined;
  let drs: [number, number] | undefined;
  let drsBytes: Uint8Array | undefined;
  let bitmap: [number, number] | undefined;
  let data: [number, number] | undefined;
  while (o < end) {
    const h = reader.read(o, 5);
    const len = uint(h, 0, 4), num = h[4];
    if (len < 5) throw new GribError(`section ${num} has length ${len}`);
    if (num === 1) {
      const s = reader.read(o, len);
      refTime = Date.UTC(uint(s, 12, 2), s[14] - 1, s[15], s[16], s[17], s[18]) / 1000;
    } else if (num === 3) grid = gridFromSection3(reader.read(o, len));
    else if (num === 4) product = reader.read(o, len);
    else if (num === 5) {
      drs = [o, len];
      drsBytes = reader.read(o, Math.min(len, 64));
    } else if (num === 6) {
      const indicator = reader.read(o + 5, 1)[0];
      if (indicator === 0) bitmap = [o + 6, len - 6];
      else if (indicator !== 255) {
        throw new GribError(`bitmap indicator ${indicator} (predefined or previous bitmap) is not supported`);
      }
    } else if (num === 7) {
      data = [o + 5, len - 5];
      break; // one field per message is what ERA5 and ecCodes write
    }
    o += len;
  }
  if (!grid || !product || !drs || !drsBytes || !data) throw new GribError("missing sections (3, 4, 5 or 7)");
  const template = uint(drsBytes, 9, 2);
  const packing = PACKING_2[template] ?? `template 5.${template}`;
  const pt = uint(product, 7, 2);
  if (![0, 1, 8, 11].includes(pt)) throw new GribError(`product template 4.${pt} is not supported`);
  const unitSeconds: Record<number, number> = { 0: 60, 1: 3600, 2: 86400, 10: 10800, 11: 21600, 12: 43200, 13: 1 };
  let validTime = refTime + uint(product, 18, 4) * (unitSeconds[product[17]] ?? 3600);
  if (pt === 8 || pt === 11) {
    const e = pt === 8 ? 34 : 37;
    validTime = Date.UTC(
      uint(product, e, 2),
      product[e + 2] - 1,
      product[e + 3],
      product[e + 4],
      product[e + 5],
      product[e + 6],
    ) / 1000;
  }
  const levelCode = product[22];
  const scale = product[23], scaled = uint(product, 24, 4);
  let level = allOnes(scaled, 4) ? 0 : scaled / 10 ** (scale === 255 ? 0 : scale);
  if (levelCode === 100) level /= 100; // Pa → hPa
  const nv = uint(product, 5, 2);
  let pv: Float64Array | undefined;
  if (nv > 0) {
    pv = new Float64Array(nv);
    for (let k = 0; k < nv; k++) pv[k] = ieee(product, product.length - 4 * nv + 4 * k);
  }
  return {
    offset: pos,
    length,
    edition: 2,
    param: grib2Param(discipline, product[9], product[10], levelCode, level),
    levelType: LEVEL_2[levelCode] ?? `level${levelCode}`,
    level: Math.round(level * 1e6) / 1e6,
    validTime,
    grid,
    packing,
    pv,
    layout: { bitmap, data, drs },
  };
}

/** Read `count` unsigned integers of `bits` bits starting at bit `bitPos` of `b`. */
function unpackBits(
  b: Uint8Array,
  bitPos: number,
  bits: number,
  count: number,
  out: Float64Array,
  outOffset = 0,
): number {
  if (bits === 0) {
    out.fill(0, outOffset, outOffset + count);
    return bitPos;
  }
  if (bits === 16 && bitPos % 8 === 0) {
    let o = bitPos / 8;
    for (let i = 0; i < count; i++, o += 2) out[outOffset + i] = (b[o] << 8) | b[o + 1];
    return bitPos + 16 * count;
  }
  if (bits === 8 && bitPos % 8 === 0) {
    const o = bitPos / 8;
    for (let i = 0; i < count; i++) out[outOffset + i] = b[o + i];
    return bitPos + 8 * count;
  }
  if (bits <= 25) {
    // Each value lies within the 4 bytes starting at its first byte: load them, shift, mask.
    // (Bytes past the end read as undefined, which bit operations treat as 0.)
    let pos = bitPos;
    const drop = 32 - bits;
    for (let i = 0; i < count; i++, pos += bits) {
      const p = pos >>> 3;
      const word = ((b[p] << 24) | (b[p + 1] << 16) | (b[p + 2] << 8) | b[p + 3]) >>> 0;
      out[outOffset + i] = ((word << (pos & 7)) >>> 0) >>> drop;
    }
    return pos;
  }
  let byte = bitPos >>> 3, used = bitPos & 7;
  for (let i = 0; i < count; i++) {
    let v = 0, need = bits;
    while (need > 0) {
      const avail = 8 - used;
      const take = Math.min(avail, need);
      const chunk = (b[byte] >>> (avail - take)) & ((1 << take) - 1);
      v = v * (1 << take) + chunk;
      need -= take;
      used += take;
      if (used === 8) (used = 0, byte++);
    }
    out[outOffset + i] = v;
  }
  return byte * 8 + used;
}

const REFUSED: Record<string, string> = {
  grid_ccsds: "grib_set -r -s packingType=grid_simple IN OUT  (or: cdo -f grb2 copy IN OUT)",
  grid_jpeg: "grib_set -r -s packingType=grid_simple IN OUT  (or: cdo -f grb2 copy IN OUT)",
  grid_png: "grib_set -r -s packingType=grid_simple IN OUT",
  grid_second_order: "grib_set -r -s packingType=grid_simple IN OUT",
  grid_ieee: "grib_set -r -s packingType=grid_simple IN OUT",
  spectral_simple: "cdo sp2gp IN OUT",
  spectral_complex: "cdo sp2gp IN OUT",
};

/** Decode one message's values (grid order as scanned; missing points NaN). */
export function decodeMessage(reader: FileReader, m: GribMessage): Float32Array {
  const supported = ["grid_simple", "grid_complex", "grid_complex_spatial_differencing"];
  if (!supported.includes(m.packing)) {
    const fix = REFUSED[m.packing] ?? "grib_set -r -s packingType=grid_simple IN OUT";
    throw new GribError(
      `${reader.path}: ${m.param.shortName} is packed with ${m.packing}, which this reader does not decode; convert it with: ${fix}`,
    );
  }
  const n = m.grid.points;
  let present: Uint8Array | undefined;
  if (m.layout.bitmap) present = reader.read(m.layout.bitmap[0], m.layout.bitmap[1]);
  const packedCount = present ? countBits(present, n) : n;
  let base: number, scale: number, bits: number, data: Uint8Array, bitStart: number;
  let drs: Uint8Array | undefined;
  if (m.edition === 1) {
    data = reader.read(m.layout.data[0], m.layout.data[1]);
    const e = sint(data, 4, 2), r = ibm(data, 6);
    bits = data[10];
    bitStart = 11 * 8;
    const d = 10 ** (m.layout.decimal ?? 0);
    base = r / d;
    scale = 2 ** e / d;
  } else {
    drs = reader.read(m.layout.drs![0], m.layout.drs![1]);
    const r = ieee(drs, 11), e = sint(drs, 15, 2), d = 10 ** sint(drs, 17, 2);
    bits = drs[19];
    bitStart = 0;
    base = r / d;
    scale = 2 ** e / d;
    data = reader.read(m.layout.data[0], m.layout.data[1]);
  }
  if (m.packing === "grid_simple") {
    // Simple packing: the data section holds exactly bits × values (GRIB1: padded to whole bytes, plus one).
    const need = Math.ceil((bitStart + bits * packedCount) / 8);
    const pad = m.edition === 1 ? 2 : 0;
    if (data.length < need || data.length > need + pad) {
      throw new GribError(
        `${reader.path}: ${m.param.shortName} (message at byte ${m.offset}): the data section holds ${
          data.length - bitStart / 8
        } bytes, but ${packedCount} values of ${bits} bits need ${need - bitStart / 8} (section lengths disagree: ` +
          "a corrupt message)",
      );
    }
  }
  const out = new Float32Array(n);
  if (m.packing === "grid_simple" && !present && bits === 16) {
    // ERA5's case, straight from bytes to float32.
    for (let i = 0, o = bitStart / 8; i < n; i++, o += 2) out[i] = base + ((data[o] << 8) | data[o + 1]) * scale;
    return out;
  }
  const packed = new Float64Array(packedCount);
  if (m.packing === "grid_simple") unpackBits(data, bitStart, bits, packedCount, packed);
  else {
    const end = unpackComplex(drs!, data, bits, packedCount, packed, m.packing === "grid_complex_spatial_differencing");
    if (end > data.length * 8) {
      throw new GribError(
        `${reader.path}: ${m.param.shortName} (message at byte ${m.offset}): complex packing needs ${
          Math.ceil(end / 8)
        } bytes of data, the data section holds ${data.length} (section lengths disagree: a corrupt message)`,
      );
    }
  }
  if (!present) {
    for (let i = 0; i < n; i++) out[i] = packed[i] !== packed[i] ? NaN : base + packed[i] * scale;
  } else {
    let k = 0;
    for (let i = 0; i < n; i++) {
      if (present[i >>> 3] & (0x80 >>> (i & 7))) {
        const x = packed[k++];
        out[i] = x !== x ? NaN : base + x * scale;
      } else out[i] = NaN;
    }
  }
  return out;
}

function countBits(bitmap: Uint8Array, n: number): number {
  let c = 0;
  for (let i = 0; i < n; i++) if (bitmap[i >>> 3] & (0x80 >>> (i & 7))) c++;
  return c;
}

/** GRIB2 templates 5.2/5.3: groups of varying width and length, optional spatial differencing. */
function unpackComplex(
  drs: Uint8Array,
  data: Uint8Array,
  bits: number,
  n: number,
  out: Float64Array,
  spatial: boolean,
): number {
  const missingMgmt = drs[22];
  const ng = uint(drs, 31, 4);
  const refWidth = drs[35], widthBits = drs[36];
  const refLength = uint(drs, 37, 4), lengthInc = drs[41], lastLength = uint(drs, 42, 4), lengthBits = drs[46];
  let order = 0, extraBytes = 0;
  if (spatial) (order = drs[47], extraBytes = drs[48]);
  let pos = 0;
  const first: number[] = [];
  let gmin = 0;
  if (spatial) {
    for (let k = 0; k < order; k++) first.push(uint(data, pos + k * extraBytes, extraBytes));
    gmin = sint(data, pos + order * extraBytes, extraBytes);
    pos += (order + 1) * extraBytes;
  }
  let bit = pos * 8;
  const refs = new Float64Array(ng), widths = new Float64Array(ng), lengths = new Float64Array(ng);
  bit = unpackBits(data, bit, bits, ng, refs);
  bit = Math.ceil(bit / 8) * 8;
  bit = unpackBits(data, bit, widthBits, ng, widths);
  bit = Math.ceil(bit / 8) * 8;
  bit = unpackBits(data, bit, lengthBits, ng, lengths);
  bit = Math.ceil(bit / 8) * 8;
  for (let g = 0; g < ng; g++) lengths[g] = refLength + lengths[g] * lengthInc;
  if (ng > 0) lengths[ng - 1] = lastLength;
  let k = 0;
  for (let g = 0; g < ng && k < n; g++) {
    const w = refWidth + widths[g], len = Math.min(lengths[g], n - k);
    const ref = refs[g];
    if (w === 0) {
      const allMissing = missingMgmt > 0 && ref === 2 ** bits - 1;
      out.fill(allMissing ? NaN : ref, k, k + len);
    } else {
      // Unpack straight into the output, then add the group's reference (no per-group buffer).
      bit = unpackBits(data, bit, w, len, out, k);
      if (missingMgmt === 0) {
        for (let i = k; i < k + len; i++) out[i] += ref;
      } else {
        const miss1 = 2 ** w - 1, miss2 = missingMgmt === 2 ? 2 ** w - 2 : -1;
        for (let i = k; i < k + len; i++) {
          const x = out[i];
          out[i] = x === miss1 || x === miss2 ? NaN : ref + x;
        }
      }
    }
    k += len;
  }
  if (!spatial || order === 0) return bit;
  // Undo spatial differencing over the non-missing values.
  let seen = 0, y1 = 0, y2 = 0;
  for (let i = 0; i < n; i++) {
    if (out[i] !== out[i]) continue;
    if (seen < order) {
      out[i] = first[seen];
    } else if (order === 1) out[i] = out[i] + gmin + y1;
    else out[i] = out[i] + gmin + 2 * y1 - y2;
    y2 = y1;
    y1 = out[i];
    seen++;
  }
  return bit;
}

/** Gaussian latitudes (degrees, north to south) of a grid with N parallels per hemisphere. */
export function gaussianLatitudes(n: number): Float64Array {
  const nlat = 2 * n;
  const out = new Float64Array(nlat);
  for (let i = 0; i < n; i++) {
    let x = Math.cos(Math.PI * (i + 0.75) / (nlat + 0.5));
    for (let iter = 0; iter < 100; iter++) {
      let p0 = 1, p1 = x;
      for (let k = 2; k <= nlat; k++) [p0, p1] = [p1, ((2 * k - 1) * x * p1 - (k - 1) * p0) / k];
      const dp = nlat * (x * p1 - p0) / (x * x - 1);
      const dx = p1 / dp;
      x -= dx;
      if (Math.abs(dx) < 1e-15) break;
    }
    const lat = Math.asin(x) * 180 / Math.PI;
    out[i] = lat;
    out[nlat - 1 - i] = -lat;
  }
  return out;
}

/** Latitude and longitude of every point of a message's grid, in the message's order. */
export function gridPoints(g: GribGrid): { lat: Float64Array; lon: Float64Array } {
  if ((g.scan & 0x10) !== 0) throw new GribError("boustrophedonic scanning is not supported");
  const lat = new Float64Array(g.points), lon = new Float64Array(g.points);
  if (g.type === "reduced_gg") {
    const lats = gaussianLatitudes(g.n || g.nj / 2);
    const first = lats.findIndex((l) => Math.abs(l - g.la1) < 0.01);
    let k = 0;
    for (let j = 0; j < g.nj; j++) {
      const row = g.pl![j];
      for (let i = 0; i < row; i++, k++) {
        lat[k] = lats[(first < 0 ? 0 : first) + j];
        lon[k] = g.lo1 + i * 360 / row;
      }
    }
    return { lat, lon };
  }
  const { lats, lons } = axes(g);
  const jConsecutive = (g.scan & 0x20) !== 0;
  for (let j = 0, k = 0; j < g.nj; j++) {
    for (let i = 0; i < g.ni; i++, k++) {
      const kk = jConsecutive ? i * g.nj + j : k;
      lat[kk] = lats[j];
      lon[kk] = lons[i];
    }
  }
  return { lat, lon };
}

/** The latitude and longitude axes of a regular grid, in scanning order. */
export function axes(g: GribGrid): { lats: Float64Array; lons: Float64Array } {
  const iNeg = (g.scan & 0x80) !== 0, jPos = (g.scan & 0x40) !== 0;
  let di = g.di;
  if (!(di > 0)) {
    let span = iNeg ? g.lo1 - g.lo2 : g.lo2 - g.lo1;
    if (span < 0) span += 360;
    di = span / (g.ni - 1);
  }
  const lons = Float64Array.from({ length: g.ni }, (_, i) => g.lo1 + (iNeg ? -i : i) * di);
  let lats: Float64Array;
  if (g.type === "regular_gg") {
    // Gaussian latitudes run north → south; a south → north scan walks them backwards.
    const all = gaussianLatitudes(g.n);
    const start = Math.max(0, all.findIndex((l) => Math.abs(l - g.la1) < 0.01));
    lats = Float64Array.from({ length: g.nj }, (_, j) => all[jPos ? start - j : start + j]);
  } else {
    let dj = g.dj;
    if (!(dj > 0)) dj = Math.abs(g.la2 - g.la1) / (g.nj - 1);
    lats = Float64Array.from({ length: g.nj }, (_, j) => g.la1 + (jPos ? j : -j) * dj);
  }
  return { lats, lons };
}
