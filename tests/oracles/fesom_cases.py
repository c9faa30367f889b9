#!/usr/bin/python3
"""FESOM test inputs written with netCDF-C (python3-netcdf4), derived from the real pi files.

    fesom_cases.py SAMPLE_OUTPUT_DIR SAMPLE_MESH_DIR OUTDIR

legacy/      the same 1985 data in the FESOM 2.0/2.1 layout (time, nod2|elem, nz1),
             unprefixed global attributes, no nz1 coordinate, and a legacy mesh
             diag (nodes(n2, nod2), elements(n3, elem), negative nz/nz1, 0 = no neighbour)
fill27/      a 2.7.x-style sea-ice field: real zeros became the fill value, and temp
             with dry cells filled
noleap/      a March 1988 monthly mean of a run without leap years
bad/         sst on a 100-node mesh; an ASCII mesh whose nod2d.out header is wrong
"""
import os
import shutil
import sys

import netCDF4
import numpy as np

src, mesh_dir, out = sys.argv[1], sys.argv[2], sys.argv[3]
FILL = np.float32(9.969209968386869e36)


def copy_attrs(a, b, rename=None):
    for k in a.ncattrs():
        if k == "_FillValue":
            continue
        b.setncattr((rename or (lambda x: x))(k), a.getncattr(k))


def legacy_file(name):
    s = netCDF4.Dataset(f"{src}/{name}.fesom.1985.nc")
    v = s[name]
    os.makedirs(f"{out}/legacy", exist_ok=True)
    d = netCDF4.Dataset(f"{out}/legacy/{name}.fesom.1985.nc", "w", format="NETCDF4_CLASSIC")
    copy_attrs(s, d, lambda k: k.replace("FESOM_", ""))
    point = [x for x in v.dimensions if x in ("nod2", "elem")][0]
    d.createDimension(point, s.dimensions[point].size)
    if "nz1" in v.dimensions:
        d.createDimension("nz1", s.dimensions["nz1"].size)
    d.createDimension("time", None)
    t = d.createVariable("time", "f8", ("time",))
    copy_attrs(s["time"], t)
    t[:] = s["time"][:]
    dims = ("time", point, "nz1") if "nz1" in v.dimensions else ("time", point)
    nv = d.createVariable(name, "f4", dims, zlib=True)
    for k in ("description", "long_name", "units"):
        nv.setncattr(k, v.getncattr(k))
    data = v[:]
    nv[:] = np.transpose(data, (0, 2, 1)) if "nz1" in v.dimensions else data
    d.close()


for name in ("sst", "temp", "v"):
    legacy_file(name)

# Legacy mesh diag.
m = netCDF4.Dataset(f"{src}/fesom.mesh.diag.nc")
d = netCDF4.Dataset(f"{out}/legacy/fesom.mesh.diag.nc", "w", format="NETCDF4_CLASSIC")
nod2, elem, nz = m.dimensions["nod2"].size, m.dimensions["elem"].size, m.dimensions["nz"].size
for k, n in (("nod2", nod2), ("elem", elem), ("nz", nz), ("nz1", nz - 1), ("n2", 2), ("n3", 3)):
    d.createDimension(k, n)
d.createVariable("nodes", "f8", ("n2", "nod2"))[:] = np.stack([m["lon"][:], m["lat"][:]])
d.createVariable("elements", "i4", ("n3", "elem"))[:] = m["face_nodes"][:]
d.createVariable("nz", "f8", ("nz",))[:] = -np.abs(m["nz"][:])
d.createVariable("nz1", "f8", ("nz1",))[:] = -np.abs(m["nz1"][:])
d.createVariable("nlevels_nod2D", "i4", ("nod2",))[:] = m["nlevels_nod2D"][:]
d.createVariable("nlevels", "i4", ("elem",))[:] = m["nlevels"][:]
d.createVariable("nod_area", "f8", ("nz", "nod2"))[:] = m["nod_area"][:]
d.createVariable("elem_area", "f8", ("elem",))[:] = m["elem_area"][:]
d.close()

