"""Run AtmoRep's own code (an extracted snapshot of github.com/clessig/atmorep, imported from its path;
nothing of it is copied here) on CPU with Debian's torch 1.13, for the golden fixtures
(atmorep_golden.py) and the PyTorch side of bench:train (bench/peers/train_atmorep.py).

`bridge(src, prefix)` fills the gaps to torch >= 2.2 that AtmoRep relies on, leaving its files unchanged:
a reference `scaled_dot_product_attention`, a stub `torch.nn.attention.sdpa_kernel`, `get_device()`
answering "cpu" for CPU tensors, and empty `wandb` / `torchinfo` modules. It then puts the snapshot on
sys.path and points AtmoRep's model and result folders into a new temporary folder, which it returns.
"""
import contextlib
import enum
import math
import os
import sys
import tempfile
import types

import torch


def _sdpa(q, k, v, attn_mask=None, dropout_p=0.0, is_causal=False, scale=None):
  """Reference attention: softmax(q k^T / sqrt(d)) v (AtmoRep passes no mask and no dropout)."""
  assert attn_mask is None and dropout_p == 0.0 and not is_causal
  s = scale if scale is not None else 1.0 / math.sqrt(q.shape[-1])
  return torch.matmul(torch.softmax(torch.matmul(q, k.transpose(-2, -1)) * s, dim=-1), v)


def _torch_gaps():
  if not hasattr(torch.nn.functional, "scaled_dot_product_attention"):
    torch.nn.functional.scaled_dot_product_attention = _sdpa
  if not hasattr(torch.nn, "attention"):
    att = types.ModuleType("torch.nn.attention")

    class SDPBackend(enum.Enum):
      MATH = 0
      FLASH_ATTENTION = 1
      EFFICIENT_ATTENTION = 2

    att.SDPBackend = SDPBackend
    att.sdpa_kernel = lambda *a, **k: contextlib.nullcontext()
    torch.nn.attention = att
    sys.modules["torch.nn.attention"] = att
  get_device = torch.Tensor.get_device
  torch.Tensor.get_device = lambda self: "cpu" if not self.is_cuda else get_device(self)


def _stub_modules():
  for stub in ("wandb", "torchinfo"):
    if stub not in sys.modules:
      try:
        __import__(stub)
      except ImportError:
        m = types.ModuleType(stub)
        m.run = types.SimpleNamespace(id=None)
        m.log = lambda *a, **k: None
        sys.modules[stub] = m


def bridge(src, prefix):
  """Bridge torch 1.13, import AtmoRep from `src`; returns the temporary folder of its models and results."""
  _torch_gaps()
  _stub_modules()
  sys.path.insert(0, os.path.abspath(src))
  import atmorep.config.config as acfg
  work = tempfile.mkdtemp(prefix=prefix)
  acfg.path_models = os.path.join(work, "models")
  acfg.path_results = os.path.join(work, "results")
  return work
