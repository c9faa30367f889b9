/**
 * Gather the (time, lat, lon) windows of many samples from one field level
 * of a regular store straight into token order, normalizing while copying. The chunks the windows
 * touch are counted first, so each is read and decoded once per call and
 * dropped after its last use; samples are visited in (time, row, column)
 * order so that few chunks are alive at a time. Windows wrap around in
 * longitude.
 *
 * @module
 */
import type { ArrayReader } from "../zarr/reader.ts";
import { StoreError } from "../errors.ts";
import type { TokenGrid } from "./patches.ts";
import type { BatchTimings, ReadStats } from "../datasets/counters.ts";
import type { Window } from "../datasets/window.ts";
import type { Scaling } from "../normalization/coefficients.ts";

/** What to gather: an array, the fixed coordinates between time and lat (field, level), windows and tokens. */
export interface GatherRequest {
  /** The array: (time, …fixed, lat, lon). */
  reader: ArrayReader;
  /** Coordinates of the dimensions between time and lat. */
  fixed: number[];
  /** One window per sample. */
  windows: Window[];
  /** Token layout (the window is its extent). */
  grid: TokenGrid;
  /** Output, float32 tokens. */
  out: Float32Array;
  /** Where sample s's tokens start in `out`. */
  offset: (sample: number) => number;
  /** How sample s is normalized while it is copied (none: copied as stored). */
  scaling?: (sample: number) => Scaling;
  /** Called once a sample's tokens are complete. */
  done: (sample: number) => void;
}

interface Segment {
  /** First absolute column. */
  abs: number;
  /** First window column. */
  win: number;
  /** Columns. */
  n: number;
}

/** The array's chunk grid and the token extents of one gather, read once from the request. */
interface Geometry {
  /** Array extents: time, lat, lon. */
  NT: number;
  NLAT: number;
  NLON: number;
  /** Chunk extents: time, lat, lon. */
  ct: number;
  ch: number;
  cw: number;
  /** Chunks along lat and lon. */
  nic: number;
  njc: number;
  /** Tokens along lat and lon. */
  nh: number;
  nw: number;
  /** Token extents: time, lat, lon. */
  tt: number;
  th: number;
  tw: number;
  /** Window extents: time, lat, lon; values per token. */
  T: number;
  H: number;
  W: number;
  len: number;
  /** Chunk coordinates of the fixed dimensions. */
  fixedChunk: number[];
  /** Values of the fixed dimensions in one chunk, and the fixed coordinates' place among them. */
  fixedChunkSize: number;
  fixedInChunk: number;
  /** Values of one (lat, lon) chunk plane. */
  plane: number;
}

/** Which chunks each window touches and how many windows use each chunk. */
interface ChunkPlan {
  /** Per sample, its column ranges (two when it wraps in longitude). */
  segments: Segment[][];
  /** Per sample, the keys of the chunks it reads. */
  keys: number[][];
  /** Per chunk key, the samples still to use it. */
  uses: Map<number, number>;
}

/** Scratch of one token column range cut at token boundaries: source, destination, length, window column. */
interface Pieces {
  src: Int32Array;
  dst: Int32Array;
  len: Int32Array;
  win: Int32Array;
}

/** Gather every window of `req` into tokens; stage times and read counters are added to `timings` and `stats`. */
export function gatherTokens(req: GatherRequest, timings: BatchTimings, stats: ReadStats): void {
  const { reader, windows } = req;
  if (reader.dtype !== "float32") throw new StoreError(`${reader.root}/${reader.path}`, `${reader.dtype}, not float32`);
  const g = geometryOf(reader, req.fixed, req.grid);
  const plan = planChunks(reader, windows, g);
  const stored = readStoredChunks(reader, plan.uses, g, timings);
  const alive = new Map<number, Float32Array>();
  const spare: Float32Array[] = [];
  const chunkSize = reader.chunks.reduce((a, b) => a * b, 1);
  const maxPieces = Math.ceil(g.cw / g.tw) + 1;
  const pieces: Pieces = {
    src: new Int32Array(maxPieces),
    dst: new Int32Array(maxPieces),
    len: new Int32Array(maxPieces),
    win: new Int32Array(maxPieces),
  };
  for (const s of visitOrder(windows)) {
    const w = windows[s], base = req.offset(s);
    const sc = req.scaling?.(s);
    for (const key of plan.keys[s]) {
      let chunk = alive.get(key);
      if (!chunk) {
        chunk = decodeChunk(reader, stored, key, spare.pop() ?? new Float32Array(chunkSize), timings, stats);
        alive.set(key, chunk);
      }
      const t = performance.now();
      copyChunk(chunk, key, w, plan.segments[s], sc, req.out, base, g, pieces);
      timings.tokenize += performance.now() - t;
      // A chunk no later sample needs goes back to the spare buffers.
      const left = plan.uses.get(key)! - 1;
      if (left === 0) {
        alive.delete(key);
        plan.uses.delete(key);
        spare.push(chunk);
      } else plan.uses.set(key, left);
    }
    stats.bytesDelivered += g.T * g.H * g.W * 4;
    req.done(s);
  }
}

