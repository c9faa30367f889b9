"""AtmoRep's own network as the PyTorch side of bench:train (`deno task bench:train --atmorep SNAPSHOT`).

    train_atmorep.py ATMOREP_SRC SPEC.json

ATMOREP_SRC is an extracted snapshot of github.com/clessig/atmorep; its classes are imported from
there (nothing of it is copied here). SPEC is bench:train's spec with `atmorep`, AtmoRep's config dict
of the same network (models/atmorep_import.ts atmorepJson). The step is AtmoRep's: its AtmoRep model,
its Trainer_BERT hooks (encoder_to_decoder, decoder_to_tail) and loss (mse_ensemble + stats), then
AdamW with gradient clipping as ours. The torch 1.13 gaps (scaled_dot_product_attention,
sdpa_kernel, get_device on CPU, wandb) are bridged by tests/oracles/atmorep_bridge.py, as for the golden fixtures.
Output: one JSON line with the parameter count (the unused legacy embed_token_info left out, as our
network has none) and per-step seconds.
"""
import json
import os
import sys
import time

import torch

SRC, SPEC = sys.argv[1], sys.argv[2]
spec = json.load(open(SPEC))
torch.set_num_threads(spec["threads"])
torch.manual_seed(0)


sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tests", "oracles"))
from atmorep_bridge import bridge  # noqa: E402

work = bridge(SRC, "bench_atmorep_")
import atmorep.utils.utils as autils  # noqa: E402
from atmorep.core.atmorep_model import AtmoRep  # noqa: E402
from atmorep.core.trainer import Trainer_BERT  # noqa: E402

cf = autils.Config()
for k, v in spec["atmorep"].items():
  setattr(cf, k, v)
for k, v in dict(attention=False, par_rank=0, rng_seed=1, BERT_fields_synced=False, BERT_strategy="BERT",
                 losses=["mse_ensemble", "stats"], dropout_rate=spec["dropout"], grad_checkpointing=False,
                 with_mixed_precision=False, with_ddp=False, wandb_id="bench").items():
  setattr(cf, k, v)
net = AtmoRep(cf).create(["cpu"], load_pretrained=False)
trainer = Trainer_BERT(cf, ["cpu"])
net.encoder_to_decoder = trainer.encoder_to_decoder
net.decoder_to_tail = trainer.decoder_to_tail
params = sum(p.numel() for n, p in net.named_parameters() if not n.startswith("embed_token_info."))
opt = torch.optim.AdamW(net.parameters(), lr=1e-4, weight_decay=0.025)

# inputs: random normalized tokens, half of them masked (zeroed) per level, AtmoRep's target order
B = spec["batch"]
g = torch.Generator().manual_seed(1)
xin, masked, targets = [], [], []
for fi in cf.fields:
  L, nt, ts = len(fi[2]), fi[3], fi[4]
  ntok = nt[0] * nt[1] * nt[2]
  x = torch.randn(B, L, *nt, *ts, generator=g)
  flat = x.flatten(2, 4).flatten(3)  # (B, L, ntok, V)
  src = flat.clone()
  idx_l, tgt = [], []
  for lv in range(L):
    rows = (torch.rand(B * ntok, generator=g) < 0.5).nonzero().flatten()
    src[:, lv].reshape(B * ntok, -1)[rows] = 0.0
    idx_l.append(rows)
    tgt.append(flat[:, lv].reshape(B * ntok, -1)[rows])
  info = torch.rand(B, L, ntok, 8, generator=g)
  xin.append((src.reshape(x.shape), info))
  masked.append(idx_l)
  targets.append(torch.cat(tgt))
trainer.tokens_masked_idx = masked
trainer.targets = [targets[i] for i in trainer.fields_prediction_idx]

times, loss = [], float("nan")
for step in range(spec["warmup"] + spec["steps"]):
  t0 = time.perf_counter()
  net.train()
  preds, _ = net([(s.clone(), i) for s, i in xin])
  lo, _, _ = trainer.loss(preds)
  opt.zero_grad()
  lo.backward()
  torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
  opt.step()
  loss = float(lo)
  if step >= spec["warmup"]:
    times.append(time.perf_counter() - t0)
print(json.dumps({"parameters": params, "times": times, "loss": loss}), flush=True)
