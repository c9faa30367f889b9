/**
 * AtmoRep's checkpoints in the Multiformer: its `model_id<ID>.json` config
 * mapped to our typed configuration (errors name the AtmoRep key), and its
 * `*.mod` state_dict (read by {@link readTorchStateDict}) mapped one to one
 * onto our parameters — torch's [out, in] weights transposed, AtmoRep's
 * per-head [q, k, v] row blocks regrouped into our Q | K | V columns. Older
 * checkpoints with per-head projections go through AtmoRep's
 * `translate_weights` first, with its constants. A key missing or left
 * over, or a shape that disagrees with the json, is a
 * {@link CheckpointError} naming the file and the key: a model is loaded
 * whole or not at all. {@link atmorepGradients} maps our gradients back
 * to AtmoRep's parameter names (for comparisons with AtmoRep's own).
 *
 * @module
 */
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { CheckpointError, ConfigError } from "../errors.ts";
import {
  ATMOREP_NETWORK,
  type FieldLayout,
  type FieldModelConfig,
  type MultiformerConfig,
  type NetworkOptions,
} from "./config.ts";
import { Multiformer } from "./multiformer.ts";
import type { TrainedRange } from "./checkpoint.ts";
import { Random } from "../random.ts";
import { readTorchStateDict, type StateTensor, torchStateDictBytes } from "./torch_archive.ts";

/** One AtmoRep field, as its positional config list says. */
export interface AtmorepField {
  /** Name. */
  name: string;
  /** Embedding width. */
  width: number;
  /** Coupled fields. */
  coupled: string[];
  /** Vertical levels. */
  levels: number[];
  /** Tokens along time, lat, lon. */
  numTokens: [number, number, number];
  /** Token size along time, lat, lon. */
  tokenSize: [number, number, number];
  /** BERT rates [total, zeroed, noised, multires]. */
  rates: [number, number, number, number];
  /** Normalization (`global` when absent). */
  normalization: "global" | "local";
  /** The pre-trained single-field model its blocks come from (`[model id, epoch]`), if any. */
  pretrained?: [string, number];
}

/** An AtmoRep config, mapped. */
export interface AtmorepModelConfig {
  /** Our network configuration. */
  config: MultiformerConfig;
  /** Token layouts per field. */
  layouts: FieldLayout[];
  /** AtmoRep's fields. */
  fields: AtmorepField[];
  /** Predicted fields in AtmoRep's order (its decoders and tails are numbered so). */
  predicted: string[];
  /** The raw json. */
  raw: Record<string, unknown>;
}

const isInt = (v: unknown): v is number => Number.isInteger(v);
const ints = (v: unknown, n: number): v is number[] => Array.isArray(v) && v.length === n && v.every(isInt);

const posInt = (v: unknown) => isInt(v) && (v as number) > 0;
const intFrom = (min: number) => (v: unknown) => isInt(v) && (v as number) >= min;
const unit = (v: unknown) => typeof v === "number" && v >= 0 && v <= 1;

/** AtmoRep's global settings (layer, head and tail counts, options), each checked, errors naming the key. */
function atmorepGlobals(raw: Record<string, unknown>) {
  const get = <T>(key: string, ok: (v: unknown) => boolean, what: string, dflt?: T): T => {
    const v = raw[key] ?? dflt;
    if (v === undefined || !ok(v)) throw new ConfigError(key, `must be ${what}`);
    return v as T;
  };
  get<number>("size_token_info", (v) => v === 8, "8 (AtmoRep's token info)", 8);
  const g = {
    encLayers: get<number>("encoder_num_layers", posInt, "a positive integer"),
    decLayers: get<number>("decoder_num_layers", posInt, "a positive integer"),
    encHeads: get<number>("encoder_num_heads", posInt, "a positive integer"),
    decHeads: get<number>("decoder_num_heads", posInt, "a positive integer"),
    couplingHeads: get<number>("coupling_num_heads_per_field", posInt, "a positive integer", 1),
    tails: get<number>("net_tail_num_nets", posInt, "a positive integer"),
    tailLayers: get<number>("net_tail_num_layers", intFrom(0), "an integer ≥ 0", 0),
    infoWidth: get<number>("size_token_info_net", posInt, "a positive integer", 16),
    mlp: get<number>("encoder_num_mlp_layers", intFrom(2), "an integer ≥ 2", 2),
    decMlp: get<number>("decoder_num_mlp_layers", intFrom(2), "an integer ≥ 2", 2),
    ratio: get<number>("decoder_cross_att_ratio", unit, "in [0, 1]", 0.5),
    rate: get<number>("decoder_cross_att_rate", unit, "in [0, 1]", 1),
    qk: get<boolean>("with_qk_lnorm", (v) => typeof v === "boolean", "true or false", false),
    dropout: get<number>("dropout_rate", (v) => typeof v === "number" && v >= 0 && v < 1, "in [0, 1)", 0),
  };
  // Options AtmoRep's own code cannot run, or that we do not implement: refused, never approximated.
  if (raw.decoder_self_att === true) {
    throw new ConfigError(
      "decoder_self_att",
      "true is not supported (AtmoRep's MultiSelfAttentionHead cannot be built so)",
    );
  }
  if (g.decLayers > g.encLayers) {
    throw new ConfigError(
      "decoder_num_layers",
      `exceeds encoder_num_layers ${g.encLayers} (AtmoRep cannot run such a decoder)`,
    );
  }
  for (const k of ["encoder_att_type", "decoder_att_type"]) {
    if ((raw[k] ?? "dense") !== "dense") throw new ConfigError(k, `"${raw[k]}" is not supported (only dense)`);
  }
  if (raw.with_layernorm === false) throw new ConfigError("with_layernorm", "false is not supported");
  return g;
}

