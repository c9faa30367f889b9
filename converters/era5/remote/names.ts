/**
 * Resolving the `--fields` of a cloud-store conversion by the name table
 * of era5_names.ts (cloud long names ↔ ERA5 short names).
 *
 * @module
 */
import { ConfigError } from "../../../errors.ts";
import { CLOUD_NAMES, cloudName } from "../../../era5_names.ts";

/** A field to convert: its name in the cloud store and in ours. */
export interface FieldName {
  /** Variable name in the cloud store. */
  cloud: string;
  /** ERA5 short name in our store. */
  short: string;
}

/** The table as `cloud (short)` entries, for error messages. */
export function knownNames(): string {
  return Object.entries(CLOUD_NAMES).map(([c, s]) => `${c} (${s})`).join(", ");
}

/**
 * Resolve `--fields` entries for a cloud store: a cloud name (`temperature`),
 * an ERA5 short name (`t`), or `cloud=short` for a variable the table does
 * not know. Unknown names are a {@link ConfigError} listing the known ones.
 */
export function resolveFieldNames(entries: string[]): FieldName[] {
  const out: FieldName[] = [];
  for (const entry of entries) {
    let name: FieldName;
    const eq = entry.indexOf("=");
    if (eq > 0) {
      const cloud = entry.slice(0, eq).trim(), short = entry.slice(eq + 1).trim();
      if (!/^[A-Za-z0-9_]+$/.test(cloud) || !/^[A-Za-z0-9_]+$/.test(short)) {
        throw new ConfigError("--fields", `"${entry}" is not CLOUD_NAME=SHORT_NAME`);
      }
      name = { cloud, short };
    } else if (entry in CLOUD_NAMES) name = { cloud: entry, short: CLOUD_NAMES[entry] };
    else if (cloudName(entry) !== undefined) name = { cloud: cloudName(entry)!, short: entry };
    else {
      throw new ConfigError(
        "--fields",
        `"${entry}" is neither a cloud-store name nor an ERA5 short name this converter knows; known: ${knownNames()}` +
          `; for another variable give CLOUD_NAME=SHORT_NAME`,
      );
    }
    const dup = out.find((f) => f.cloud === name.cloud || f.short === name.short);
    if (dup) throw new ConfigError("--fields", `"${entry}" names the same field as ${dup.cloud} (${dup.short})`);
    out.push(name);
  }
  if (out.length === 0) throw new ConfigError("--fields", "a cloud store needs --fields (it may hold hundreds)");
  return out;
}
