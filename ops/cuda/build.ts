/**
 * The ahead-of-time build of the CUDA kernels (`deno task build:cuda`): every
 * ops/cuda/kernels/*.cu is compiled by `nvcc -ptx` for each target
 * architecture (sm_80, sm_90) into ops/cuda/ptx/NAME.sm_XX.ptx, each PTX is
 * assembled once by `ptxas` to prove it assembles and to record its registers
 * and spills, and ops/cuda/ptx/manifest.json records the hash of the sources,
 * the nvcc version and flags, the hash of each PTX and the ptxas figures. The
 * PTX is committed and ships with the project: a user's machine needs only the
 * NVIDIA driver, which JIT-compiles the PTX for its own GPU
 * (docs/design/cuda.md says why not NVRTC).
 *
 * @module
 */
import { join } from "node:path";
import { fileURLToPath } from "node:url";

/** The folder of the kernel sources. */
export const KERNEL_DIR: string = fileURLToPath(new URL("./kernels/", import.meta.url));
/** The folder of the committed PTX and its manifest. */
export const PTX_DIR: string = fileURLToPath(new URL("./ptx/", import.meta.url));
/** Target architectures: Ampere (A100) and Hopper (H100/H200); newer GPUs JIT the sm_90 PTX. */
export const ARCHS = ["sm_80", "sm_90"] as const;
/** An architecture the build targets. */
export type Arch = typeof ARCHS[number];
/** nvcc flags besides `-ptx -arch`: no fast math (the kernels must match the CPU reference's formulas). */
export const NVCC_FLAGS: readonly string[] = ["-std=c++17"];

/** What ptxas reported for one kernel entry on one architecture. */
export interface PtxasEntry {
  registers: number;
  spillStores: number;
  spillLoads: number;
  sharedBytes: number;
}

/** ops/cuda/ptx/manifest.json. */
export interface PtxManifest {
  /** `nvcc --version`'s release line. */
  nvcc: string;
  /** Flags besides `-ptx -arch`. */
  flags: string[];
  /** Per kernel file (without `.cu`): SHA-256 of its source plus every header, per arch the PTX's SHA-256. */
  files: Record<string, { source: string; ptx: Record<string, string> }>;
  /** Per arch, per entry: ptxas registers, spills and shared memory. */
  ptxas: Record<string, Record<string, PtxasEntry>>;
}

/** Run a tool; its stdout+stderr, or an Error naming the command and its output. */
export async function runTool(cmd: string, args: string[]): Promise<string> {
  let out: Deno.CommandOutput;
  try {
    out = await new Deno.Command(cmd, { args, stdout: "piped", stderr: "piped" }).output();
  } catch (e) {
    throw new Error(`${cmd}: cannot run it (${(e as Error).message}); the CUDA toolkit's bin/ must be on PATH`);
  }
  const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
  if (!out.success) throw new Error(`${cmd} ${args.join(" ")} failed (exit ${out.code}):\n${text}`);
  return text;
}

/** Why nvcc or ptxas cannot run here (a sentence naming what to install), or undefined when both run. */
export async function toolkitMissing(): Promise<string | undefined> {
  try {
    await runTool("nvcc", ["--version"]);
    await runTool("ptxas", ["--version"]);
    return undefined;
  } catch (e) {
    return `the CUDA toolkit is not usable here (${
      (e as Error).message.split("\n")[0]
    }): install CUDA 13 (nvcc, ptxas)`;
  }
}

/** The kernel files (names without `.cu`), sorted. */
export function kernelFiles(): string[] {
  return [...Deno.readDirSync(KERNEL_DIR)].filter((e) => e.isFile && e.name.endsWith(".cu"))
    .map((e) => e.name.slice(0, -3)).sort();
}

