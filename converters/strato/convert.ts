/**
 * `convert strato`: the ERA5 converter preset for stratospheric inputs —
 * model levels up to level 1 (≈0.01 hPa) or pressure levels up to 1 hPa,
 * selected by a pressure range, fields t, u, v, o3 by default, and
 * normalization of log-transformed ozone and humidity.
 *
 * @module
 */
import { type ConversionSummary, convertEra5, type Era5Options } from "../era5/convert.ts";
import { scanFile } from "../era5/inventory.ts";
import { fullLevelPressure } from "../era5/levels.ts";
import { ConfigError, InputError } from "../../errors.ts";

/** Default fields of the preset. */
export const STRATO_FIELDS = ["t", "u", "v", "o3"];

/** Default log transforms (field → eps) of the preset. */
export const STRATO_LOG: Record<string, number> = { o3: 1e-9, q: 1e-7 };

/** Options of {@link convertStrato}. */
export interface StratoOptions extends Omit<Era5Options, "levels"> {
  /** Pressure range in hPa, [top, bottom], e.g. [0.01, 100] for levels above 100 hPa. */
  pressureRange: [number, number];
}

/** Levels of the inputs whose (approximate) pressure lies in the range. */
export async function levelsInRange(
  inputs: string[],
  range: [number, number],
): Promise<{ levels: number[]; levelType: string; pressures: number[] }> {
  const [lo, hi] = [Math.min(...range), Math.max(...range)];
  for (const path of inputs) {
    const f = await scanFile(path);
    if (!f.levelType) continue;
    const levels = [...f.levels].sort((a, b) => a - b);
    let pressures: number[];
    if (f.levelType === "pressure") pressures = levels;
    else {
      if (!f.pv) {
        throw new InputError(
          path,
          `model levels without hybrid coefficients (GRIB pv): cannot select them by pressure; pass --levels`,
        );
      }
      pressures = levels.map((k) => fullLevelPressure(f.pv!, k));
    }
    const keep = levels.map((l, i) => [l, pressures[i]] as const).filter(([, p]) => p >= lo && p <= hi);
    if (keep.length === 0) {
      throw new ConfigError(
        "--pressure-range",
        `no level of ${path} lies between ${lo} and ${hi} hPa (levels span ${Math.min(...pressures).toPrecision(3)}–${
          Math.max(...pressures).toPrecision(3)
        } hPa)`,
      );
    }
    return { levels: keep.map(([l]) => l), levelType: f.levelType, pressures: keep.map(([, p]) => p) };
  }
  throw new InputError(
    inputs.length === 1 ? inputs[0] : `${inputs.length} inputs`,
    "no input has levels: the strato preset needs model- or pressure-level fields",
  );
}

/** Convert stratospheric inputs with the preset. */
export async function convertStrato(opts: StratoOptions): Promise<ConversionSummary> {
  const { levels } = await levelsInRange(opts.inputs, opts.pressureRange);
  const fields = opts.fields ?? STRATO_FIELDS;
  const logTransform = opts.logTransform ??
    Object.fromEntries(Object.entries(STRATO_LOG).filter(([f]) => fields.includes(f)));
  return await convertEra5({ ...opts, fields, levels, logTransform });
}
