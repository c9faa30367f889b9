/**
 * Pictures of a forecast: maps (forecast, truth, difference) on an
 * equirectangular projection with Natural Earth coastlines and colour
 * bars, and the plot of a score against lead time. Drawn with real
 * libraries: pureimage (an HTML-canvas-like 2-D context in pure JS),
 * d3-geo (projection and the path of the coastlines onto that context),
 * topojson-client with world-atlas' land-110m, and the DejaVu font.
 *
 * @module
 */
import { createRequire } from "node:module";
import { Writable } from "node:stream";
import * as PImage from "pureimage";
import { geoEquirectangular, geoPath } from "d3-geo";
import { feature } from "topojson-client";

const require = createRequire(import.meta.url);
type Ctx = ReturnType<ReturnType<typeof PImage.make>["getContext"]>;

let fontReady: Promise<void> | undefined;
/** Register the DejaVu font once. */
function loadFont(): Promise<void> {
  fontReady ??= (async () => {
    const path = require.resolve("dejavu-fonts-ttf/ttf/DejaVuSans.ttf");
    await PImage.registerFont(path, "DejaVu").load();
  })();
  return fontReady;
}

let landCache: unknown;
function land(): unknown {
  if (!landCache) {
    const topo = require("world-atlas/land-110m.json");
    landCache = feature(topo, topo.objects.land);
  }
  return landCache;
}

/** Colour stops [position, r, g, b]. */
type Palette = [number, number, number, number][];

/** A perceptual sequential palette (viridis stops). */
export const SEQUENTIAL: Palette = [
  [0, 68, 1, 84],
  [0.25, 59, 82, 139],
  [0.5, 33, 145, 140],
  [0.75, 94, 201, 98],
  [1, 253, 231, 37],
];
/** A diverging palette for differences (blue – white – red). */
export const DIVERGING: Palette = [
  [0, 33, 102, 172],
  [0.25, 103, 169, 207],
  [0.5, 247, 247, 247],
  [0.75, 239, 138, 98],
  [1, 178, 24, 43],
];

function colour(p: Palette, x: number): string {
  if (!Number.isFinite(x)) return "rgb(200,200,200)";
  const t = Math.min(1, Math.max(0, x));
  let k = 0;
  while (k < p.length - 2 && t > p[k + 1][0]) k++;
  const [a, b] = [p[k], p[k + 1]], f = (t - a[0]) / (b[0] - a[0]);
  const c = [1, 2, 3].map((i) => Math.round(a[i] + f * (b[i] - a[i])));
  return `rgb(${c[0]},${c[1]},${c[2]})`;
}

async function encode(img: ReturnType<typeof PImage.make>): Promise<Uint8Array> {
  const chunks: Uint8Array[] = [];
  await PImage.encodePNGToStream(
    img,
    new Writable({
      write(c, _e, cb) {
        chunks.push(c);
        cb();
      },
    }),
  );
  const out = new Uint8Array(chunks.reduce((a, c) => a + c.length, 0));
  let o = 0;
  for (const c of chunks) (out.set(c, o), o += c.length);
  return out;
}

/** A field on a regular grid. */
export interface GridField {
  /** Values (rows, cols), rows north to south. */
  values: Float32Array;
  /** Latitudes of the rows. */
  lat: ArrayLike<number>;
  /** Longitudes of the columns. */
  lon: ArrayLike<number>;
}

function finiteRange(vs: Float32Array[]): [number, number] {
  let lo = Infinity, hi = -Infinity;
  for (const v of vs) for (const x of v) if (Number.isFinite(x)) (lo = Math.min(lo, x), hi = Math.max(hi, x));
  if (!(hi > lo)) return [lo - 1, lo + 1];
  return [lo, hi];
}

function label(x: number): string {
  const a = Math.abs(x);
  return a >= 1000 || (a < 0.01 && a > 0) ? x.toExponential(2) : x.toFixed(a >= 100 ? 0 : a >= 10 ? 1 : 2);
}

