#!/usr/bin/python3
"""Golden outputs of AtmoRep's own network, for the parity tests of our Multiformer.

    atmorep_golden.py ATMOREP_SRC OUTDIR [CASE ...]
    atmorep_golden.py ATMOREP_SRC --load-ours MODELS_DIR ID FIXTURE_DIR

The second form closes the loop: AtmoRep's own `AtmoRep.load` reads a model we wrote
(MODELS_DIR/id<ID>/AtmoRep_id<ID>.mod and model_id<ID>.json), runs it on the inputs of the fixture
in FIXTURE_DIR, and prints as JSON the largest relative error of its predictions (mean, std,
ensemble) against the fixture's.

ATMOREP_SRC is an extracted snapshot of github.com/clessig/atmorep (the folder that holds the
`atmorep` package); nothing of it is copied here, it is imported from that path. OUTDIR receives
one folder per case (default: all cases):

  AtmoRep_id<ID>.mod   the state_dict, written by AtmoRep's own `AtmoRep.save()` (for the
                       old-layout case: the pre-translation state_dict, see below)
  model_id<ID>.json    the config, written by AtmoRep's own `Config.write_json()`
  golden.json          manifest: case notes, the loss terms per predicted field, and for every
                       array its name, dtype ("f32" | "i32"), shape and byte offset in golden.bin
  golden.bin           the arrays, little-endian, one after another

Arrays (per field i, predicted field j, level l):
  source_raw_f<i>      tokens before AtmoRep's masking  (B, L, nt, nlat, nlon, ts_t, ts_lat, ts_lon)
  source_f<i>          tokens after masking: the network input (same shape)
  token_info_f<i>      (B, L, nt*nlat*nlon, 8)
  masked_idx_f<i>_l<l> masked token indices into the batch-flattened token list of level l (i32)
  target_f<i>          the masked tokens' true values, level-major then batch (n_masked, ts)
  embed_f<i>           the embedded tokens (prepare_token)  (B, L, nt, nlat*nlon, d)
  encoder_p<j>_k<k>    encoder output after layer k for predicted field j (same shape)
  decoder_p<j>         decoder output (same shape)
  pred_mean_p<j>, pred_std_p<j>  (n_masked, ts); pred_ens_p<j> (n_masked, tails, ts)
  weights_p<j>         the cos-latitude weights of weighted_mse per masked token (n_masked, ts_lat)
  grad/<param>         d loss / d param for the loss terms named in golden.json "grad_losses"
  (local case) data_raw_f0, norm_f0, denorm_pred_mean_p0, denorm_pred_ens_p0: see the case.

Cases: one_field, coupled_qk, local_norm, decoder_self, tails, old_layout, sample_t (network
fixtures as above); assembled (AtmoRep's load_block assembly: single-field block files and the
assembled state_dict); masking (AtmoRep's BERT corruption: multires outputs and statistics);
storages (torch.save of bfloat16/float16/float64 tensors and strided views); slab_masks (AtmoRep's
forecast and temporal_interpolation masked token indices).

Runs on CPU with torch 1.13: the gaps to torch >= 2.2 are bridged by atmorep_bridge.py, AtmoRep's files unchanged.
"""
import datetime
import json
import math
import os
import shutil
import sys
import traceback
import types

import numpy as np
import torch

if len(sys.argv) < 3:
  print(__doc__)
  sys.exit(2)
SRC, OUT = sys.argv[1], sys.argv[2]
ONLY = sys.argv[3:]
LOAD_OURS = sys.argv[3:6] if OUT == "--load-ours" else None

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from atmorep_bridge import bridge  # noqa: E402

WORK = bridge(SRC, "atmorep_golden_")
wandb = sys.modules["wandb"]
import atmorep.config.config as acfg  # noqa: E402
import atmorep.utils.utils as autils  # noqa: E402
from atmorep.core.atmorep_model import AtmoRep  # noqa: E402
from atmorep.core.trainer import Trainer_BERT  # noqa: E402
from atmorep.training.bert import prepare_batch_BERT_multifield  # noqa: E402
from atmorep.datasets.normalizer import normalize, denormalize  # noqa: E402
from atmorep.utils.utils import tokenize, detokenize, get_weights  # noqa: E402

torch.set_num_threads(1)
ALL_LOSSES = ["mse", "mse_ensemble", "weighted_mse", "stats", "stats_area", "crps", "kernel_crps"]

# ---------------------------------------------------------------------------------------------
# Config


def field(name, dim, coupled, levels, num_tokens, token_size, rates, norm=None):
  f = [name, [1, dim, coupled, 0], levels, num_tokens, token_size, rates]
  if norm:
    f.append(norm)
  return f


