"""PyTorch CUDA side of the GPU benchmark (bench/gpu/run.sh): the network of
bench/peers/train_torch.py — its model classes are loaded from that file (its
imports, functions, classes and the two module constants, not its script
part), so both benchmarks train the same network — on one GPU, in eager fp32
(TF32 off) and eager with bf16 autocast (fp32 master weights and AdamW state,
as AtmoRep's with_mixed_precision). Input: a spec from bench/gpu/spec.ts.
Output: one JSON line per precision with seconds per step, tokens/s and the
peak of allocated GPU memory. `--device cpu` runs the same on the CPU (to
check the script without a GPU; bf16 autocast then runs on the CPU).
"""
import ast
import json
import statistics
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[2]


def load_model_classes(spec):
    """The definitions of bench/peers/train_torch.py, executed with `spec` in scope (not its training script)."""
    tree = ast.parse((ROOT / "bench" / "peers" / "train_torch.py").read_text())
    keep = []
    for node in tree.body:
        if isinstance(node, (ast.Import, ast.ImportFrom, ast.FunctionDef, ast.ClassDef)):
            keep.append(node)
        elif isinstance(node, ast.Assign) and all(isinstance(t, ast.Name) and t.id in ("DROPOUT", "INFO_W")
                                                  for t in node.targets):
            keep.append(node)
    ns = {"spec": spec, "__name__": "train_torch_model"}
    exec(compile(ast.Module(body=keep, type_ignores=[]), "train_torch.py (definitions)", "exec"), ns)
    ns["harmonic_loops"] = ns["harmonic"]
    ns["harmonic"] = harmonic_vectorized
    return ns


def harmonic_vectorized(levels, axes, width):
    """train_torch.py's `harmonic` without Python loops (its loops take minutes at AtmoRep's sizes); same values:
    computed in float64 as Python floats are, then rounded to float32 (checked by `--check-harmonic`)."""
    a_, b_, c_ = axes
    band = (width // 4 // 2) * 2
    grid = torch.stack(torch.meshgrid(torch.arange(levels), torch.arange(a_), torch.arange(b_), torch.arange(c_),
                                      indexing="ij"), -1).reshape(-1, 4).double()
    out = torch.zeros(grid.shape[0], width, dtype=torch.float64)
    div = torch.tensor([100.0 ** (k / band) for k in range(0, band, 2)], dtype=torch.float64)
    for ax in range(4):
        f = grid[:, ax:ax + 1] / div
        out[:, ax * band:(ax + 1) * band:2] = torch.sin(f)
        out[:, ax * band + 1:(ax + 1) * band:2] = torch.cos(f)
    return out.float()


def make_inputs(spec, layouts, device):
    """Random inputs and targets of the spec's shapes, as train_torch.py draws them."""
    g = torch.Generator().manual_seed(1)
    inputs, targets = {}, {}
    B = spec["batch"]
    for k, l in layouts.items():
        S, V = l["levels"] * l["tokens"], l["values"]
        x = torch.randn(B, S, V, generator=g)
        rows = (torch.rand(B * S, generator=g) < 0.5).nonzero().flatten()
        xin = x.clone().view(B * S, V)
        xin[rows] = 0
        feats = torch.cat([xin.view(B, S, V), torch.ones(B, S, V)], -1)
        inputs[k] = (feats.to(device), torch.rand(B, S, 8, generator=g).to(device), rows.to(device))
        targets[k] = x.view(B * S, V)[rows].to(device)
    return inputs, targets


def run(spec, ns, precision, device):
    torch.manual_seed(0)
    layouts = {l["field"]: l for l in spec["layouts"]}
    model = ns["Multiformer"](spec["fields"], layouts).to(device)
    params = sum(p.numel() for p in model.parameters())
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4, weight_decay=0.025)
    inputs, targets = make_inputs(spec, layouts, device)
    wsum = sum(f["lossWeight"] for f in spec["fields"])
    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)
    if device == "cuda":
        torch.cuda.reset_peak_memory_stats()
    times, loss = [], None
    for step in range(spec["warmup"] + spec["steps"]):
        sync()
        t0 = time.perf_counter()
        model.train()
        with torch.autocast(device, dtype=torch.bfloat16, enabled=precision == "bf16"):
            out = model(inputs)
            loss = sum(f["lossWeight"] / wsum * ns["losses"](out[f["field"]].float(), targets[f["field"]])
                       for f in spec["fields"])
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sync()
        if step >= spec["warmup"]:
            times.append(time.perf_counter() - t0)
    med = statistics.median(times)
    peak = torch.cuda.max_memory_allocated() if device == "cuda" else None
    return {"config": spec["name"], "framework": f"pytorch {torch.__version__} eager", "precision": precision,
            "device": torch.cuda.get_device_name() if device == "cuda" else "cpu", "parameters": params,
            "times": times, "median_s": med, "tokens_per_s": spec["tokensPerStep"] / med, "peak_bytes": peak,
            "loss": float(loss)}


def main():
    spec = json.load(open(sys.argv[1]))
    device = sys.argv[sys.argv.index("--device") + 1] if "--device" in sys.argv else "cuda"
    if device == "cuda":
        if not torch.cuda.is_available():
            raise SystemExit("torch.cuda.is_available() is False: no GPU or no CUDA build of PyTorch")
        torch.backends.cuda.matmul.allow_tf32 = False  # fp32 means fp32
        torch.backends.cudnn.allow_tf32 = False
    ns = load_model_classes(spec)
    if "--check-harmonic" in sys.argv:
        a, b = ns["harmonic_loops"](2, (3, 2, 5), 40), harmonic_vectorized(2, (3, 2, 5), 40)
        print(json.dumps({"harmonic_max_difference": float((a - b).abs().max())}))
        return
    for precision in ("fp32", "bf16"):
        try:
            print(json.dumps(run(spec, ns, precision, device)), flush=True)
        except torch.cuda.OutOfMemoryError as e:  # report and go on with the next case
            print(json.dumps({"config": spec["name"], "precision": precision, "error": f"out of memory: {e}"}),
                  flush=True)
            torch.cuda.empty_cache()


if __name__ == "__main__":
    main()
