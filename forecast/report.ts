/**
 * The score table `deno task forecast --truth` and the demo print: one
 * block per field level, one row per lead time, RMSE and ACC of the
 * forecast against persistence and climatology (ensemble: CRPS and
 * spread/skill), and a column `in-sample` that counts the initial times of
 * that row whose initial or valid time lies inside a range the model
 * trained or validated on (`*` marks such a row: not a fair skill score).
 *
 * @module
 */
import type { PlaneScores } from "./scores.ts";

/** The table of `scores` as lines of text. */
export function scoreTable(scores: PlaneScores[]): string[] {
  const lines: string[] = [];
  const num = (x: number | undefined, w = 11) => (x === undefined ? "" : x.toPrecision(3)).padStart(w);
  for (const s of scores) {
    const ensemble = s.crps !== undefined;
    lines.push(`${s.field}${s.level ? `/${s.level}` : ""}  RMSE in ${s.units || "units"}, ${s.inits} initial time(s)`);
    lines.push(
      "   lead  RMSE fcst persistence climatology   ACC fcst ACC persist" +
        (ensemble ? "        CRPS spread/skill" : "") + "  in-sample",
    );
    for (const [i, lead] of s.leads.entries()) {
      const n = s.inSample[i];
      lines.push(
        `${`${lead} h`.padStart(7)}${num(s.rmse.forecast[i])}${num(s.rmse.persistence[i], 12)}${
          num(s.rmse.climatology[i], 12)
        }${num(s.acc.forecast[i])}${num(s.acc.persistence[i], 12)}` +
          (ensemble ? `${num(s.crps![i], 12)}${num(s.spreadSkill![i], 12)}` : "") +
          `  ${n ? `* ${n}/${s.inits}` : "no"}`,
      );
    }
  }
  return lines;
}
