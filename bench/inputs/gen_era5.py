#!/usr/bin/python3
"""Generate ERA5-like new-CDS netCDF4 input for the conversion benchmark.

    gen_era5.py OUTDIR DAYS [netcdf4|netcdf3]

One file per variable and day (t and u, 5 pressure levels, 24 hourly steps,
0.25° global = 721 × 1440). Each day is 2 × 24 × 5 planes of 4.15 MB = 997 MB
decoded.
  netcdf4 (default): the new CDS layout: float32 values quantised to 16 bits
      as ERA5's are, zlib level 1 + shuffle, chunked per time step and level.
  netcdf3: the old CDS layout: 64-bit offset netCDF3, int16 packed with
      scale_factor/add_offset, time "hours since 1900-01-01 00:00:00.0".
"""
import os
import sys

import netCDF4
import numpy as np
from smooth_noise import smooth_noise  # bench/inputs/, beside this script

out, days = sys.argv[1], int(sys.argv[2])
legacy = len(sys.argv) > 3 and sys.argv[3] == "netcdf3"
os.makedirs(out, exist_ok=True)
lat = np.linspace(90, -90, 721)
lon = np.arange(1440) * 0.25
levels = [1000, 850, 700, 500, 250]
rng = np.random.default_rng(0)
la = np.deg2rad(lat)[:, None]
lo = np.deg2rad(lon)[None, :]
base = {"t": 288 - 40 * np.sin(la) ** 2, "u": 20 * np.cos(la) ** 2}

noise = np.stack([smooth_noise(rng) for _ in range(16)])
t0 = int((np.datetime64("2020-01-01T00:00:00") - np.datetime64("1970-01-01T00:00:00")) / np.timedelta64(1, "s"))
for day in range(days):
    for name in ("t", "u"):
        path = f"{out}/era5_{name}_day{day:03d}.nc"
        if os.path.exists(path):
            continue
        if legacy:
            ds = netCDF4.Dataset(path + ".tmp", "w", format="NETCDF3_64BIT_OFFSET")
            ds.createDimension("longitude", 1440)
            ds.createDimension("latitude", 721)
            ds.createDimension("level", len(levels))
            ds.createDimension("time", None)
            ds.createVariable("longitude", "f4", ("longitude",))[:] = lon
            ds.createVariable("latitude", "f4", ("latitude",))[:] = lat
            v = ds.createVariable("level", "i4", ("level",))
            v.units = "millibars"
            v[:] = levels
            v = ds.createVariable("time", "i4", ("time",))
            v.units, v.calendar = "hours since 1900-01-01 00:00:00.0", "gregorian"
            v[:] = 1051896 + day * 24 + np.arange(24)
            var = ds.createVariable(name, "i2", ("time", "level", "latitude", "longitude"), fill_value=np.int16(-32767))
            lo_v, hi_v = (200.0, 330.0) if name == "t" else (-60.0, 80.0)
            scale = (hi_v - lo_v) / 65534
            var.scale_factor, var.add_offset = scale, lo_v + scale * 32767
            var.missing_value = np.int16(-32767)
            var.set_auto_maskandscale(False)
        else:
            ds = netCDF4.Dataset(path + ".tmp", "w", format="NETCDF4")
            ds.createDimension("valid_time", 24)
            ds.createDimension("pressure_level", len(levels))
            ds.createDimension("latitude", 721)
            ds.createDimension("longitude", 1440)
            v = ds.createVariable("valid_time", "i8", ("valid_time",))
            v.units, v.calendar = "seconds since 1970-01-01", "proleptic_gregorian"
            v[:] = t0 + (day * 24 + np.arange(24)) * 3600
            v = ds.createVariable("pressure_level", "f8", ("pressure_level",))
            v.units = "hPa"
            v[:] = levels
            ds.createVariable("latitude", "f8", ("latitude",))[:] = lat
            ds.createVariable("longitude", "f8", ("longitude",))[:] = lon
            var = ds.createVariable(name, "f4", ("valid_time", "pressure_level", "latitude", "longitude"),
                                    zlib=True, complevel=1, shuffle=True, fill_value=np.float32(np.nan),
                                    chunksizes=(1, 1, 721, 1440))
        var.units = "K" if name == "t" else "m s**-1"
        for h in range(24):
            hour = day * 24 + h
            wave = np.sin(2 * lo + hour * 2 * np.pi / 24 + (1 if name == "u" else 0)) * np.cos(la)
            for k, p in enumerate(levels):
                x = base[name] + 5 * wave * (p / 1000) + noise[(hour + k) % 16]
                if legacy:
                    var[h, k] = np.round((x - var.add_offset) / var.scale_factor).astype(np.int16)
                    continue
                vmin, vmax = float(x.min()), float(x.max())
                step = (vmax - vmin) / 65535
                var[h, k] = (vmin + np.round((x - vmin) / step) * step).astype(np.float32)
        ds.close()
        os.rename(path + ".tmp", path)
    print(f"day {day + 1}/{days}", flush=True)
