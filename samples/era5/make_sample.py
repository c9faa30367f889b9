#!/usr/bin/python3
"""Write the bundled ERA5 sample with netCDF-C (Debian python3-netcdf4).

Two CDS generations of the same synthetic ERA5-like fields on a 3-degree grid:
  legacy/  old CDS layout: netCDF3 64-bit offset, int16 packed with
           scale_factor/add_offset, _FillValue=missing_value=-32767,
           time int32 "hours since 1900-01-01 00:00:00.0", level in millibars
           (2020-01-31 12:00 .. 23:00)
  new/     new CDS layout: netCDF4 zlib, float32 with NaN _FillValue,
           valid_time int64 "seconds since 1970-01-01", pressure_level,
           expver string per time, scalar number (2020-02-01 00:00 .. 11:00)
Each generation has a pressure-level file (t, u, v at 500/850/1000 hPa) and a
single-level file (t2m, msl, and sst that is NaN over land).
  heldout/ the 24 hours that follow (2020-02-01 12:00 .. 2020-02-02 11:00), new
           CDS layout: the demo trains on legacy/ + new/ and forecasts these
           (the tests' sample is legacy/ + new/ alone)

    make_sample.py OUTDIR             the sample
    make_sample.py --cases OUTDIR     extra files for the tests (bad input, variants)
"""
import os
import sys

import netCDF4
import numpy as np

LAT = np.linspace(90, -90, 61)
LON = np.arange(0, 360, 3.0)
LEVELS = [500, 850, 1000]
EPOCH_1900 = np.datetime64("1900-01-01T00:00:00")


def field(name, hours, level=None, lat=LAT, lon=LON):
    """Smooth ERA5-like values: hours since 1900, level in hPa."""
    la = np.deg2rad(lat)[None, :, None]
    lo = np.deg2rad(lon)[None, None, :]
    h = np.asarray(hours, dtype=np.float64)[:, None, None]
    wave = np.sin(2 * lo + h * 2 * np.pi / 24) * np.cos(la)
    p = 1000.0 if level is None else float(level)
    if name == "t":
        v = 288 - 40 * np.sin(la) ** 2 - 60 * (1 - p / 1000) + 3 * wave
    elif name == "u":
        v = 25 * np.cos(la) ** 2 * (1.5 - p / 1000) + 5 * wave
    elif name == "v":
        v = 8 * np.sin(2 * la) * np.cos(lo + h / 7) + 2 * wave
    elif name == "t2m":
        v = 290 - 45 * np.sin(la) ** 2 + 6 * wave
    elif name == "msl":
        v = 101325 + 1500 * np.cos(3 * la) * np.sin(lo - h / 11) + 200 * wave
    elif name == "sst":
        v = 300 - 28 * np.sin(la) ** 2 + 0.5 * wave
        land = (np.sin(3 * lo) * np.cos(2 * la) > 0.35) | (np.abs(lat)[None, :, None] > 75)
        v = np.where(land, np.nan, v)
    else:
        raise ValueError(name)
    return np.broadcast_to(v, (len(hours), len(lat), len(lon))).astype(np.float64)


UNITS = {"t": ("K", "Temperature"), "u": ("m s**-1", "U component of wind"),
         "v": ("m s**-1", "V component of wind"), "t2m": ("K", "2 metre temperature"),
         "msl": ("Pa", "Mean sea level pressure"), "sst": ("K", "Sea surface temperature")}


def hours_of(start, n):
    t0 = (np.datetime64(start) - EPOCH_1900) / np.timedelta64(1, "h")
    return np.arange(n) + t0


def pack(values):
    """CDS legacy packing: 16 bits between min and max, -32767 reserved for missing."""
    vmin, vmax = np.nanmin(values), np.nanmax(values)
    scale = (vmax - vmin) / (2 ** 16 - 2) or 1.0
    offset = vmin + scale * 32766
    packed = np.round((values - offset) / scale)
    return np.where(np.isnan(values), -32767, packed).astype(np.int16), scale, offset


