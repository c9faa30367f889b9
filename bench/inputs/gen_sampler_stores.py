#!/usr/bin/python3
"""Stores for the sampler benchmark: 0.25°, 48 hourly steps, t and u on 5 levels + t2m,
written with zarr-python in two chunkings of the same values and codec (shuffle + zstd 1):

  atmorep.zarr   AtmoRep's chunking: 8 h × all fields × all levels × the whole globe
  ours.zarr      this project's default: 6 h × 1 field × 1 level × 91 × 180
  ours.norm.zarr global coefficients (one month) for our sampler

    gen_sampler_stores.py OUTDIR
"""
import os
import sys

import numcodecs
import numpy as np
import zarr

out = sys.argv[1]
os.makedirs(out, exist_ok=True)
T, F, L, NLAT, NLON = 48, 2, 5, 721, 1440
fields, levels = ["t", "u"], [500, 700, 850, 925, 1000]
lat = np.linspace(90, -90, NLAT)
lon = np.arange(NLON) * 0.25
la, lo = np.deg2rad(lat)[:, None], np.deg2rad(lon)[None, :]
times = np.datetime64("2020-01-10T00:00:00") + np.arange(T) * np.timedelta64(1, "h")
comp, filt = numcodecs.Zstd(level=1), [numcodecs.Shuffle(elementsize=4)]


def plane(f, l, t):
    base = (288 - 40 * np.sin(la) ** 2 - 30 * l) if f == 0 else 25 * np.cos(la) ** 2 + 3 * l
    return (base + 5 * np.sin(2 * lo + t / 6 + f) * np.cos(la) + 0.3 * np.sin(9 * lo) * np.cos(7 * la)).astype(np.float32)


def write(name, chunks, chunks_sfc):
    path = f"{out}/{name}"
    if os.path.exists(f"{path}/.zgroup"):
        return
    g = zarr.open_group(path, mode="w")
    d = g.create_dataset("data", shape=(T, F, L, NLAT, NLON), chunks=chunks, dtype="f4", compressor=comp, filters=filt,
                         fill_value=np.nan)
    s = g.create_dataset("data_sfc", shape=(T, 1, NLAT, NLON), chunks=chunks_sfc, dtype="f4", compressor=comp,
                         filters=filt, fill_value=np.nan)
    step = chunks[0]
    for t0 in range(0, T, step):
        n = min(step, T - t0)
        block = np.stack([np.stack([np.stack([plane(f, l, t) for l in range(L)]) for f in range(F)]) for t in range(t0, t0 + n)])
        d[t0:t0 + n] = block
        s[t0:t0 + n] = np.stack([plane(0, 2.5, t)[None] for t in range(t0, t0 + n)])
    for k, v, dims, attrs in (("time", times.astype("datetime64[s]"), ["time"], {}),
                              ("lats", np.linspace(0, 180, NLAT), ["lats"], {}),
                              ("lons", lon, ["lons"], {})):
        a = g.create_dataset(k, data=v, compressor=None)
        a.attrs["_ARRAY_DIMENSIONS"] = dims
    d.attrs["_ARRAY_DIMENSIONS"] = ["time", "field", "level", "lats", "lons"]
    s.attrs["_ARRAY_DIMENSIONS"] = ["time", "field_sfc", "lats", "lons"]
    g.attrs.update({"fields": fields, "fields_sfc": ["t2m"], "levels": levels, "res": [0.25, 0.25], "is_global": True,
                    "grid": "regular_ll", "level_type": "pressure", "normalization": "ours.norm.zarr"})
    zarr.consolidate_metadata(path)


write("atmorep.zarr", (8, F, L, NLAT, NLON), (8, 1, NLAT, NLON))
write("ours.zarr", (6, 1, 1, 91, 180), (6, 1, 91, 180))
norm = f"{out}/ours.norm.zarr"
if not os.path.exists(f"{norm}/.zgroup"):
    g = zarr.open_group(norm, mode="w")
    gn = np.zeros((1, 2, F, L), "f4")
    gs = np.zeros((1, 2, 1), "f4")
    src = zarr.open_group(f"{out}/ours.zarr", mode="r")
    for f in range(F):
        for l in range(L):
            x = src["data"][0:48:6, f, l].astype(np.float64)
            gn[0, 0, f, l], gn[0, 1, f, l] = x.mean(), x.std()
    x = src["data_sfc"][0:48:6, 0].astype(np.float64)
    gs[0, 0, 0], gs[0, 1, 0] = x.mean(), x.std()
    for k, v in (("global_norm", gn), ("global_norm_sfc", gs)):
        g.create_dataset(k, data=v, compressor=comp, filters=filt)
    g.create_dataset("norm", shape=(1, 2, F, L, NLAT, NLON), chunks=(1, 2, 1, 1, NLAT, NLON), dtype="f4", compressor=comp,
                     filters=filt, fill_value=np.nan)
    g.create_dataset("norm_sfc", shape=(1, 2, 1, NLAT, NLON), chunks=(1, 2, 1, NLAT, NLON), dtype="f4", compressor=comp,
                     filters=filt, fill_value=np.nan)
    g.create_dataset("months", data=np.array([202001], "i4"), compressor=None)
    g.attrs.update({"kind": "normalization", "months": [202001], "fields": fields, "fields_sfc": ["t2m"], "levels": levels,
                    "transforms": {}, "source": "ours.zarr", "pooling": "monthly", "period": ["2020-01", "2020-01"]})
    zarr.consolidate_metadata(norm)
print(out)
