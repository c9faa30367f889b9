#!/usr/bin/python3
"""The demo's held-out check, independently of the project: read the bundled
sample's netCDF files with xarray (netCDF-C) and the demo's forecast store
with xarray (zarr-python), and compute, for every plane the forecast holds,
the RMSE of the forecast and of persistence per lead (WeatherBench 2 area
weights: cell bounds at the mid-points, +-90 at the ends; NaN points left
out; per initial time a weighted mean, then the mean over initial times, then
the square root). Also report the sample's times per folder.

    demo_scores.py SAMPLE_DIR FORECAST_ZARR     -> JSON on stdout
"""
import glob
import json
import sys

import numpy as np
import xarray as xr

SAMPLE, FORECAST = sys.argv[1], sys.argv[2]


def open_folder(folder):
    """Every file of one folder, merged, with the legacy names mapped onto the new ones."""
    parts = []
    for path in sorted(glob.glob(f"{SAMPLE}/{folder}/*.nc")):
        ds = xr.open_dataset(path)
        ds = ds.rename({k: v for k, v in {"time": "valid_time", "level": "pressure_level"}.items() if k in ds.dims})
        parts.append(ds.drop_vars([v for v in ("expver", "number") if v in ds.variables]))
    return xr.merge(parts)


folders = {f: open_folder(f) for f in ("legacy", "new", "heldout")}
truth = xr.concat(list(folders.values()), dim="valid_time")
lat = truth.latitude.values.astype(np.float64)
bounds = np.concatenate([[90.0], (lat[:-1] + lat[1:]) / 2, [-90.0]])
weights = np.abs(np.sin(np.deg2rad(bounds[:-1])) - np.sin(np.deg2rad(bounds[1:])))
weights = weights / weights.mean()

fc = xr.open_zarr(FORECAST)
inits = fc.init_time.values.astype("datetime64[s]")
leads = (fc.lead_time.values / np.timedelta64(1, "h")).astype(int)


def plane(name, level, time):
    v = truth[name].sel(valid_time=time)
    if "pressure_level" in v.dims:
        v = v.sel(pressure_level=level)
    return v.values.astype(np.float64)


def mse(a, b):
    e2 = (a - b) ** 2
    w = np.broadcast_to(weights[:, None], e2.shape)
    ok = ~np.isnan(e2)
    return float((e2[ok] * w[ok]).sum() / w[ok].sum())


def field_planes(ds):
    """(field, level, DataArray (init_time, lead_time, lat, lon)) of every plane: one variable per field, with only
    its own levels (a dim whose name starts with `level`); single-level fields have none (level 0)."""
    for name, v in ds.data_vars.items():
        if name.endswith(("_spread", "_members")):
            continue
        dim = next((d for d in v.dims if d.startswith("level")), None)
        if dim is None:
            yield name, 0.0, v
        else:
            for level in v[dim].values:
                yield name, float(level), v.sel({dim: level})


scores = []
for field, level, var in field_planes(fc):
    rmse = {"forecast": [], "persistence": []}
    for li, lead in enumerate(leads):
        f_mse, p_mse = [], []
        for ii, init in enumerate(inits):
            valid = init + np.timedelta64(int(lead), "h")
            t = plane(field, level, valid)
            f = var.isel(init_time=ii, lead_time=li).values
            f_mse.append(mse(f.astype(np.float64), t))
            p_mse.append(mse(plane(field, level, init), t))
        rmse["forecast"].append(float(np.sqrt(np.mean(f_mse))))
        rmse["persistence"].append(float(np.sqrt(np.mean(p_mse))))
    scores.append({"field": field, "level": level, "rmse": rmse})

times = {k: [str(t)[:19] for t in ds.valid_time.values.astype("datetime64[s]")[[0, -1]]] for k, ds in folders.items()}
print(json.dumps({"inits": [str(t)[:19] for t in inits], "leads": leads.tolist(), "times": times, "scores": scores}))
