/**
 * configs/tiny.json on the converted sample, reduced to the model of
 * AtmoRep's `sample_t` fixture (field t, AtmoRep's network and
 * corruption): what fine-tuning and evaluating AtmoRep's checkpoint start
 * from in the tests.
 *
 * @module
 */
import type { TrainConfig } from "../../training/config.ts";
import { ATMOREP_NETWORK } from "../../models/config.ts";
import { ROOT } from "./common.ts";

/** The configuration for `store`; `width` other than 32 no longer matches the fixture's checkpoint. */
export async function sampleTConfig(store: string, width = 32): Promise<TrainConfig> {
  const c = JSON.parse(await Deno.readTextFile(`${ROOT}configs/tiny.json`)) as TrainConfig;
  c.sampler.datasets[0].store = store;
  c.sampler.datasets[0].fields = c.sampler.datasets[0].fields.filter((f) => f.name === "t");
  c.sampler.masking = {
    strategy: "bert",
    rate: 0.5,
    fracMasked: 0.9,
    fracNoised: 0.2,
    fracMultires: 0.05,
    corruption: "atmorep",
  };
  c.model = {
    dropout: 0,
    tokenInfoWidth: 16,
    network: { ...ATMOREP_NETWORK },
    fields: [{ field: "t", width, encoderLayers: 1, decoderLayers: 1, heads: 4, ensemble: 4, lossWeight: 1 }],
  };
  return c;
}
