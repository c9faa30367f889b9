/**
 * The value transforms by the type name a coefficient set records (`log`),
 * in one map built here, and the one way back from a recorded spec to a
 * transform ({@link transformFromSpec}).
 *
 * @module
 */
import { ConfigError } from "../errors.ts";
import { logTransform, type TransformSpec, type ValueTransform } from "./transforms.ts";

/** Registered transform constructors by type name. */
export const transformRegistry: Map<string, (spec: TransformSpec) => ValueTransform> = new Map([
  ["log", (spec: TransformSpec) => logTransform(spec.eps ?? NaN)],
]);

/** Make a transform from its recorded spec; unknown types are a clear error. */
export function transformFromSpec(spec: TransformSpec, where = "transform"): ValueTransform {
  const make = transformRegistry.get(spec.type);
  if (!make) {
    throw new ConfigError(
      where,
      `unknown transform "${spec.type}" (known: ${[...transformRegistry.keys()].join(", ")})`,
    );
  }
  return make(spec);
}