/** One positional field list `fields[i]`, checked; errors name the entry (`fields[0][4]`). */
function atmorepField(f: unknown, i: number): AtmorepField {
  const key = `fields[${i}]`;
  if (!Array.isArray(f) || f.length < 6) {
    throw new ConfigError(key, "must be [name, [..], levels, tokens, token size, rates]");
  }
  const [name, net, levels, numTokens, tokenSize, rates, norm] = f as unknown[];
  if (typeof name !== "string") throw new ConfigError(`${key}[0]`, "must be the field name");
  if (!Array.isArray(net) || net.length < 3 || !posInt(net[1]) || !Array.isArray(net[2])) {
    throw new ConfigError(`${key}[1]`, "must be [dynamic, width, [coupled fields], ...]");
  }
  if (!Array.isArray(levels) || levels.length === 0 || !levels.every(isInt)) {
    throw new ConfigError(`${key}[2]`, "must be the list of levels");
  }
  if (!ints(numTokens, 3) || !numTokens.every((v) => v > 0)) {
    throw new ConfigError(`${key}[3]`, "must be 3 token counts");
  }
  if (!ints(tokenSize, 3) || !tokenSize.every((v) => v > 0)) {
    throw new ConfigError(`${key}[4]`, "must be 3 token sizes");
  }
  if (!Array.isArray(rates) || rates.length !== 4 || !rates.every((v) => typeof v === "number")) {
    throw new ConfigError(`${key}[5]`, "must be [total, zeroed, noised, multires] masking rates");
  }
  if (norm !== undefined && norm !== "global" && norm !== "local") {
    throw new ConfigError(`${key}[6]`, `normalization "${norm}" is not global or local`);
  }
  const pre = (net as unknown[])[4];
  if (pre !== undefined && !(Array.isArray(pre) && pre.length === 2 && isInt(pre[1]))) {
    throw new ConfigError(`${key}[1][4]`, "must be [pre-trained model id, epoch]");
  }
  return {
    pretrained: pre === undefined ? undefined : [String((pre as unknown[])[0]), (pre as number[])[1]],
    name,
    width: net[1] as number,
    coupled: (net[2] as unknown[]).map(String),
    levels: levels as number[],
    numTokens: numTokens as [number, number, number],
    tokenSize: tokenSize as [number, number, number],
    rates: rates as [number, number, number, number],
    normalization: (norm as "global" | "local" | undefined) ?? "global",
  };
}

/** `fields_prediction`: the predicted fields in order, and their loss weights. */
function atmorepPredictions(raw: Record<string, unknown>, names: string[]) {
  if (!Array.isArray(raw.fields_prediction) || raw.fields_prediction.length === 0) {
    throw new ConfigError("fields_prediction", "must be a non-empty list of [name, weight]");
  }
  const weights = new Map<string, number>();
  const predicted: string[] = [];
  for (const [i, p] of (raw.fields_prediction as unknown[]).entries()) {
    if (!Array.isArray(p) || typeof p[0] !== "string" || typeof p[1] !== "number") {
      throw new ConfigError(`fields_prediction[${i}]`, "must be [name, weight]");
    }
    if (!names.includes(p[0])) throw new ConfigError(`fields_prediction[${i}]`, `"${p[0]}" is not a field`);
    weights.set(p[0], p[1]);
    predicted.push(p[0]);
  }
  return { weights, predicted };
}

/** Map AtmoRep's config dict (the json `Config.write_json` writes) to ours; errors name the AtmoRep key. */
export function atmorepConfig(raw: Record<string, unknown>): AtmorepModelConfig {
  const g = atmorepGlobals(raw);
  if (!Array.isArray(raw.fields) || raw.fields.length === 0) {
    throw new ConfigError("fields", "must be a non-empty list");
  }
  const fields = (raw.fields as unknown[]).map(atmorepField);
  const names = fields.map((f) => f.name);
  if (g.couplingHeads !== 1 && fields.some((f) => f.coupled.length > 0)) {
    throw new ConfigError(
      "coupling_num_heads_per_field",
      "must be 1 with coupled fields (AtmoRep's dense encoder fails with more)",
    );
  }
  for (const [i, f] of fields.entries()) {
    for (const c of f.coupled) {
      if (!names.includes(c)) throw new ConfigError(`fields[${i}][1][2]`, `"${c}" is not a field`);
    }
  }
  const { weights, predicted } = atmorepPredictions(raw, names);
  const network: NetworkOptions = {
    ...ATMOREP_NETWORK,
    encoderQkNorm: g.qk,
    mlpLayers: g.mlp,
    decoderMlpLayers: g.decMlp,
    decoderCrossRatio: g.ratio,
    decoderCrossRate: g.rate,
    tailLayers: g.tailLayers,
  };
  const modelFields = fields.map((f): FieldModelConfig => ({
    field: f.name,
    width: f.width,
    encoderLayers: g.encLayers,
    decoderLayers: g.decLayers,
    heads: g.encHeads,
    decoderHeads: g.decHeads,
    coupledWith: f.coupled,
    couplingHeads: g.couplingHeads,
    ensemble: g.tails,
    predict: weights.has(f.name),
    lossWeight: weights.get(f.name) ?? 0,
    mlpRatio: 2,
  }));
  const layouts = fields.map((f): FieldLayout => ({
    field: f.name,
    levels: f.levels.length,
    tokens: f.numTokens[0] * f.numTokens[1] * f.numTokens[2],
    values: f.tokenSize[0] * f.tokenSize[1] * f.tokenSize[2],
    kind: "grid",
    axes: f.numTokens,
  }));
  return {
    config: { fields: modelFields, dropout: g.dropout, tokenInfoWidth: g.infoWidth, network },
    layouts,
    fields,
    predicted,
    raw,
  };
}

