#!/usr/bin/python3
"""GRIB test files written by ecCodes (Debian python3-eccodes / libeccodes-tools).

    make_grib.py OUTDIR

pl.grib1           GRIB1 (ecCodes sample), 2° regular lat-lon, t and u on 500/850 hPa, 3 hourly
                   steps, simple packing 16 bits
pl.grib2           the same converted to edition 2 with grib_set -s edition=2
complex.grib2      pl.grib2 repacked with grid_complex_spatial_differencing
complex1.grib2     order-1 spatial differencing, 11 bits
sfc_bitmap.grib1   sst with a bitmap (land missing) and 2t, 12 bits
sfc_bitmap.grib2   the same in edition 2
sn.grib2           t scanned south → north (jScansPositively=1)
reduced.grib2      reduced Gaussian N32 (ecCodes sample) with values
gaussian.grib2     reduced Gaussian N32: t on 500 and 850 hPa and 2t, every 3 h from 2020-01-31 12:00 to
                   2020-02-01 09:00 (the times of the ERA5 sample); gaussian_values.npy (time, field level, point)
ccsds.grib2        pl.grib2 repacked with grid_ccsds (must be refused)
spatial.grib2      complex packing with spatial differencing of order 1 and 2, one with a bitmap,
                   written by NCEP g2c (tests/oracles/g2c_spatial.c)
t_only.grib2, u_cdo.nc   t in GRIB2, u in netCDF4 written by CDO
"""
import os
import subprocess
import sys

import eccodes
import numpy as np

out = sys.argv[1]
os.makedirs(out, exist_ok=True)
S = "/usr/share/eccodes/samples"


def field(name, hour, level, lat, lon):
    la, lo = np.deg2rad(lat)[:, None], np.deg2rad(lon)[None, :]
    base = {"t": 288 - 40 * np.sin(la) ** 2 - 60 * (1 - level / 1000), "u": 25 * np.cos(la) ** 2,
            "sst": 300 - 28 * np.sin(la) ** 2, "2t": 290 - 45 * np.sin(la) ** 2}[name]
    return base + 3 * np.sin(2 * lo + hour / 4) * np.cos(la) + 0.01 * np.cos(7 * lo) * np.sin(5 * la)


def regular(sample, path, items, step=2.0, bits=16, scan_sn=False):
    lat = np.arange(90, -90 - 1e-9, -step)
    lon = np.arange(0, 360, step)
    with open(path, "wb") as f:
        for name, hour, level, type_of_level in items:
            with open(f"{S}/{sample}", "rb") as s:
                h = eccodes.codes_grib_new_from_file(s)
            eccodes.codes_set(h, "Ni", len(lon))
            eccodes.codes_set(h, "Nj", len(lat))
            eccodes.codes_set(h, "latitudeOfFirstGridPointInDegrees", 90.0 if not scan_sn else -90.0)
            eccodes.codes_set(h, "latitudeOfLastGridPointInDegrees", -90.0 if not scan_sn else 90.0)
            eccodes.codes_set(h, "longitudeOfFirstGridPointInDegrees", 0.0)
            eccodes.codes_set(h, "longitudeOfLastGridPointInDegrees", 360.0 - step)
            eccodes.codes_set(h, "iDirectionIncrementInDegrees", step)
            eccodes.codes_set(h, "jDirectionIncrementInDegrees", step)
            if scan_sn:
                eccodes.codes_set(h, "jScansPositively", 1)
            eccodes.codes_set(h, "typeOfLevel", type_of_level)
            eccodes.codes_set(h, "level", level)
            eccodes.codes_set(h, "shortName", name)
            eccodes.codes_set(h, "dataDate", 20200201)
            eccodes.codes_set(h, "dataTime", hour * 100)
            eccodes.codes_set(h, "bitsPerValue", bits)
            v = field(name, hour, level or 1000, lat if not scan_sn else lat[::-1], lon)
            if name == "sst":
                land = np.sin(3 * np.deg2rad(lon))[None, :] * np.cos(2 * np.deg2rad(lat))[:, None] > 0.35
                v = np.where(land, 9999.0, v)
                eccodes.codes_set(h, "missingValue", 9999.0)
                eccodes.codes_set(h, "bitmapPresent", 1)
            eccodes.codes_set_values(h, v.ravel())
            eccodes.codes_write(h, f)
            eccodes.codes_release(h)