/**
 * The path context d3-geo draws coastlines into: pureimage's, minus
 * segments shorter than half a pixel (pureimage cannot stroke those and
 * logs about each one).
 */
function coastContext(ctx: Ctx) {
  let x0 = NaN, y0 = NaN;
  return {
    moveTo(x: number, y: number) {
      ctx.moveTo(x, y);
      (x0 = x, y0 = y);
    },
    lineTo(x: number, y: number) {
      if (Math.hypot(x - x0, y - y0) < 0.5) return;
      ctx.lineTo(x, y);
      (x0 = x, y0 = y);
    },
    closePath() {
      ctx.closePath();
    },
    arc() {},
  };
}

/** Draw one map panel at (x0, y0) of size w × h with its colour bar on the right. */
function panel(
  ctx: Ctx,
  f: GridField,
  x0: number,
  y0: number,
  w: number,
  h: number,
  range: [number, number],
  palette: Palette,
  title: string,
): void {
  const proj = geoEquirectangular().fitExtent([[x0, y0], [x0 + w, y0 + h]], { type: "Sphere" });
  const R = f.lat.length, C = f.lon.length;
  const dlon = C > 1 ? Math.abs(f.lon[1] - f.lon[0]) : 360, dlat = R > 1 ? Math.abs(f.lat[0] - f.lat[1]) : 180;
  const sx = w / 360 * dlon, sy = h / 180 * dlat;
  for (let i = 0; i < R; i++) {
    for (let j = 0; j < C; j++) {
      const lon = ((f.lon[j] + 180) % 360 + 360) % 360 - 180;
      const [px, py] = proj([lon, f.lat[i]])!;
      ctx.fillStyle = colour(palette, (f.values[i * C + j] - range[0]) / (range[1] - range[0]));
      ctx.fillRect(Math.floor(px - sx / 2), Math.floor(py - sy / 2), Math.ceil(sx) + 1, Math.ceil(sy) + 1);
    }
  }
  ctx.strokeStyle = "#000000";
  ctx.lineWidth = 1;
  ctx.beginPath();
  // deno-lint-ignore no-explicit-any
  geoPath(proj, coastContext(ctx) as any)(land() as any);
  ctx.stroke();
  ctx.strokeRect(x0, y0, w, h);
  ctx.fillStyle = "#000000";
  ctx.font = "13pt DejaVu";
  ctx.fillText(title, x0, y0 - 6);
  // Colour bar.
  const bx = x0 + w + 12, bw = 16;
  for (let k = 0; k < h; k++) {
    ctx.fillStyle = colour(palette, 1 - k / (h - 1));
    ctx.fillRect(bx, y0 + k, bw, 1);
  }
  ctx.strokeStyle = "#000000";
  ctx.strokeRect(bx, y0, bw, h);
  ctx.fillStyle = "#000000";
  ctx.font = "10pt DejaVu";
  for (let k = 0; k <= 4; k++) {
    const v = range[1] - (range[1] - range[0]) * k / 4;
    ctx.fillText(label(v), bx + bw + 4, y0 + (h - 1) * k / 4 + 4);
  }
}

/** What a map picture shows. */
export interface MapOptions {
  /** Title line (field, level, lead, init). */
  title: string;
  /** Units, for the panel titles. */
  units?: string;
  /** Truth at the same valid time (adds the truth and difference panels). */
  truth?: GridField;
}

