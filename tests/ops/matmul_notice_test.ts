/**
 * The start line says which matmul runs, and when it is the TypeScript
 * fallback it says why and how to get OpenBLAS (the demo ran 9× slower than
 * it could without a word before): in a child process without `--allow-ffi`,
 * and in this one, which has it.
 *
 * @module
 */
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { matmulLine, OPENBLAS_INSTALL_HINT, openblasGemm, slowMatmulNotice, typescriptGemm } from "../../ops/mod.ts";
import { selectBackend } from "../../ops/backend.ts";

Deno.test("matmul line: without --allow-ffi the cpu backend's line says so", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const script = `${dir}/line.ts`;
    await Deno.writeTextFile(
      script,
      `import { selectBackend } from "${new URL("../../ops/backend.ts", import.meta.url)}";\n` +
        `console.log((await selectBackend("cpu")).description);\n`,
    );
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["run", "--no-lock", `--allow-read=${fileURLToPath(new URL("../../", import.meta.url))},${dir}`, script],
      stdout: "piped",
      stderr: "piped",
    }).output();
    assert.ok(out.success, new TextDecoder().decode(out.stderr));
    const line = new TextDecoder().decode(out.stdout).trim();
    assert.equal(
      line,
      "backend cpu · matmul typescript · the TypeScript matmul, several times slower than OpenBLAS: " +
        "this command runs without --allow-ffi",
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("matmul line: OpenBLAS needs no notice; the TypeScript kernel with FFI allowed gives the install line", async () => {
  assert.equal(matmulLine(typescriptGemm), `matmul typescript · ${slowMatmulNotice(typescriptGemm)}`);
  assert.ok(slowMatmulNotice(typescriptGemm)!.endsWith(`which was not found: ${OPENBLAS_INSTALL_HINT}`));
  assert.match(OPENBLAS_INSTALL_HINT, /apt-get install libopenblas0-pthread/);
  const blas = openblasGemm();
  if (!blas) throw new Error("OpenBLAS is not loadable here: install it (.ci/run does) to run this test");
  assert.equal(slowMatmulNotice(blas), undefined);
  assert.equal((await selectBackend("cpu")).description, `backend cpu · matmul ${blas.name}`);
});
