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
import { geoEquirectangular, geoPath, type GeoProjection } from "d3-geo";
import { feature } from "topojson-client";

const require = createRequire(import.meta.url);
type Ctx = ReturnType<ReturnType<typeof PImage.make>["getContext"]>;

let fontReady: Promise<void> | undefined;
/** Register the DejaVu font once (as `DejaVu`). */
export function loadFont(): Promise<void> {
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

/** PNG bytes of a pureimage bitmap. */
export async function encode(img: ReturnType<typeof PImage.make>): Promise<Uint8Array> {
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

/**
 * Round tick values inside [lo, hi]: multiples of 1, 2 or 5 × 10ⁿ, about
 * `count` of them, with the decimals they need to print exactly.
 */
export function niceTicks(lo: number, hi: number, count = 5): { values: number[]; decimals: number } {
  if (!(hi > lo)) return { values: [lo], decimals: 2 };
  const raw = (hi - lo) / count, p = Math.pow(10, Math.floor(Math.log10(raw)));
  const step = [1, 2, 5, 10].map((m) => m * p).find((s) => s >= raw * 0.999)!;
  const values: number[] = [];
  for (let k = Math.ceil(lo / step - 1e-9); k * step <= hi + step * 1e-9; k++) values.push(k * step);
  return { values, decimals: Math.max(0, -Math.floor(Math.log10(step) + 1e-9)) };
}

/** A tick label: fixed decimals, thousands separated by a thin space, a true minus sign. */
export function tickLabel(x: number, decimals: number): string {
  const [int, frac] = Math.abs(x).toFixed(decimals).split(".");
  const grouped = int.length > 4 ? int.replace(/\B(?=(\d{3})+(?!\d))/g, "\u2009") : int;
  const zero = Number(Math.abs(x).toFixed(decimals)) === 0;
  return (x < 0 && !zero ? "−" : "") + grouped + (frac ? `.${frac}` : "");
}

/** Values shown in the units people read: Pa as hPa; others unchanged. */
export function displayUnits(units: string | undefined): { units: string; factor: number } {
  if (units === "Pa") return { units: "hPa", factor: 0.01 };
  const sup: Record<string, string> = { "-": "⁻", "1": "¹", "2": "²", "3": "³" };
  // CF's m**2 s**-2 as m² s⁻²
  const shown = (units ?? "").replace(/\*\*(-?\d)/g, (_, e: string) => [...e].map((c) => sup[c] ?? c).join(""));
  return { units: shown, factor: 1 };
}

/**
 * The region a map shows: the whole globe for a grid that goes round it,
 * else the data's cells plus a margin (a tenth of the span, at least 2°),
 * clipped at the poles. Longitudes run east from `lon0` (may pass 360).
 */
export function mapExtent(lat: ArrayLike<number>, lon: ArrayLike<number>): {
  global: boolean;
  lat: [number, number];
  lon: [number, number];
} {
  const R = lat.length, C = lon.length;
  const dlat = R > 1 ? Math.abs(lat[1] - lat[0]) : 1;
  let dlon = C > 1 ? ((lon[1] - lon[0]) % 360 + 360) % 360 : 1;
  if (dlon === 0) dlon = 1;
  const span = dlon * C;
  if (span >= 359.999) return { global: true, lat: [-90, 90], lon: [-180, 180] };
  let south = Infinity, north = -Infinity;
  for (let i = 0; i < R; i++) (south = Math.min(south, lat[i]), north = Math.max(north, lat[i]));
  south -= dlat / 2, north += dlat / 2;
  const west = lon[0] - dlon / 2, east = lon[0] + (C - 1) * dlon + dlon / 2;
  const mLat = Math.max(2, (north - south) / 10), mLon = Math.max(2, (east - west) / 10);
  return {
    global: false,
    lat: [Math.max(-90, south - mLat), Math.min(90, north + mLat)],
    lon: [west - mLon, east + mLon],
  };
}

/** The panel size (≤ w × h) that shows `extent` at one degree of latitude to one of longitude (plate carrée). */
function panelSize(extent: ReturnType<typeof mapExtent>, w: number, h: number): [number, number] {
  const aspect = (extent.lon[1] - extent.lon[0]) / (extent.lat[1] - extent.lat[0]);
  return aspect >= w / h ? [w, Math.round(w / aspect)] : [Math.round(h * aspect), h];
}

/** The projection of `extent` onto the panel at (x0, y0), w × h. */
function panelProjection(
  extent: ReturnType<typeof mapExtent>,
  x0: number,
  y0: number,
  w: number,
  h: number,
): GeoProjection {
  if (extent.global) return geoEquirectangular().fitExtent([[x0, y0], [x0 + w, y0 + h]], { type: "Sphere" });
  const mid = (extent.lon[0] + extent.lon[1]) / 2, half = (extent.lon[1] - extent.lon[0]) / 2;
  return geoEquirectangular()
    .rotate([-mid, 0])
    .fitExtent([[x0, y0], [x0 + w, y0 + h]], {
      type: "MultiPoint",
      coordinates: [[mid - half, extent.lat[0]], [mid + half, extent.lat[1]]],
    })
    .clipExtent([[x0, y0], [x0 + w, y0 + h]]);
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
  extent: ReturnType<typeof mapExtent>,
): void {
  const proj = panelProjection(extent, x0, y0, w, h);
  const R = f.lat.length, C = f.lon.length;
  const dlon = C > 1 ? Math.abs(f.lon[1] - f.lon[0]) : 360, dlat = R > 1 ? Math.abs(f.lat[0] - f.lat[1]) : 180;
  const perDegree = proj.scale() * Math.PI / 180, sx = perDegree * dlon, sy = perDegree * dlat;
  for (let i = 0; i < R; i++) {
    for (let j = 0; j < C; j++) {
      const lon = extent.global ? ((f.lon[j] + 180) % 360 + 360) % 360 - 180 : f.lon[j];
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
  const ticks = niceTicks(range[0], range[1], h < 200 ? 3 : 5);
  for (const v of ticks.values) {
    const y = y0 + (h - 1) * (range[1] - v) / (range[1] - range[0]);
    ctx.fillRect(bx + bw, y, 4, 1);
    ctx.fillText(tickLabel(v, ticks.decimals), bx + bw + 6, y + 4);
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

/**
 * A PNG of the forecast (and truth and forecast − truth when given): a
 * regional grid shows its extent plus a margin at one degree of latitude
 * to one of longitude; pressure (Pa) is shown in hPa.
 */
export async function forecastMapPng(forecast: GridField, opt: MapOptions): Promise<Uint8Array> {
  await loadFont();
  const extent = mapExtent(forecast.lat, forecast.lon);
  const [w, h] = extent.global ? [540, 270] : panelSize(extent, 540, 400);
  const left = 20, top = 50, gap = 40;
  const panels = opt.truth ? 3 : 1;
  const img = PImage.make(Math.max(w, 420) + left + 120, top + panels * (h + gap) + 10);
  const ctx = img.getContext("2d");
  ctx.fillStyle = "#ffffff";
  ctx.fillRect(0, 0, img.width, img.height);
  ctx.fillStyle = "#000000";
  ctx.font = "15pt DejaVu";
  ctx.fillText(opt.title, left, 24);
  const shown = displayUnits(opt.units), u = shown.units ? ` (${shown.units})` : "";
  const scale = (g: GridField): GridField =>
    shown.factor === 1 ? g : { ...g, values: g.values.map((v) => v * shown.factor) };
  const fc = scale(forecast), truth = opt.truth ? scale(opt.truth) : undefined;
  const range = finiteRange(truth ? [fc.values, truth.values] : [fc.values]);
  panel(ctx, fc, left, top, w, h, range, SEQUENTIAL, `forecast${u}`, extent);
  if (truth) {
    panel(ctx, truth, left, top + h + gap, w, h, range, SEQUENTIAL, `truth${u}`, extent);
    const diff = fc.values.map((v, i) => v - truth.values[i]);
    const m = Math.max(1e-6, ...diff.filter(Number.isFinite).map(Math.abs));
    panel(
      ctx,
      { ...fc, values: diff },
      left,
      top + 2 * (h + gap),
      w,
      h,
      [-m, m],
      DIVERGING,
      `forecast − truth${u}`,
      extent,
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
  inSample: boolean[] = [],
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
  const ticks = niceTicks(lo, hi, 5);
  for (const y of ticks.values) ctx.fillText(tickLabel(y, ticks.decimals), 8, Y(y) + 4);
  // At most about ten labels (every k-th lead, ending on the k-th), and every in-sample lead with its mark.
  const k = Math.ceil(leads.length / 10);
  for (const [i, x] of leads.entries()) {
    if (i % k === k - 1 || inSample[i]) ctx.fillText(`${x}${inSample[i] ? "*" : ""}`, X(x) - 6, H - b + 16);
  }
  ctx.fillText("lead time (h)", l + (W - l - r) / 2 - 40, H - 12);
  ctx.font = "13pt DejaVu";
  ctx.fillText(title, l, 26);
  ctx.font = "10pt DejaVu";
  ctx.fillText(`RMSE (${yLabel || "units"})`, 8, t - 8);
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
