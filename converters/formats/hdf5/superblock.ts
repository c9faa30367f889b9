/**
 * The superblock: where an HDF5 file starts (after an optional user block),
 * the sizes of its addresses and lengths, its base address, the root
 * group's object header, and the end-of-file address. {@link Hdf5File} is
 * an open file with its superblock read, and the positioned reads every
 * other part of the reader makes.
 *
 * @module
 */
import { Cursor, Hdf5Corrupt, Hdf5Unsupported, UNDEF, verifyChecksum } from "./cursor.ts";

/** The 8 bytes an HDF5 superblock opens with. */
export const HDF5_SIGNATURE = [0x89, 0x48, 0x44, 0x46, 0x0d, 0x0a, 0x1a, 0x0a];

/** An open HDF5 file: its superblock fields and positioned reads. */
export class Hdf5File {
  /** File path. */
  readonly path: string;
  /** Size of file addresses in bytes. */
  readonly sizeOfOffsets: number;
  /** Size of lengths in bytes. */
  readonly sizeOfLengths: number;
  /** Base address (addresses are relative to it). */
  readonly base: number;
  /** Absolute file offset of the superblock. */
  readonly superblockAt: number = 0;
  private readonly file: Deno.FsFile;

  constructor(path: string) {
    this.path = path;
    this.file = Deno.openSync(path, { read: true });
    try {
      const size = this.file.statSync().size;
      // The superblock is at 0, 512, 1024, 2048, … (after a user block).
      for (let at = 0; at < size; at = at === 0 ? 512 : at * 2) {
        const head = this.readAt(at, Math.min(64, size - at));
        if (!HDF5_SIGNATURE.every((b, i) => head[i] === b)) continue;
        this.superblockAt = at;
        const version = head[8];
        if (version === 0 || version === 1) {
          this.sizeOfOffsets = head[13];
          this.sizeOfLengths = head[14];
          const c = new Cursor(head, 24 + (version === 1 ? 4 : 0), this.sizeOfOffsets, this.sizeOfLengths);
          this.base = c.addr();
        } else if (version === 2 || version === 3) {
          this.sizeOfOffsets = head[9];
          this.sizeOfLengths = head[10];
          this.base = new Cursor(head, 12, this.sizeOfOffsets, this.sizeOfLengths).addr();
        } else throw new Hdf5Unsupported(`HDF5 superblock version ${version}`);
        if (this.base === UNDEF) this.base = at;
        if (![2, 4, 8].includes(this.sizeOfOffsets) || ![2, 4, 8].includes(this.sizeOfLengths)) {
          throw new Hdf5Corrupt(`superblock: sizes of offsets/lengths ${this.sizeOfOffsets}/${this.sizeOfLengths}`);
        }
        return;
      }
      throw new Hdf5Corrupt("no HDF5 superblock");
    } catch (e) {
      this.file.close();
      throw e;
    }
  }

  /** Read `n` bytes at file address `addr` (relative to the base) into `into` (or a new buffer). */
  readAt(addr: number, n: number, into?: Uint8Array): Uint8Array {
    const buf = into ? into.subarray(0, n) : new Uint8Array(n);
    this.file.seekSync(addr + (this.base ?? 0), Deno.SeekMode.Start);
    let got = 0;
    while (got < n) {
      const r = this.file.readSync(buf.subarray(got));
      if (r === null || r === 0) {
        throw new Hdf5Corrupt(`the file ends at byte ${addr + got}, a structure or chunk needs ${n - got} more`);
      }
      got += r;
    }
    return buf;
  }

  /** A cursor over `n` bytes at `addr`. */
  cursor(addr: number, n: number): Cursor {
    return new Cursor(this.readAt(addr, n), 0, this.sizeOfOffsets, this.sizeOfLengths);
  }

  /** Close the file. */
  close(): void {
    this.file.close();
  }
}

/** Address of the root group's object header, from the superblock (checksum verified for v2/v3). */
export function rootHeaderAddress(f: Hdf5File): number {
  const O = f.sizeOfOffsets;
  const at = f.superblockAt - f.base;
  const head = f.readAt(at, 9);
  const version = head[8];
  if (version === 0 || version === 1) {
    const pos = 24 + (version === 1 ? 4 : 0) + 4 * O;
    const c = f.cursor(at + pos, 2 * O);
    c.addr(); // link name offset
    return c.addr();
  }
  if (version === 2 || version === 3) {
    const size = 12 + 4 * O;
    const b = f.readAt(at, size + 4);
    verifyChecksum(b, size, "superblock");
    return new Cursor(b, 12 + 3 * O, O, f.sizeOfLengths).addr();
  }
  throw new Hdf5Unsupported(`HDF5 superblock version ${version}`);
}

/**
 * End-of-file address from the HDF5 superblock (versions 0–3), so a
 * truncated file is reported before the HDF5 library prints its own trace.
 */
export function hdf5EndOfFile(head: Uint8Array): number | undefined {
  const v = new DataView(head.buffer, head.byteOffset, head.byteLength);
  const version = head[8];
  let sizeOfOffsets: number, pos: number;
  if (version === 0 || version === 1) {
    sizeOfOffsets = head[13];
    pos = 24 + (version === 1 ? 4 : 0) + sizeOfOffsets * 2; // base address, free-space address
  } else if (version === 2 || version === 3) {
    sizeOfOffsets = head[9];
    pos = 12 + sizeOfOffsets * 2; // base address, superblock extension address
  } else return undefined;
  if (sizeOfOffsets !== 8 || pos + 8 > head.length) return undefined;
  const eof = v.getBigUint64(pos, true);
  return eof === 0xffffffffffffffffn ? undefined : Number(eof);
}