def write_legacy(path, names, hours, levels=None, lat=LAT, lon=LON, expver_split=None):
    ds = netCDF4.Dataset(path, "w", format="NETCDF3_64BIT_OFFSET")
    ds.Conventions = "CF-1.6"
    ds.history = "sample written by make_sample.py (netCDF-C via python3-netcdf4)"
    ds.createDimension("longitude", len(lon))
    ds.createDimension("latitude", len(lat))
    if levels:
        ds.createDimension("level", len(levels))
    if expver_split is not None:
        ds.createDimension("expver", 2)
    ds.createDimension("time", None)
    v = ds.createVariable("longitude", "f4", ("longitude",))
    v.units, v.long_name = "degrees_east", "longitude"
    v[:] = lon
    v = ds.createVariable("latitude", "f4", ("latitude",))
    v.units, v.long_name = "degrees_north", "latitude"
    v[:] = lat
    if levels:
        v = ds.createVariable("level", "i4", ("level",))
        v.units, v.long_name = "millibars", "pressure_level"
        v[:] = levels
    if expver_split is not None:
        v = ds.createVariable("expver", "i4", ("expver",))
        v.long_name = "expver"
        v[:] = [1, 5]
    v = ds.createVariable("time", "i4", ("time",))
    v.units, v.long_name, v.calendar = "hours since 1900-01-01 00:00:00.0", "time", "gregorian"
    v[:] = hours
    for name in names:
        dims = ("time",) + (("expver",) if expver_split is not None else ()) + (("level",) if levels else ()) + ("latitude", "longitude")
        if levels:
            values = np.stack([field(name, hours, lv, lat, lon) for lv in levels], axis=1)
        else:
            values = field(name, hours, None, lat, lon)
        if expver_split is not None:
            both = np.full((values.shape[0], 2) + values.shape[1:], np.nan)
            both[:expver_split, 0] = values[:expver_split]
            both[expver_split:, 1] = values[expver_split:]
            values = both
        packed, scale, offset = pack(values)
        var = ds.createVariable(name, "i2", dims, fill_value=np.int16(-32767))
        var.scale_factor, var.add_offset = scale, offset
        var.missing_value = np.int16(-32767)
        var.units, var.long_name = UNITS[name]
        var.set_auto_maskandscale(False)
        var[:] = packed
    ds.close()


def write_new(path, names, hours, levels=None, lat=LAT, lon=LON, era5t_from=None):
    ds = netCDF4.Dataset(path, "w", format="NETCDF4")
    ds.Conventions = "CF-1.7"
    ds.institution = "European Centre for Medium-Range Weather Forecasts"
    ds.createDimension("valid_time", len(hours))
    if levels:
        ds.createDimension("pressure_level", len(levels))
    ds.createDimension("latitude", len(lat))
    ds.createDimension("longitude", len(lon))
    v = ds.createVariable("number", "i8")
    v.long_name = "ensemble member numerical id"
    v[...] = 0
    v = ds.createVariable("valid_time", "i8", ("valid_time",))
    v.units, v.calendar, v.standard_name = "seconds since 1970-01-01", "proleptic_gregorian", "time"
    v[:] = np.round((np.asarray(hours) * 3600 + (EPOCH_1900 - np.datetime64("1970-01-01T00:00:00")) / np.timedelta64(1, "s"))).astype(np.int64)
    if levels:
        v = ds.createVariable("pressure_level", "f8", ("pressure_level",))
        v.units, v.long_name, v.stored_direction = "hPa", "pressure", "decreasing"
        v[:] = sorted(levels, reverse=True)
    v = ds.createVariable("latitude", "f8", ("latitude",))
    v.units, v.standard_name, v.stored_direction = "degrees_north", "latitude", "decreasing"
    v[:] = lat
    v = ds.createVariable("longitude", "f8", ("longitude",))
    v.units, v.standard_name = "degrees_east", "longitude"
    v[:] = lon
    v = ds.createVariable("expver", str, ("valid_time",))
    for i in range(len(hours)):
        v[i] = "0005" if era5t_from is not None and i >= era5t_from else "0001"
    for name in names:
        dims = ("valid_time",) + (("pressure_level",) if levels else ()) + ("latitude", "longitude")
        if levels:
            values = np.stack([field(name, hours, lv, lat, lon) for lv in sorted(levels, reverse=True)], axis=1)
        else:
            values = field(name, hours, None, lat, lon)
        # ERA5 values are 16-bit quantised (GRIB simple packing) before CDS writes float32.
        vmin, vmax = np.nanmin(values), np.nanmax(values)
        step = (vmax - vmin) / 65535 or 1.0
        values = vmin + np.round((values - vmin) / step) * step
        var = ds.createVariable(name, "f4", dims, zlib=True, complevel=1, shuffle=True,
                                fill_value=np.float32(np.nan),
                                chunksizes=(1,) + ((1,) if levels else ()) + (len(lat), len(lon)))
        var.units, var.long_name = UNITS[name]
        var.GRIB_paramId = {"t": 130, "u": 131, "v": 132, "t2m": 167, "msl": 151, "sst": 34}[name]
        var[:] = values.astype(np.float32)
    ds.close()


