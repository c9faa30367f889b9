/**
 * Parity with AtmoRep's own code: each fixture of tests/fixtures/atmorep/
 * (written by tests/oracles/atmorep_golden.py from AtmoRep's classes) is
 * imported through our `.mod` reader and config mapping, and our forward
 * pass, loss and gradients are compared with AtmoRep's on the same inputs
 * (relative error ‖ours − AtmoRep's‖∞ / ‖AtmoRep's‖∞ ≤ 1e-4 in float32).
 * Bad checkpoints (not an archive, unknown opcodes or classes, missing or
 * extra keys, shapes that disagree with the json) are CheckpointErrors
 * naming the file and the key. Our model written back as AtmoRep's `.mod`
 * + json reads back identically; with `ATMOREP_SRC` set to an extracted
 * AtmoRep snapshot, AtmoRep's own `AtmoRep.load` reads it too and
 * reproduces the fixture's outputs (tests/oracles/atmorep_golden.py --load-ours).
 *
 * @module
 */
import { deepStrictEqual as assertEquals, ok as assert, throws as assertThrows } from "node:assert/strict";
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PYTHON, ROOT, run } from "../_helpers/common.ts";
import {
  assembleAtmorep,
  atmorepGradients,
  atmorepStateDict,
  importAtmorep,
  type ImportedAtmorep,
  writeAtmorep,
} from "../../models/atmorep_import.ts";
import { readTorchStateDict } from "../../models/torch_archive.ts";
import type { FieldInput } from "../../models/inputs.ts";
import { type Tensor, valueAndGrad } from "../../ops/mod.ts";
import { fieldLoss, type LossName, weightedSum } from "../../training/losses.ts";
import { CheckpointError } from "../../errors.ts";
import { denormalizeInPlace, normalizeInPlace, type Scaling } from "../../normalization/coefficients.ts";
import { detokenize, type TokenGrid, tokenize } from "../../tokenizers/patches.ts";
import { atmorepMultiresSize, maskTokens, resampleToken, tokenStd } from "../../samplers/masking.ts";
import { MASK } from "../../samplers/batch.ts";
import { Random } from "../../random.ts";

const DIR = join(ROOT, "tests", "fixtures", "atmorep");
const TOL = 1e-4;

interface Golden {
  dir: string;
  manifest: {
    model_id: string;
    batch: number;
    grad_losses: string[];
    loss: number;
    loss_terms: Record<string, { per_field: number[]; weighted: number }>;
    arrays: { name: string; dtype: "f32" | "i32"; shape: number[]; offset: number }[];
  };
  get(name: string): Float32Array | Int32Array;
  has(name: string): boolean;
}

function golden(name: string): Golden {
  const dir = join(DIR, name);
  const manifest = JSON.parse(readFileSync(join(dir, "golden.json"), "utf8"));
  const bin = readFileSync(join(dir, "golden.bin"));
  const buf = bin.buffer.slice(bin.byteOffset, bin.byteOffset + bin.byteLength);
  const byName = new Map(manifest.arrays.map((a: Golden["manifest"]["arrays"][0]) => [a.name, a]));
  return {
    dir,
    manifest,
    has: (n) => byName.has(n),
    get(n) {
      const a = byName.get(n) as Golden["manifest"]["arrays"][0] | undefined;
      if (!a) throw new Error(`${name}: no array ${n}`);
      const len = a.shape.reduce((x, y) => x * y, 1);
      return a.dtype === "i32" ? new Int32Array(buf, a.offset, len) : new Float32Array(buf, a.offset, len);
    },
  };
}

function load(g: Golden): ImportedAtmorep {
  const id = g.manifest.model_id;
  return importAtmorep(join(g.dir, `AtmoRep_id${id}.mod`), join(g.dir, `model_id${id}.json`));
}