/** Read and map AtmoRep's `model_id<ID>.json`. */
export function readAtmorepConfig(path: string): AtmorepModelConfig {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(path, "utf8"));
  } catch (e) {
    throw new ConfigError(path, `cannot read AtmoRep's config: ${(e as Error).message}`, { cause: e });
  }
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) throw new ConfigError(path, "not a config dict");
  return atmorepConfig(raw as Record<string, unknown>);
}

// ---------------------------------------------------------------------------------------------
// State dict ↔ parameters

/** Where a state_dict tensor goes: our parameter and, per torch index, our index. */
interface Target {
  param: string;
  map: Int32Array;
}

/** One expected state_dict key. */
interface Entry {
  key: string;
  shape: number[];
  /** Our parameters it sets (none: read and ignored, e.g. an alias or an unused legacy layer). */
  targets: Target[];
}

/** torch Linear weight [O, I] → ours [I, outCols], torch row r → our column col(r). */
function linearMap(O: number, I: number, outCols: number, col: (r: number) => number): Int32Array {
  const m = new Int32Array(O * I);
  for (let r = 0; r < O; r++) {
    const c = col(r);
    for (let i = 0; i < I; i++) m[r * I + i] = i * outCols + c;
  }
  return m;
}
const identity = (n: number) => Int32Array.from({ length: n }, (_, i) => i);
/** Rows of per-head groups (h·G + j)·dh + e → our column j·H·dh + h·dh + e. */
const grouped = (H: number, G: number, dh: number) => (r: number) => {
  const e = r % dh, hj = Math.floor(r / dh), j = hj % G, h = Math.floor(hj / G);
  return j * H * dh + h * dh + e;
};

/** Collects the expected keys: a torch Linear weight, a vector, or a key read and ignored. */
class EntryList {
  readonly out: Entry[] = [];
  lin(key: string, O: number, I: number, param: string, outCols: number, col = (r: number) => r): void {
    this.out.push({ key, shape: [O, I], targets: [{ param, map: linearMap(O, I, outCols, col) }] });
  }
  vec(key: string, n: number, param?: string): void {
    this.out.push({ key, shape: [n], targets: param ? [{ param, map: identity(n) }] : [] });
  }
  ignore(key: string, shape: number[]): void {
    this.out.push({ key, shape, targets: [] });
  }
}

/** The state_dict keys AtmoRep's model of this config has, and where each goes in ours. */
function entries(m: AtmorepModelConfig, sd: Map<string, StateTensor>): Entry[] {
  const e = new EntryList();
  // The shared token-info embedding is used only when all per-field ones are zero (as AtmoRep.load decides).
  const perField = sd.get("embeds_token_info.0.weight");
  const legacy = perField !== undefined && perField.data.every((v) => v === 0);
  embeddingEntries(e, m, legacy);
  for (const i of m.fields.keys()) encoderEntries(e, m, i);
  for (const j of m.predicted.keys()) decoderAndTailEntries(e, m, j);
  return e.out;
}

/** The token-info embeddings (per field, or the shared legacy one) and the value embeddings. */
function embeddingEntries(e: EntryList, m: AtmorepModelConfig, legacy: boolean): void {
  const infoW = m.config.tokenInfoWidth ?? 16;
  const infoTargets = (suffix: "w" | "b", O: number, I: number) =>
    m.fields.map((f) => ({
      param: `${f.name}.embed.info.${suffix}`,
      map: suffix === "w" ? linearMap(O, I, O, (r) => r) : identity(O),
    }));
  e.out.push({ key: "embed_token_info.weight", shape: [infoW, 8], targets: legacy ? infoTargets("w", infoW, 8) : [] });
  e.out.push({ key: "embed_token_info.bias", shape: [infoW], targets: legacy ? infoTargets("b", infoW, 1) : [] });
  for (const [i, f] of m.fields.entries()) {
    const d = f.width, V = f.tokenSize[0] * f.tokenSize[1] * f.tokenSize[2];
    if (legacy) {
      e.ignore(`embeds_token_info.${i}.weight`, [infoW, 8]);
      e.ignore(`embeds_token_info.${i}.bias`, [infoW]);
    } else {
      e.lin(`embeds_token_info.${i}.weight`, infoW, 8, `${f.name}.embed.info.w`, infoW);
      e.vec(`embeds_token_info.${i}.bias`, infoW, `${f.name}.embed.info.b`);
    }
    // `embeds.<i>` is the same module as `encoders.<i>.embed` (saved under both names; checked equal).
    for (const pre of [`embeds.${i}`, `encoders.${i}.embed`]) {
      e.lin(`${pre}.weight`, d - infoW, V, `${f.name}.embed.values.w`, d - infoW);
      e.vec(`${pre}.bias`, d - infoW, `${f.name}.embed.values.b`);
    }
  }
}

