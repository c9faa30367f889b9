/**
 * Imports convertGaussian and nothing else of the project, then converts
 * the GRIB file given: the format readers must come with the converter.
 *
 *     deno run -A tests/_helpers/gaussian_alone.ts IN.grib2 OUT.zarr
 *
 * @module
 */
import { convertGaussian } from "../../converters/gaussian/convert.ts";

const s = await convertGaussian({ inputs: [Deno.args[0]], out: Deno.args[1] });
console.log(JSON.stringify({ points: s.points, times: s.times, fields: [...s.fields, ...s.fieldsSfc] }));