/** The network inputs as AtmoRep saw them: masked tokens, raw token info, targets in AtmoRep's order. */
function inputs(g: Golden, imp: ImportedAtmorep): Map<string, FieldInput> {
  const out = new Map<string, FieldInput>();
  for (const [i, f] of imp.fields.entries()) {
    const L = f.levels.length, ntok = f.numTokens[0] * f.numTokens[1] * f.numTokens[2];
    const V = f.tokenSize[0] * f.tokenSize[1] * f.tokenSize[2], S = L * ntok, B = g.manifest.batch;
    const rows: number[] = [];
    for (let l = 0; l < L; l++) {
      for (const m of g.get(`masked_idx_f${i}_l${l}`)) rows.push(Math.floor(m / ntok) * S + l * ntok + (m % ntok));
    }
    const values = Float32Array.from(g.get(`target_f${i}`));
    // AtmoRep's weighted_mse weights: one cos-latitude per grid row of each masked token
    const j = imp.predicted.indexOf(f.name);
    let valueWeights: Float32Array | undefined;
    if (j >= 0) {
      const W = g.get(`weights_p${j}`), [tt, tl, to] = f.tokenSize;
      valueWeights = new Float32Array(values.length);
      for (let m = 0; m < rows.length; m++) {
        for (let a = 0; a < tt; a++) {
          for (let b = 0; b < tl; b++) {
            for (let c = 0; c < to; c++) valueWeights[m * V + (a * tl + b) * to + c] = W[m * tl + b];
          }
        }
      }
    }
    out.set(f.name, {
      field: f.name,
      batch: B,
      length: S,
      features: Float32Array.from(g.get(`source_f${i}`)),
      width: V,
      info: Float32Array.from(g.get(`token_info_f${i}`)),
      targets: {
        rows: Int32Array.from(rows),
        values,
        valid: new Float32Array(values.length).fill(1),
        latWeight: new Float32Array(rows.length),
        valueWeights,
      },
    });
  }
  return out;
}

/** ‖a − b‖∞ / ‖b‖∞. */
function relErr(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`lengths ${a.length} and ${b.length}`);
  let d = 0, n = 0;
  for (let i = 0; i < a.length; i++) {
    d = Math.max(d, Math.abs(a[i] - b[i]));
    n = Math.max(n, Math.abs(b[i]));
  }
  return n === 0 ? d : d / n;
}

function close(what: string, a: ArrayLike<number>, b: ArrayLike<number>, tol = TOL): number {
  const e = relErr(a, b);
  assert(e <= tol, `${what}: relative error ${e.toExponential(2)} > ${tol}`);
  return e;
}

/** Mean and unbiased std over the members of [M, E, V]. */
function stats(m: Tensor): { mean: Float32Array; std: Float32Array } {
  const [M, E, V] = m.shape;
  const mean = new Float32Array(M * V), std = new Float32Array(M * V);
  for (let r = 0; r < M; r++) {
    for (let v = 0; v < V; v++) {
      let s = 0;
      for (let e = 0; e < E; e++) s += m.data[(r * E + e) * V + v];
      const mu = s / E;
      let ss = 0;
      for (let e = 0; e < E; e++) ss += (m.data[(r * E + e) * V + v] - mu) ** 2;
      mean[r * V + v] = mu;
      std[r * V + v] = E > 1 ? Math.sqrt(ss / (E - 1)) : 0;
    }
  }
  return { mean, std };
}

/** Compare the forward pass (embedding, every encoder layer, the predictions); returns the largest error. */
function checkForward(name: string): number {
  const g = golden(name);
  const imp = load(g);
  const x = inputs(g, imp);
  let worst = 0;
  const { history } = imp.model.encode(x);
  const outs = imp.model.forward(x);
  for (const [j, f] of imp.predicted.entries()) {
    const hist = history.get(f)!;
    for (let k = 0; g.has(`encoder_p${j}_k${k}`); k++) {
      worst = Math.max(worst, close(`${name} ${f} encoder layer ${k}`, hist[k].data, g.get(`encoder_p${j}_k${k}`)));
    }
    const o = outs.find((q) => q.field === f)!;
    worst = Math.max(worst, close(`${name} ${f} ensemble`, o.members.data, g.get(`pred_ens_p${j}`)));
    const s = stats(o.members);
    worst = Math.max(worst, close(`${name} ${f} mean`, s.mean, g.get(`pred_mean_p${j}`)));
    worst = Math.max(worst, close(`${name} ${f} std`, s.std, g.get(`pred_std_p${j}`)));
  }
  return worst;
}

/** Every loss term we compute as AtmoRep does, per predicted field, against AtmoRep's values. */
function checkLossTerms(name: string): number {
  const g = golden(name);
  const imp = load(g);
  const outs = imp.model.forward(inputs(g, imp));
  let worst = 0;
  for (const term of ["mse", "mse_ensemble", "weighted_mse", "stats", "stats_area", "kernel_crps"] as LossName[]) {
    for (const [j, f] of imp.predicted.entries()) {
      const o = outs.find((q) => q.field === f)!;
      const ours = fieldLoss(term, o.members, o.targets).data[0];
      worst = Math.max(worst, close(`${name} ${f} ${term}`, [ours], [g.manifest.loss_terms[term].per_field[j]]));
    }
  }
  return worst;
}