/** Field i's encoder layers: heads (self and coupling, per-head blocks regrouped), output projection, MLP. */
function encoderEntries(e: EntryList, m: AtmorepModelConfig, i: number): void {
  const f = m.fields[i], mf = m.config.fields[i], d = f.width;
  const H = mf.heads, dh = d / H, nc = f.coupled.length, ch = mf.couplingHeads ?? 1;
  for (let l = 0; l < mf.encoderLayers; l++) {
    const pre = `encoders.${i}.heads.${l}`, ours = `${f.name}.encoder.${l}`;
    e.lin(`${pre}.proj_heads.weight`, 3 * d, d, `${ours}.qkv.w`, 3 * d, grouped(H, 3, dh));
    e.lin(`${pre}.proj_out.weight`, d, (H + nc * ch) * dh, `${ours}.out.w`, d);
    if (nc > 0) {
      // the queries of all coupled fields in one Linear, one block of rows per coupled field
      const O = nc * ch * dh;
      e.out.push({
        key: `${pre}.proj_heads_other.0.weight`,
        shape: [O, d],
        targets: f.coupled.map((c, ci) => {
          const map = new Int32Array(O * d).fill(-1);
          for (let r = ci * ch * dh; r < (ci + 1) * ch * dh; r++) {
            for (let k = 0; k < d; k++) map[r * d + k] = k * ch * dh + (r - ci * ch * dh);
          }
          return { param: `${ours}.coupling.${c}.q.w`, map };
        }),
      });
      for (const [ci, c] of f.coupled.entries()) {
        const dOther = m.fields.find((g) => g.name === c)!.width;
        const kv = `${ours}.coupling.${c}.kv.w`;
        e.lin(`${pre}.proj_heads_other.${ci + 1}.weight`, 2 * ch * dh, dOther, kv, 2 * ch * dh, grouped(ch, 2, dh));
      }
    }
    mlpEntries(e, `encoders.${i}.mlps.${l}.blocks`, `${ours}.mlp`, d, m.config.network!.mlpLayers!);
  }
}

/** Predicted field j's decoder layers (self and cross heads, the shared QK-LayerNorms, MLP) and tails. */
function decoderAndTailEntries(e: EntryList, m: AtmorepModelConfig, j: number): void {
  const name = m.predicted[j], net = m.config.network!;
  const i = m.fields.findIndex((f) => f.name === name);
  const f = m.fields[i], mf = m.config.fields[i], d = f.width, V = f.tokenSize[0] * f.tokenSize[1] * f.tokenSize[2];
  const H = mf.decoderHeads!, dh = d / H, hc = Math.floor(H * net.decoderCrossRatio!), hs = H - hc;
  for (let l = 0; l < mf.decoderLayers; l++) {
    const pre = `decoders.${j}.blocks.${2 * l}`, ours = `${name}.decoder.${l}`;
    if (hs > 0) e.lin(`${pre}.proj_heads.weight`, 3 * hs * dh, d, `${ours}.qkv.w`, 3 * hs * dh, grouped(hs, 3, dh));
    else e.ignore(`${pre}.proj_heads.weight`, [0, d]);
    if (hc > 0) {
      e.lin(`${pre}.proj_heads_o_q.weight`, hc * dh, d, `${ours}.cross.q.w`, hc * dh);
      e.lin(`${pre}.proj_heads_o_kv.weight`, 2 * hc * dh, d, `${ours}.cross.kv.w`, 2 * hc * dh, grouped(hc, 2, dh));
    } else {
      e.ignore(`${pre}.proj_heads_o_q.weight`, [0, d]);
      e.ignore(`${pre}.proj_heads_o_kv.weight`, [0, d]);
    }
    for (const ln of ["ln_q", "ln_k"]) {
      e.vec(`${pre}.${ln}.weight`, dh, `${ours}.${ln}.g`);
      e.vec(`${pre}.${ln}.bias`, dh, `${ours}.${ln}.b`);
    }
    e.lin(`${pre}.proj_out.weight`, d, d, `${ours}.out.w`, d);
    mlpEntries(e, `decoders.${j}.blocks.${2 * l + 1}.blocks`, `${ours}.mlp`, d, net.decoderMlpLayers!);
  }
  for (let k = 0; k < mf.ensemble!; k++) {
    const pre = `tails.${j}.tail_nets.${k}`, ours = `${name}.tail.${k}`;
    e.vec(`${pre}.0.weight`, d, `${ours}.norm.g`);
    e.vec(`${pre}.0.bias`, d, `${ours}.norm.b`);
    for (let h = 0; h < net.tailLayers!; h++) {
      e.lin(`${pre}.${2 * h + 1}.weight`, d, d, `${ours}.hidden.${h}.w`, d);
      e.vec(`${pre}.${2 * h + 1}.bias`, d, `${ours}.hidden.${h}.b`);
    }
    e.lin(`${pre}.${2 * net.tailLayers! + 1}.weight`, V, d, `${ours}.out.w`, V);
    e.vec(`${pre}.${2 * net.tailLayers! + 1}.bias`, V, `${ours}.out.b`);
  }
}

/** AtmoRep's MLP: blocks [Linear, GELU, Dropout] × (n − 1), Linear, GELU → Linear k at index 3k. */
function mlpEntries(e: EntryList, pre: string, ours: string, d: number, layers: number): void {
  for (let k = 0; k < layers; k++) {
    const name = k === 0 ? "up" : k === layers - 1 ? "down" : `hidden.${k - 1}`;
    const I = k === 0 ? d : 2 * d, O = k === layers - 1 ? d : 2 * d;
    e.lin(`${pre}.${3 * k}.weight`, O, I, `${ours}.${name}.w`, O);
    e.vec(`${pre}.${3 * k}.bias`, O, `${ours}.${name}.b`);
  }
}

