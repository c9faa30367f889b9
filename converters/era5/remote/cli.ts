/**
 * The options `convert era5` has for cloud zarr stores, and turning a
 * store URL plus those options into the one input the conversion plans
 * from (see spec.ts), after checking that the process may reach the host.
 *
 * @module
 */
import { ConfigError } from "../../../errors.ts";
import { requireNetPermission } from "../../../zarr/http.ts";
import { resolveFieldNames } from "./names.ts";
import { formatSelection, isStoreInput, storeLocation } from "./spec.ts";

/** The store options as parsed by the CLI. */
export interface StoreOptions {
  fields?: string[];
  levels?: number[];
  time?: [number, number];
  every?: number;
  area?: [number, number, number, number];
  grid?: number;
}

/** Fail, naming the command to run instead, when this process may not connect to the store's host. */
export async function checkNetPermission(location: string): Promise<void> {
  await requireNetPermission(location, {
    flags: "--allow-read --allow-write --allow-env --allow-ffi",
    script: "tasks/convert.ts era5",
  });
}

/**
 * When the inputs are one cloud store: the store selection as the only
 * input and the fields' short names; else the inputs unchanged (and the
 * store-only options refused).
 */
export async function storeInputs(
  inputs: string[],
  o: StoreOptions,
): Promise<{ inputs: string[]; fields?: string[]; store: boolean }> {
  const stores = inputs.filter(isStoreInput);
  if (stores.length === 0) {
    const given = (["time", "every", "area", "grid"] as const).filter((k) => o[k] !== undefined);
    if (given.length) {
      throw new ConfigError(
        `--${given[0]}`,
        "--time, --every, --area and --grid select from a cloud zarr store (a URL or a local zarr directory); " +
          "netCDF and GRIB inputs are converted whole",
      );
    }
    return { inputs, fields: o.fields, store: false };
  }
  if (inputs.length !== 1) {
    throw new ConfigError(
      "inputs",
      `give one zarr store (URL or directory) and nothing else (got ${inputs.join(" ")})`,
    );
  }
  const names = resolveFieldNames(o.fields ?? []);
  const location = storeLocation(inputs[0]);
  await checkNetPermission(location);
  const selection = formatSelection({
    location,
    fields: names,
    levels: o.levels,
    time: o.time,
    every: o.every,
    area: o.area,
    grid: o.grid,
  });
  return { inputs: [selection], fields: names.map((n) => n.short), store: true };
}
