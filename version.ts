/** Version of this software, recorded in every store's provenance. */
export const VERSION = "0.1.0";