/**
 * AtmoRep's `translate_weights` for checkpoints with per-head projections
 * (applied when `encoders.0.heads.0.proj_heads.weight` is missing): the
 * first field's encoder heads and the first decoder's 10 layers of 8 + 8
 * heads are concatenated, and the decoder's `ln_q` / `ln_k` weight and
 * bias set to ones — AtmoRep's constants, kept as they are.
 */
export function translateWeights(
  file: string,
  sd: Map<string, StateTensor>,
  encoderLayers: number,
  encoderHeads: number,
): void {
  const heads = new Map<StateTensor, string>();
  const take = (k: string): StateTensor => {
    const t = sd.get(k);
    if (!t) throw new CheckpointError(`${file}: ${k}`, "missing (needed by translate_weights)");
    sd.delete(k);
    heads.set(t, k);
    return t;
  };
  // the heads of one projection are stacked: each a [rows, cols] matrix of the first head's shape
  const cat = (parts: StateTensor[]): StateTensor => {
    const [r0, cols] = parts[0].shape;
    for (const p of parts) {
      if (p.shape.length !== 2 || p.shape[0] !== r0 || p.shape[1] !== cols) {
        throw new CheckpointError(
          `${file}: ${heads.get(p)}`,
          `shape [${p.shape}] where the first head (${heads.get(parts[0])}) has [${r0},${cols}]`,
        );
      }
    }
    const data = new Float32Array(parts.length * r0 * cols);
    parts.forEach((p, i) => data.set(p.data, i * r0 * cols));
    return { shape: [parts.length * r0, cols], data };
  };
  for (let l = 0; l < encoderLayers; l++) {
    const pre = `encoders.0.heads.${l}`;
    const parts: StateTensor[] = [];
    for (let h = 0; h < encoderHeads; h++) {
      for (const k of ["qs", "ks", "vs"]) parts.push(take(`${pre}.heads_self.${h}.proj_${k}.weight`));
    }
    sd.set(`${pre}.proj_heads.weight`, cat(parts));
    if (sd.has(`${pre}.heads_other.0.proj_qs.weight`)) {
      throw new CheckpointError(
        `${file}: ${pre}.heads_other.0.proj_qs.weight`,
        "coupled per-head layout is not translated (AtmoRep's translate_weights fails on it)",
      );
    }
  }
  for (let b = 0; b < 19; b += 2) {
    const pre = `decoders.0.blocks.${b}`;
    const self: StateTensor[] = [], q: StateTensor[] = [], kv: StateTensor[] = [];
    for (let h = 0; h < 8; h++) {
      for (const k of ["qs", "ks", "vs"]) self.push(take(`${pre}.heads.${h}.proj_${k}.weight`));
    }
    for (let h = 0; h < 8; h++) q.push(take(`${pre}.heads_other.${h}.proj_qs.weight`));
    for (let h = 0; h < 8; h++) for (const k of ["ks", "vs"]) kv.push(take(`${pre}.heads_other.${h}.proj_${k}.weight`));
    sd.set(`${pre}.proj_heads.weight`, cat(self));
    sd.set(`${pre}.proj_heads_o_q.weight`, cat(q));
    sd.set(`${pre}.proj_heads_o_kv.weight`, cat(kv));
    const dh = q[0].shape[0];
    for (const ln of ["ln_q", "ln_k"]) {
      for (const p of ["weight", "bias"]) {
        sd.set(`${pre}.${ln}.${p}`, { shape: [dh], data: new Float32Array(dh).fill(1) });
      }
    }
  }
}

/** A Multiformer with an AtmoRep checkpoint's weights, and the mapped config. */
export interface ImportedAtmorep extends AtmorepModelConfig {
  /** The network. */
  model: Multiformer;
  /** Whether `translate_weights` was applied (older per-head layout). */
  translated: boolean;
  /** Whether the shared legacy token-info embedding is used (per-field ones all zero). */
  legacyTokenInfo: boolean;
}

/**
 * Load AtmoRep's `*.mod` (`modPath`) with its json config (`jsonPath`)
 * into a Multiformer. Missing or extra keys and shapes that disagree with
 * the json are {@link CheckpointError}s naming the file and the key.
 */
export function importAtmorep(modPath: string, jsonPath: string): ImportedAtmorep {
  const m = readAtmorepConfig(jsonPath);
  const sd = readTorchStateDict(modPath);
  let translated = false;
  if (!sd.has("encoders.0.heads.0.proj_heads.weight")) {
    const cfg = m.config.fields[0];
    translateWeights(modPath, sd, cfg.encoderLayers, cfg.heads);
    translated = true;
  }
  const model = new Multiformer(m.config, m.layouts, 0);
  const legacy = loadStateDict(modPath, m, sd, model);
  return { ...m, model, translated, legacyTokenInfo: legacy };
}

/**
 * Set `model`'s parameters from AtmoRep's state_dict `sd` (of file `file`);
 * every key must be expected and every expected key present with its
 * shape. Returns whether the shared legacy token-info embedding was used.
 */
