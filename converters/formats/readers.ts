/**
 * Every input format reader, registered: import {@link openDataset} from
 * here (not from `dataset.ts`) so that any entry point — a CLI verb, a
 * library call such as `convertGaussian` alone, a worker — reads netCDF3,
 * netCDF4/HDF5 and GRIB alike. Readers register themselves when imported;
 * this module is the one place that imports them all.
 *
 * @module
 */
import "./netcdf3.ts";
import "./hdf5/dataset.ts";
import "./grib/dataset.ts";

export { formatRegistry, openDataset, openLocated } from "./dataset.ts";
export type { LocatedFile, LocatedVariable, NumericArray, SourceDataset, SourceVariable } from "./dataset.ts";
