#!/usr/bin/python3
"""Compare a `convert gaussian` store with ecCodes' decode of its GRIB input.

    check_gaussian_store.py STORE GRIB VALUES.npy

VALUES.npy: (time, [t500, t850, 2t], point) as ecCodes packed them. Prints JSON.
"""
import json
import sys

import eccodes
import numpy as np
import xarray as xr
import zarr

store, grib, values_path = sys.argv[1:4]
want = np.load(values_path)
ds = xr.open_zarr(store, consolidated=True)
with open(grib, "rb") as f:
    h = eccodes.codes_grib_new_from_file(f)
    lat = eccodes.codes_get_array(h, "latitudes")
    lon = eccodes.codes_get_array(h, "longitudes")
    eccodes.codes_release(h)
data = ds["data"].values  # (time, field, level, node)
sfc = ds["data_sfc"].values
err = max(
    float(np.max(np.abs(data[:, 0, 0] - want[:, 0]))),
    float(np.max(np.abs(data[:, 0, 1] - want[:, 1]))),
    float(np.max(np.abs(sfc[:, 0] - want[:, 2]))),
)
norm = zarr.open_group(store.replace(".zarr", ".norm.zarr"), mode="r")
g = norm["global_norm"][:]  # (month, 2, field, level)
jan = want[:4, 0]  # 2020-01-31 12..21 h: the January steps of t at 500 hPa
local = norm["norm"][:]  # (month, 2, field, level, node)
print(json.dumps({
    "max_abs_diff": err,
    "lat_equal": bool(np.allclose(ds["lat"].values, lat, rtol=0, atol=1e-6)),
    "lon_equal": bool(np.allclose(ds["lon"].values, lon % 360)),
    "dims": list(ds["data"].dims),
    "time0": str(ds["time"].values[0]),
    "months": [int(m) for m in norm.attrs["months"]],
    "jan_mean_rel": abs(float(g[0, 0, 0, 0]) - jan.mean()) / abs(jan.mean()),
    "jan_std_rel": abs(float(g[0, 1, 0, 0]) - jan.std()) / jan.std(),
    "feb_local_mean_err": float(np.max(np.abs(local[1, 0, 0, 1] - want[4:, 1].mean(axis=0)))),
}))