def sample(out):
    os.makedirs(f"{out}/legacy", exist_ok=True)
    os.makedirs(f"{out}/new", exist_ok=True)
    jan31 = hours_of("2020-01-31T12:00", 12)
    feb1 = hours_of("2020-02-01T00:00", 12)
    write_legacy(f"{out}/legacy/era5_pressure_levels_20200131.nc", ["t", "u", "v"], jan31, LEVELS)
    write_legacy(f"{out}/legacy/era5_single_levels_20200131.nc", ["t2m", "msl", "sst"], jan31)
    write_new(f"{out}/new/era5_pressure_levels_20200201.nc", ["t", "u", "v"], feb1, LEVELS, era5t_from=8)
    write_new(f"{out}/new/era5_single_levels_20200201.nc", ["t2m", "msl", "sst"], feb1, era5t_from=8)
    heldout(out)


def heldout(out):
    """The day after the sample, for the demo's held-out forecasts."""
    os.makedirs(f"{out}/heldout", exist_ok=True)
    later = hours_of("2020-02-01T12:00", 24)
    write_new(f"{out}/heldout/era5_pressure_levels_20200201T12.nc", ["t", "u", "v"], later, LEVELS, era5t_from=0)
    write_new(f"{out}/heldout/era5_single_levels_20200201T12.nc", ["t2m", "msl", "sst"], later, era5t_from=0)


def cases(out):
    os.makedirs(out, exist_ok=True)
    feb2 = hours_of("2020-02-02T00:00", 12)
    # A day later than the sample ends: joined with it, it leaves a 12-hour gap.
    write_new(f"{out}/gap_20200202.nc", ["t2m"], feb2)
    # A different grid (2 degrees).
    write_new(f"{out}/other_grid.nc", ["t2m"], hours_of("2020-02-01T12:00", 2),
              lat=np.linspace(90, -90, 91), lon=np.arange(0, 360, 2.0))
    # Same data as new/ single levels, but latitude south→north and longitude −180..177.
    write_new(f"{out}/flipped_grid.nc", ["t2m", "msl", "sst"], hours_of("2020-02-01T00:00", 12),
              lat=LAT[::-1].copy(), lon=np.concatenate([LON[60:] - 360, LON[:60]]))
    # Old CDS mixed ERA5/ERA5T request: an expver dimension with NaN-complementary halves.
    write_legacy(f"{out}/expver_legacy.nc", ["t2m"], hours_of("2020-02-01T00:00", 12), expver_split=7)
    # A variable the sample does not have; a netCDF3 classic file.
    ds = netCDF4.Dataset(f"{out}/classic.nc", "w", format="NETCDF3_CLASSIC")
    ds.createDimension("time", 2)
    ds.createDimension("latitude", len(LAT))
    ds.createDimension("longitude", len(LON))
    t = ds.createVariable("time", "f8", ("time",))
    t.units, t.calendar = "days since 2020-02-01", "noleap"
    t[:] = [0.5, 0.5 + 1 / 24]
    ds.createVariable("latitude", "f4", ("latitude",))[:] = LAT
    ds.createVariable("longitude", "f4", ("longitude",))[:] = LON
    v = ds.createVariable("tcc", "f4", ("time", "latitude", "longitude"))
    v.units = "(0 - 1)"
    v[:] = np.clip(field("t2m", hours_of("2020-02-01T12:00", 2)) / 300 - 0.5, 0, 1)
    ds.close()


if __name__ == "__main__":
    if sys.argv[1] == "--cases":
        cases(sys.argv[2])
    else:
        sample(sys.argv[1])
