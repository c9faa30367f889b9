/**
 * The field reader every part of the HDF5 reader parses with: little-endian
 * integers and HDF5's variable-width addresses and lengths
 * ({@link Cursor}), the undefined address, the lookup3 checksum check of
 * the version 2 structures, and the two errors the reader raises:
 * {@link Hdf5Unsupported} (a feature it does not implement; the caller
 * hands the file or variable to the HDF5 library) and {@link Hdf5Corrupt}
 * (a damaged structure or chunk).
 *
 * @module
 */
import { lookup3Matches } from "./lookup3.ts";

/** A feature this reader does not implement (the variable can still be read by the HDF5 library). */
export class Hdf5Unsupported extends Error {}

/** A damaged HDF5 structure or chunk. */
export class Hdf5Corrupt extends Error {}

/** HDF5's undefined address (all bits set), as {@link Cursor.addr} returns it. */
export const UNDEF = -1;

/** Little-endian reads of HDF5's variable-width fields. */
export class Cursor {
  readonly v: DataView;
  constructor(
    readonly b: Uint8Array,
    public p: number,
    readonly sizeOfOffsets: number,
    readonly sizeOfLengths: number,
  ) {
    this.v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  }
  need(n: number): void {
    if (this.p + n > this.b.length) throw new Hdf5Corrupt("a structure ends before its fields do");
  }
  u8(): number {
    this.need(1);
    return this.b[this.p++];
  }
  u16(): number {
    this.need(2);
    const x = this.v.getUint16(this.p, true);
    this.p += 2;
    return x;
  }
  u32(): number {
    this.need(4);
    const x = this.v.getUint32(this.p, true);
    this.p += 4;
    return x;
  }
  /** An unsigned integer of `n` bytes (n ≤ 8; exact up to 2^53). */
  uint(n: number): number {
    this.need(n);
    let x = 0;
    for (let i = n - 1; i >= 0; i--) x = x * 256 + this.b[this.p + i];
    this.p += n;
    return x;
  }
  /** An address; {@link UNDEF} for HDF5's undefined address (all bits set). */
  addr(): number {
    this.need(this.sizeOfOffsets);
    let all = true;
    for (let i = 0; i < this.sizeOfOffsets; i++) if (this.b[this.p + i] !== 0xff) all = false;
    if (all) {
      this.p += this.sizeOfOffsets;
      return UNDEF;
    }
    return this.uint(this.sizeOfOffsets);
  }
  len(): number {
    return this.uint(this.sizeOfLengths);
  }
  signature(s: string, what: string): void {
    this.need(4);
    for (let i = 0; i < 4; i++) {
      if (this.b[this.p + i] !== s.charCodeAt(i)) throw new Hdf5Corrupt(`${what}: signature ${s} missing`);
    }
    this.p += 4;
  }
  skip(n: number): void {
    this.need(n);
    this.p += n;
  }
  bytes(n: number): Uint8Array {
    this.need(n);
    const out = this.b.subarray(this.p, this.p + n);
    this.p += n;
    return out;
  }
}

/** `H5VM_limit_enc_size`: bytes to encode numbers up to `m`. */
export function limitEncSize(m: number): number {
  return Math.floor(Math.log2(m) / 8) + 1;
}

/** Verify the lookup3 checksum stored after `block`'s first `end` bytes (a mismatch: Hdf5Corrupt naming `what`). */
export function verifyChecksum(block: Uint8Array, end: number, what: string): void {
  if (end + 4 > block.length) throw new Hdf5Corrupt(`${what}: ends before its checksum`);
  if (!lookup3Matches(block.subarray(0, end), block.subarray(end, end + 4))) {
    throw new Hdf5Corrupt(`${what}: checksum mismatch`);
  }
}