# 2.7.x fill behaviour: a_ice with real zeros swallowed, temp with dry cells filled.
os.makedirs(f"{out}/fill27", exist_ok=True)
sst = netCDF4.Dataset(f"{src}/sst.fesom.1985.nc")
lat = m["lat"][:]
a_ice = np.where(np.abs(lat) > 60, np.clip((np.abs(lat) - 60) / 20, 0, 1), 0.0).astype(np.float32)
d = netCDF4.Dataset(f"{out}/fill27/a_ice.fesom.1985.nc", "w", format="NETCDF4_CLASSIC")
copy_attrs(sst, d)
d.createDimension("nod2", nod2)
d.createDimension("time", None)
t = d.createVariable("time", "f8", ("time",))
copy_attrs(sst["time"], t)
t[:] = sst["time"][:]
v = d.createVariable("a_ice", "f4", ("time", "nod2"), fill_value=FILL)
v.units, v.long_name = "", "ice concentration"
v.set_auto_maskandscale(False)
v[:] = np.where(np.abs(a_ice) < 1e-30, FILL, a_ice)[None]
d.close()
temp = netCDF4.Dataset(f"{src}/temp.fesom.1985.nc")
d = netCDF4.Dataset(f"{out}/fill27/temp.fesom.1985.nc", "w", format="NETCDF4_CLASSIC")
copy_attrs(temp, d)
d.createDimension("nz1", nz - 1)
d.createDimension("nod2", nod2)
d.createDimension("time", None)
t = d.createVariable("time", "f8", ("time",))
copy_attrs(temp["time"], t)
t[:] = temp["time"][:]
v = d.createVariable("temp", "f4", ("time", "nz1", "nod2"), fill_value=FILL)
v.units = "C"
v.set_auto_maskandscale(False)
x = temp["temp"][:]
nlev = m["nlevels_nod2D"][:]
dry = np.arange(nz - 1)[:, None] >= (nlev - 1)[None, :]
v[:] = np.where(dry[None], FILL, x)
d.close()

# A run without leap years: the March 1988 mean, stamped one 360 s step before 1 April.
os.makedirs(f"{out}/noleap", exist_ok=True)
d = netCDF4.Dataset(f"{out}/noleap/sst.fesom.1988.nc", "w", format="NETCDF4_CLASSIC")
copy_attrs(sst, d)
d.setncattr("FESOM_include_fleapyear", 0)
d.createDimension("nod2", nod2)
d.createDimension("time", None)
t = d.createVariable("time", "f8", ("time",))
t.units = "seconds since 1988-01-01 0:0:0"
t[:] = [(31 + 28 + 31) * 86400 - 360]
d.createVariable("sst", "f4", ("time", "nod2"))[:] = sst["sst"][:]
d.close()

# Two monthly records in one file (January and February 1985); February is January + 1.
os.makedirs(f"{out}/twomonths", exist_ok=True)
d = netCDF4.Dataset(f"{out}/twomonths/sst.fesom.1985.nc", "w", format="NETCDF4_CLASSIC")
copy_attrs(sst, d)
d.createDimension("nod2", nod2)
d.createDimension("time", None)
t = d.createVariable("time", "f8", ("time",))
copy_attrs(sst["time"], t)
t[:] = [31 * 86400 - 360, (31 + 28) * 86400 - 360]
d.createVariable("sst", "f4", ("time", "nod2"))[:] = np.concatenate([sst["sst"][:], sst["sst"][:] + 1])
d.close()

# The sst of December 2019 and January 2020 (one yearly file each), to sit under the ERA5 sample.
os.makedirs(f"{out}/y2020", exist_ok=True)
for year, stamp, shift in ((2019, 365 * 86400 - 360, 0.0), (2020, 31 * 86400 - 360, 0.5)):
    d = netCDF4.Dataset(f"{out}/y2020/sst.fesom.{year}.nc", "w", format="NETCDF4_CLASSIC")
    copy_attrs(sst, d)
    d.createDimension("nod2", nod2)
    d.createDimension("time", None)
    t = d.createVariable("time", "f8", ("time",))
    t.units = f"seconds since {year}-01-01 0:0:0"
    t[:] = [stamp]
    d.createVariable("sst", "f4", ("time", "nod2"))[:] = sst["sst"][:] + shift
    d.close()

# Bad input.
os.makedirs(f"{out}/bad", exist_ok=True)
d = netCDF4.Dataset(f"{out}/bad/sst.other.1985.nc", "w", format="NETCDF4_CLASSIC")
d.createDimension("nod2", 100)
d.createDimension("time", None)
t = d.createVariable("time", "f8", ("time",))
t.units = "seconds since 1985-01-01 0:0:0"
t[:] = [2678040]
d.createVariable("sst", "f4", ("time", "nod2"))[:] = np.zeros((1, 100))
d.close()
shutil.copytree(mesh_dir, f"{out}/bad/mesh")
with open(f"{out}/bad/mesh/nod2d.out") as f:
    lines = f.read().split("\n")
lines[0] = str(int(lines[0]) + 1)
with open(f"{out}/bad/mesh/nod2d.out", "w") as f:
    f.write("\n".join(lines))
print(out)
