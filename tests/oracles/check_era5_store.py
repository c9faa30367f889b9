#!/usr/bin/python3
"""Independent checks of an ERA5 store with the tools users use.

    check_era5_store.py STORE NORM INPUT...

Opens STORE with xarray + zarr-python (Debian), decodes every INPUT with
python-netCDF4 (netCDF-C), and prints one JSON object:
  values:   per field, max |store - input| and whether NaN masks agree
  atmorep:  the checks AtmoRep's MultifieldDataSampler relies on
  stats:    max relative error of the coefficient sets against a two-pass
            float64 computation over the store's data, per month
"""
import json
import sys

import netCDF4
import numpy as np
import xarray as xr
import zarr

store, norm_path, inputs = sys.argv[1], sys.argv[2], sys.argv[3:]
out = {"values": {}, "atmorep": {}, "stats": {}}

ds = xr.open_zarr(store, consolidated=True)
fields, fields_sfc = list(ds.attrs["fields"]), list(ds.attrs["fields_sfc"])
levels = list(ds.attrs["levels"])
store_lat = 90.0 - ds["lats"].values
store_lon = ds["lons"].values
store_times = ds["time"].values.astype("datetime64[s]").astype(np.int64)
data = ds["data"].values
data_sfc = ds["data_sfc"].values

for path in inputs:
    nc = netCDF4.Dataset(path)
    tname = "valid_time" if "valid_time" in nc.variables else "time"
    tv = nc.variables[tname]
    times = netCDF4.num2date(tv[:], tv.units, getattr(tv, "calendar", "standard"),
                             only_use_cftime_datetimes=False, only_use_python_datetimes=True)
    secs = np.array([int((np.datetime64(t.isoformat()) - np.datetime64("1970-01-01T00:00:00")) / np.timedelta64(1, "s")) for t in times])
    lat = nc.variables["latitude"][:].astype(np.float64)
    lon = np.mod(nc.variables["longitude"][:].astype(np.float64), 360)
    li = [int(np.argmin(np.abs(lat - v))) for v in store_lat]
    lj = [int(np.argmin(np.abs(lon - v))) for v in store_lon]
    lname = next((n for n in ("level", "pressure_level", "model_level") if n in nc.variables), None)
    for name, var in nc.variables.items():
        if name not in fields and name not in fields_sfc:
            continue
        raw = var[:]  # netCDF4 applies scale_factor/add_offset (float64) and masks fills
        vals = np.ma.filled(raw.astype(np.float64), np.nan)
        if "expver" in var.dimensions:  # old-CDS ERA5/ERA5T halves
            vals = np.where(np.isnan(vals[:, 0]), vals[:, 1], vals[:, 0])
        vals = vals.astype(np.float32)
        ti = [int(np.where(store_times == s)[0][0]) for s in secs]
        if name in fields:
            lvls = list(nc.variables[lname][:])
            got = data[ti][:, fields.index(name)]
            got = got[:, [levels.index(float(l)) for l in lvls]]
            want = vals[..., li, :][..., lj]
        else:
            got = data_sfc[ti][:, fields_sfc.index(name)]
            want = vals[:, li][:, :, lj]
        key = name
        prev = out["values"].get(key, {"max_abs_diff": 0.0, "nan_match": True, "compared": 0})
        diff = np.nanmax(np.abs(got.astype(np.float64) - want)) if np.isfinite(want).any() else 0.0
        prev["max_abs_diff"] = max(prev["max_abs_diff"], float(diff))
        prev["nan_match"] = prev["nan_match"] and bool(np.array_equal(np.isnan(got), np.isnan(want)))
        prev["compared"] += int(want.size)
        out["values"][key] = prev
    nc.close()