def make_cf(wandb_id, fields, fields_prediction, **over):
  cf = autils.Config()
  base = dict(
    wandb_id=wandb_id, fields=fields, fields_prediction=fields_prediction,
    fields_targets=[], size_token_info=8, size_token_info_net=16,
    encoder_num_layers=2, encoder_num_heads=4, encoder_num_mlp_layers=2, encoder_att_type="dense",
    coupling_num_heads_per_field=1, decoder_num_layers=2, decoder_num_heads=4,
    decoder_num_mlp_layers=2, decoder_self_att=False, decoder_cross_att_ratio=0.5,
    decoder_cross_att_rate=1.0, decoder_att_type="dense", net_tail_num_nets=3,
    net_tail_num_layers=0, with_layernorm=True, with_qk_lnorm=False, dropout_rate=0.0,
    grad_checkpointing=False, with_mixed_precision=False, attention=False, par_rank=0,
    rng_seed=1234, BERT_strategy="BERT", BERT_fields_synced=False, forecast_num_tokens=1,
    losses=["mse_ensemble", "stats"], with_ddp=False, n_size=[0, 0, 0],
  )
  base.update(over)
  for k, v in base.items():
    setattr(cf, k, v)
  return cf


# ---------------------------------------------------------------------------------------------
# Arrays


class Store:
  def __init__(self):
    self.entries, self.chunks, self.off = [], [], 0

  def add(self, name, a):
    a = a.detach().cpu().numpy() if torch.is_tensor(a) else np.asarray(a)
    if np.issubdtype(a.dtype, np.integer):
      a, dt = np.ascontiguousarray(a, dtype="<i4"), "i32"
    else:
      a, dt = np.ascontiguousarray(a, dtype="<f4"), "f32"
    b = a.tobytes()
    self.entries.append(dict(name=name, dtype=dt, shape=list(a.shape), offset=self.off))
    self.chunks.append(b)
    self.off += len(b)

  def write(self, path):
    with open(path, "wb") as f:
      for c in self.chunks:
        f.write(c)


def perturb(net, gen):
  """Every parameter random (the token-info embeddings start at zero in AtmoRep's create)."""
  with torch.no_grad():
    for name, p in net.named_parameters():
      if "token_info" in name:
        p.copy_(0.01 * torch.randn(p.shape, generator=gen))
      elif p.dim() >= 2:
        p.copy_(torch.randn(p.shape, generator=gen) / math.sqrt(p.shape[1]))
      elif name.endswith("weight"):  # affine layer norms
        p.copy_(1.0 + 0.2 * torch.randn(p.shape, generator=gen))
      else:
        p.copy_(0.1 * torch.randn(p.shape, generator=gen))


