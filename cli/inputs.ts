/**
 * Input expansion shared by every CLI verb: files, directories and globs in
 * the file name become a sorted, duplicate-free list of files.
 *
 * @module
 */
import { basename, dirname, join } from "node:path";
import { InputError } from "../errors.ts";

/** Expand files, directories (their regular files, sorted) and globs (`*`, `?` in the last part). */
export function expandInputs(inputs: string[]): string[] {
  const out: string[] = [];
  for (const input of inputs) {
    if (/[*?[]/.test(input)) {
      const dir = dirname(input), pattern = basename(input);
      if (/[*?[]/.test(dir)) throw new InputError(input, "wildcards are supported in the file name only");
      const re = new RegExp(
        "^" + pattern.replace(/[.+^${}()|\\]/g, "\\$&").replace(/\*/g, ".*").replace(/\?/g, ".") + "$",
      );
      const matches = [...Deno.readDirSync(dir)].filter((e) => e.isFile && re.test(e.name))
        .map((e) => join(dir, e.name)).sort();
      if (matches.length === 0) throw new InputError(input, "no file matches");
      out.push(...matches);
    } else {
      let st: Deno.FileInfo;
      try {
        st = Deno.statSync(input);
      } catch {
        throw new InputError(input, "no such file or directory");
      }
      if (st.isDirectory) {
        const files = [...Deno.readDirSync(input)].filter((e) => e.isFile && !e.name.startsWith("."))
          .map((e) => join(input, e.name)).sort();
        if (files.length === 0) throw new InputError(input, "directory holds no files");
        out.push(...files);
      } else out.push(input);
    }
  }
  return [...new Set(out)];
}
