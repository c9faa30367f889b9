#!/usr/bin/env python3
"""Read results_id<ID>_epoch<E>_{source,target,pred,ens}.zarr as AtmoRep's analysis code does
(zarr 2: zarr.ZipStore + zarr.group, groups `<field>/sample=<N>[/ml=<L>]`, arrays data, ml, datetime, lat, lon)
and print what it found as one JSON line.

usage: atmorep_results_read.py DIR ID EPOCH
"""
import json
import sys

import numpy as np
import zarr

d, model_id, epoch = sys.argv[1], sys.argv[2], int(sys.argv[3])
out = {}
for kind in ["source", "target", "pred", "ens"]:
    fname = f"{d}/results_id{model_id}_epoch{epoch:05d}_{kind}.zarr"
    store = zarr.ZipStore(fname, mode="r")
    ds = zarr.group(store=store)
    items = {}
    for field in ds.group_keys():
        for sample in ds[field].group_keys():
            g = ds[field][sample]
            subs = [g] if "data" in g else [g[k] for k in g.group_keys()]
            for s in subs:
                data = np.asarray(s["data"][...])
                items[s.name.lstrip("/")] = {
                    "shape": list(data.shape),
                    "dtype": str(data.dtype),
                    "sum": float(data.astype(np.float64).sum()),
                    "first": float(data.flat[0]),
                    "values": data.astype(np.float64).flatten().tolist() if data.size <= 20000 else None,
                    "ml": np.asarray(s["ml"][...]).tolist(),
                    "datetime_dtype": str(s["datetime"].dtype),
                    "datetime": [str(t) for t in np.asarray(s["datetime"][...]).flatten()],
                    "lat": np.asarray(s["lat"][...]).astype(np.float64).flatten().tolist(),
                    "lat_dtype": str(s["lat"].dtype),
                    "lon": np.asarray(s["lon"][...]).astype(np.float64).flatten().tolist(),
                }
    store.close()
    out[kind] = items
print(json.dumps(out))
