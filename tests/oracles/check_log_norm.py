#!/usr/bin/python3
"""Coefficients of a log-transformed field vs numpy: log(x + eps) − log(eps) over the store's data.

    check_log_norm.py STORE NORM FIELD

Prints the max relative error of global and per-point mean/std over all months and levels.
"""
import json
import sys

import numpy as np
import zarr

store, norm, field = sys.argv[1:4]
g = zarr.open_group(store, mode="r")
n = zarr.open_group(norm, mode="r")
eps = n.attrs["transforms"][field]["eps"]
fi = list(g.attrs["fields"]).index(field)
x = g["data"][:, fi].astype(np.float64)
y = np.log(x + eps) - np.log(eps)
t0 = str(g["time"][0].astype("datetime64[M]"))
e = list(n["months"][:]).index(int(t0[:4]) * 100 + int(t0[5:7]))  # all data lie in one month here
worst = 0.0
for got, want in ((n["global_norm"][e, 0, fi], y.mean(axis=(0, 2, 3))), (n["global_norm"][e, 1, fi], y.std(axis=(0, 2, 3))),
                  (n["norm"][e, 0, fi], y.mean(axis=0)), (n["norm"][e, 1, fi], y.std(axis=0))):
    # Relative error, absolute below 1e-3 (std is 0 where a point does not change).
    worst = max(worst, float(np.max(np.abs(got - want) / np.maximum(np.abs(want), 1e-3))))
print(json.dumps({"rel": worst, "eps": eps, "raw_max": float(x.max())}))
