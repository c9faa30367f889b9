"""Compare a store converted from a zarr store with --time/--every/--area/--grid to xarray's selection.

Usage: check_remote_selection.py OUT_STORE SOURCE_STORE
Selection (fixed, as in the test): times 2020-01-31T20..2020-02-01T04 every 2 h, level 850,
latitudes 60..-30 and longitudes -30..60 at multiples of 6 degrees (striding), fields t (temperature)
and t2m (2m_temperature). Prints JSON: max_abs_diff over both fields, the data shape, lons, times.
"""
import json
import sys

import numpy as np
import xarray as xr
import zarr

out, src = sys.argv[1], sys.argv[2]
z = zarr.open_group(out, mode="r")
ds = xr.open_zarr(src, consolidated=False)
sel = ds.sel(time=slice("2020-01-31T20", "2020-02-01T04"))
sel = sel.isel(time=(sel.time.dt.hour % 2 == 0).values)
lat_ok = (sel.latitude <= 60) & (sel.latitude >= -30) & (sel.latitude % 6 == 0)
sel = sel.isel(latitude=lat_ok.values)
lon = ((sel.longitude + 30) % 360) - 30  # -30..330: the area -30..60 is a plain range
sel = sel.assign_coords(longitude=lon).sortby("longitude")
lon_ok = (sel.longitude <= 60) & (sel.longitude % 6 == 0)
sel = sel.isel(longitude=lon_ok.values)
data, sfc = z["data"][:], z["data_sfc"][:]
diff = max(
    float(np.nanmax(np.abs(data[:, 0, 0] - sel.temperature.sel(level=850).values))),
    float(np.nanmax(np.abs(sfc[:, 0] - sel["2m_temperature"].values))),
)
times = [str(t)[:13] for t in z["time"][:].astype("datetime64[s]")]
print(json.dumps({"max_abs_diff": diff, "shape": list(data.shape), "lons": z["lons"][:].tolist(), "times": times}))
