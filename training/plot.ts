/**
 * The loss curve as a PNG, drawn like the forecast's plots (pureimage and
 * the DejaVu font, forecast/maps.ts): the training loss per step (blue
 * line), the validation loss (orange dots joined, each labelled with its
 * value), a log-scaled loss axis when the loss spans more than a factor
 * 10, axis labels, a title and a legend.
 *
 * @module
 */
import * as PImage from "pureimage";
import { encode, loadFont, niceTicks, tickLabel } from "../forecast/maps.ts";

/** A point of a curve. */
export interface CurvePoint {
  /** Step. */
  step: number;
  /** Loss. */
  loss: number;
}

const BLUE = "#1f77b4", ORANGE = "#ff7f0e";

/** Render the curves to PNG bytes; `title` heads the picture. */
export async function lossCurvePng(
  train: CurvePoint[],
  validation: CurvePoint[],
  title = "training loss",
  width = 800,
  height = 480,
): Promise<Uint8Array> {
  await loadFont();
  const img = PImage.make(width, height);
  const ctx = img.getContext("2d");
  ctx.fillStyle = "#ffffff";
  ctx.fillRect(0, 0, width, height);
  const frame = plotFrame([...train, ...validation].filter(plotted), width, height);
  drawAxes(ctx, frame, title, height);
  drawCurves(ctx, frame, train, validation);
  drawLegend(ctx, frame, train, validation);
  return encode(img);
}

type Context = ReturnType<ReturnType<typeof PImage.make>["getContext"]>;

/** A loss can be drawn (on a log axis too). */
const plotted = (p: CurvePoint) => Number.isFinite(p.loss) && p.loss > 0;

/** The plot area (left, right, top, bottom), the axes' ranges and the step/loss → pixel maps. */
interface Frame {
  L: number;
  R: number;
  T: number;
  B: number;
  s0: number;
  s1: number;
  lo: number;
  hi: number;
  log: boolean;
  ya: number;
  yb: number;
  px: (step: number) => number;
  py: (loss: number) => number;
}

/** Fit the axes to the points: a log loss axis when they span more than a factor 10, 5 % padding. */
function plotFrame(pts: CurvePoint[], width: number, height: number): Frame {
  const [L, R, T, B] = [90, width - 30, 50, height - 60];
  const steps = pts.map((p) => p.step);
  const s0 = Math.min(0, ...steps), s1 = Math.max(1, ...steps);
  const lo = pts.length ? Math.min(...pts.map((p) => p.loss)) : 0.1,
    hi = pts.length ? Math.max(...pts.map((p) => p.loss)) : 1;
  const log = pts.length > 0 && hi / lo > 10;
  const f = (v: number) => (log ? Math.log10(v) : v);
  const y0 = f(lo), y1 = f(hi) > f(lo) ? f(hi) : f(lo) + 1;
  const pad = (y1 - y0) * 0.05;
  const [ya, yb] = [y0 - pad, y1 + pad];
  const px = (s: number) => L + (s - s0) / (s1 - s0) * (R - L);
  const py = (v: number) => B - (f(v) - ya) / (yb - ya) * (B - T);
  return { L, R, T, B, s0, s1, lo, hi, log, ya, yb, px, py };
}

/** Grid lines, tick labels, the frame, the title and the axis labels. */
function drawAxes(ctx: Context, fr: Frame, title: string, height: number): void {
  const { L, R, T, B, log, ya, yb, lo, hi, px, py } = fr;
  ctx.font = "10pt DejaVu";
  ctx.lineWidth = 1;
  // Loss axis: decades on a log axis, round numbers on a linear one.
  const yTicks = log
    ? Array.from({ length: Math.floor(yb) - Math.ceil(ya) + 1 }, (_, k) => Math.pow(10, Math.ceil(ya) + k))
    : niceTicks(lo, hi, 5).values;
  const yDec = log ? 0 : niceTicks(lo, hi, 5).decimals;
  for (const v of yTicks) {
    const y = py(v);
    if (y < T - 1 || y > B + 1) continue;
    ctx.fillStyle = "#dddddd";
    ctx.fillRect(L, y, R - L, 1);
    ctx.fillStyle = "#000000";
    ctx.fillText(
      log
        ? (v >= 1e-4 && v < 1e5 ? String(Number(v.toPrecision(1))) : v.toExponential(0).replace("e+", "e"))
        : tickLabel(v, yDec),
      8,
      y + 4,
    );
  }
  const xt = niceTicks(fr.s0, fr.s1, 6);
  for (const s of xt.values) {
    ctx.fillStyle = "#dddddd";
    ctx.fillRect(px(s), T, 1, B - T);
    ctx.fillStyle = "#000000";
    ctx.fillText(tickLabel(s, xt.decimals), px(s) - 8, B + 18);
  }
  ctx.strokeStyle = "#000000";
  ctx.strokeRect(L, T, R - L, B - T);
  ctx.fillStyle = "#000000";
  ctx.font = "14pt DejaVu";
  ctx.fillText(title, L, 28);
  ctx.font = "11pt DejaVu";
  ctx.fillText("optimizer step", L + (R - L) / 2 - 50, height - 18);
  ctx.fillText(log ? "loss (log scale)" : "loss", 8, T - 10);
}

/** The training loss as a line, the validation loss as a thinner line with labelled markers. */
function drawCurves(ctx: Context, { px, py }: Frame, train: CurvePoint[], validation: CurvePoint[]): void {
  const line = (a: CurvePoint[], c: string, w: number) => {
    const q = a.filter(plotted);
    if (q.length < 2) return;
    ctx.strokeStyle = c;
    ctx.lineWidth = w;
    ctx.beginPath();
    ctx.moveTo(px(q[0].step), py(q[0].loss));
    for (const p of q.slice(1)) ctx.lineTo(px(p.step), py(p.loss));
    ctx.stroke();
  };
  line(train, BLUE, 1.5);
  line(validation, ORANGE, 1);
  ctx.font = "9pt DejaVu";
  for (const p of validation.filter(plotted)) {
    ctx.fillStyle = ORANGE;
    ctx.fillRect(px(p.step) - 4, py(p.loss) - 4, 9, 9);
    ctx.fillStyle = "#000000";
    ctx.fillText(p.loss.toPrecision(3), px(p.step) - 14, py(p.loss) - 8);
  }
}

/** The legend, top right inside the frame. */
function drawLegend(ctx: Context, { R, T }: Frame, train: CurvePoint[], validation: CurvePoint[]): void {
  const lx = R - 190, ly = T + 12;
  ctx.fillStyle = "#ffffff";
  ctx.fillRect(lx - 8, ly - 8, 188, validation.length ? 48 : 26);
  ctx.strokeStyle = "#888888";
  ctx.lineWidth = 1;
  ctx.strokeRect(lx - 8, ly - 8, 188, validation.length ? 48 : 26);
  ctx.font = "10pt DejaVu";
  ctx.fillStyle = BLUE;
  ctx.fillRect(lx, ly + 4, 24, 3);
  ctx.fillStyle = "#000000";
  ctx.fillText(`train (${train.filter(plotted).length} steps)`, lx + 32, ly + 10);
  if (validation.length) {
    ctx.fillStyle = ORANGE;
    ctx.fillRect(lx + 8, ly + 22, 9, 9);
    ctx.fillStyle = "#000000";
    ctx.fillText("validation (held out)", lx + 32, ly + 32);
  }
}