/** A PNG of the forecast (and truth and forecast − truth when given). */
export async function forecastMapPng(forecast: GridField, opt: MapOptions): Promise<Uint8Array> {
  await loadFont();
  const w = 540, h = 270, left = 20, top = 50, gap = 40;
  const panels = opt.truth ? 3 : 1;
  const img = PImage.make(w + left + 110, top + panels * (h + gap) + 10);
  const ctx = img.getContext("2d");
  ctx.fillStyle = "#ffffff";
  ctx.fillRect(0, 0, img.width, img.height);
  ctx.fillStyle = "#000000";
  ctx.font = "15pt DejaVu";
  ctx.fillText(opt.title, left, 24);
  const u = opt.units ? ` (${opt.units})` : "";
  const range = finiteRange(opt.truth ? [forecast.values, opt.truth.values] : [forecast.values]);
  panel(ctx, forecast, left, top, w, h, range, SEQUENTIAL, `forecast${u}`);
  if (opt.truth) {
    panel(ctx, opt.truth, left, top + h + gap, w, h, range, SEQUENTIAL, `truth${u}`);
    const diff = forecast.values.map((v, i) => v - opt.truth!.values[i]);
    const m = Math.max(1e-6, ...diff.filter(Number.isFinite).map(Math.abs));
    panel(
      ctx,
      { ...forecast, values: diff },
      left,
      top + 2 * (h + gap),
      w,
      h,
      [-m, m],
      DIVERGING,
      `forecast − truth${u}`,
    );
  }
  return encode(img);
}

/** One line of a score plot. */
export interface ScoreLine {
  /** Legend. */
  name: string;
  /** Values per lead. */
  values: number[];
  /** CSS colour. */
  colour: string;
}

/** A PNG of scores against lead time (hours). */
export async function scorePlotPng(
  title: string,
  leads: number[],
  lines: ScoreLine[],
  yLabel: string,
): Promise<Uint8Array> {
  await loadFont();
  const W = 640, H = 400, l = 80, r = 170, t = 40, b = 50;
  const img = PImage.make(W, H);
  const ctx = img.getContext("2d");
  ctx.fillStyle = "#ffffff";
  ctx.fillRect(0, 0, W, H);
  const ys = lines.flatMap((s) => s.values).filter(Number.isFinite);
  let lo = Math.min(0, ...ys), hi = Math.max(...ys, lo + 1e-9);
  hi += (hi - lo) * 0.05;
  lo = lo < 0 ? lo - (hi - lo) * 0.05 : lo;
  const x0 = Math.min(0, ...leads), x1 = Math.max(...leads, x0 + 1);
  const X = (x: number) => l + (x - x0) / (x1 - x0) * (W - l - r),
    Y = (y: number) => H - b - (y - lo) / (hi - lo) * (H - t - b);
  ctx.strokeStyle = "#000000";
  ctx.lineWidth = 1;
  ctx.strokeRect(l, t, W - l - r, H - t - b);
  ctx.fillStyle = "#000000";
  ctx.font = "10pt DejaVu";
  for (let k = 0; k <= 4; k++) {
    const y = lo + (hi - lo) * k / 4;
    ctx.fillText(label(y), 8, Y(y) + 4);
  }
  for (const x of leads) ctx.fillText(`${x}`, X(x) - 6, H - b + 16);
  ctx.fillText("lead time (h)", l + (W - l - r) / 2 - 40, H - 12);
  ctx.font = "13pt DejaVu";
  ctx.fillText(title, l, 26);
  ctx.font = "10pt DejaVu";
  ctx.fillText(yLabel, 8, t - 8);
  for (const [k, s] of lines.entries()) {
    ctx.strokeStyle = s.colour;
    ctx.fillStyle = s.colour;
    ctx.lineWidth = 2;
    ctx.beginPath();
    let started = false;
    for (const [i, x] of leads.entries()) {
      const v = s.values[i];
      if (!Number.isFinite(v)) continue;
      if (!started) (ctx.moveTo(X(x), Y(v)), started = true);
      else ctx.lineTo(X(x), Y(v));
    }
    ctx.stroke();
    for (const [i, x] of leads.entries()) {
      if (Number.isFinite(s.values[i])) ctx.fillRect(X(x) - 3, Y(s.values[i]) - 3, 6, 6);
    }
    ctx.fillRect(W - r + 12, t + 10 + k * 22, 20, 3);
    ctx.fillStyle = "#000000";
    ctx.fillText(s.name, W - r + 38, t + 15 + k * 22);
  }
  return encode(img);
}
