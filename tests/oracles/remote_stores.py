"""Small ERA5-like stores as the cloud copies are written, and the same data as a CDS netCDF file.

Usage: remote_stores.py DIR

Writes into DIR, from one xarray Dataset with ARCO-ERA5's names and dims
(time, level, latitude, longitude; latitude 90 -> -90, longitude 0..357, 3 degrees):
  arco_v2.zarr    zarr v2 by xarray/zarr-python, consolidated, Blosc(lz4, shuffle),
                  one time step and all levels per chunk (ARCO's chunking)
  wb2_v2.zarr     zarr v2 by xarray/zarr-python, not consolidated, Blosc(zstd, shuffle),
                  chunks of 2 time steps, 2 levels and 31 x 60 points (several chunks per plane)
  arco_dt64.zarr  arco_v2.zarr with its time coordinate stored as datetime64[ns] in 3 chunks (by zarr-python)
  wb2_lonlat.zarr zarr v2, consolidated, dims (time, [level], longitude, latitude), latitude -90 -> 90
                  (WeatherBench 2's regridded stores)
  arco_v3.zarr    zarr v3 (zarr.json with consolidated metadata, chunk keys c/..., codecs
                  bytes + blosc(zstd, shuffle)) as zarr-python 3 writes it; chunks encoded with numcodecs
  cds.nc          the same data as a new-CDS netCDF4 file (t, u, t2m, msl, sst; valid_time, pressure_level)
Prints a JSON summary.
"""
import json
import os
import sys

import numcodecs
import numpy as np
import xarray as xr

out = sys.argv[1]
os.makedirs(out, exist_ok=True)

times = np.array("2020-01-31T18", dtype="datetime64[ns]") + np.arange(12) * np.timedelta64(1, "h")
levels = np.array([500, 850, 1000], dtype="int64")
lat = np.linspace(90, -90, 61)
lon = np.arange(120) * 3.0
rng = np.random.default_rng(7)
T, L, Y, X = len(times), len(levels), len(lat), len(lon)
yy, xx = np.meshgrid(np.deg2rad(lat), np.deg2rad(lon), indexing="ij")


def field(base, amp, levels_too):
    shape = (T, L, Y, X) if levels_too else (T, Y, X)
    v = base + amp * np.cos(yy) * np.sin(xx) + rng.normal(0, amp / 10, shape)
    if levels_too:
        v = v + np.arange(L)[None, :, None, None] * amp / 3
    v = v + np.arange(T).reshape((T,) + (1,) * (len(shape) - 1)) * amp / 50
    return v.astype("float32")


sst = field(280.0, 10.0, False)
sst[:, np.abs(lat) > 60, :] = np.nan  # "land/ice": NaN as in ERA5's sst
ds = xr.Dataset(
    {
        "temperature": (("time", "level", "latitude", "longitude"), field(250.0, 20.0, True),
                        {"units": "K", "long_name": "Temperature"}),
        "u_component_of_wind": (("time", "level", "latitude", "longitude"), field(5.0, 15.0, True),
                                {"units": "m s**-1", "long_name": "U component of wind"}),
        "2m_temperature": (("time", "latitude", "longitude"), field(285.0, 15.0, False),
                           {"units": "K", "long_name": "2 metre temperature"}),
        "mean_sea_level_pressure": (("time", "latitude", "longitude"), field(101000.0, 800.0, False),
                                    {"units": "Pa", "long_name": "Mean sea level pressure"}),
        "sea_surface_temperature": (("time", "latitude", "longitude"), sst,
                                    {"units": "K", "long_name": "Sea surface temperature"}),
    },
    coords={"time": times, "level": ("level", levels, {"units": "millibars"}),
            "latitude": ("latitude", lat.astype("float32")), "longitude": ("longitude", lon.astype("float32"))},
    attrs={"valid_time_start": "2020-01-31", "valid_time_stop": "2020-02-01"},
)
data_vars = list(ds.data_vars)

# ARCO-like v2: Blosc-LZ4 with byte shuffle (zarr-python 2's default), one time step per chunk.
lz4 = numcodecs.Blosc(cname="lz4", clevel=5, shuffle=numcodecs.Blosc.SHUFFLE)
enc = {v: {"compressor": lz4, "chunks": (1, L, Y, X) if ds[v].ndim == 4 else (1, Y, X)} for v in data_vars}
ds.to_zarr(f"{out}/arco_v2.zarr", mode="w", encoding=enc, consolidated=True)