/** The chunk grid of `reader` and the token extents of `grid`, with where the `fixed` coordinates sit in a chunk. */
function geometryOf(reader: ArrayReader, fixed: number[], grid: TokenGrid): Geometry {
  const dims = reader.shape.length;
  const [NT, NLAT, NLON] = [reader.shape[0], reader.shape[dims - 2], reader.shape[dims - 1]];
  const [ct, ch, cw] = [reader.chunks[0], reader.chunks[dims - 2], reader.chunks[dims - 1]];
  const [nt, nh, nw] = grid.numTokens, [tt, th, tw] = grid.tokenSize;
  // Position of the fixed coordinates inside their chunk, and the chunk coordinates they select.
  let fixedChunkSize = 1, fixedInChunk = 0;
  const fixedChunk: number[] = [];
  for (const [k, c] of fixed.entries()) {
    const size = reader.chunks[1 + k];
    fixedChunk.push(Math.floor(c / size));
    fixedInChunk = fixedInChunk * size + (c % size);
    fixedChunkSize *= size;
  }
  return {
    NT,
    NLAT,
    NLON,
    ct,
    ch,
    cw,
    nic: Math.ceil(NLAT / ch),
    njc: Math.ceil(NLON / cw),
    nh,
    nw,
    tt,
    th,
    tw,
    T: nt * tt,
    H: nh * th,
    W: nw * tw,
    len: tt * th * tw,
    fixedChunk,
    fixedChunkSize,
    fixedInChunk,
    plane: ch * cw,
  };
}

/** Check every window against the array and list the chunks it touches; counts each chunk's users. */
function planChunks(reader: ArrayReader, windows: Window[], g: Geometry): ChunkPlan {
  const { NT, NLAT, T, H } = g;
  const segments: Segment[][] = [];
  const keys: number[][] = [];
  const uses = new Map<number, number>();
  for (const w of windows) {
    if (w.t0 < 0 || w.t0 + T > NT || w.i0 < 0 || w.i0 + H > NLAT) {
      throw new StoreError(
        `${reader.root}/${reader.path}`,
        `window t=${w.t0}+${T}, row=${w.i0}+${H} outside the array`,
      );
    }
    const segs = columnSegments(w, g);
    segments.push(segs);
    const list = chunksOfWindow(w, segs, g);
    keys.push(list);
    for (const k of list) uses.set(k, (uses.get(k) ?? 0) + 1);
  }
  return { segments, keys, uses };
}

/** The window's columns as one range, or two when it wraps past the last longitude. */
function columnSegments(w: Window, g: Geometry): Segment[] {
  const { NLON, W } = g;
  const start = ((w.j0 % NLON) + NLON) % NLON;
  const first = Math.min(W, NLON - start);
  const segs = [{ abs: start, win: 0, n: first }];
  if (first < W) segs.push({ abs: 0, win: first, n: W - first });
  return segs;
}

/** Keys ((time chunk · lat chunks + lat chunk) · lon chunks + lon chunk) of the chunks a window touches. */
function chunksOfWindow(w: Window, segs: Segment[], g: Geometry): number[] {
  const { ct, ch, cw, nic, njc, T, H } = g;
  const mine = new Set<number>();
  for (let tc = Math.floor(w.t0 / ct); tc <= Math.floor((w.t0 + T - 1) / ct); tc++) {
    for (let ic = Math.floor(w.i0 / ch); ic <= Math.floor((w.i0 + H - 1) / ch); ic++) {
      for (const s of segs) {
        for (let jc = Math.floor(s.abs / cw); jc <= Math.floor((s.abs + s.n - 1) / cw); jc++) {
          mine.add((tc * nic + ic) * njc + jc);
        }
      }
    }
  }
  return [...mine];
}

/**
 * All stored bytes first (compressed, ≈half the decoded size), in key order so that back-to-back inner chunks
 * of a shard come in one read.
 */
function readStoredChunks(
  reader: ArrayReader,
  uses: Map<number, number>,
  g: Geometry,
  timings: BatchTimings,
): Map<number, Uint8Array | undefined> {
  const { nic, njc, fixedChunk } = g;
  const union = [...uses.keys()].sort((a, b) => a - b);
  const coordsOf = (key: number) => {
    const jc = key % njc, ic = Math.floor(key / njc) % nic, tc = Math.floor(key / (njc * nic));
    return [tc, ...fixedChunk, ic, jc];
  };
  const t = performance.now();
  const storedList = reader.storedChunks(union.map(coordsOf));
  const stored = new Map(union.map((k, i) => [k, storedList[i]]));
  timings.read += performance.now() - t;
  return stored;
}

