"""PyTorch reference of this project's Multiformer training step, for bench:train.

Same architecture, shapes, parameter count, losses (mse_ensemble + stats),
AdamW and gradient clipping as models/ and training/ (written from the
TypeScript, not from AtmoRep's code). Input: a JSON spec on argv[1]
(resolved field configs, token layouts, batch size, steps, threads).
Output: one JSON line with the parameter count and per-step seconds
(bench/tools/peak_rss.py adds the peak RSS).
"""
import json
import math
import sys
import time

import torch
import torch.nn.functional as F
from torch import nn

spec = json.load(open(sys.argv[1]))
torch.set_num_threads(spec["threads"])
torch.manual_seed(0)
DROPOUT = spec["dropout"]
INFO_W = spec["tokenInfoWidth"]


def harmonic(levels, axes, width):
    a_, b_, c_ = axes
    band = (width // 4 // 2) * 2
    out = torch.zeros(levels * a_ * b_ * c_, width)
    r = 0
    for l in range(levels):
        for a in range(a_):
            for b in range(b_):
                for c in range(c_):
                    idx = [l, a, b, c]
                    for ax in range(4):
                        for k in range(0, band, 2):
                            f = idx[ax] / math.pow(100, k / band)
                            out[r, ax * band + k] = math.sin(f)
                            out[r, ax * band + k + 1] = math.cos(f)
                    r += 1
    return out


def ln(x):
    return F.layer_norm(x, x.shape[-1:])


def attend(q, k, v, heads):
    b, lq, w = q.shape
    lk = k.shape[1]
    dh = w // heads
    q = q.view(b, lq, heads, dh).transpose(1, 2)
    k = k.view(b, lk, heads, dh).transpose(1, 2)
    v = v.view(b, lk, heads, dh).transpose(1, 2)
    a = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(dh), dim=-1)
    return (a @ v).transpose(1, 2).reshape(b, lq, w)


class Mlp(nn.Module):
    def __init__(self, d, ratio):
        super().__init__()
        self.up, self.down = nn.Linear(d, ratio * d), nn.Linear(ratio * d, d)

    def forward(self, x):
        h = F.gelu(self.up(ln(x)), approximate="tanh")
        return x + F.dropout(self.down(F.dropout(h, DROPOUT, self.training)), DROPOUT, self.training)


class Encoder(nn.Module):
    def __init__(self, f, widths):
        super().__init__()
        d, dh, ch = f["width"], f["width"] // f["heads"], f["couplingHeads"]
        self.f, self.dh = f, dh
        self.qkv = nn.Linear(d, 3 * d)
        self.cq = nn.ModuleList([nn.Linear(d, ch * dh) for _ in f["coupledWith"]])
        self.ckv = nn.ModuleList([nn.Linear(widths[c], 2 * ch * dh) for c in f["coupledWith"]])
        self.out = nn.Linear((f["heads"] + ch * len(f["coupledWith"])) * dh, d)
        self.mlp = Mlp(d, f["mlpRatio"])

    def forward(self, x, own, normed):
        d, ch = self.f["width"], self.f["couplingHeads"]
        q, k, v = self.qkv(own).split(d, dim=-1)
        parts = [attend(q, k, v, self.f["heads"])]
        for i, c in enumerate(self.f["coupledWith"]):
            kv = self.ckv[i](normed[c])
            kc, vc = kv.split(ch * self.dh, dim=-1)
            parts.append(attend(self.cq[i](own), kc, vc, ch))
        y = x + F.dropout(self.out(torch.cat(parts, -1)), DROPOUT, self.training)
        return self.mlp(y)


class Decoder(nn.Module):
    def __init__(self, f):
        super().__init__()
        d, dh, h = f["width"], f["width"] // f["heads"], f["heads"] // 2
        self.h, self.w = h, h * dh
        self.qkv = nn.Linear(d, 3 * h * dh)
        self.cq = nn.Linear(d, h * dh)
        self.ckv = nn.Linear(d, 2 * h * dh)
        self.out = nn.Linear(2 * h * dh, d)
        self.mlp = Mlp(d, f["mlpRatio"])

    def forward(self, y, enc):
        n = ln(y)
        q, k, v = self.qkv(n).split(self.w, dim=-1)
        s = attend(q, k, v, self.h)
        kc, vc = self.ckv(ln(enc)).split(self.w, dim=-1)
        c = attend(self.cq(n), kc, vc, self.h)
        z = y + F.dropout(self.out(torch.cat([s, c], -1)), DROPOUT, self.training)
        return self.mlp(z)