# WeatherBench-2-like v2, not consolidated, Blosc-zstd, several chunks per plane.
zs = numcodecs.Blosc(cname="zstd", clevel=3, shuffle=numcodecs.Blosc.SHUFFLE)
enc = {v: {"compressor": zs, "chunks": (2, 2, 31, 60) if ds[v].ndim == 4 else (2, 31, 60)} for v in data_vars}
ds.to_zarr(f"{out}/wb2_v2.zarr", mode="w", encoding=enc, consolidated=False)

# The time coordinate as numpy datetime64[ns], as zarr-python stores it when nothing encodes it.
import shutil  # noqa: E402

import zarr  # noqa: E402

shutil.copytree(f"{out}/arco_v2.zarr", f"{out}/arco_dt64.zarr", dirs_exist_ok=True)
g = zarr.open_group(f"{out}/arco_dt64.zarr", mode="a")
del g["time"]
g.create_dataset("time", data=times.astype("datetime64[ns]"), chunks=(5,), compressor=lz4)
g["time"].attrs["_ARRAY_DIMENSIONS"] = ["time"]
zarr.consolidate_metadata(f"{out}/arco_dt64.zarr")

# WeatherBench 2's regridded layout: (time, [level], longitude, latitude) with latitude ascending.
wb2t = ds.transpose("time", "level", "longitude", "latitude").sortby("latitude")
enc = {v: {"compressor": zs} for v in data_vars}
wb2t.to_zarr(f"{out}/wb2_lonlat.zarr", mode="w", encoding=enc, consolidated=True)

# v3 as zarr-python 3 writes it (Debian has no zarr 3: metadata by hand, chunks by numcodecs).
v3 = f"{out}/arco_v3.zarr"
enc_ds = xr.open_zarr(f"{out}/arco_v2.zarr", decode_times=False)  # time as xarray encoded it (int64 + units)
arrays = {}
for name, var in enc_ds.variables.items():
    values = np.asarray(var.values)
    dtype = {"float32": "float32", "float64": "float64", "int64": "int64"}[str(values.dtype)]
    chunks = list(values.shape) if name not in data_vars else ([1] + list(values.shape[1:]))
    codec = numcodecs.Blosc(cname="zstd", clevel=5, shuffle=numcodecs.Blosc.SHUFFLE)
    attrs = {k: (v.item() if hasattr(v, "item") else v) for k, v in var.attrs.items()}
    meta = {
        "zarr_format": 3, "node_type": "array", "shape": list(values.shape), "data_type": dtype,
        "chunk_grid": {"name": "regular", "configuration": {"chunk_shape": chunks}},
        "chunk_key_encoding": {"name": "default", "configuration": {"separator": "/"}},
        "fill_value": "NaN" if dtype.startswith("float") else 0,
        "codecs": [{"name": "bytes", "configuration": {"endian": "little"}},
                   {"name": "blosc", "configuration": {"cname": "zstd", "clevel": 5, "shuffle": "shuffle",
                                                       "typesize": values.dtype.itemsize, "blocksize": 0}}],
        "attributes": attrs, "dimension_names": list(var.dims),
    }
    os.makedirs(f"{v3}/{name}", exist_ok=True)
    with open(f"{v3}/{name}/zarr.json", "w") as f:
        json.dump(meta, f)
    arrays[name] = meta
    grid = [int(np.ceil(s / c)) for s, c in zip(values.shape, chunks)]
    for idx in np.ndindex(*grid):
        sl = tuple(slice(i * c, (i + 1) * c) for i, c in zip(idx, chunks))
        block = np.ascontiguousarray(values[sl])
        path = f"{v3}/{name}/c/" + "/".join(map(str, idx))
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            f.write(codec.encode(block.astype(block.dtype.newbyteorder("<"))))
root = {"zarr_format": 3, "node_type": "group", "attributes": dict(ds.attrs),
        "consolidated_metadata": {"kind": "inline", "must_understand": False, "metadata": arrays}}
with open(f"{v3}/zarr.json", "w") as f:
    json.dump(root, f)

# The same data as the new CDS delivers it (netCDF4, short names, valid_time, pressure_level).
cds = ds.rename({"temperature": "t", "u_component_of_wind": "u", "2m_temperature": "t2m",
                 "mean_sea_level_pressure": "msl", "sea_surface_temperature": "sst",
                 "time": "valid_time", "level": "pressure_level"})
cds["latitude"] = cds["latitude"].astype("float64")
cds["longitude"] = cds["longitude"].astype("float64")
cds["pressure_level"] = cds["pressure_level"].astype("float64")
cds.attrs = {}
cds.to_netcdf(f"{out}/cds.nc", format="NETCDF4",
              encoding={"valid_time": {"units": "seconds since 1970-01-01", "dtype": "int64"}})
print(json.dumps({"dir": out, "times": [str(t)[:19] for t in times], "levels": levels.tolist()}))