function loadStateDict(file: string, m: AtmorepModelConfig, sd: Map<string, StateTensor>, model: Multiformer): boolean {
  const modPath = file;
  const es = entries(m, sd);
  const expected = new Set(es.map((e) => e.key));
  for (const k of sd.keys()) {
    if (!expected.has(k)) throw new CheckpointError(`${modPath}: ${k}`, "unexpected key (not in the json's model)");
  }
  const set = new Set<string>();
  for (const e of es) {
    const t = sd.get(e.key);
    if (!t) throw new CheckpointError(`${modPath}: ${e.key}`, "missing key");
    if (t.shape.length !== e.shape.length || t.shape.some((v, i) => v !== e.shape[i])) {
      throw new CheckpointError(`${modPath}: ${e.key}`, `shape [${t.shape}] where the json says [${e.shape}]`);
    }
    for (const g of e.targets) {
      const p = model.params.map.get(g.param);
      if (!p) throw new Error(`internal: no parameter ${g.param}`);
      for (let r = 0; r < g.map.length; r++) if (g.map[r] >= 0) p.data[g.map[r]] = t.data[r];
      set.add(g.param);
    }
  }
  // Every parameter of ours comes from the file (the alias `embeds.<i>` must agree with `encoders.<i>.embed`).
  for (const name of model.params.map.keys()) {
    if (!set.has(name)) throw new Error(`internal: parameter ${name} not set by the AtmoRep mapping`);
  }
  for (const [i] of m.fields.entries()) {
    const a = sd.get(`embeds.${i}.weight`)!, b = sd.get(`encoders.${i}.embed.weight`)!;
    if (a.data.some((v, k) => v !== b.data[k])) {
      throw new CheckpointError(
        `${modPath}: embeds.${i}.weight`,
        `differs from encoders.${i}.embed.weight (one module in AtmoRep)`,
      );
    }
  }
  return es.some((e) => e.key === "embed_token_info.weight" && e.targets.length > 0);
}

/**
 * Our parameters' gradients under AtmoRep's state_dict names (the keys of
 * the mapping; an ignored key, e.g. the unused legacy embedding, gets
 * zeros).
 */
export function atmorepGradients(imp: ImportedAtmorep): Map<string, Float32Array> {
  const sd = new Map<string, StateTensor>();
  if (imp.legacyTokenInfo) sd.set("embeds_token_info.0.weight", { shape: [1], data: new Float32Array(1) });
  const out = new Map<string, Float32Array>();
  for (const e of entries(imp, sd)) {
    const n = e.shape.reduce((a, b) => a * b, 1);
    const g = new Float32Array(n);
    for (const t of e.targets) {
      const p = imp.model.params.map.get(t.param)!;
      if (!p.grad) continue;
      for (let r = 0; r < n; r++) if (t.map[r] >= 0) g[r] += p.grad[t.map[r]];
    }
    out.set(e.key, g);
  }
  return out;
}

/**
 * Our parameters as AtmoRep's state_dict (the current layout; the shared
 * legacy `embed_token_info` zero, as AtmoRep's `create` leaves it).
 */
export function atmorepStateDict(m: AtmorepModelConfig, model: Multiformer): Map<string, StateTensor> {
  const flag = new Map<string, StateTensor>([["embeds_token_info.0.weight", { shape: [1], data: Float32Array.of(1) }]]);
  const out = new Map<string, StateTensor>();
  for (const e of entries(m, flag)) {
    const n = e.shape.reduce((a, b) => a * b, 1);
    const data = new Float32Array(n);
    for (const t of e.targets) {
      const p = model.params.map.get(t.param);
      if (!p) throw new Error(`no parameter ${t.param} for ${e.key}`);
      for (let r = 0; r < n; r++) if (t.map[r] >= 0) data[r] = p.data[t.map[r]];
    }
    out.set(e.key, { shape: e.shape, data });
  }
  return out;
}

/**
 * Write `model` as AtmoRep writes a model: `AtmoRep_id<id>.mod` (a
 * `torch.save` archive of the state_dict) and `model_id<id>.json` (the
 * config dict, `wandb_id` set to `id`) in `dir`, so that AtmoRep's
 * `AtmoRep.load` accepts them. Returns the two paths.
 */
export function writeAtmorep(
  dir: string,
  id: string,
  m: AtmorepModelConfig,
  model: Multiformer,
): { mod: string; json: string } {
  const mod = join(dir, `AtmoRep_id${id}.mod`), json = join(dir, `model_id${id}.json`);
  writeFileSync(mod, torchStateDictBytes(`AtmoRep_id${id}`, atmorepStateDict(m, model)));
  writeFileSync(json, JSON.stringify({ ...m.raw, wandb_id: id }));
  return { mod, json };
}

/** What {@link assembleAtmorep} did. */
export interface AssembledAtmorep extends ImportedAtmorep {
  /** Keys of the model that no block file held: they keep their fresh initialization (as in AtmoRep). */
  missing: string[];
  /** Keys of block files that the model has not: ignored (as AtmoRep's non-strict load does). */
  ignored: string[];
}

/**
 * AtmoRep's `load_block` assembly: the model of the json at `jsonPath`
 * (fields with `[model id, epoch]` as the 5th entry of their second list)
 * built fresh (`seed`), then each such field's blocks loaded from the
 * single-field models' files under `modelsDir` (`id<ID>/AtmoRep_<block>_<field>_id<ID>[_epoch<E>].mod`:
 * the token-info embedding, the encoder, and for predicted fields the
 * decoder and the tail). As AtmoRep: a non-square `proj_out` (coupling
 * heads added) takes the file's columns and 0.01·U(0, 1) in the others;
 * keys the file lacks keep their fresh values; keys the model lacks are
 * ignored; a shape that differs is a {@link CheckpointError} naming the
 * file and the key.
 */
