/**
 * B-tree walks: the version 1 B-trees that index chunks and the members of
 * old-style groups, and {@link btree2Records}, the walker of version 2
 * B-trees shared by the chunk index, dense link and attribute storage and
 * the huge objects of fractal heaps.
 *
 * @module
 */
import { Cursor, Hdf5Corrupt, Hdf5Unsupported, limitEncSize, UNDEF, verifyChecksum } from "./cursor.ts";
import type { Hdf5File } from "./superblock.ts";
import type { ChunkEntry } from "./chunk_index.ts";

/** Visit every chunk of a version 1 chunk B-tree: its offsets (in elements) and where it is stored. */
export function walkChunkBtree1(
  f: Hdf5File,
  addr: number,
  rank: number,
  visit: (offsets: number[], e: ChunkEntry) => void,
  depth = 0,
): void {
  if (depth > 64) throw new Hdf5Corrupt("chunk B-tree deeper than 64 levels");
  const O = f.sizeOfOffsets;
  const head = f.cursor(addr, 8 + 2 * O);
  head.signature("TREE", "chunk B-tree node");
  const type = head.u8(), level = head.u8(), n = head.u16();
  if (type !== 1) throw new Hdf5Corrupt(`chunk B-tree node of type ${type}`);
  const keySize = 8 + 8 * (rank + 1);
  const c = f.cursor(addr + 8 + 2 * O, n * (keySize + O) + keySize);
  for (let i = 0; i < n; i++) {
    const size = c.u32(), mask = c.u32();
    const offsets: number[] = [];
    for (let d = 0; d < rank; d++) offsets.push(c.uint(8));
    c.skip(8);
    const child = c.addr();
    if (level > 0) walkChunkBtree1(f, child, rank, visit, depth + 1);
    else visit(offsets, { addr: child, size, mask });
  }
}

/**
 * Visit every chunk of a version 2 chunk B-tree (records of type 10,
 * unfiltered, or 11, filtered): its scaled coordinates and where it is
 * stored; an unfiltered chunk's size is `chunkBytes`.
 */
export function walkChunkBtree2(
  f: Hdf5File,
  addr: number,
  rank: number,
  filtered: boolean,
  chunkBytes: number,
  visit: (s: number[], e: ChunkEntry) => void,
): void {
  const O = f.sizeOfOffsets;
  btree2Records(f, addr, [10, 11], (rec, type) => {
    if (!filtered && type === 11) throw new Hdf5Corrupt("filtered chunk records without a filter pipeline");
    const c = new Cursor(rec, 0, O, f.sizeOfLengths);
    const a = c.addr();
    let size = chunkBytes, mask = 0;
    if (type === 11) (size = c.uint(rec.length - O - 4 - 8 * rank), mask = c.u32());
    const scaled: number[] = [];
    for (let d = 0; d < rank; d++) scaled.push(c.uint(8));
    visit(scaled, { addr: a, size, mask });
  });
}

/** Visit the symbol table nodes of an old-style group's version 1 B-tree, in key order. */
export function walkGroupBtree1(f: Hdf5File, btree: number, visitSymbolNode: (at: number) => void): void {
  const O = f.sizeOfOffsets, L = f.sizeOfLengths;
  const walk = (node: number, depth: number) => {
    if (depth > 64) throw new Hdf5Corrupt("group B-tree deeper than 64 levels");
    const head = f.cursor(node, 8 + 2 * O);
    head.signature("TREE", `group B-tree node at address ${node}`);
    const type = head.u8(), level = head.u8(), n = head.u16();
    if (type !== 0) throw new Hdf5Corrupt(`group B-tree node at address ${node}: type ${type}`);
    const c = f.cursor(node + 8 + 2 * O, n * (L + O) + L);
    for (let i = 0; i < n; i++) {
      c.len();
      const child = c.addr();
      if (level > 0) walk(child, depth + 1);
      else visitSymbolNode(child);
    }
  };
  walk(btree, 0);
}

/**
 * Every record of a version 2 B-tree whose record type is one of `types`,
 * in key order, with checksums verified (a mismatch or a malformed node is
 * {@link Hdf5Corrupt}); `visit` gets each record's bytes and the type.
 */
export function btree2Records(
  f: Hdf5File,
  addr: number,
  types: readonly number[],
  visit: (rec: Uint8Array, type: number) => void,
): void {
  const O = f.sizeOfOffsets, L = f.sizeOfLengths;
  const size = 4 + 1 + 1 + 4 + 2 + 2 + 1 + 1 + O + 2 + L;
  const what = `v2 B-tree at address ${addr}`;
  const h = f.cursor(addr, size + 4);
  h.signature("BTHD", what);
  if (h.u8() !== 0) throw new Hdf5Unsupported("v2 B-tree version other than 0");
  const type = h.u8(), nodeSize = h.u32(), recSize = h.u16(), depth = h.u16();
  h.skip(2);
  const root = h.addr(), rootRecords = h.u16();
  verifyChecksum(h.b, size, what);
  if (!types.includes(type)) throw new Hdf5Corrupt(`${what}: record type ${type}, expected ${types.join(" or ")}`);
  if (recSize < 1 || nodeSize < 16 || depth > 32) throw new Hdf5Corrupt(`${what}: bad node or record size`);
  const maxLeaf = Math.floor((nodeSize - 10) / recSize);
  const maxNrecSize = limitEncSize(maxLeaf);
  const cum = [maxLeaf], cumSize = [0];
  for (let u = 1; u <= depth; u++) {
    const ptr = O + maxNrecSize + (u > 1 ? cumSize[u - 1] : 0);
    const max = Math.floor((nodeSize - (10 + ptr)) / (recSize + ptr));
    cum.push((max + 1) * cum[u - 1] + max);
    cumSize.push(limitEncSize(cum[u]));
  }
  const walk = (node: number, nrec: number, level: number) => {
    const nodeWhat = `v2 B-tree ${level === 0 ? "leaf" : "internal"} node at address ${node}`;
    const c = f.cursor(node, nodeSize);
    c.signature(level === 0 ? "BTLF" : "BTIN", nodeWhat);
    c.skip(1);
    if (c.u8() !== type) throw new Hdf5Corrupt(`${nodeWhat}: record type differs from the header's`);
    const recordsAt = c.p;
    c.skip(nrec * recSize);
    const children: [number, number][] = [];
    if (level > 0) {
      for (let i = 0; i <= nrec; i++) {
        const child = c.addr(), childRecords = c.uint(maxNrecSize);
        if (level > 1) c.uint(cumSize[level - 1]);
        children.push([child, childRecords]);
      }
    }
    verifyChecksum(c.b, c.p, nodeWhat);
    for (let i = 0; i < nrec; i++) {
      if (level > 0) walk(children[i][0], children[i][1], level - 1);
      visit(c.b.subarray(recordsAt + i * recSize, recordsAt + (i + 1) * recSize), type);
    }
    if (level > 0) walk(children[nrec][0], children[nrec][1], level - 1);
  };
  if (root !== UNDEF && rootRecords > 0) walk(root, rootRecords, depth);
}
