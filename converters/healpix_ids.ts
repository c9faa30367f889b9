/**
 * Nested HEALPix ids per point, stored by the point-store converters (FESOM
 * nodes and centroids, reduced Gaussian points) so samplers can bucket
 * points into tokens without recomputing them.
 *
 * @module
 */
import { healpixIds } from "../geometry/healpix.ts";
import type { MakeArray } from "./output.ts";

/** HEALPix orders whose nested cell ids are stored for nodes and centroids. */
export const HEALPIX_ORDERS = [2, 4, 6, 8, 10];

/** The nested HEALPix ids of points at {@link HEALPIX_ORDERS}, as an (order, point) int32 array (the samplers bucket by them). */
export function writeHealpixIds(
  mk: MakeArray,
  name: string,
  lon: Float64Array,
  lat: Float64Array,
  dim: string,
): void {
  const ids = healpixIds(HEALPIX_ORDERS, lon, lat);
  const flat = new Int32Array(ids.length * lon.length);
  ids.forEach((a, o) => flat.set(a, o * lon.length));
  mk(name, {
    shape: [ids.length, lon.length],
    chunks: [ids.length, lon.length],
    dtype: "int32",
    dimensions: ["healpix_order", dim],
    attributes: { healpix_orders: HEALPIX_ORDERS, scheme: "nested" },
  }).writeAll(flat);
}
