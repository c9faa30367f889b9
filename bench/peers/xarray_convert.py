#!/usr/bin/python3
"""The xarray peer of the conversion benchmark.

    xarray_convert.py OUT ZSTD_LEVEL TIME LAT LON INPUT...

open_mfdataset(...).to_zarr(...) with the same codec (byte shuffle + zstd)
and chunks as ours; dask's threaded scheduler uses both cores.
"""
import sys

import numcodecs
import xarray as xr

out, level = sys.argv[1], int(sys.argv[2])
ct, clat, clon = (int(x) for x in sys.argv[3:6])
files = sys.argv[6:]
time_dim = "valid_time" if "valid_time" in xr.open_dataset(files[0]).dims else "time"
level_dim = "pressure_level" if time_dim == "valid_time" else "level"
ds = xr.open_mfdataset(files, combine="by_coords", chunks={time_dim: ct, level_dim: 1})
enc = {}
for name in ds.data_vars:
    enc[name] = {"compressor": numcodecs.Zstd(level=level), "filters": [numcodecs.Shuffle(elementsize=4)],
                 "chunks": (ct, 1, clat, clon)}
ds.to_zarr(out, mode="w", encoding=enc, consolidated=True)