# What AtmoRep's loader needs (clessig/atmorep MultifieldDataSampler, zarr-python 2).
g = zarr.open_group(store, mode="a")
a = out["atmorep"]
a["fields_list"] = isinstance(g.attrs["fields"], list) and isinstance(g.attrs["fields_sfc"], list)
a["levels_numbers"] = all(isinstance(v, (int, float)) for v in g.attrs["levels"])
a["is_global"] = bool(g.attrs["is_global"])
a["res"] = list(g.attrs["res"])
a["data_f32"] = str(g["data"].dtype) == "float32"
a["data_sfc_f32"] = "data_sfc" in g and str(g["data_sfc"].dtype) == "float32"
a["time_dtype"] = str(g["time"].dtype)
t = g["time"][:]
a["hourly_contiguous"] = bool(len(t) < 2 or np.all(np.diff(t) == np.timedelta64(1, "h")))
lats, lons = g["lats"][:], g["lons"][:]
a["lats_colat_ascending"] = bool(np.all(np.diff(lats) > 0) and lats[0] >= 0 and lats[-1] <= 180)
a["lons_ascending_0_360"] = bool(np.all(np.diff(lons) > 0) and lons[0] >= 0 and lons[-1] < 360)
if "normalization" in g:
    n = g["normalization"]
    gn = n["global_norm"]
    a["global_norm_shape"] = list(gn.shape)
    a["global_norm_f32"] = str(gn.dtype) == "float32"
    a["norm_shape"] = list(n["norm"].shape)
    a["norm_sfc_shape"] = list(n["norm_sfc"].shape)
    a["global_norm_sfc_shape"] = list(n["global_norm_sfc"].shape)
    # AtmoRep's month index: 12*(year - year_of_time[0]) + month - 1.
    t0 = t[0].astype("datetime64[Y]").astype(int) + 1970
    last = t[-1].astype("datetime64[M]").astype(int)
    a["months_expected"] = int(last - (t0 - 1970) * 12 + 1)
    # Normalise one AtmoRep-style crop with per-point coefficients, as normalizer.py does.
    if len(g.attrs["fields"]):
        ti = len(t) - 1
        mi = int(t[ti].astype("datetime64[M]").astype(int) - (t0 - 1970) * 12)
        crop = g["data"][ti, 0, 0, 2:10, 5:15]
        coef = n["norm"][mi, :, 0, 0, 2:10, 5:15]
        normed = (crop - coef[0]) / coef[1]
        a["crop_normalized_finite"] = bool(np.isfinite(normed).all())

# Coefficient sets against a two-pass float64 computation over the store's data.
nz = zarr.open_group(norm_path, mode="r")
months = list(nz["months"][:])
month_of = (t.astype("datetime64[M]").astype(int) + 1970 * 12)
def yyyymm(m):
    return (m // 12) * 100 + m % 12 + 1
worst_local, worst_global = 0.0, 0.0
for kind, arr, fl in (("data", data, fields), ("sfc", data_sfc, fields_sfc)):
    if not len(fl):
        continue
    norm = nz["norm" if kind == "data" else "norm_sfc"][:]
    gnorm = nz["global_norm" if kind == "data" else "global_norm_sfc"][:]
    for e, mm in enumerate(months):
        sel = np.array([yyyymm(m) == mm for m in month_of])
        if not sel.any():
            continue
        x = arr[sel].astype(np.float64)
        with np.errstate(all="ignore"):
            mean_pt = np.nanmean(x, axis=0)
            std_pt = np.nanstd(x, axis=0)
        axes = (0, 2, 3, 4) if kind == "data" else (0, 2, 3)
        flat = np.moveaxis(x, 1, 0).reshape(x.shape[1], -1) if kind == "sfc" else None
        if kind == "data":
            gm = np.nanmean(x, axis=(0, 3, 4))
            gs = np.nanstd(x, axis=(0, 3, 4))
            got_m, got_s = gnorm[e, 0], gnorm[e, 1]
        else:
            gm = np.nanmean(flat, axis=1)
            gs = np.nanstd(flat, axis=1)
            got_m, got_s = gnorm[e, 0], gnorm[e, 1]
        rel = lambda a_, b_: np.nanmax(np.abs(a_ - b_) / np.maximum(np.abs(b_), 1e-30)) if np.isfinite(b_).any() else 0.0
        worst_global = max(worst_global, float(rel(got_m, gm)), float(rel(got_s, gs)))
        ok = np.isfinite(mean_pt)
        pm, ps = norm[e, 0], norm[e, 1]
        worst_local = max(worst_local, float(rel(pm[ok], mean_pt[ok])))
        okstd = ok & (std_pt > 1e-6 * np.abs(mean_pt))
        worst_local = max(worst_local, float(rel(ps[okstd], std_pt[okstd])))
out["stats"] = {"global_rel": worst_global, "local_rel": worst_local}
print(json.dumps(out))