export function assembleAtmorep(jsonPath: string, modelsDir: string, seed = 0): AssembledAtmorep {
  const m = readAtmorepConfig(jsonPath);
  const model = new Multiformer(m.config, m.layouts, seed);
  const sd = atmorepStateDict(m, model);
  const rng = new Random(seed ^ 0x2545f491);
  const loaded = new Set<string>(), ignored: string[] = [];
  const file = (name: string, [id, epoch]: [string, number]) =>
    join(modelsDir, `id${id}`, epoch > -2 ? `${name}_id${id}_epoch${epoch}.mod` : `${name}_id${id}.mod`);
  const block = (path: string, prefix: string) => {
    for (const [k, t] of readTorchStateDict(path)) {
      const key = prefix + k, mine = sd.get(key);
      if (k.includes("proj_heads_other") && t.shape[0] === 0) continue; // AtmoRep drops these empty layers
      if (!mine) {
        ignored.push(`${path}: ${k}`);
        continue;
      }
      if (k.endsWith("proj_out.weight") && mine.shape[0] !== mine.shape[1]) {
        // coupling heads added: the file's columns, small random values in the others
        const [O, I] = mine.shape, Ik = t.shape[1];
        if (t.shape[0] !== O || Ik > I) {
          throw new CheckpointError(`${path}: ${k}`, `shape [${t.shape}] does not fit [${mine.shape}]`);
        }
        for (let o = 0; o < O; o++) {
          for (let i = 0; i < I; i++) mine.data[o * I + i] = i < Ik ? t.data[o * Ik + i] : 0.01 * rng.next();
        }
      } else {
        if (t.shape.join() !== mine.shape.join()) {
          throw new CheckpointError(`${path}: ${k}`, `shape [${t.shape}] where the model has [${mine.shape}]`);
        }
        mine.data.set(t.data);
      }
      loaded.add(key);
    }
  };
  for (const [i, f] of m.fields.entries()) {
    if (!f.pretrained) continue;
    // the token-info embedding: the pre-trained model's first field's
    let ti = file("AtmoRep_embeds_token_info", f.pretrained);
    if (!existsSync(ti)) ti = file("AtmoRep_embed_token_info", f.pretrained);
    const emb = readTorchStateDict(ti);
    for (const p of ["weight", "bias"]) {
      const t = emb.get(p) ?? emb.get(`0.${p}`);
      const key = `embeds_token_info.${i}.${p}`;
      if (!t) throw new CheckpointError(`${ti}: 0.${p}`, "missing key");
      if (t.shape.join() !== sd.get(key)!.shape.join()) {
        throw new CheckpointError(`${ti}: 0.${p}`, `shape [${t.shape}]`);
      }
      sd.get(key)!.data.set(t.data);
      loaded.add(key);
    }
    block(file(`AtmoRep_encoder_${f.name}`, f.pretrained), `encoders.${i}.`);
    for (const p of ["weight", "bias"]) {
      sd.get(`embeds.${i}.${p}`)!.data.set(sd.get(`encoders.${i}.embed.${p}`)!.data);
      loaded.add(`embeds.${i}.${p}`);
    }
    const j = m.predicted.indexOf(f.name);
    if (j >= 0) {
      block(file(`AtmoRep_decoder_${f.name}`, f.pretrained), `decoders.${j}.`);
      block(file(`AtmoRep_tail_${f.name}`, f.pretrained), `tails.${j}.`);
    }
  }
  loadStateDict(jsonPath, m, sd, model);
  const missing = [...sd.keys()].filter((k) => !loaded.has(k));
  return { ...m, model, translated: false, legacyTokenInfo: false, missing, ignored };
}

/** What {@link atmorepJson} needs of a sampler field. */
export interface AtmorepFieldSpec {
  /** Field name. */
  name: string;
  /** Levels. */
  levels: number[];
  /** A regular grid's token layout. */
  tokens: { numTokens: [number, number, number]; tokenSize: [number, number, number] } | object;
  /** Normalization. */
  normalization?: "local" | "global";
  /** BERT masking rates (default AtmoRep's [0.5, 0.9, 0.2, 0.05]). */
  masking?: { rate?: number; fracMasked?: number; fracNoised?: number; fracMultires?: number };
}

/** The network options of `config` where AtmoRep can express them; others refused, naming `model.network.KEY`. */
function atmorepNetworkOf(config: MultiformerConfig): Required<NetworkOptions> {
  const net = { ...ATMOREP_NETWORK, ...config.network };
  for (
    const k of [
      "projectionBias",
      "decoderQkNorm",
      "mlpFinalGelu",
      "gelu",
      "tailNorm",
      "tokenInfo",
      "validityFlags",
      "harmonic",
      "embeddingDropout",
    ] as const
  ) {
    if (net[k] !== ATMOREP_NETWORK[k]) {
      throw new ConfigError(`model.network.${k}`, `must be ${ATMOREP_NETWORK[k]} for AtmoRep`);
    }
  }
  return net;
}

/** Per-field counts that AtmoRep holds once for all fields. */
type GlobalCount = "encoderLayers" | "decoderLayers" | "heads" | "ensemble" | "couplingHeads" | "decoderHeads";

/** The one value of count `k` over the fields (decoder counts over predicted fields only); differing ones refused. */
function globalCount(config: MultiformerConfig, k: GlobalCount, dflt: number): number {
  const idx = config.fields.map((_, i) => i).filter((i) =>
    !(k === "decoderLayers" || k === "decoderHeads" || k === "ensemble") || config.fields[i].predict !== false
  );
  const val = (i: number) => config.fields[i][k] ?? (k === "decoderHeads" ? config.fields[i].heads : dflt);
  for (const i of idx) {
    if (val(i) !== val(idx[0])) {
      throw new ConfigError(`model.fields[${i}].${k}`, `AtmoRep has one ${k} for all fields (${val(idx[0])})`);
    }
  }
  return val(idx[0]);
}