/** The loss of `losses` (AtmoRep's weighting) and its gradients under AtmoRep's names, against AtmoRep's. */
function checkGradients(name: string): number {
  const g = golden(name);
  const imp = load(g);
  const x = inputs(g, imp);
  const losses = g.manifest.grad_losses as LossName[];
  const wsum = imp.model.fields.filter((f) => f.predict).reduce((a, f) => a + f.lossWeight, 0);
  for (const p of imp.model.params.map.values()) p.grad = undefined;
  const loss = valueAndGrad(() => {
    const parts: { loss: Tensor; weight: number }[] = [];
    for (const o of imp.model.forward(x)) {
      const w = imp.model.fields.find((f) => f.field === o.field)!.lossWeight / wsum;
      for (const l of losses) parts.push({ loss: fieldLoss(l, o.members, o.targets), weight: w / losses.length });
    }
    return weightedSum(parts);
  });
  let worst = close(`${name} loss`, [loss], [g.manifest.loss]);
  const grads = atmorepGradients(imp);
  const theirs = g.manifest.arrays.filter((a) => a.name.startsWith("grad/"));
  // A gradient that is zero in exact arithmetic (e.g. of the key bias, which softmax ignores) is rounding
  // noise on both sides: errors are relative to the larger of its own norm and 1e-3 of the largest gradient.
  const G = Math.max(...theirs.map((a) => Array.from(g.get(a.name)).reduce((m, v) => Math.max(m, Math.abs(v)), 0)));
  for (const a of theirs) {
    const key = a.name.slice(5);
    const ours = grads.get(key);
    assert(ours, `${name}: no gradient for ${key}`);
    const ref = g.get(a.name);
    let d = 0, n = 1e-3 * G;
    for (let i = 0; i < ref.length; i++) {
      d = Math.max(d, Math.abs(ours[i] - ref[i]));
      n = Math.max(n, Math.abs(ref[i]));
    }
    assert(d / n <= TOL, `${name} d loss / d ${key}: relative error ${(d / n).toExponential(2)} > ${TOL}`);
    worst = Math.max(worst, d / n);
  }
  return worst;
}

Deno.test("atmorep: the .mod reader reads AtmoRep's state_dict", () => {
  const sd = readTorchStateDict(join(DIR, "one_field", "AtmoRep_idgold0001.mod"));
  assert(sd.size === 56);
  const w = sd.get("encoders.0.heads.0.proj_heads.weight")!;
  assert(w.shape[0] === 96 && w.shape[1] === 32);
});

for (const name of ["one_field", "coupled_qk", "local_norm", "decoder_self", "tails", "old_layout", "sample_t"]) {
  Deno.test(`atmorep parity: ${name}, forward`, () => {
    const e = checkForward(name);
    console.log(`${name}: max relative error ${e.toExponential(2)}`);
  });
}

for (const name of ["one_field", "coupled_qk", "local_norm", "decoder_self", "tails", "old_layout", "sample_t"]) {
  Deno.test(`atmorep parity: ${name}, loss terms`, () => {
    const e = checkLossTerms(name);
    console.log(`${name} loss terms: max relative error ${e.toExponential(2)}`);
  });
}

for (const name of ["one_field", "coupled_qk", "local_norm", "decoder_self", "tails"]) {
  Deno.test(`atmorep parity: ${name}, loss and gradients`, () => {
    const e = checkGradients(name);
    console.log(`${name} gradients: max relative error ${e.toExponential(2)}`);
  });
}

Deno.test("atmorep: bad checkpoints are CheckpointErrors naming the file and the key", () => {
  const id = "gold0001";
  const json = join(DIR, "one_field", `model_id${id}.json`);
  const mod = join(DIR, "one_field", `AtmoRep_id${id}.mod`);
  const bytes = readFileSync(mod);
  const named = (re: RegExp) => (e: unknown) => e instanceof CheckpointError && re.test(String((e as Error).message));
  assertThrows(() => readTorchStateDict("x.mod", new Uint8Array(64)), named(/x\.mod.*not a PyTorch archive/));
  // an opcode torch never writes for a state_dict: the pickle's first opcode after PROTO replaced
  const bad = Uint8Array.from(bytes);
  const at = Buffer.from(bad).indexOf(Buffer.from("ccollections"));
  bad[at] = 0x47; // BINFLOAT
  assertThrows(() => readTorchStateDict("bad.mod", bad), named(/bad\.mod.*opcode 0x47/));
  const cls = Uint8Array.from(bytes);
  cls.set(new TextEncoder().encode("ccollectionz"), at);
  assertThrows(() => readTorchStateDict("cls.mod", cls), named(/cls\.mod.*class collectionz\.OrderedDict/));
  // the json of another case: keys missing / shapes disagree
  const other = join(DIR, "tails", "model_idgold0005.json");
  assertThrows(() => importAtmorep(mod, other), named(/AtmoRep_idgold0001\.mod: .*(missing|shape|unexpected)/));
  void json;
});

