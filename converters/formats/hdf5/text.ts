/**
 * The text of HDF5 names and string values: NUL-terminated bytes decoded as
 * h5wasm decodes them, and names sorted as the HDF5 library sorts them.
 *
 * @module
 */

/** UTF-8 decoder (names, UTF-8 strings). */
export const utf8 = new TextDecoder("utf-8");
// h5wasm decodes fixed-length ASCII strings with TextDecoder("ascii") (windows-1252): the same here.
export const ascii = new TextDecoder("ascii");

/** Bytes up to the first NUL. */
export function untilNul(b: Uint8Array): Uint8Array {
  const z = b.indexOf(0);
  return z < 0 ? b : b.subarray(0, z);
}

/** A name stored NUL-terminated (UTF-8 or ASCII). */
export function nameOf(b: Uint8Array): string {
  return utf8.decode(untilNul(b));
}

const encoder = new TextEncoder();

/** Sort by name as the HDF5 library does (`strcmp`: UTF-8 byte order, which UTF-16 order is not). */
export function sortByName<T extends { name: string }>(items: T[]): void {
  const keyed = items.map((item) => ({ item, bytes: encoder.encode(item.name) }));
  keyed.sort((a, b) => {
    const n = Math.min(a.bytes.length, b.bytes.length);
    for (let i = 0; i < n; i++) if (a.bytes[i] !== b.bytes[i]) return a.bytes[i] - b.bytes[i];
    return a.bytes.length - b.bytes.length;
  });
  keyed.forEach((k, i) => (items[i] = k.item));
}
