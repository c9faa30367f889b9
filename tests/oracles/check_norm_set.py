#!/usr/bin/python3
"""Check a derived coefficient set against numpy over the store's data.

    check_norm_set.py STORE SET FROM TO POOL      (FROM/TO as YYYYMM)

Prints the max relative error of mean and std (global and per point) over
all entries, and how many entries are NaN.
"""
import json
import sys

import numpy as np
import zarr

store, nset, frm, to, pool = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
g = zarr.open_group(store, mode="r")
n = zarr.open_group(nset, mode="r")
t = g["time"][:]
ym = np.array([(int(str(x)[:4]) * 100 + int(str(x)[5:7])) for x in t.astype("datetime64[M]")])
months = list(n["months"][:])
worst = 0.0
nan_entries = 0
for kind in ("data", "sfc"):
    arr = g["data"][:] if kind == "data" else g["data_sfc"][:]
    if arr.shape[1] == 0:
        continue
    norm = n["norm" if kind == "data" else "norm_sfc"][:]
    gnorm = n["global_norm" if kind == "data" else "global_norm_sfc"][:]
    for e, mm in enumerate(months):
        inp = (ym >= frm) & (ym <= to)
        if pool == "monthly":
            sel = inp & (ym == mm)
        elif pool == "calendar-month":
            sel = inp & (ym % 100 == mm % 100)
        else:
            sel = inp
        if not sel.any():
            nan_entries += int(np.isnan(gnorm[e]).all())
            continue
        x = arr[sel].astype(np.float64)
        red = (0, 3, 4) if kind == "data" else (0, 2, 3)
        for got, want in ((gnorm[e, 0], np.nanmean(x, axis=red)), (gnorm[e, 1], np.nanstd(x, axis=red)),
                          (norm[e, 0], np.nanmean(x, axis=0)), (norm[e, 1], np.nanstd(x, axis=0))):
            ok = np.isfinite(want) & (np.abs(want) > 1e-3)
            worst = max(worst, float(np.max(np.abs(got[ok] - want[ok]) / np.abs(want[ok]))))
print(json.dumps({"rel": worst, "nan_entries": nan_entries, "months": len(months)}))