/** Hex SHA-256. */
export async function sha256(data: Uint8Array | string): Promise<string> {
  const bytes = typeof data === "string" ? new TextEncoder().encode(data) : data;
  const d = await crypto.subtle.digest("SHA-256", bytes as Uint8Array<ArrayBuffer>);
  return [...new Uint8Array(d)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

/** Hash of a kernel file's source and of every header of the folder (any header change rebuilds all). */
export async function sourceHash(name: string): Promise<string> {
  const headers = [...Deno.readDirSync(KERNEL_DIR)].filter((e) => e.name.endsWith(".cuh")).map((e) => e.name).sort();
  const parts = [`${name}.cu`, ...headers].map((f) => `== ${f}\n${Deno.readTextFileSync(join(KERNEL_DIR, f))}`);
  return await sha256(parts.join("\n"));
}

/** `nvcc --version`'s "release" line. */
export async function nvccVersion(): Promise<string> {
  const text = await runTool("nvcc", ["--version"]);
  return text.split("\n").find((l) => l.includes("release"))?.trim() ?? text.trim();
}

/** Compile one kernel file to PTX for `arch` at `out`. */
export async function compilePtx(name: string, arch: Arch, out: string): Promise<void> {
  await runTool("nvcc", ["-ptx", `-arch=${arch}`, ...NVCC_FLAGS, "-o", out, join(KERNEL_DIR, `${name}.cu`)]);
}

/** GPUs newer than a target that the driver JIT-compiles its PTX for (checked by assembling for them). */
export const JIT_ARCHS: Record<Arch, string[]> = { sm_80: ["sm_86", "sm_89"], sm_90: ["sm_100", "sm_120"] };

/** Assemble a PTX file with ptxas for `arch` (output discarded); the per-entry figures of `-v`. */
export async function assemble(ptx: string, arch: string): Promise<Record<string, PtxasEntry>> {
  const text = await runTool("ptxas", [`-arch=${arch}`, "-v", "-o", "/dev/null", ptx]);
  return parsePtxas(text);
}

/** Parse ptxas -v output into per-entry figures. */
export function parsePtxas(text: string): Record<string, PtxasEntry> {
  const out: Record<string, PtxasEntry> = {};
  let entry = "";
  for (const line of text.split("\n")) {
    const e = line.match(/Compiling entry function '([^']+)'/);
    if (e) entry = e[1];
    const s = line.match(/(\d+) bytes spill stores, (\d+) bytes spill loads/);
    if (s && entry) out[entry] = { ...out[entry], spillStores: +s[1], spillLoads: +s[2] } as PtxasEntry;
    const r = line.match(/Used (\d+) registers(?:.*?(\d+) bytes smem)?/);
    if (r && entry) out[entry] = { ...out[entry], registers: +r[1], sharedBytes: r[2] ? +r[2] : 0 };
  }
  return out;
}

/** Build every kernel for every arch into `dir`; the manifest of what was built. */
export async function buildAll(dir: string): Promise<PtxManifest> {
  const manifest: PtxManifest = { nvcc: await nvccVersion(), flags: [...NVCC_FLAGS], files: {}, ptxas: {} };
  for (const name of kernelFiles()) {
    const ptx: Record<string, string> = {};
    for (const arch of ARCHS) {
      const out = join(dir, `${name}.${arch}.ptx`);
      await compilePtx(name, arch, out);
      ptx[arch] = await sha256(Deno.readFileSync(out));
      Object.assign(manifest.ptxas[arch] ??= {}, await assemble(out, arch));
    }
    manifest.files[name] = { source: await sourceHash(name), ptx };
  }
  return manifest;
}

if (import.meta.main) {
  const manifest = await buildAll(PTX_DIR);
  Deno.writeTextFileSync(join(PTX_DIR, "manifest.json"), JSON.stringify(manifest, null, 2) + "\n");
  for (const arch of ARCHS) {
    for (const [k, e] of Object.entries(manifest.ptxas[arch])) {
      console.log(`${arch} ${k.padEnd(28)} ${e.registers} registers, spills ${e.spillStores}/${e.spillLoads} B`);
    }
  }
  console.log(`${Object.keys(manifest.files).length} kernel files → ${PTX_DIR} (${manifest.nvcc})`);
}