def token_infos_for(fi, batch, t0, lat0, lon0, res=0.25):
  """AtmoRep's token info per token: [year, day-1, hour, level, colat, lon, level, res]."""
  nt, ts = fi[3], fi[4]
  out = np.zeros((len(fi[2]), batch, 1, nt[0] * nt[1] * nt[2], 8), np.float32)
  for il, vl in enumerate(fi[2]):
    for b in range(batch):
      k = 0
      for it in range(nt[0]):
        d = t0 + datetime.timedelta(hours=(it + 1) * ts[0] - 1 + 24 * b)
        for ia in range(nt[1]):
          for io in range(nt[2]):
            lat = lat0[b] + res * (ia * ts[1] + ts[1] // 2)
            lon = (lon0[b] + res * (io * ts[2] + ts[2] // 2)) % 360.0
            out[il, b, 0, k] = [d.year, d.timetuple().tm_yday - 1, d.hour, vl, lat, lon, vl, res]
            k += 1
  return torch.from_numpy(out)


def smooth_tokens(fi, batch, gen):
  """A smooth random field per level and sample, tokenized as AtmoRep's sampler does."""
  nt, ts = fi[3], fi[4]
  T, Y, X = nt[0] * ts[0], nt[1] * ts[1], nt[2] * ts[2]
  t = torch.arange(T, dtype=torch.float32)[:, None, None]
  y = torch.arange(Y, dtype=torch.float32)[None, :, None]
  x = torch.arange(X, dtype=torch.float32)[None, None, :]
  levels = []
  for _ in fi[2]:
    per_b = []
    for _ in range(batch):
      a = torch.randn(6, generator=gen)
      f = (a[0] * torch.sin(0.3 * x + a[1]) * torch.cos(0.25 * y + a[2]) + 0.3 * a[3] * t / T
           + 0.5 * torch.sin(0.2 * (x + y) + 0.15 * t + a[4]) + 0.2 * torch.randn((T, Y, X), generator=gen))
      per_b.append(tokenize(f, ts))
    levels.append(torch.stack(per_b))
  return torch.stack(levels)  # (L, B, nt..., ts...)


def weights_for(fi, tmi, batch, lat_rans):
  """cos-lat weights per masked token as AtmoRep's sampler computes them (compute_weights)."""
  nt, ts = fi[3], fi[4]
  per_field, flat = [], []
  for il in range(len(fi[2])):
    for b in range(batch):
      idx_loc = tmi[il][b].numpy() - np.prod(nt) * b
      rows = (idx_loc // nt[2]) % nt[1]
      ws = [get_weights(lat_rans[b][r * ts[1]:(r + 1) * ts[1]]) for r in rows]
      per_field.append(ws)
      flat += ws
  return per_field, np.array(flat, np.float32).reshape(-1, ts[1])


# ---------------------------------------------------------------------------------------------
# One case


def run_case(name, cf, strategy, grad_losses, notes, batch=2, local=None, old_layout=False,
             seed=0, save_grads=True):
  gen = torch.Generator().manual_seed(seed)
  torch.manual_seed(seed)
  store = Store()
  manifest = dict(case=name, model_id=cf.wandb_id, strategy=strategy, notes=notes,
                  grad_losses=grad_losses, batch=batch)

  net = AtmoRep(cf).create(["cpu"], load_pretrained=False)
  perturb(net, gen)
  net.eval()

  # inputs
  t0 = datetime.datetime(2018, 2, 27, 0)
  fields_data, fields_infos, lat_rans = [], [], []
  for b in range(batch):
    lat_rans.append(np.arange(200 + 17 * b, 200 + 17 * b + 64))
  for i, fi in enumerate(cf.fields):
    lat0 = [float(lr[0]) * 0.25 for lr in lat_rans]
    lon0 = [358.0 - 3.0 * b for b in range(batch)]
    fields_infos.append(token_infos_for(fi, batch, t0, lat0, lon0))
    if local is not None and i == 0:
      data, norm, dates, year_base = local
      per_level = []
      for il in range(len(fi[2])):
        per_b = []
        for b in range(batch):
          nd = normalize(data[il, b].copy(), norm[il], dates, year_base)
          per_b.append(tokenize(torch.from_numpy(nd.astype(np.float32)), fi[4]))
        per_level.append(torch.stack(per_b))
      fields_data.append(torch.stack(per_level))
    else:
      fields_data.append(smooth_tokens(fi, batch, gen))

  raw = [fd.transpose(1, 0).clone() for fd in fields_data]
  rngs = [np.random.default_rng(cf.rng_seed + k) for k in range(len(cf.fields) * 8)]
  sources, token_infos, targets, tmi = prepare_batch_BERT_multifield(
    cf, rngs, cf.fields, strategy, fields_data, fields_infos)

  trainer = Trainer_BERT(cf, ["cpu"])
  weights_list = []
  for i, fi in enumerate(cf.fields):
    wl, _ = weights_for(fi, tmi[i], batch, lat_rans)
    weights_list.append(wl)
  xin = [(sources, token_infos, targets, tmi, weights_list), None, ([], [])]
  batch_data = trainer.prepare_batch(xin)

  for i, fi in enumerate(cf.fields):
    store.add(f"source_raw_f{i}", raw[i])
    store.add(f"source_f{i}", sources[i])
    store.add(f"token_info_f{i}", token_infos[i])
    for il in range(len(fi[2])):
      store.add(f"masked_idx_f{i}_l{il}", torch.cat(tmi[i][il]))
    store.add(f"target_f{i}", targets[i])

  # save with AtmoRep's own code: the .mod and the json config
  wandb.run = types.SimpleNamespace(id=cf.wandb_id)
  cf.write_json(wandb)
  net.save(-2)
  mdir = os.path.join(acfg.path_models, f"id{cf.wandb_id}")
  mod_path = os.path.join(mdir, f"AtmoRep_id{cf.wandb_id}.mod")
  json_path = os.path.join(acfg.path_results, "models", f"id{cf.wandb_id}", f"model_id{cf.wandb_id}.json")

  if old_layout:
    # rewrite the checkpoint in the older per-head layout that translate_weights reads, with the
    # per-field token-info embeddings all zero (the shared embed_token_info is then used)
    sd = torch.load(mod_path)
    old = {}
    for k, v in sd.items():
      if k.startswith("embeds_token_info."):
        old[k] = torch.zeros_like(v)
      elif k.startswith("encoders.0.heads.") and k.endswith(".proj_heads.weight"):
        layer = k.split(".")[3]
        dh = v.shape[0] // (3 * cf.encoder_num_heads)
        w = v.reshape(cf.encoder_num_heads, 3, dh, v.shape[1])
        for h in range(cf.encoder_num_heads):
          for j, kk in enumerate(["qs", "ks", "vs"]):
            old[f"encoders.0.heads.{layer}.heads_self.{h}.proj_{kk}.weight"] = w[h, j].clone()
      elif k.startswith("decoders.0.blocks.") and k.split(".")[4] in ("proj_heads", "proj_heads_o_q",
                                                                      "proj_heads_o_kv", "ln_q", "ln_k"):
        blk, part = k.split(".")[3], k.split(".")[4]
        if part == "proj_heads":
          dh = v.shape[0] // (3 * 8)
          w = v.reshape(8, 3, dh, v.shape[1])
          for h in range(8):
            for j, kk in enumerate(["qs", "ks", "vs"]):
              old[f"decoders.0.blocks.{blk}.heads.{h}.proj_{kk}.weight"] = w[h, j].clone()
        elif part == "proj_heads_o_q":
          dh = v.shape[0] // 8
          for h in range(8):
            old[f"decoders.0.blocks.{blk}.heads_other.{h}.proj_qs.weight"] = v[h * dh:(h + 1) * dh].clone()
        elif part == "proj_heads_o_kv":
          dh = v.shape[0] // 16
          w = v.reshape(8, 2, dh, v.shape[1])
          for h in range(8):
            for j, kk in enumerate(["ks", "vs"]):
              old[f"decoders.0.blocks.{blk}.heads_other.{h}.proj_{kk}.weight"] = w[h, j].clone()
        # ln_q / ln_k are absent from old checkpoints: translate_weights sets them (to ones)
      else:
        old[k] = v
    torch.save(old, mod_path)

  # AtmoRep's own load: what the file means to AtmoRep (translation included)
  net = AtmoRep.load(cf.wandb_id, ["cpu"], cf, -2)
  net.eval()
  manifest["legacy_token_info_embedding"] = len(net.embeds_token_info) == 0
  net.encoder_to_decoder = trainer.encoder_to_decoder
  net.decoder_to_tail = trainer.decoder_to_tail

  captured = {}

  def enc_to_dec(embeds_layers):
    captured["enc"] = [[t.detach().clone() for t in ls] for ls in embeds_layers]
    return trainer.encoder_to_decoder(embeds_layers)

  def dec_to_tail(idx_pred, pred):
    captured.setdefault("dec", {})[idx_pred] = pred.detach().clone()
    return trainer.decoder_to_tail(idx_pred, pred)

  net.encoder_to_decoder, net.decoder_to_tail = enc_to_dec, dec_to_tail
  with torch.no_grad():
    for i, e in enumerate(net.get_fields_embed([(s.clone(), t.clone()) for s, t in batch_data])):
      store.add(f"embed_f{i}", e)

  net.zero_grad()
  cf.losses = grad_losses
  preds, _ = net([(s.clone(), t.clone()) for s, t in batch_data])
  loss, _, _ = trainer.loss(preds, 0, tmi, weights_list)
  loss.backward()
  manifest["loss"] = float(loss)

  for j in range(len(cf.fields_prediction)):
    for k, e in enumerate(captured["enc"][j]):
      store.add(f"encoder_p{j}_k{k}", e)
    store.add(f"decoder_p{j}", captured["dec"][j])
    store.add(f"pred_mean_p{j}", preds[j][0])
    store.add(f"pred_std_p{j}", preds[j][1])
    store.add(f"pred_ens_p{j}", preds[j][2])
    fidx = trainer.fields_prediction_idx[j]
    _, wflat = weights_for(cf.fields[fidx], tmi[fidx], batch, lat_rans)
    store.add(f"weights_p{j}", wflat)

  # every loss term, per predicted field, as AtmoRep's Trainer_Base.loss computes it
  terms = {}
  with torch.no_grad():
    for term in ALL_LOSSES:
      cf.losses = [term]
      tot, _, per = trainer.loss([tuple(p.detach() for p in pr) for pr in preds], 0, tmi, weights_list)
      terms[term] = dict(per_field=[float(v) for v in per[term]], weighted=float(tot))
  cf.losses = grad_losses
  manifest["loss_terms"] = terms

  if not old_layout and save_grads:
    grads = {}
    for pname, p in net.named_parameters():
      g = p.grad if p.grad is not None else torch.zeros_like(p)
      store.add(f"grad/{pname}", g)
      grads[pname] = p.grad is not None
    manifest["params_with_grad"] = grads

  if local is not None:
    data, norm, dates, year_base = local
    store.add("data_raw_f0", data)
    store.add("norm_f0", norm)
    manifest["local"] = dict(dates=[d.isoformat() for d in dates], year_base=year_base)
    fi = cf.fields[0]
    nft = cf.forecast_num_tokens
    L = len(fi[2])
    pred = preds[0][0].detach().numpy()
    pred = detokenize(pred.reshape([L, -1, nft, *fi[3][1:], *fi[4]]).swapaxes(0, 1))
    ens = preds[0][2].detach().numpy().swapaxes(0, 1)
    ens = detokenize(ens.reshape([cf.net_tail_num_nets, L, -1, nft, *fi[3][1:], *fi[4]]).swapaxes(1, 2)).swapaxes(0, 1)
    dates_t = dates[-nft * fi[4][0]:]
    for b in range(batch):
      for il in range(L):
        pred[b, il] = denormalize(pred[b, il], norm[il], dates_t, year_base)
        ens[b, :, il] = denormalize(ens[b, :, il], norm[il], dates_t, year_base)
    store.add("denorm_pred_mean_p0", pred)
    store.add("denorm_pred_ens_p0", ens)

  dest = os.path.join(OUT, name)
  if os.path.exists(dest):
    shutil.rmtree(dest)
  os.makedirs(dest)
  shutil.copy(mod_path, os.path.join(dest, f"AtmoRep_id{cf.wandb_id}.mod"))
  shutil.copy(json_path, os.path.join(dest, f"model_id{cf.wandb_id}.json"))
  store.write(os.path.join(dest, "golden.bin"))
  manifest["arrays"] = store.entries
  with open(os.path.join(dest, "golden.json"), "w") as f:
    json.dump(manifest, f, indent=1)
  print(f"{name}: loss {manifest['loss']:.6g}, {store.off} bytes of arrays, "
        f"{os.path.getsize(os.path.join(dest, f'AtmoRep_id{cf.wandb_id}.mod'))} bytes .mod")


# ---------------------------------------------------------------------------------------------
# Cases

RATES = [0.5, 0.9, 0.2, 0.05]


def case_one_field():
  f = [field("vorticity", 32, [], [96, 137], [3, 2, 4], [2, 3, 4], RATES)]
  cf = make_cf("gold0001", f, [["vorticity", 1.0]])
  run_case("one_field", cf, "BERT", ["mse_ensemble", "stats"],
           "one field, two levels, 2+2 layers, 4 heads, no QK-LayerNorm, 3 tails, BERT masking")


def case_coupled_qk():
  f = [field("velocity_u", 32, ["temperature"], [105, 137], [3, 2, 4], [2, 3, 4], RATES),
       field("temperature", 24, ["velocity_u"], [137], [3, 2, 2], [2, 3, 6], RATES)]
  notes = ("two coupled fields of different widths (32, 24) and token shapes, QK-LayerNorm in the "
           "encoder, 1 coupling head per field, 3+3 layers, both predicted (loss weights .6/.4).")
  try:
    bad = make_cf("gold0098", f, [["velocity_u", 1.0]], coupling_num_heads_per_field=2)
    net = AtmoRep(bad).create(["cpu"], load_pretrained=False)
    xs = [(torch.zeros(1, len(fi[2]), *fi[3], *fi[4]), torch.zeros(1, len(fi[2]), int(np.prod(fi[3])), 8))
          for fi in f]
    net.forward_encoder_block(0, net.get_fields_embed(xs))
    notes += " coupling_num_heads_per_field=2 ran."
  except Exception as e:  # noqa: BLE001
    notes += (" AtmoRep itself fails with coupling_num_heads_per_field=2 (dense encoder): "
              + f"{type(e).__name__}: {e}".replace("\n", " "))
  cf = make_cf("gold0002", f, [["velocity_u", 0.6], ["temperature", 0.4]], with_qk_lnorm=True,
               encoder_num_layers=3, decoder_num_layers=3)
  run_case("coupled_qk", cf, "BERT", ["weighted_mse", "kernel_crps", "stats_area"], notes, seed=1)


def case_local():
  fi = field("temperature", 32, [], [114, 137], [4, 2, 2], [2, 4, 4], [0.5, 0.9, 0.2, 0.05], "local")
  cf = make_cf("gold0003", [fi], [["temperature", 1.0]], forecast_num_tokens=2)
  g = np.random.default_rng(3)
  batch, L = 2, 2
  T, Y, X = 8, 8, 8
  year_base = 2017
  dates = [datetime.datetime(2018, 2, 28, 19) + datetime.timedelta(hours=h) for h in range(T)]
  # per level: 24 monthly maps of (mean, std) on the crop (months of 2017-2018)
  norm = np.zeros((L, 24, 2, Y, X), np.float32)
  norm[:, :, 0] = 250.0 + 10.0 * g.standard_normal((L, 24, Y, X))
  norm[:, :, 1] = 2.0 + g.random((L, 24, Y, X))
  data = (norm[:, None, [13] * 5 + [14] * 3, 0] + 3.0 * g.standard_normal((L, batch, T, Y, X))).astype(np.float32)
  run_case("local_norm", cf, "forecast", ["mse_ensemble", "stats"],
           "one field normalized with 'local' (per grid point, per month) by AtmoRep's normalize(); "
           "the window crosses Feb/Mar 2018; forecast masking of the last 2 time tokens; the "
           "prediction denormalized by AtmoRep's denormalize()", local=(data, norm, dates, year_base), seed=3)


def case_decoder():
  f = [field("specific_humidity", 32, [], [123, 137], [3, 2, 4], [2, 3, 4], RATES)]
  cf = make_cf("gold0004", f, [["specific_humidity", 1.0]], encoder_num_layers=4, decoder_num_layers=4,
               decoder_cross_att_ratio=0.25, decoder_cross_att_rate=0.5, encoder_num_mlp_layers=3,
               decoder_num_mlp_layers=3, decoder_num_heads=4)
  notes = ("decoder with 3 self heads and 1 cross head per layer (cross_att_ratio 0.25), "
           "cross_att_rate 0.5 (decoder layers 0,1 read encoder layer 3, layers 2,3 encoder layer 2), "
           "3-layer MLPs, temporal_interpolation masking.")
  try:
    bad = make_cf("gold0099", f, [["specific_humidity", 1.0]], decoder_self_att=True)
    AtmoRep(bad).create(["cpu"], load_pretrained=False)
    notes += " decoder_self_att=True built."
  except Exception as e:  # noqa: BLE001
    notes += (" AtmoRep itself cannot build decoder_self_att=True: "
              + f"{type(e).__name__}: {e}".replace("\n", " "))
  run_case("decoder_self", cf, "temporal_interpolation", ["mse", "mse_ensemble"], notes, seed=4)


def case_tails():
  f = [field("velocity_v", 32, [], [137], [3, 2, 4], [2, 3, 4], RATES)]
  cf = make_cf("gold0005", f, [["velocity_v", 1.0]], net_tail_num_nets=5, net_tail_num_layers=2)
  run_case("tails", cf, "BERT", ["mse_ensemble", "stats", "weighted_mse"],
           "5 tails with 2 hidden layers each (Linear+GELU), BERT masking", seed=5)


def case_old_layout():
  f = [field("vorticity", 32, [], [137], [2, 2, 4], [2, 3, 4], RATES)]
  cf = make_cf("gold0006", f, [["vorticity", 1.0]], encoder_num_heads=4, encoder_num_layers=10,
               decoder_num_layers=10, decoder_num_heads=16)
  run_case("old_layout", cf, "BERT", ["mse_ensemble", "stats"],
           "a checkpoint in the older layout (per-head proj_qs/ks/vs, no decoder ln_q/ln_k, per-field "
           "token-info embeddings zero): AtmoRep.load translates it (translate_weights, which only "
           "handles 10 decoder layers of 8+8 heads and sets ln_q/ln_k weight AND bias to ones) and "
           "falls back to the shared embed_token_info. The outputs are those of the translated model; "
           "no gradients saved.", old_layout=True, seed=6)


def case_sample_t():
  """A model of the bundled ERA5 sample's field `t` (levels 500, 850; 2×2×4 tokens of 3×9×9), so that
  `train --from` can fine-tune an AtmoRep checkpoint on the sample."""
  f = [field("t", 32, [], [500, 850], [2, 2, 4], [3, 9, 9], RATES)]
  cf = make_cf("gold0007", f, [["t", 1.0]], encoder_num_layers=1, decoder_num_layers=1, net_tail_num_nets=4)
  run_case("sample_t", cf, "BERT", ["mse_ensemble", "stats"],
           "the ERA5 sample's field t (names, levels and token layout of configs/tiny.json), 1+1 layers, "
           "4 tails: the starting point of the fine-tuning test; no gradients saved", seed=7, save_grads=False)


def case_assembled():
  """AtmoRep's load_block assembly: two single-field models saved by AtmoRep (with their per-block
  files), then a coupled two-field model built from them by AtmoRep's create(load_pretrained=True)."""
  dest = os.path.join(OUT, "assembled")
  if os.path.exists(dest):
    shutil.rmtree(dest)
  singles = [("velocity_u", "gold0008"), ("temperature", "gold0009")]
  for k, (name, mid) in enumerate(singles):
    gen = torch.Generator().manual_seed(20 + k)
    cf = make_cf(mid, [field(name, 24, [], [137], [3, 2, 4], [2, 3, 4], RATES)], [[name, 1.0]], net_tail_num_nets=2)
    net = AtmoRep(cf).create(["cpu"], load_pretrained=False)
    perturb(net, gen)
    wandb.run = types.SimpleNamespace(id=mid)
    cf.write_json(wandb)
    src = os.path.join(acfg.path_models, f"id{mid}")
    os.makedirs(src, exist_ok=True)
    net.save(-2)
    os.makedirs(os.path.join(dest, f"id{mid}"))
    for fn in sorted(os.listdir(src)):
      if fn.startswith("AtmoRep_") and not fn.startswith(f"AtmoRep_id{mid}"):
        shutil.copy(os.path.join(src, fn), os.path.join(dest, f"id{mid}", fn))
  fs = [["velocity_u", [1, 24, ["temperature"], 0, ["gold0008", -2]], [137], [3, 2, 4], [2, 3, 4], RATES],
        ["temperature", [1, 24, ["velocity_u"], 0, ["gold0009", -2]], [137], [3, 2, 4], [2, 3, 4], RATES]]
  cf = make_cf("gold0010", fs, [["velocity_u", 0.5], ["temperature", 0.5]], net_tail_num_nets=2)
  torch.manual_seed(30)
  net = AtmoRep(cf).create(["cpu"], load_pretrained=True)
  wandb.run = types.SimpleNamespace(id="gold0010")
  cf.write_json(wandb)
  torch.save(net.state_dict(), os.path.join(dest, "AtmoRep_idgold0010.mod"))
  shutil.copy(os.path.join(acfg.path_results, "models", "idgold0010", "model_idgold0010.json"), dest)
  print("assembled: written")


def case_storages():
  """torch.save of tensors the reader must convert: bfloat16, float16 (a transposed view), float64 (a
  sliced view with an offset); the values as float32 in golden.json."""
  import collections
  sd = collections.OrderedDict(
    a=torch.tensor([1.5, -2.25, 3e-3]).to(torch.bfloat16),
    b=torch.tensor([[1.5, 2.0], [3.0, 4.0]]).half().t(),
    c=torch.arange(6, dtype=torch.float64).reshape(2, 3)[:, 1:])
  dest = os.path.join(OUT, "storages")
  os.makedirs(dest, exist_ok=True)
  torch.save(sd, os.path.join(dest, "mixed.mod"))
  with open(os.path.join(dest, "golden.json"), "w") as f:
    json.dump({k: dict(shape=list(v.shape), values=v.float().flatten().tolist()) for k, v in sd.items()}, f, indent=1)


def case_masking():
  """AtmoRep's BERT corruption (prepare_batch_BERT_field itself): exact multires outputs, and the
  statistics of a large draw (chosen, zeroed and unchanged fractions; noise shrink and spread)."""
  from atmorep.training.bert import prepare_batch_BERT_field
  ts, nt, B = [3, 6, 5], [4, 3, 6], 16
  ntok = int(np.prod(nt))
  store, manifest = Store(), dict(case="masking", token_size=ts, num_tokens=nt, batch=B)
  gen = torch.Generator().manual_seed(11)
  torch.manual_seed(11)  # AtmoRep draws its noise from torch's global stream

  def toks(x):  # (B, nt..., ts...) -> (B·ntok, values)
    return x.flatten(1, 3).flatten(0, 1).flatten(1)

  def cf_with(rates):
    return make_cf("mask", [field("f", 32, [], [137], nt, ts, rates)], [["f", 1.0]])

  # exact multires: only multires, every chosen token; the resolution found by trying every candidate
  multires = []
  for seed in range(4):
    src = torch.randn((4, *nt, *ts), generator=gen)
    out, _, _, tmi = prepare_batch_BERT_field(cf_with([0.5, 0.0, 0.0, 1.0]), 0, src.clone(), None,
                                              np.random.default_rng(100 + seed))
    idx = torch.cat(tmi)
    flat_in, flat_out = src.flatten(1, 3).flatten(0, 1), out.flatten(1, 3).flatten(0, 1)
    found = None
    for mh in range(ts[1], 2 * ts[1] + 1):
      for mw in range(ts[2], 2 * ts[2] + 1):
        mr = torch.nn.functional.interpolate
        t = mr(mr(flat_in[idx].unsqueeze(1), (ts[0], mh, mw), mode="trilinear"), ts, mode="trilinear")
        if torch.equal(t.squeeze(1), flat_out[idx]):
          found = [mh, mw]
    assert found, "multires size not found"
    multires.append(dict(size=found, n=int(idx.numel())))
    store.add(f"multires_in_{seed}", flat_in[idx])
    store.add(f"multires_out_{seed}", flat_out[idx])
  manifest["multires"] = multires

  # statistics of AtmoRep's rates [0.5, 0.9, 0.2, 0.05] on a large draw
  rng = np.random.default_rng(5)
  chosen = zero = unchanged = total = 0
  for _ in range(40):
    src = torch.randn((B, *nt, *ts), generator=gen) + 0.5
    out, _, _, tmi = prepare_batch_BERT_field(cf_with([0.5, 0.9, 0.2, 0.05]), 0, src.clone(), None, rng)
    idx = torch.cat(tmi)
    a, b = toks(src)[idx], toks(out)[idx]
    chosen += idx.numel()
    total += B * ntok
    zero += int((b == 0).all(1).sum())
    unchanged += int((a == b).all(1).sum())
  manifest["bert_stats"] = dict(rates=[0.5, 0.9, 0.2, 0.05], chosen=chosen / total, zeroed=zero / chosen,
                                unchanged=unchanged / chosen, draws=chosen)

  # noise only: per token y = (1 - w)·x + 0.1·σ·ε; the slope per token and the residual spread over σ
  slopes, resid = [], []
  for _ in range(10):
    src = torch.randn((B, *nt, *ts), generator=gen) * 2.0
    flat = toks(src)
    sigma = torch.std(flat, 0)
    out, _, _, tmi = prepare_batch_BERT_field(cf_with([1.0, 0.0, 1.0, 0.0]), 0, src.clone(), None, rng)
    idx = torch.cat(tmi)
    a, b = flat[idx], toks(out)[idx]
    k = ((a * b).sum(1) / (a * a).sum(1))
    slopes.append(k)
    resid.append(((b - k[:, None] * a) / sigma).flatten())
  slopes, resid = torch.cat(slopes), torch.cat(resid)
  manifest["noise_stats"] = dict(slope_mean=float(slopes.mean()), slope_std=float(slopes.std()),
                                 resid_std=float(resid.std()), draws=int(slopes.numel()))

  dest = os.path.join(OUT, "masking")
  os.makedirs(dest, exist_ok=True)
  store.write(os.path.join(dest, "golden.bin"))
  manifest["arrays"] = store.entries
  with open(os.path.join(dest, "golden.json"), "w") as f:
    json.dump(manifest, f, indent=1)
  print(f"masking: {manifest['multires']}, {manifest['bert_stats']}, {manifest['noise_stats']}")


def case_slab_masks():
  """AtmoRep's forecast and temporal-interpolation masking (prepare_batch_BERT_forecast_field,
  prepare_batch_BERT_temporal_field themselves): per token grid and setting, the masked token
  indices of every batch entry (tokens_masked_idx_list) and whether exactly those were zeroed."""
  from atmorep.training.bert import prepare_batch_BERT_forecast_field, prepare_batch_BERT_temporal_field
  ts, B = [2, 3, 3], 2
  settings = []
  for nt in ([5, 2, 3], [4, 3, 6], [12, 2, 4], [1, 2, 2]):
    for k in range(1, min(nt[0], 3) + 1):
      settings.append(dict(strategy="forecast", num_tokens=nt, forecast_num_tokens=k))
    settings.append(dict(strategy="temporal_interpolation", num_tokens=nt))  # no idx_time_mask: the middle
    if nt[0] >= 4:
      settings.append(dict(strategy="temporal_interpolation", num_tokens=nt, idx_time_mask=[1, nt[0] - 2]))
      settings.append(dict(strategy="temporal_interpolation", num_tokens=nt, idx_time_mask=[nt[0] - 1, 0]))
  gen = torch.Generator().manual_seed(3)
  for st in settings:
    nt = st["num_tokens"]
    cf = make_cf("slabs", [field("f", 32, [], [137], nt, ts, [0.5, 0.9, 0.2, 0.05])], [["f", 1.0]],
                 forecast_num_tokens=st.get("forecast_num_tokens", 1))
    if "idx_time_mask" in st:
      cf.idx_time_mask = st["idx_time_mask"]
    fn = prepare_batch_BERT_forecast_field if st["strategy"] == "forecast" else prepare_batch_BERT_temporal_field
    src = torch.randn((B, *nt, *ts), generator=gen) + 3.0
    out, _, _, tmi = fn(cf, 0, src.clone(), None, np.random.default_rng(0))
    ntok = int(np.prod(nt))
    st["masked"] = [[int(i) - b * ntok for i in t] for b, t in enumerate(tmi)]
    zeroed = (out.flatten(1, 3).flatten(2) == 0).all(2)
    st["zeroed"] = [[int(i) for i in torch.nonzero(zeroed[b]).flatten()] for b in range(B)]
  dest = os.path.join(OUT, "slab_masks")
  os.makedirs(dest, exist_ok=True)
  with open(os.path.join(dest, "golden.json"), "w") as f:
    json.dump(dict(case="slab_masks", token_size=ts, batch=B, settings=settings), f)
  print(f"slab_masks: {len(settings)} settings")


CASES = dict(one_field=case_one_field, coupled_qk=case_coupled_qk, local_norm=case_local,
             decoder_self=case_decoder, tails=case_tails, old_layout=case_old_layout,
             masking=case_masking, sample_t=case_sample_t, assembled=case_assembled,
             storages=case_storages, slab_masks=case_slab_masks)

def load_ours(models_dir, mid, fixture):
  """AtmoRep.load of a model we wrote, run on a fixture's inputs; relative errors against the fixture."""
  acfg.path_models = models_dir
  net = AtmoRep.load(mid, ["cpu"])
  net.eval()
  cf = net.cf
  if fixture == "-":  # only whether AtmoRep loads it: every key of its model present, nothing extra
    sd = torch.load(os.path.join(models_dir, f"id{mid}", f"AtmoRep_id{mid}.mod"))
    missing, unexpected = AtmoRep(cf).create(["cpu"], load_pretrained=False).load_state_dict(sd, strict=False)
    print(json.dumps(dict(keys=len(sd), missing=list(missing), unexpected=list(unexpected))))
    return
  man = json.load(open(os.path.join(fixture, "golden.json")))
  raw = open(os.path.join(fixture, "golden.bin"), "rb").read()
  arrs = {}
  for a in man["arrays"]:
    n = int(np.prod(a["shape"])) if a["shape"] else 1
    dt = "<i4" if a["dtype"] == "i32" else "<f4"
    arrs[a["name"]] = torch.from_numpy(np.frombuffer(raw, dt, n, a["offset"]).reshape(a["shape"]).copy())
  trainer = Trainer_BERT(cf, ["cpu"])
  trainer.tokens_masked_idx = [[arrs[f"masked_idx_f{i}_l{l}"].long() for l in range(len(fi[2]))]
                               for i, fi in enumerate(cf.fields)]
  net.encoder_to_decoder = trainer.encoder_to_decoder
  net.decoder_to_tail = trainer.decoder_to_tail
  with torch.no_grad():
    preds, _ = net([(arrs[f"source_f{i}"], arrs[f"token_info_f{i}"]) for i in range(len(cf.fields))])
  errs = {}
  for j, p in enumerate(preds):
    for k, what in enumerate(["mean", "std", "ens"]):
      ref = arrs[f"pred_{what}_p{j}"]
      errs[f"p{j}_{what}"] = float((p[k] - ref).abs().max() / max(float(ref.abs().max()), 1e-30))
  print(json.dumps(errs))


try:
  if LOAD_OURS:
    load_ours(*LOAD_OURS)
  else:
    os.makedirs(OUT, exist_ok=True)
    for n, fn in CASES.items():
      if not ONLY or n in ONLY:
        fn()
finally:
  shutil.rmtree(WORK, ignore_errors=True)
