#!/usr/bin/python3
"""Independent checks of a FESOM store with xarray, zarr-python, netCDF4 and healpy.

    check_fesom_store.py STORE NORM MESH_DIR INPUT...

Prints JSON: values (store vs netCDF-C decode on wet cells, NaN on dry cells),
wet layer counts vs nlvls.out, triangles vs elem2d.out, HEALPix ids vs healpy,
centroids, and the global coefficients vs numpy over wet cells.
"""
import json
import sys

import healpy
import netCDF4
import numpy as np
import xarray as xr

store, norm, mesh_dir, inputs = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]
ds = xr.open_zarr(store)
out = {"values": {}}
nlvls = np.loadtxt(f"{mesh_dir}/nlvls.out", dtype=int)
elvls = np.loadtxt(f"{mesh_dir}/elvls.out", dtype=int)
for path in inputs:
    nc = netCDF4.Dataset(path)
    name = [v for v in nc.variables if v not in ("time", "nz1", "nz")][0]
    v = nc[name]
    v.set_auto_mask(False)
    raw = v[:].astype(np.float64)
    fill = getattr(v, "_FillValue", None)
    point = "nod2" if "nod2" in v.dimensions else "elem"
    if "nz1" in v.dimensions and v.dimensions.index(point) < v.dimensions.index("nz1"):
        raw = np.transpose(raw, (0, 2, 1))  # legacy (time, points, nz1)
    key = None
    for k in [a for a in ds.attrs if a.startswith("fields")]:
        if name in ds.attrs[k]:
            key = k.replace("fields", "data")
            fi = list(ds.attrs[k]).index(name)
    got = ds[key].values[:, fi].astype(np.float64)
    nlev = nlvls if point == "nod2" else elvls
    if raw.ndim == 3:
        wet = np.arange(raw.shape[1])[:, None] < (nlev - 1)[None, :]
        wet = np.broadcast_to(wet[None], raw.shape)
    else:
        wet = np.ones(raw.shape, bool)
    want = raw.copy()
    if fill is not None:
        want[wet & (np.abs(raw - float(fill)) <= abs(float(fill)) * 1e-6)] = 0.0  # 2.7.x: fill in a wet cell is a zero
    out["values"][name] = {
        "max_abs_diff_wet": float(np.max(np.abs(got[wet] - want[wet]))),
        "dry_all_nan": bool(np.isnan(got[~wet]).all()),
        "wet_none_nan": bool(not np.isnan(got[wet]).any()),
        "zeros_kept": int((got[wet] == 0).sum()),
    }
    if name == "temp":
        counts = (~np.isnan(got[0])).sum(axis=0)
        out["wet_count_equal"] = bool(np.array_equal(counts, nlvls - 1))
tri = np.loadtxt(f"{mesh_dir}/elem2d.out", skiprows=1, dtype=int)
out["triangles_equal"] = bool(np.array_equal(ds["triangles"].values + 1, tri))
orders = list(ds.attrs["healpix_orders"])
lon, lat = ds["lon"].values, ds["lat"].values
elon, elat = ds["elem_lon"].values, ds["elem_lat"].values
out["healpix_equal"] = all(
    np.array_equal(ds["healpix_node"].values[i], healpy.ang2pix(2**o, lon, lat, nest=True, lonlat=True))
    and np.array_equal(ds["healpix_elem"].values[i], healpy.ang2pix(2**o, elon, elat, nest=True, lonlat=True))
    for i, o in enumerate(orders))
# Centroids: normalised mean of the vertices' unit vectors.
t = ds["triangles"].values
xyz = np.stack([np.cos(np.radians(lat)) * np.cos(np.radians(lon)), np.cos(np.radians(lat)) * np.sin(np.radians(lon)), np.sin(np.radians(lat))], 1)
c = xyz[t].mean(axis=1)
clat = np.degrees(np.arcsin(c[:, 2] / np.linalg.norm(c, axis=1)))
clon = np.degrees(np.arctan2(c[:, 1], c[:, 0]))
out["centroid_max_diff"] = float(max(np.max(np.abs(clat - elat)), np.max(np.abs(((clon - elon) + 180) % 360 - 180))))
out["lon_range"] = [float(lon.min()), float(lon.max())]
# Global coefficients of temp per level vs numpy over wet nodes.
n = xr.open_zarr(norm)
if "temp" in ds.attrs.get("fields", []):
    x = ds["data"].values[:, list(ds.attrs["fields"]).index("temp")].astype(np.float64)
    gm = np.nanmean(x, axis=(0, 2))
    gs = np.nanstd(x, axis=(0, 2))
    g = n["global_norm"].values[0, :, 0]
    ok = np.isfinite(gm)
    out["global_rel"] = float(max(np.max(np.abs(g[0][ok] - gm[ok]) / np.abs(gm[ok]).clip(1e-6)),
                                  np.max(np.abs(g[1][ok] - gs[ok]) / np.abs(gs[ok]).clip(1e-6))))
out["time"] = [str(v) for v in ds["time"].values]
out["time_stamp"] = [str(v) for v in ds["time_stamp"].values]
print(json.dumps(out))