/** Samples in (time, row, column) order, so that few chunks are alive at a time. */
function visitOrder(windows: Window[]): number[] {
  return windows.map((_, s) => s).sort((a, b) =>
    windows[a].t0 - windows[b].t0 || windows[a].i0 - windows[b].i0 || windows[a].j0 - windows[b].j0
  );
}

/** Decode a chunk's stored bytes into `into` (its stored bytes are dropped: each chunk is decoded once). */
function decodeChunk(
  reader: ArrayReader,
  stored: Map<number, Uint8Array | undefined>,
  key: number,
  into: Float32Array,
  timings: BatchTimings,
  stats: ReadStats,
): Float32Array {
  const t = performance.now();
  const decoded = reader.decodeStored(stored.get(key), into);
  if (!(decoded instanceof Float32Array)) throw new StoreError(`${reader.root}/${reader.path}`, "not float32");
  stored.delete(key);
  timings.decode += performance.now() - t;
  stats.chunksDecoded++;
  stats.bytesDecoded += decoded.byteLength;
  return decoded;
}

/**
 * Copy the part of chunk `key` that window `w` covers into the sample's tokens at `base`, normalizing with `sc`.
 * The per-element loops stay inline here: this is the sampler's hot path.
 */
function copyChunk(
  chunk: Float32Array,
  key: number,
  w: Window,
  segments: Segment[],
  sc: Scaling | undefined,
  out: Float32Array,
  base: number,
  g: Geometry,
  pieces: Pieces,
): void {
  const { ct, ch, cw, nic, njc, nh, nw, tt, th, tw, T, H, W, len, fixedChunkSize, fixedInChunk, plane } = g;
  const { src: pieceSrc, dst: pieceDst, len: pieceLen, win: pieceWin } = pieces;
  const transform = sc?.transform;
  const jc = key % njc, ic = Math.floor(key / njc) % nic, tc = Math.floor(key / (njc * nic));
  const ta = Math.max(w.t0, tc * ct), tb = Math.min(w.t0 + T, tc * ct + ct);
  const ia = Math.max(w.i0, ic * ch), ib = Math.min(w.i0 + H, ic * ch + ch);
  for (const seg of segments) {
    const absA = Math.max(seg.abs, jc * cw), absB = Math.min(seg.abs + seg.n, jc * cw + cw);
    if (absA >= absB) continue;
    // Pieces of the column range that fall in one token column each, computed once per chunk.
    let np = 0;
    for (let c = seg.win + absA - seg.abs, n = absB - absA, src = absA - jc * cw; n > 0;) {
      const col = Math.floor(c / tw), off = c - col * tw, m = Math.min(n, tw - off);
      pieceSrc[np] = src;
      pieceWin[np] = c;
      pieceDst[np] = col * len + off;
      pieceLen[np++] = m;
      c += m;
      src += m;
      n -= m;
    }
    for (let tm = ta; tm < tb; tm++) {
      const tr = tm - w.t0, a = Math.floor(tr / tt);
      const srcT = ((tm - tc * ct) * fixedChunkSize + fixedInChunk) * plane;
      const dstT = base + a * nh * nw * len + (tr - a * tt) * th * tw;
      const mean = sc?.mean[tr], inv = sc?.inv[tr];
      const perPoint = mean !== undefined && mean.length > 1;
      const m0 = mean ? mean[0] : 0, inv0 = inv ? inv[0] : 1;
      for (let i = ia; i < ib; i++) {
        const ir = i - w.i0, b = Math.floor(ir / th);
        const dstRow = dstT + b * nw * len + (ir - b * th) * tw, srcRow = srcT + (i - ic * ch) * cw;
        for (let p = 0; p < np; p++) {
          const src = srcRow + pieceSrc[p], dst = dstRow + pieceDst[p], m = pieceLen[p];
          if (transform) {
            transform.forwardInto(chunk, src, out, dst, m);
            if (!perPoint) { for (let k = 0; k < m; k++) out[dst + k] = (out[dst + k] - m0) * inv0; }
            else {
              const q = ir * W + pieceWin[p];
              for (let k = 0; k < m; k++) out[dst + k] = (out[dst + k] - mean![q + k]) * inv![q + k];
            }
          } else if (!perPoint) {
            // Global coefficients (and a plain copy: mean 0, inv 1 cost nothing next to the memory traffic).
            for (let k = 0; k < m; k++) out[dst + k] = (chunk[src + k] - m0) * inv0;
          } else {
            const q = ir * W + pieceWin[p];
            for (let k = 0; k < m; k++) out[dst + k] = (chunk[src + k] - mean![q + k]) * inv![q + k];
          }
        }
      }
    }
  }
}
