/**
 * Loading a system C library through Deno FFI, for the fast paths that have
 * a pure-JS fallback (libzstd, libdeflate, libc's mallopt, OpenBLAS): no
 * prompt, no error when FFI is not permitted or the library is missing.
 *
 * @module
 */

/**
 * The first of `names` that opens with `symbols`, or undefined when FFI is
 * not granted (never prompts) or none opens. `usable` may reject a library
 * that opened (e.g. an allocation that failed).
 */
export function openSystemLibrary<S extends Deno.ForeignLibraryInterface>(
  names: readonly string[],
  symbols: S,
  usable: (lib: Deno.DynamicLibrary<S>) => boolean = () => true,
): Deno.DynamicLibrary<S> | undefined {
  if (Deno.permissions.querySync({ name: "ffi" }).state !== "granted") return undefined;
  for (const name of names) {
    let lib: Deno.DynamicLibrary<S>;
    try {
      lib = Deno.dlopen(name, symbols);
    } catch {
      continue;
    }
    if (usable(lib)) return lib;
    lib.close();
  }
  return undefined;
}