/**
 * AtmoRep's config dict for our network `config` over the sampler
 * `fields` (so that {@link writeAtmorep} can write any Multiformer with
 * AtmoRep's arithmetic, not only an imported one). Refuses, naming our
 * key, what AtmoRep cannot express: network options other than AtmoRep's,
 * point tokens, and per-field layer or head counts that differ (AtmoRep's
 * are global). `extra` entries (e.g. `wandb_id`, `losses`) are added as
 * they are.
 */
export function atmorepJson(
  config: MultiformerConfig,
  fields: AtmorepFieldSpec[],
  extra: Record<string, unknown> = {},
): AtmorepModelConfig {
  const net = atmorepNetworkOf(config);
  const same = (k: GlobalCount, dflt: number) => globalCount(config, k, dflt);
  const raw: Record<string, unknown> = {
    fields: config.fields.map((f, i) => {
      const s = fields.find((x) => x.name === f.field);
      if (!s || !("numTokens" in s.tokens)) {
        throw new ConfigError(`model.fields[${i}].field`, `"${f.field}" is not a regular-grid sampler field`);
      }
      const m = s.masking ?? {};
      const rates = [m.rate ?? 0.5, m.fracMasked ?? 0.9, m.fracNoised ?? 0.2, m.fracMultires ?? 0.05];
      const t = s.tokens as { numTokens: number[]; tokenSize: number[] };
      const entry: unknown[] = [
        f.field,
        [1, f.width, f.coupledWith ?? [], 0],
        s.levels,
        t.numTokens,
        t.tokenSize,
        rates,
      ];
      if (s.normalization === "local") entry.push("local");
      return entry;
    }),
    fields_prediction: config.fields.filter((f) => f.predict !== false).map((f) => [f.field, f.lossWeight ?? 1]),
    fields_targets: [],
    size_token_info: 8,
    size_token_info_net: config.tokenInfoWidth ?? 16,
    encoder_num_layers: same("encoderLayers", 0),
    encoder_num_heads: same("heads", 0),
    encoder_num_mlp_layers: net.mlpLayers,
    encoder_att_type: "dense",
    coupling_num_heads_per_field: same("couplingHeads", 1),
    decoder_num_layers: same("decoderLayers", 0),
    decoder_num_heads: same("decoderHeads", 0),
    decoder_num_mlp_layers: net.decoderMlpLayers,
    decoder_self_att: false,
    decoder_cross_att_ratio: net.decoderCrossRatio,
    decoder_cross_att_rate: net.decoderCrossRate,
    decoder_att_type: "dense",
    net_tail_num_nets: same("ensemble", 4),
    net_tail_num_layers: net.tailLayers,
    with_layernorm: true,
    with_qk_lnorm: net.encoderQkNorm,
    dropout_rate: config.dropout ?? 0.05,
    grad_checkpointing: false,
    with_mixed_precision: false,
    attention: false,
    ...extra,
  };
  return atmorepConfig(raw);
}

/**
 * What a training configuration needs to fine-tune AtmoRep's checkpoint at
 * `modPath` (its json beside it, `model_id<ID>.json`): the `model` section
 * and the sampler's fields (names, levels, token layouts, normalization,
 * masking rates), with how the file was read.
 */
export function describeAtmorep(modPath: string): {
  model: MultiformerConfig;
  samplerFields: AtmorepFieldSpec[];
  translated: boolean;
  legacyTokenInfo: boolean;
  parameters: number;
} {
  const m = /^(.*[\\/])?AtmoRep_id(.+?)(_epoch-?\d+)?\.mod$/.exec(modPath);
  if (!m) throw new CheckpointError(modPath, "an AtmoRep checkpoint is named AtmoRep_id<ID>[_epoch<E>].mod");
  const imp = importAtmorep(modPath, `${m[1] ?? ""}model_id${m[2]}.json`);
  return {
    model: imp.config,
    samplerFields: imp.fields.map((f) => ({
      name: f.name,
      levels: f.levels,
      tokens: { numTokens: f.numTokens, tokenSize: f.tokenSize },
      normalization: f.normalization,
      masking: { rate: f.rates[0], fracMasked: f.rates[1], fracNoised: f.rates[2], fracMultires: f.rates[3] },
    })),
    translated: imp.translated,
    legacyTokenInfo: imp.legacyTokenInfo,
    parameters: imp.model.params.count(),
  };
}

/**
 * The years an AtmoRep run trained and validated on (its json's
 * `years_train`, and `years_val` or else `years_test`), one range per year
 * (1 January 00:00 to 31 December 23:59 UTC) of its `file_path`, for the
 * in-sample marks of scores; null when the json names no years (e.g. a
 * checkpoint written by this project).
 */
export function atmorepTimeRanges(raw: Record<string, unknown>): TrainedRange[] | null {
  const years = (key: string): number[] | undefined => {
    const v = raw[key];
    if (v === undefined) return undefined;
    if (!Array.isArray(v) || !v.every((y) => Number.isInteger(y))) {
      throw new ConfigError(key, `${JSON.stringify(v)} is not a list of years`);
    }
    return v as number[];
  };
  const train = years("years_train"), validation = years("years_val") ?? years("years_test");
  if (!train && !validation) return null;
  const store = typeof raw.file_path === "string" ? raw.file_path : "(AtmoRep's training data)";
  const range = (use: TrainedRange["use"]) => (y: number): TrainedRange => ({
    stage: "masked-token",
    use,
    configured: null,
    data: [`${y}-01-01T00:00Z`, `${y}-12-31T23:59Z`],
    store,
  });
  return [...(train ?? []).map(range("train")), ...(validation ?? []).map(range("validation"))];
}
