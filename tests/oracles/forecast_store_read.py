#!/usr/bin/python3
"""Open a forecast store with xarray (zarr-python) and describe it as one JSON line: every data variable's dims,
dtype, attributes and NaN count, every coordinate's values and dtype, and, per variable, the largest difference
between what xarray reads and the plane pattern the test wrote (recomputed here from the decoded coordinates):

    value = 1000 * field_index + 0.5 * level + 10 * lead_hours + 100 * init_index + 0.25 * row + 0.0625 * col
            (+ member for member k; the mean adds 0.5 for two members)

where row/col index the rows and columns as the test wrote them (`lat`/`lon` of the writer, north to south and as
given), found back from the store's latitude/longitude values.

    forecast_store_read.py STORE SPEC_JSON   (SPEC: {"fields": {name: [short, index]}, "lat": [...], "lon": [...],
                                              "members": n})
"""
import json
import sys

import numpy as np
import xarray as xr

store, spec = sys.argv[1], json.loads(sys.argv[2])
ds = xr.open_zarr(store)
lat_in, lon_in = np.array(spec["lat"]), np.array(spec["lon"])


def dim_of(v, *names):
    return next((d for d in v.dims if d in names), None)


def expected(name, v):
    """The pattern at every point of variable v (members: + member index; mean of two: + 0.5)."""
    base_name = name.removesuffix("_spread").removesuffix("_members")
    short, index = spec["fields"][base_name]
    init_dim, lead_dim = v.dims[0], v.dims[1]
    lat_dim, lon_dim = dim_of(v, "lat", "latitude"), dim_of(v, "lon", "longitude")
    level_dim = next((d for d in v.dims if d.startswith("level")), None)
    member_dim = dim_of(v, "member", "number")
    rows = xr.DataArray([int(np.argmin(np.abs(lat_in - x))) for x in v[lat_dim].values], dims=[lat_dim])
    cols = xr.DataArray(
        [int(np.argmin(np.abs(((lon_in - x + 180) % 360) - 180))) for x in v[lon_dim].values], dims=[lon_dim])
    inits = xr.DataArray(np.arange(v.sizes[init_dim]), dims=[init_dim])
    leads = v[lead_dim] / np.timedelta64(1, "h")
    level = v[level_dim] if level_dim else 0
    e = 1000 * index + 0.5 * level + 10 * leads + 100 * inits + 0.25 * rows + 0.0625 * cols
    if member_dim:
        e = e + xr.DataArray(np.arange(v.sizes[member_dim]), dims=[member_dim])
    elif spec["members"] == 2:
        e = e + 0.5
    return e.transpose(*v.dims)


out = {"vars": {}, "coords": {}, "attrs": {k: ds.attrs[k] for k in ("layout", "levels", "field_levels", "variables") if k in ds.attrs}}
for name, v in ds.data_vars.items():
    values = v.values
    info = {"dims": list(v.dims), "dtype": str(v.dtype), "nan": int(np.isnan(values).sum()),
            "attrs": {k: v.attrs[k] for k in ("units", "long_name", "standard_name") if k in v.attrs},
            "coords": sorted(v.coords)}
    if name.endswith("_spread"):
        info["max_diff"] = float(np.abs(values - (np.sqrt(0.5) if spec["members"] == 2 else 0)).max())
    else:
        info["max_diff"] = float(np.abs(values - expected(name, v).values).max())
    out["vars"][name] = info
for name, c in ds.coords.items():
    vals = c.values
    if np.issubdtype(c.dtype, np.datetime64):
        shown = [str(x)[:19] for x in vals.ravel()]
    elif np.issubdtype(c.dtype, np.timedelta64):
        shown = (vals / np.timedelta64(1, "h")).ravel().tolist()
    else:
        shown = vals.ravel().tolist()
    out["coords"][name] = {"dims": list(c.dims), "dtype": str(c.dtype), "values": shown}
print(json.dumps(out))
