#!/usr/bin/python3
"""Generate an ARCO-ERA5-like zarr store for the remote conversion benchmark.

    gen_remote_store.py OUT TIMES

Written by xarray/zarr-python 2 as ARCO-ERA5 is: zarr v2, consolidated,
Blosc(lz4, clevel 5, byte shuffle), one time step per chunk with all levels:
`temperature` (time, level, latitude, longitude) on 4 pressure levels and
`2m_temperature` (time, latitude, longitude), 0.25° global (721 × 1440),
TIMES hourly steps from 2020-01-01. Values are smooth structures plus small
noise, quantised to 16 bits as ERA5's are. Decoded size: TIMES × 5 planes of
4.15 MB.
"""
import os
import sys

import numcodecs
import numpy as np
import xarray as xr
from smooth_noise import smooth_noise  # bench/inputs/, beside this script

out, nt = sys.argv[1], int(sys.argv[2])
lat = np.linspace(90, -90, 721)
lon = np.arange(1440) * 0.25
levels = np.array([500, 700, 850, 1000], dtype="int64")
rng = np.random.default_rng(0)
la = np.deg2rad(lat)[:, None]

noise = np.stack([smooth_noise(rng) for _ in range(8)])


def quantised(v, lo, hi):
    scale = (hi - lo) / 65533
    return (np.round((v - lo) / scale) * scale + lo).astype(np.float32)


t = np.empty((nt, len(levels), 721, 1440), np.float32)
t2m = np.empty((nt, 721, 1440), np.float32)
for i in range(nt):
    for j, lev in enumerate(levels):
        t[i, j] = quantised(288 - 40 * np.sin(la) ** 2 - (1000 - lev) / 15 + noise[(i + j) % 8], 180, 330)
    t2m[i] = quantised(290 - 45 * np.sin(la) ** 2 + noise[(i + 5) % 8], 200, 330)
ds = xr.Dataset(
    {
        "temperature": (("time", "level", "latitude", "longitude"), t, {"units": "K", "long_name": "Temperature"}),
        "2m_temperature": (("time", "latitude", "longitude"), t2m, {"units": "K", "long_name": "2 metre temperature"}),
    },
    coords={
        "time": np.array("2020-01-01", dtype="datetime64[ns]") + np.arange(nt) * np.timedelta64(1, "h"),
        "level": levels,
        "latitude": lat.astype(np.float32),
        "longitude": lon.astype(np.float32),
    },
)
lz4 = numcodecs.Blosc(cname="lz4", clevel=5, shuffle=numcodecs.Blosc.SHUFFLE)
enc = {
    "temperature": {"compressor": lz4, "chunks": (1, len(levels), 721, 1440)},
    "2m_temperature": {"compressor": lz4, "chunks": (1, 721, 1440)},
}
ds.to_zarr(out + ".tmp", mode="w", encoding=enc, consolidated=True)
os.rename(out + ".tmp", out)