pl = [(n, h, l, "isobaricInhPa") for h in (0, 1, 2) for n in ("t", "u") for l in (500, 850)]
regular("GRIB1.tmpl", f"{out}/pl.grib1", pl)
subprocess.run(["grib_set", "-s", "edition=2", f"{out}/pl.grib1", f"{out}/pl.grib2"], check=True)
subprocess.run(["grib_set", "-r", "-s", "packingType=grid_complex_spatial_differencing", f"{out}/pl.grib2", f"{out}/complex.grib2"], check=True)
subprocess.run(["grib_set", "-r", "-s", "packingType=grid_complex_spatial_differencing,orderOfSpatialDifferencing=1,bitsPerValue=11",
                f"{out}/pl.grib2", f"{out}/complex1.grib2"], check=True)
sfc = [("sst", h, 0, "surface") for h in (0, 1)] + [("2t", h, 0, "surface") for h in (0, 1)]
regular("GRIB1.tmpl", f"{out}/sfc_bitmap.grib1", sfc, bits=12)
subprocess.run(["grib_set", "-s", "edition=2", f"{out}/sfc_bitmap.grib1", f"{out}/sfc_bitmap.grib2"], check=True)
regular("GRIB2.tmpl", f"{out}/sn.grib2", [("t", 0, 500, "isobaricInhPa")], scan_sn=True)
with open(f"{S}/reduced_gg_pl_32_grib2.tmpl", "rb") as s:
    h = eccodes.codes_grib_new_from_file(s)
n = eccodes.codes_get(h, "numberOfValues")
lat = eccodes.codes_get_array(h, "latitudes")
lon = eccodes.codes_get_array(h, "longitudes")
eccodes.codes_set(h, "bitsPerValue", 16)
eccodes.codes_set_values(h, 280 + 10 * np.cos(np.deg2rad(lat)) + np.sin(np.deg2rad(lon)))
with open(f"{out}/reduced.grib2", "wb") as f:
    eccodes.codes_write(h, f)
subprocess.run(["grib_set", "-r", "-s", "packingType=grid_ccsds", f"{out}/pl.grib2", f"{out}/ccsds.grib2"], check=True)
# Stratosphere: regular 2° model levels with the L91 hybrid coefficients of ecCodes'
# model-level sample, and pressure levels down to 1 hPa; t, u, v and ozone.
with open(f"{S}/reduced_gg_ml_grib2.tmpl", "rb") as s_:
    h = eccodes.codes_grib_new_from_file(s_)
pv = eccodes.codes_get_array(h, "pv")
eccodes.codes_release(h)
np.save(f"{out}/pv.npy", pv)
half = len(pv) // 2
a, b = pv[:half], pv[half:]


def strato_value(name, p_hpa, hour, lat, lon):
    la, lo = np.deg2rad(lat)[:, None], np.deg2rad(lon)[None, :]
    if name == "o3":
        return 8e-6 * np.exp(-((np.log(p_hpa) - np.log(10)) ** 2) / 2) * (1 + 0.3 * np.cos(la)) + 1e-9 * (2 + np.sin(lo))
    base = {"t": 230 + 20 * np.cos(la) + 10 * np.log10(p_hpa), "u": 30 * np.cos(la) ** 2 + np.log10(p_hpa),
            "v": 5 * np.sin(2 * la) * np.cos(lo)}[name]
    return base + np.sin(2 * lo + hour) * np.cos(la)


def strato(path, type_of_level, levels, pressure_of):
    lat = np.arange(90, -90 - 1e-9, -2.0)
    lon = np.arange(0, 360, 2.0)
    with open(path, "wb") as f:
        for hour in (0, 6):
            for name in ("t", "u", "v", "o3"):
                for level in levels:
                    with open(f"{S}/GRIB2.tmpl", "rb") as s_:
                        h = eccodes.codes_grib_new_from_file(s_)
                    for k, v in (("Ni", 180), ("Nj", 91), ("latitudeOfFirstGridPointInDegrees", 90.0),
                                 ("latitudeOfLastGridPointInDegrees", -90.0), ("longitudeOfFirstGridPointInDegrees", 0.0),
                                 ("longitudeOfLastGridPointInDegrees", 358.0), ("iDirectionIncrementInDegrees", 2.0),
                                 ("jDirectionIncrementInDegrees", 2.0), ("typeOfLevel", type_of_level), ("level", level),
                                 ("paramId", {"t": 130, "u": 131, "v": 132, "o3": 203}[name]), ("dataDate", 20200201),
                                 ("dataTime", hour * 100), ("bitsPerValue", 16)):
                        eccodes.codes_set(h, k, v)
                    if type_of_level == "hybrid":
                        eccodes.codes_set(h, "PVPresent", 1)
                        eccodes.codes_set_array(h, "pv", pv)
                    eccodes.codes_set_values(h, strato_value(name, pressure_of(level), hour, lat, lon).ravel())
                    eccodes.codes_write(h, f)
                    eccodes.codes_release(h)


