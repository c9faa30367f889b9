#!/usr/bin/python3
"""The xarray peer of the remote conversion benchmark.

    xarray_remote.py URL OUT ZSTD_LEVEL TIME LAT LON

xr.open_zarr(URL) over HTTP (fsspec + aiohttp), the same variables and
times as ours, .to_zarr(OUT) with the same codec (byte shuffle + zstd) and
chunks; dask's threaded scheduler (both cores) does the reads and writes.
"""
import sys

import numcodecs
import xarray as xr

url, out, level = sys.argv[1], sys.argv[2], int(sys.argv[3])
ct, clat, clon = (int(x) for x in sys.argv[4:7])
ds = xr.open_zarr(url, consolidated=True)[["temperature", "2m_temperature"]]
ds = ds.sel(time=slice(None, None)).chunk({"time": ct, "level": 1})
enc = {}
for name in ds.data_vars:
    chunks = (ct, 1, clat, clon) if ds[name].ndim == 4 else (ct, clat, clon)
    enc[name] = {"compressor": numcodecs.Zstd(level=level), "filters": [numcodecs.Shuffle(elementsize=4)], "chunks": chunks}
ds.to_zarr(out, mode="w", encoding=enc, consolidated=True)
