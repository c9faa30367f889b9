/**
 * The loss curve as a PNG (fast-png encodes it): training loss per step
 * (blue) and validation loss (orange dots), log-scaled loss axis when the
 * loss spans more than a factor 10, with numeric tick labels drawn in a
 * built-in 3×5 pixel font (no font files needed).
 *
 * @module
 */
import { encode } from "fast-png";

/** A point of a curve. */
export interface CurvePoint {
  /** Step. */
  step: number;
  /** Loss. */
  loss: number;
}

// 3×5 glyphs, rows top to bottom, 3 bits per row.
const GLYPHS: Record<string, number[]> = {
  "0": [7, 5, 5, 5, 7],
  "1": [2, 6, 2, 2, 7],
  "2": [7, 1, 7, 4, 7],
  "3": [7, 1, 7, 1, 7],
  "4": [5, 5, 7, 1, 1],
  "5": [7, 4, 7, 1, 7],
  "6": [7, 4, 7, 5, 7],
  "7": [7, 1, 1, 2, 2],
  "8": [7, 5, 7, 5, 7],
  "9": [7, 5, 7, 1, 7],
  ".": [0, 0, 0, 0, 2],
  "-": [0, 0, 7, 0, 0],
  "e": [0, 7, 7, 4, 7],
};

/** Render the curves to PNG bytes. */
export function lossCurvePng(train: CurvePoint[], validation: CurvePoint[], width = 800, height = 480): Uint8Array {
  const img = new Uint8Array(width * height * 3).fill(255);
  const set = (x: number, y: number, c: [number, number, number]) => {
    x = Math.round(x), y = Math.round(y);
    if (x < 0 || y < 0 || x >= width || y >= height) return;
    img.set(c, (y * width + x) * 3);
  };
  const text = (s: string, x: number, y: number, scale = 2) => {
    for (const ch of s) {
      const g = GLYPHS[ch];
      if (g) {
        for (let r = 0; r < 5; r++) {
          for (let c = 0; c < 3; c++) {
            if (g[r] & (4 >> c)) {
              for (let a = 0; a < scale; a++) {
                for (let b = 0; b < scale; b++) set(x + c * scale + a, y + r * scale + b, [0, 0, 0]);
              }
            }
          }
        }
      }
      x += 4 * scale;
    }
  };
  const pts = [...train, ...validation].filter((p) => Number.isFinite(p.loss) && p.loss > 0);
  const [L, R, T, B] = [80, width - 20, 20, height - 40];
  const steps = pts.map((p) => p.step);
  const s0 = Math.min(0, ...steps), s1 = Math.max(1, ...steps);
  const lo = Math.min(...pts.map((p) => p.loss)), hi = Math.max(...pts.map((p) => p.loss));
  const log = pts.length > 0 && hi / lo > 10;
  const f = (v: number) => (log ? Math.log10(v) : v);
  const y0 = pts.length ? f(lo) : 0, y1 = pts.length ? (f(hi) > f(lo) ? f(hi) : f(lo) + 1) : 1;
  const px = (s: number) => L + (s - s0) / (s1 - s0) * (R - L);
  const py = (v: number) => B - (f(v) - y0) / (y1 - y0) * (B - T);
  const grey: [number, number, number] = [200, 200, 200];
  for (let i = 0; i <= 4; i++) {
    const v = y0 + (y1 - y0) * i / 4, y = B - (B - T) * i / 4;
    for (let x = L; x <= R; x++) set(x, y, grey);
    const label = log ? Math.pow(10, v) : v;
    text(label.toPrecision(2).replace("e+", "e"), 4, y - 5);
  }
  for (let i = 0; i <= 4; i++) {
    const s = s0 + (s1 - s0) * i / 4, x = L + (R - L) * i / 4;
    for (let y = T; y <= B; y++) set(x, y, grey);
    text(String(Math.round(s)), x - 8, B + 10);
  }
  for (let y = T; y <= B; y++) set(L, y, [0, 0, 0]);
  for (let x = L; x <= R; x++) set(x, B, [0, 0, 0]);
  const line = (a: CurvePoint[], c: [number, number, number]) => {
    const ok = a.filter((p) => Number.isFinite(p.loss) && p.loss > 0);
    for (let i = 1; i < ok.length; i++) {
      const [xa, ya, xb, yb] = [px(ok[i - 1].step), py(ok[i - 1].loss), px(ok[i].step), py(ok[i].loss)];
      const n = Math.max(1, Math.ceil(Math.max(Math.abs(xb - xa), Math.abs(yb - ya))));
      for (let k = 0; k <= n; k++) set(xa + (xb - xa) * k / n, ya + (yb - ya) * k / n, c);
    }
  };
  line(train, [31, 119, 180]);
  for (const p of validation) {
    if (!(Number.isFinite(p.loss) && p.loss > 0)) continue;
    for (let a = -3; a <= 3; a++) {
      for (let b = -3; b <= 3; b++) if (a * a + b * b <= 9) set(px(p.step) + a, py(p.loss) + b, [255, 127, 14]);
    }
  }
  line(validation, [255, 127, 14]);
  return encode({ width, height, data: img, channels: 3, depth: 8 });
}
