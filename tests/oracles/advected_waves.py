"""Write ERA5-like netCDF4 files (new CDS layout) of waves advected by a known wind, for the forecast tests.

t at 850 hPa and t2m on a 5° global grid, hourly: a zonal wave train moving east at 5°/h (solid-body
rotation, the known wind), a second one moving west at 3°/h, and a slowly moving meridional pattern;
so persistence has a large error and the future is a shift of the past.

usage: advected_waves.py OUT_DIR STEPS [RESOLUTION_DEG] [STEP_HOURS] [regional]
(regional: 70°N–20°N, 0°–120°E, no longitude wrap)
"""
import sys
import netCDF4
import numpy as np

out, hours = sys.argv[1], int(sys.argv[2])
res = float(sys.argv[3]) if len(sys.argv) > 3 else 5.0
step = int(sys.argv[4]) if len(sys.argv) > 4 else 1
regional = len(sys.argv) > 5 and sys.argv[5] == "regional"
lat = np.linspace(90, -90, int(round(180 / res)) + 1)
lon = np.arange(0, 360, res)
if regional:
    lat = lat[(lat <= 70) & (lat >= 20)]
    lon = lon[lon <= 120]
t0 = 1577836800  # 2020-01-01T00Z
la = np.deg2rad(lat)[None, :, None]
h = step * np.arange(hours)[:, None, None]


def waves(base, amp):
    lo1 = np.deg2rad(lon[None, None, :] - 5.0 * h)
    lo2 = np.deg2rad(lon[None, None, :] + 3.0 * h)
    v = base - 30 * np.sin(la) ** 2
    v = v + amp * np.cos(la) * np.sin(3 * lo1) + 0.6 * amp * np.cos(la) ** 2 * np.cos(2 * lo2)
    v = v + 0.4 * amp * np.sin(2 * la) * np.sin(lo1 + np.deg2rad(2.0 * h))
    return v.astype(np.float32)


def write(path, name, values, level=None):
    ds = netCDF4.Dataset(path, "w", format="NETCDF4")
    ds.createDimension("valid_time", hours)
    if level is not None:
        ds.createDimension("pressure_level", 1)
    ds.createDimension("latitude", len(lat))
    ds.createDimension("longitude", len(lon))
    v = ds.createVariable("valid_time", "i8", ("valid_time",))
    v.units, v.calendar, v.standard_name = "seconds since 1970-01-01", "proleptic_gregorian", "time"
    v[:] = t0 + 3600 * step * np.arange(hours)
    if level is not None:
        v = ds.createVariable("pressure_level", "f8", ("pressure_level",))
        v.units = "hPa"
        v[:] = [level]
    v = ds.createVariable("latitude", "f8", ("latitude",))
    v.units, v.standard_name = "degrees_north", "latitude"
    v[:] = lat
    v = ds.createVariable("longitude", "f8", ("longitude",))
    v.units, v.standard_name = "degrees_east", "longitude"
    v[:] = lon
    dims = ("valid_time",) + (("pressure_level",) if level is not None else ()) + ("latitude", "longitude")
    var = ds.createVariable(name, "f4", dims)
    var.units = "K"
    var.long_name = name
    var[:] = values[:, None] if level is not None else values
    ds.close()


write(f"{out}/waves_pl.nc", "t", waves(280.0, 8.0), 850)
write(f"{out}/waves_sfc.nc", "t2m", waves(290.0, 5.0))
print("ok")
