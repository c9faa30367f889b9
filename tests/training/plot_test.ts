/**
 * The loss curve: a PNG with a title, axis labels and a legend (text in
 * the DejaVu font), the training line and labelled validation points.
 *
 * @module
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { decode } from "fast-png";
import { lossCurvePng } from "../../training/plot.ts";

/** Pixels of `png` matching `test` in the box [x0, x1) × [y0, y1). */
function count(
  png: ReturnType<typeof decode>,
  test: (r: number, g: number, b: number) => boolean,
  box = [0, png.width, 0, png.height],
): number {
  let n = 0;
  const c = png.channels;
  for (let y = box[2]; y < box[3]; y++) {
    for (let x = box[0]; x < box[1]; x++) {
      const i = (y * png.width + x) * c;
      if (test(png.data[i], png.data[i + 1], png.data[i + 2])) n++;
    }
  }
  return n;
}

Deno.test("loss.png has a title, axis labels, a legend, the training line and labelled validation points", async () => {
  const train = Array.from({ length: 200 }, (_, k) => ({ step: k + 1, loss: 2 * Math.exp(-k / 40) + 0.05 }));
  const validation = [50, 100, 150, 200].map((step) => ({ step, loss: 2 * Math.exp(-(step - 1) / 40) + 0.08 }));
  const bytes = await lossCurvePng(train, validation, "Multiformer masked-token training loss");
  if (Deno.env.get("MAPS_OUT")) await Deno.writeFile(join(Deno.env.get("MAPS_OUT")!, "loss.png"), bytes);
  const png = decode(bytes);
  assert.deepEqual([png.width, png.height], [800, 480]);
  const dark = (r: number, g: number, b: number) => r < 90 && g < 90 && b < 90;
  // Text: the title band above the frame, the x-axis label below the tick labels, the y label left of the frame top.
  assert.ok(count(png, dark, [90, 700, 0, 40]) > 300, "a title above the plot");
  assert.ok(count(png, dark, [300, 600, 450, 480]) > 100, "an x-axis label (optimizer step)");
  assert.ok(count(png, dark, [0, 200, 28, 48]) > 60, "a y-axis label (loss)");
  // Legend box (top right) holds a blue swatch, an orange one and text.
  const legend = [570, 770, 50, 112];
  assert.ok(count(png, (r, _g, b) => b > 150 && r < 60, legend) > 30, "legend: train swatch");
  assert.ok(count(png, (r, g, b) => r > 230 && g > 100 && g < 160 && b < 60, legend) > 30, "legend: validation swatch");
  assert.ok(count(png, dark, legend) > 150, "legend text");
  // The training line (blue) and four orange validation markers.
  assert.ok(count(png, (r, _g, b) => b > 150 && r < 60) > 500, "the training line");
  assert.ok(count(png, (r, g, b) => r > 230 && g > 100 && g < 160 && b < 60) > 4 * 60, "validation markers");
});