class Field(nn.Module):
    def __init__(self, f, layout, widths):
        super().__init__()
        d, v = f["width"], layout["values"]
        self.values = nn.Linear(2 * v, d - INFO_W)
        self.info = nn.Linear(8, INFO_W)
        self.register_buffer("pe", harmonic(layout["levels"], layout["axes"], d))
        self.enc = nn.ModuleList([Encoder(f, widths) for _ in range(f["encoderLayers"])])
        self.dec = nn.ModuleList([Decoder(f) for _ in range(f["decoderLayers"])])
        self.tail = nn.Linear(d, f["ensemble"] * v)

    def embed(self, feats, info):
        e = torch.cat([self.values(feats), self.info(info)], -1) + self.pe
        return F.dropout(e, DROPOUT, self.training)


class Multiformer(nn.Module):
    def __init__(self, fields, layouts):
        super().__init__()
        widths = {f["field"]: f["width"] for f in fields}
        self.fields = fields
        self.nets = nn.ModuleDict({f["field"]: Field(f, layouts[f["field"]], widths) for f in fields})

    def forward(self, inputs):
        states = {k: self.nets[k].embed(*inputs[k][:2]) for k in self.nets}
        hist = {k: [] for k in self.nets}
        for i in range(max(f["encoderLayers"] for f in self.fields)):
            normed = {k: ln(s) for k, s in states.items()}
            nxt = {}
            for k, net in self.nets.items():
                nxt[k] = net.enc[i](states[k], normed[k], normed) if i < len(net.enc) else states[k]
                hist[k].append(nxt[k])
            states = nxt
        out = {}
        for f in self.fields:
            k, net = f["field"], self.nets[f["field"]]
            y = states[k]
            for j, layer in enumerate(net.dec):
                y = layer(y, hist[k][max(0, len(hist[k]) - 1 - j)])
            rows = inputs[k][2]
            picked = ln(y).reshape(-1, y.shape[-1])[rows]
            out[k] = net.tail(picked).view(len(rows), f["ensemble"], -1)
        return out


def losses(members, target):
    mse_ens = ((members - target[:, None, :]) ** 2).mean()
    mu, sigma = members.mean(1), members.std(1) + 1e-6
    stats = ((torch.exp(-0.5 * ((target - mu) / sigma) ** 2) - 1) ** 2).mean() + torch.sqrt(sigma).mean()
    return (mse_ens + stats) / 2


layouts = {l["field"]: l for l in spec["layouts"]}
model = Multiformer(spec["fields"], layouts)
params = sum(p.numel() for p in model.parameters())
opt = torch.optim.AdamW(model.parameters(), lr=1e-4, weight_decay=0.025)
B = spec["batch"]
g = torch.Generator().manual_seed(1)
inputs, targets = {}, {}
for k, l in layouts.items():
    S, V = l["levels"] * l["tokens"], l["values"]
    x = torch.randn(B, S, V, generator=g)
    masked = torch.rand(B * S, generator=g) < 0.5
    rows = masked.nonzero().flatten()
    xin = x.clone().view(B * S, V)
    xin[rows] = 0
    feats = torch.cat([xin.view(B, S, V), torch.ones(B, S, V)], -1)
    inputs[k] = (feats, torch.rand(B, S, 8, generator=g), rows)
    targets[k] = x.view(B * S, V)[rows]
wsum = sum(f["lossWeight"] for f in spec["fields"])
times = []
for step in range(spec["warmup"] + spec["steps"]):
    t0 = time.perf_counter()
    model.train()
    out = model(inputs)
    loss = sum(f["lossWeight"] / wsum * losses(out[f["field"]], targets[f["field"]]) for f in spec["fields"])
    opt.zero_grad()
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    opt.step()
    if step >= spec["warmup"]:
        times.append(time.perf_counter() - t0)
print(json.dumps({"parameters": params, "times": times, "loss": float(loss)}), flush=True)
