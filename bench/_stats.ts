import { ShiftedPointSums } from "../normalization/moments.ts";
const nlat = 721, nlon = 1440, plane = nlat * nlon, steps = 6, clat = 91, clon = 180;
const slab = new Float32Array(steps * plane);
for (let i = 0; i < slab.length; i++) slab[i] = 250 + Math.sin(i / 1000) * 20 + (i % 13) * 0.01;
const chunk = new Float32Array(steps * clat * clon);
function tiles(fn: (acc: any) => void, acc: any) {
  for (let i0 = 0; i0 < nlat; i0 += clat) for (let j0 = 0; j0 < nlon; j0 += clon) {
    chunk.fill(NaN);
    const rows = Math.min(clat, nlat - i0), cols = Math.min(clon, nlon - j0);
    for (let t = 0; t < steps; t++) for (let i = 0; i < rows; i++) { const s = t * plane + (i0 + i) * nlon + j0; chunk.set(slab.subarray(s, s + cols), (t * clat + i) * clon); }
    fn({ acc, rows, cols, i0, j0 });
  }
}
// Variant C: NaN-free fast path
class Fast {
  n = new Int32Array(plane); s1 = new Float64Array(plane); s2 = new Float64Array(plane); shift: Float64Array | undefined; min = Infinity; max = -Infinity;
  addBlock(data: Float32Array, offset: number, stepStride: number, rowStride: number, steps: number, rows: number, cols: number, point0: number, pointRowStride: number) {
    const { n, s1, s2 } = this; const shift = this.shift ??= new Float64Array(n.length);
    let lo = this.min, hi = this.max;
    for (let r = 0; r < rows; r++) {
      const rowBase = offset + r * rowStride, pointBase = point0 + r * pointRowStride;
      for (let col = 0; col < cols; col++) {
        const i = pointBase + col;
        let k = shift[i];
        if (n[i] === 0) {
          for (let p = 0, j = rowBase + col; p < steps; p++, j += stepStride) if (data[j] === data[j]) { k = shift[i] = data[j]; break; }
        }
        let a = 0, b = 0;
        for (let p = 0, j = rowBase + col; p < steps; p++, j += stepStride) {
          const x = data[j]; const d = x - k; a += d; b += d * d;
          if (x < lo) lo = x; if (x > hi) hi = x;
        }
        if (a === a) { n[i] += steps; s1[i] += a; s2[i] += b; continue; }
        let c = 0; a = 0; b = 0;
        for (let p = 0, j = rowBase + col; p < steps; p++, j += stepStride) {
          const d = data[j] - k; if (d === d) { c++; a += d; b += d * d; }
        }
        n[i] += c; s1[i] += a; s2[i] += b;
      }
    }
    this.min = lo; this.max = hi;
  }
}
for (const round of [0, 1, 2]) {
  for (const [name, make] of [["tile-copy only", () => null], ["current", () => new ShiftedPointSums(plane)], ["fast-path", () => new Fast()]] as const) {
    const acc = (make as any)();
    const t0 = performance.now();
    for (let rep = 0; rep < 5; rep++) tiles(({ acc, rows, cols, i0, j0 }) => acc?.addBlock(chunk, 0, clat * clon, clon, steps, rows, cols, i0 * nlon + j0, nlon), acc);
    const ms = performance.now() - t0;
    console.log(round, name, ms.toFixed(0), "ms", (5 * steps * plane * 4 / 1e3 / ms).toFixed(0), "MB/s");
  }
}
