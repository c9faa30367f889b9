/**
 * The HTTP client of cloud stores, which moved to zarr/http.ts so that the
 * sampler and `inspect` (below the converters in the layering) read stores
 * by URL with the same retries and checks.
 *
 * @module
 */
export * from "../../../zarr/http.ts";