ml_levels = [1, 5, 10, 20, 30, 40, 50, 60, 91]
strato(f"{out}/strato_ml.grib2", "hybrid", ml_levels, lambda k: ((a[k - 1] + b[k - 1] * 101325) + (a[k] + b[k] * 101325)) / 200)
strato(f"{out}/strato_pl.grib2", "isobaricInhPa", [1, 2, 5, 10, 50, 100, 500], lambda p: p)

# The same t and u split across formats: t in GRIB2, u in netCDF4 written by CDO from GRIB.
subprocess.run(["grib_copy", "-w", "shortName=t", f"{out}/pl.grib2", f"{out}/t_only.grib2"], check=True)
subprocess.run(["grib_copy", "-w", "shortName=u", f"{out}/pl.grib2", f"{out}/u_only.grib2"], check=True)
subprocess.run(["cdo", "-s", "-f", "nc4", "copy", f"{out}/u_only.grib2", f"{out}/u_cdo.nc"], check=True)
# GRIB1 written by CDO (table 128, code 131 = u).
subprocess.run(["cdo", "-s", "-f", "grb1", "-b", "P16", "-settabnum,128", "-setcode,131", f"{out}/u_cdo.nc", f"{out}/u_cdo.grib1"],
               check=True)
# Spatial differencing of order 1 and 2 (ecCodes 2.28 writes order 0): NCEP's g2c.
here = os.path.dirname(os.path.abspath(__file__))
subprocess.run(["cc", f"{here}/g2c_spatial.c", "-lg2c", "-lm", "-o", f"{out}/g2c_spatial"], check=True)
subprocess.run([f"{out}/g2c_spatial", f"{out}/spatial.grib2"], check=True)
print(out)

# Reduced Gaussian N32 time series for convert gaussian (values also saved for the test).
with open(f"{S}/reduced_gg_pl_32_grib2.tmpl", "rb") as s_:
    base = eccodes.codes_grib_new_from_file(s_)
glat = eccodes.codes_get_array(base, "latitudes")
glon = eccodes.codes_get_array(base, "longitudes")
gvalues = []
with open(f"{out}/gaussian.grib2", "wb") as f:
    for k in range(8):
        when = np.datetime64("2020-01-31T12:00") + np.timedelta64(3 * k, "h")
        day = when.astype("datetime64[D]")
        planes = []
        for name, level, type_of_level in (("t", 500, "isobaricInhPa"), ("t", 850, "isobaricInhPa"), ("2t", 2, "heightAboveGround")):
            h = eccodes.codes_clone(base)
            eccodes.codes_set(h, "typeOfLevel", type_of_level)
            eccodes.codes_set(h, "level", level)
            eccodes.codes_set(h, "shortName", name)
            eccodes.codes_set(h, "dataDate", int(str(day).replace("-", "")))
            eccodes.codes_set(h, "dataTime", int((when - day) / np.timedelta64(1, "h")) * 100)
            eccodes.codes_set(h, "bitsPerValue", 16)
            v = (250 + 0.05 * level + 30 * np.cos(np.deg2rad(glat)) + 4 * np.sin(np.deg2rad(glon) + k / 3)
                 + 0.5 * np.cos(5 * np.deg2rad(glon)) * np.sin(3 * np.deg2rad(glat)))
            eccodes.codes_set_values(h, v)
            planes.append(eccodes.codes_get_values(h))
            eccodes.codes_write(h, f)
            eccodes.codes_release(h)
        gvalues.append(planes)
np.save(f"{out}/gaussian_values.npy", np.array(gvalues, dtype=np.float64))
