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

/** Gather every window of `req` into tokens; stage times and read counters are added to `timings` and `stats`. */
export function gatherTokens(req: GatherRequest, timings: BatchTimings, stats: ReadStats): void {
  const { reader, fixed, windows, grid } = req;
  if (reader.dtype !== "float32") throw new StoreError(`${reader.root}/${reader.path}`, `${reader.dtype}, not float32`);
  const dims = reader.shape.length;
  const [NT, NLAT, NLON] = [reader.shape[0], reader.shape[dims - 2], reader.shape[dims - 1]];
  const [ct, ch, cw] = [reader.chunks[0], reader.chunks[dims - 2], reader.chunks[dims - 1]];
  const nic = Math.ceil(NLAT / ch), njc = Math.ceil(NLON / cw);
  const [nt, nh, nw] = grid.numTokens, [tt, th, tw] = grid.tokenSize;
  const T = nt * tt, H = nh * th, W = nw * tw, len = tt * th * tw;
  // Position of the fixed coordinates inside their chunk, and the chunk coordinates they select.
  let fixedChunkSize = 1, fixedInChunk = 0;
  const fixedChunk: number[] = [];
  for (const [k, c] of fixed.entries()) {
    const size = reader.chunks[1 + k];
    fixedChunk.push(Math.floor(c / size));
    fixedInChunk = fixedInChunk * size + (c % size);
    fixedChunkSize *= size;
  }
  const plane = ch * cw;

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
    const start = ((w.j0 % NLON) + NLON) % NLON;
    const first = Math.min(W, NLON - start);
    const segs = [{ abs: start, win: 0, n: first }];
    if (first < W) segs.push({ abs: 0, win: first, n: W - first });
    segments.push(segs);
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
    const list = [...mine];
    keys.push(list);
    for (const k of list) uses.set(k, (uses.get(k) ?? 0) + 1);
  }

  // All stored bytes first (compressed, ≈half the decoded size): back-to-back inner chunks of a shard in one read.
  const union = [...uses.keys()].sort((a, b) => a - b);
  const coordsOf = (key: number) => {
    const jc = key % njc, ic = Math.floor(key / njc) % nic, tc = Math.floor(key / (njc * nic));
    return [tc, ...fixedChunk, ic, jc];
  };
  let t = performance.now();
  const storedList = reader.storedChunks(union.map(coordsOf));
  const stored = new Map(union.map((k, i) => [k, storedList[i]]));
  timings.read += performance.now() - t;

  const order = windows.map((_, s) => s).sort((a, b) =>
    windows[a].t0 - windows[b].t0 || windows[a].i0 - windows[b].i0 || windows[a].j0 - windows[b].j0
  );
  const alive = new Map<number, Float32Array>();
  const spare: Float32Array[] = [];
  const chunkSize = reader.chunks.reduce((a, b) => a * b, 1);
  const out = req.out;
  const maxPieces = Math.ceil(cw / tw) + 1;
  const pieceSrc = new Int32Array(maxPieces), pieceDst = new Int32Array(maxPieces);
  const pieceLen = new Int32Array(maxPieces), pieceWin = new Int32Array(maxPieces);
  for (const s of order) {
    const w = windows[s], base = req.offset(s);
    const sc = req.scaling?.(s);
    const transform = sc?.transform;
    for (const key of keys[s]) {
      let chunk = alive.get(key);
      if (!chunk) {
        t = performance.now();
        const decoded = reader.decodeStored(stored.get(key), spare.pop() ?? new Float32Array(chunkSize));
        if (!(decoded instanceof Float32Array)) throw new StoreError(`${reader.root}/${reader.path}`, "not float32");
        stored.delete(key);
        chunk = decoded;
        timings.decode += performance.now() - t;
        stats.chunksDecoded++;
        stats.bytesDecoded += chunk.byteLength;
        alive.set(key, chunk);
      }
      t = performance.now();
      const jc = key % njc, ic = Math.floor(key / njc) % nic, tc = Math.floor(key / (njc * nic));
      const ta = Math.max(w.t0, tc * ct), tb = Math.min(w.t0 + T, tc * ct + ct);
      const ia = Math.max(w.i0, ic * ch), ib = Math.min(w.i0 + H, ic * ch + ch);
      for (const seg of segments[s]) {
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
      timings.tokenize += performance.now() - t;
      const left = uses.get(key)! - 1;
      if (left === 0) {
        alive.delete(key);
        uses.delete(key);
        spare.push(chunk);
      } else uses.set(key, left);
    }
    stats.bytesDelivered += T * H * W * 4;
    req.done(s);
  }
}