Deno.test("atmorep: our model written as AtmoRep's .mod + json reads back the same (and in AtmoRep, with ATMOREP_SRC)", async () => {
  const tmp = mkdtempSync(join(tmpdir(), "atmorep-out-"));
  try {
    for (const [name, id] of [["one_field", "gold0001"], ["coupled_qk", "gold0002"], ["old_layout", "gold0006"]]) {
      const imp = load(golden(name));
      const dir = join(tmp, `idours${id}`);
      mkdirSync(dir);
      const w = writeAtmorep(dir, `ours${id}`, imp, imp.model);
      const back = importAtmorep(w.mod, w.json);
      assert(!back.translated && !back.legacyTokenInfo);
      for (const [k, p] of imp.model.params.map) {
        const q = back.model.params.map.get(k)!;
        assert(p.data.every((v, i) => v === q.data[i]), `${name}: ${k} differs after writing and reading`);
      }
      const src = Deno.env.get("ATMOREP_SRC");
      if (!src) continue;
      const r = await run(PYTHON, [
        join(ROOT, "tests", "oracles", "atmorep_golden.py"),
        src,
        "--load-ours",
        tmp,
        `ours${id}`,
        join(DIR, name),
      ]);
      assert(r.code === 0, r.stderr);
      const errs = JSON.parse(r.stdout.trim().split("\n").pop()!) as Record<string, number>;
      for (const [k, e] of Object.entries(errs)) assert(e <= TOL, `${name}: AtmoRep on our file, ${k} off by ${e}`);
      console.log(`${name}: AtmoRep.load of our file: ${JSON.stringify(errs)}`);
    }
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
});

Deno.test("atmorep parity: local normalization, tokens and denormalized forecast as AtmoRep's", () => {
  const g = golden("local_norm");
  const imp = load(g);
  const f = imp.fields[0];
  assert(f.normalization === "local");
  const local = (g.manifest as unknown as { local: { dates: string[]; year_base: number } }).local;
  const [L, B, T, Y, X] = [f.levels.length, g.manifest.batch, 8, 8, 8], plane = Y * X;
  const raw = g.get("data_raw_f0"), norm = g.get("norm_f0");
  // AtmoRep's month of coefficients: 12·(year − year_base) + month − 1, per time step
  const months = local.dates.map((d) => 12 * (Number(d.slice(0, 4)) - local.year_base) + Number(d.slice(5, 7)) - 1);
  const scaling = (l: number, steps: number[]): Scaling => {
    const mean = steps.map((k) =>
      Float32Array.from(norm.subarray(((l * 24 + k) * 2) * plane, ((l * 24 + k) * 2 + 1) * plane))
    );
    const std = steps.map((k) =>
      Float32Array.from(norm.subarray(((l * 24 + k) * 2 + 1) * plane, ((l * 24 + k) * 2 + 2) * plane))
    );
    return { mean, std, inv: std.map((s) => s.map((v) => 1 / v)) };
  };
  const grid: TokenGrid = { numTokens: f.numTokens, tokenSize: f.tokenSize };
  const V = f.tokenSize[0] * f.tokenSize[1] * f.tokenSize[2], ntok = f.numTokens[0] * f.numTokens[1] * f.numTokens[2];
  const ref = g.get("source_raw_f0");
  let worst = 0;
  for (let l = 0; l < L; l++) {
    for (let b = 0; b < B; b++) {
      const block = Float32Array.from(raw.subarray(((l * B + b) * T) * plane, ((l * B + b) * T + T) * plane));
      normalizeInPlace(block, plane, scaling(l, months));
      const tokens = new Float32Array(ntok * V);
      tokenize(block, grid, tokens);
      const o = (b * L + l) * ntok * V;
      worst = Math.max(worst, close(`normalized tokens level ${l} sample ${b}`, tokens, ref.subarray(o, o + ntok * V)));
    }
  }
  // The forecast (last 2 time slabs) denormalized with the coefficients of its own time steps
  const outs = imp.model.forward(inputs(g, imp));
  const mean = stats(outs[0].members).mean;
  const nft = 2, slab = f.numTokens[1] * f.numTokens[2], steps = nft * f.tokenSize[0];
  const den = g.get("denorm_pred_mean_p0");
  const fgrid: TokenGrid = { numTokens: [nft, f.numTokens[1], f.numTokens[2]], tokenSize: f.tokenSize };
  for (let l = 0; l < L; l++) {
    for (let b = 0; b < B; b++) {
      const first = (l * B + b) * nft * slab; // targets: level-major, then sample, then the slabs' tokens
      const field = new Float32Array(steps * plane);
      detokenize(mean.subarray(first * V, (first + nft * slab) * V), fgrid, field);
      denormalizeInPlace(field, plane, scaling(l, months.slice(-steps)));
      const o = (b * L + l) * steps * plane;
      worst = Math.max(
        worst,
        close(`denormalized forecast level ${l} sample ${b}`, field, den.subarray(o, o + steps * plane)),
      );
    }
  }
  console.log(`local_norm normalization: max relative error ${worst.toExponential(2)}`);
});

Deno.test("atmorep parity: multires corruption resamples as AtmoRep's trilinear interpolation", () => {
  const g = golden("masking");
  const m = g.manifest as unknown as {
    token_size: [number, number, number];
    multires: { size: [number, number]; n: number }[];
  };
  const V = m.token_size[0] * m.token_size[1] * m.token_size[2];
  let worst = 0;
  for (const [i, r] of m.multires.entries()) {
    const input = g.get(`multires_in_${i}`), ref = g.get(`multires_out_${i}`);
    const ours = new Float32Array(r.n * V);
    for (let k = 0; k < r.n; k++) {
      ours.set(resampleToken(Float32Array.from(input.subarray(k * V, (k + 1) * V)), m.token_size, r.size), k * V);
    }
    worst = Math.max(worst, close(`multires to ${r.size}`, ours, ref, 1e-5));
  }
  console.log(`multires: max relative error ${worst.toExponential(2)}`);
});

Deno.test("atmorep parity: the statistics of our AtmoRep corruption match AtmoRep's on a large draw", () => {
  const g = golden("masking");
  const m = g.manifest as unknown as {
    token_size: [number, number, number];
    num_tokens: [number, number, number];
    batch: number;
    bert_stats: { rates: number[]; chosen: number; zeroed: number; unchanged: number };
    noise_stats: { slope_mean: number; slope_std: number; resid_std: number };
  };
  const ts = m.token_size, nt = m.num_tokens, B = m.batch;
  const V = ts[0] * ts[1] * ts[2], ntok = nt[0] * nt[1] * nt[2];
  const rng = Random.stream(21);
  const normal = (s: number, o = 0) => Float32Array.from({ length: B * ntok * V }, () => o + s * rng.polarNormal());
  const draw = (tokens: Float32Array, rates: number[]) => {
    const ctx = { std: tokenStd(tokens, B * ntok, V), size: atmorepMultiresSize(ts, rng) };
    const [rate, fracMasked, fracNoised, fracMultires] = rates;
    const cfg = { strategy: "bert", corruption: "atmorep", rate, fracMasked, fracNoised, fracMultires } as const;
    const mask = new Uint8Array(B * ntok), seen = new Map<number, Float32Array>();
    for (let b = 0; b < B; b++) {
      maskTokens(
        tokens.subarray(b * ntok * V, (b + 1) * ntok * V),
        mask.subarray(b * ntok, (b + 1) * ntok),
        nt,
        ts,
        cfg,
        rng,
        (k, v) => seen.set(b * ntok + k, v),
        ctx,
      );
    }
    return { mask, seen, ctx };
  };
  // rates, zeroed and unchanged fractions (a zeroed token then noised is not zero: AtmoRep's order)
  let chosen = 0, zeroed = 0, unchanged = 0;
  for (let r = 0; r < 40; r++) {
    const { mask, seen } = draw(normal(1, 0.5), m.bert_stats.rates);
    for (let k = 0; k < mask.length; k++) {
      if (mask[k] === MASK.visible) continue;
      chosen++;
      if (mask[k] === MASK.zeroed || (mask[k] === MASK.replaced && seen.get(k)!.every((v) => v === 0))) zeroed++;
      if (mask[k] === MASK.unchanged) unchanged++;
    }
  }
  const frac = { chosen: chosen / (40 * B * ntok), zeroed: zeroed / chosen, unchanged: unchanged / chosen };
  const a = m.bert_stats;
  assert(Math.abs(frac.chosen - a.chosen) < 0.02, `chosen ${frac.chosen} vs AtmoRep ${a.chosen}`);
  assert(Math.abs(frac.zeroed - a.zeroed) < 0.03, `zeroed ${frac.zeroed} vs AtmoRep ${a.zeroed}`);
  assert(Math.abs(frac.unchanged - a.unchanged) < 0.02, `unchanged ${frac.unchanged} vs AtmoRep ${a.unchanged}`);
  // noise only: slope (1 − w) per token, residual spread 0.1·σ
  const slopes: number[] = [], resid: number[] = [];
  for (let r = 0; r < 10; r++) {
    const tokens = normal(2);
    const { seen, ctx } = draw(tokens, [1, 0, 1, 0]);
    for (const [k, y] of seen) {
      const x = tokens.subarray(k * V, (k + 1) * V);
      let xy = 0, xx = 0;
      for (let i = 0; i < V; i++) (xy += x[i] * y[i], xx += x[i] * x[i]);
      const s = xy / xx;
      slopes.push(s);
      for (let i = 0; i < V; i++) resid.push((y[i] - s * x[i]) / ctx.std[i]);
    }
  }
  const mean = (v: number[]) => v.reduce((p, q) => p + q, 0) / v.length;
  const sd = (v: number[]) => {
    const mu = mean(v);
    return Math.sqrt(mean(v.map((q) => (q - mu) ** 2)));
  };
  const n = m.noise_stats;
  assert(Math.abs(mean(slopes) - n.slope_mean) < 0.02, `shrink ${mean(slopes)} vs AtmoRep ${n.slope_mean}`);
  assert(Math.abs(sd(slopes) - n.slope_std) < 0.02, `shrink spread ${sd(slopes)} vs AtmoRep ${n.slope_std}`);
  assert(Math.abs(sd(resid) - n.resid_std) < 0.005, `noise ${sd(resid)}·σ vs AtmoRep ${n.resid_std}·σ`);
  // multires sizes: between the token size and twice it
  for (let i = 0; i < 2000; i++) {
    const [h, w] = atmorepMultiresSize(ts, rng);
    assert(h >= ts[1] && h <= 2 * ts[1] && w >= ts[2] && w <= 2 * ts[2], `multires size ${h}×${w}`);
  }
  console.log(
    `masking: ours ${JSON.stringify(frac)}, shrink ${mean(slopes).toFixed(3)}±${sd(slopes).toFixed(3)}, noise ${
      sd(resid).toFixed(4)
    }σ`,
  );
});

Deno.test("atmorep parity: a coupled model assembled from single-field checkpoints as AtmoRep's load_block does", () => {
  const dir = join(DIR, "assembled");
  const ours = assembleAtmorep(join(dir, "model_idgold0010.json"), dir, 5);
  const theirs = readTorchStateDict(join(dir, "AtmoRep_idgold0010.mod"));
  const mine = atmorepStateDict(ours, ours.model);
  // What no block file holds: the coupling projections (fresh in both) and the unused shared token-info embedding.
  assertEquals(
    ours.missing.sort(),
    [...theirs.keys()].filter((k) => /proj_heads_other|^embed_token_info/.test(k)).sort(),
  );
  assert(ours.ignored.length === 0, ours.ignored.join(", "));
  for (const [k, t] of theirs) {
    if (ours.missing.includes(k)) continue;
    const a = mine.get(k)!;
    assert(a.shape.join() === t.shape.join(), k);
    if (/proj_out/.test(k) && t.shape[0] !== t.shape[1]) {
      // the pre-trained columns exactly, the coupling heads' columns 0.01·U(0, 1) on both sides
      const [O, I] = t.shape, pre = O;
      for (let o = 0; o < O; o++) {
        for (let i = 0; i < I; i++) {
          const x = a.data[o * I + i], y = t.data[o * I + i];
          if (i < pre) assert(x === y, `${k}[${o}, ${i}]`);
          else assert(x >= 0 && x < 0.01 && y >= 0 && y < 0.01, `${k}[${o}, ${i}]: ${x}, ${y}`);
        }
      }
    } else assert(a.data.every((v, i) => v === t.data[i]), `${k} differs`);
  }
});
