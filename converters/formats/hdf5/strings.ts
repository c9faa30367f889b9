/**
 * String datasets read without the HDF5 library (fixed-length or
 * variable-length strings, compact or contiguous layout, unfiltered: how
 * netCDF-C writes NC_STRING and NC_CHAR coordinates such as ERA5's
 * `expver`).
 *
 * @module
 */
import { Cursor, Hdf5Corrupt, Hdf5Unsupported, UNDEF } from "./cursor.ts";
import type { Hdf5File } from "./superblock.ts";
import {
  attrSpace,
  type Datatype,
  dtypeName,
  type Message,
  MSG_DATASPACE,
  MSG_DATATYPE,
  MSG_FILTER_PIPELINE,
  MSG_LAYOUT,
  objectHeader,
  parseType,
} from "./object_header.ts";
import { GlobalHeap } from "./heap.ts";
import { attrValue } from "./attributes.ts";

/**
 * A string dataset (fixed-length or variable-length strings, compact or
 * contiguous layout, unfiltered: how netCDF-C writes NC_STRING and NC_CHAR
 * coordinates such as ERA5's `expver`), its values decoded as h5wasm
 * decodes them. The constructor checks the header and throws
 * {@link Hdf5Unsupported} for other layouts and types, so a caller knows
 * before reading whether it needs the HDF5 library.
 */
export class Hdf5StringDataset {
  private readonly type: Datatype;
  private readonly space: { n: number; rank: number };
  /** Compact data, or the address of contiguous data. */
  private readonly stored: Uint8Array | number;

  constructor(
    private readonly f: Hdf5File,
    address: number,
    messages: Message[] = objectHeader(f, address).messages,
  ) {
    const one = (type: number) => {
      const m = messages.find((x) => x.type === type);
      if (!m) throw new Hdf5Corrupt(`dataset header at address ${address} lacks message type ${type}`);
      if (m.flags & 0x02) throw new Hdf5Unsupported("shared datatype or dataspace");
      return m.data;
    };
    this.type = parseType(one(MSG_DATATYPE));
    if (dtypeName(this.type) !== "string") throw new Hdf5Unsupported("not a string dataset");
    const space = attrSpace(one(MSG_DATASPACE), f);
    if (space === null) throw new Hdf5Unsupported("string datasets with a null dataspace");
    this.space = space;
    if (messages.some((m) => m.type === MSG_FILTER_PIPELINE)) throw new Hdf5Unsupported("filtered string datasets");
    const c = new Cursor(one(MSG_LAYOUT), 0, f.sizeOfOffsets, f.sizeOfLengths);
    const version = c.u8(), cls = c.u8();
    if (version < 3 || version > 5) throw new Hdf5Unsupported(`data layout message version ${version}`);
    const bytes = space.n * (this.type.cls === 3 ? this.type.size : 4 + f.sizeOfOffsets + 4);
    if (cls === 0) {
      this.stored = c.bytes(c.u16());
      if (this.stored.length < bytes) {
        throw new Hdf5Corrupt(`string dataset at address ${address}: compact data too short`);
      }
    } else if (cls === 1) {
      const addr = c.addr(), size = c.len();
      if (addr === UNDEF) throw new Hdf5Unsupported("string dataset never written (fill values)");
      if (size < bytes) throw new Hdf5Corrupt(`string dataset at address ${address}: contiguous data too short`);
      this.stored = addr;
    } else throw new Hdf5Unsupported("chunked string datasets");
  }

  /** All values, row-major. */
  read(): string[] {
    const { f, type, space, stored } = this;
    const bytes = space.n * (type.cls === 3 ? type.size : 4 + f.sizeOfOffsets + 4);
    const data = typeof stored === "number" ? f.readAt(stored, bytes) : stored;
    const v = attrValue(f, new GlobalHeap(f), type, space, data);
    return typeof v === "string" ? [v] : (v as string[]);
  }
}
