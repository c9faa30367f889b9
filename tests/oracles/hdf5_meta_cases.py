#!/usr/bin/python3
"""Write netCDF4/HDF5 files for the own HDF5 metadata reader's parity tests.

    hdf5_meta_cases.py OUTDIR

Files come from netCDF-C (through python-netCDF4 and ncgen) and from HDF5
through h5py (libver 'earliest' and 'latest', creation order tracked and
indexed or not): few and many (> 8, dense link storage) variables, few and
many (> 8, dense attribute storage) attributes per variable and globally,
NC_CHAR and NC_STRING attributes, packed shorts, an unlimited dimension,
CDS-like ERA5 files with ~25 GRIB_* attributes per variable, attributes of
every numeric type (scalar, array, empty, big-endian, null dataspace),
vlen and fixed strings, non-ASCII names, subgroups, large dense storage.
Prints a JSON object {files, dense, fallback, corrupt}: `files` the parity
cases, `dense` a netCDF-C file whose variables carry dense attributes,
`fallback` files with what the own reader leaves to h5wasm, `corrupt`
copies of a CDS-like file with one v2 structure of a variable damaged.
"""
import json
import os
import re
import subprocess
import sys

import h5py
import netCDF4
import numpy as np

out = sys.argv[1]
os.makedirs(out, exist_ok=True)
files = []


def grib_attrs(v, name, param):
    """About twenty GRIB_* attributes, as the CDS writes them (dense attribute storage)."""
    v.GRIB_paramId = np.int64(param)
    v.GRIB_dataType = "an"
    v.GRIB_numberOfPoints = np.int64(8 * 16)
    v.GRIB_typeOfLevel = "isobaricInhPa"
    v.GRIB_stepUnits = np.int64(1)
    v.GRIB_stepType = "instant"
    v.GRIB_gridType = "regular_ll"
    v.GRIB_uvRelativeToGrid = np.int64(0)
    v.GRIB_NV = np.int64(0)
    v.GRIB_Nx = np.int64(16)
    v.GRIB_Ny = np.int64(8)
    v.GRIB_cfName = "air_temperature" if name == "t" else "eastward_wind"
    v.GRIB_cfVarName = name
    v.GRIB_gridDefinitionDescription = "Latitude/Longitude Grid"
    v.GRIB_iDirectionIncrementInDegrees = 22.5
    v.GRIB_iScansNegatively = np.int64(0)
    v.GRIB_jDirectionIncrementInDegrees = 22.5
    v.GRIB_jPointsAreConsecutive = np.int64(0)
    v.GRIB_jScansPositively = np.int64(0)
    v.GRIB_latitudeOfFirstGridPointInDegrees = 90.0
    v.GRIB_longitudeOfFirstGridPointInDegrees = 0.0
    v.GRIB_missingValue = 3.4028234663852886e38
    v.GRIB_name = "Temperature" if name == "t" else "U component of wind"
    v.GRIB_shortName = name
    v.GRIB_totalNumber = np.int64(0)
    v.GRIB_units = "K"
    v.long_name = "Temperature"
    v.units = "K"
    v.standard_name = "air_temperature"


def cds_like(path, names, fmt="NETCDF4"):
    """A new-CDS ERA5 file: int64 times, float64 coordinates, string expver, GRIB_* attributes."""
    ds = netCDF4.Dataset(path, "w", format=fmt)
    ds.createDimension("valid_time", 3)
    ds.createDimension("pressure_level", 2)
    ds.createDimension("latitude", 8)
    ds.createDimension("longitude", 16)
    ds.GRIB_centre = "ecmf"
    ds.GRIB_centreDescription = "European Centre for Medium-Range Weather Forecasts"
    ds.GRIB_subCentre = np.int64(0)
    ds.Conventions = "CF-1.7"
    ds.institution = "European Centre for Medium-Range Weather Forecasts"
    ds.history = "2024-05-01T00:00 GRIB to CDM+CF via cfgrib-0.9.14.0/ecCodes-2.35.0 with {'source': 'tmp.grib'}"
    ds.createVariable("number", "i8", ()).long_name = "ensemble member numerical id"
    v = ds.createVariable("valid_time", "i8", ("valid_time",))
    v.units, v.calendar, v.standard_name, v.long_name = "seconds since 1970-01-01", "proleptic_gregorian", "time", "time"
    v[:] = 1577836800 + np.arange(3) * 3600
    v = ds.createVariable("pressure_level", "f8", ("pressure_level",))
    v.units, v.positive, v.stored_direction = "hPa", "down", "decreasing"
    v[:] = [1000, 500]
    v = ds.createVariable("latitude", "f8", ("latitude",))
    v.units, v.standard_name, v.long_name, v.stored_direction = "degrees_north", "latitude", "latitude", "decreasing"
    v[:] = np.linspace(90, -90, 8)
    v = ds.createVariable("longitude", "f8", ("longitude",))
    v.units, v.standard_name, v.long_name = "degrees_east", "longitude", "longitude"
    v[:] = np.arange(16) * 22.5
    e = ds.createVariable("expver", str, ("valid_time",))
    e.long_name = "Experiment version"
    e[:] = np.array(["0001", "0005", "0001"], dtype=object)
    for i, name in enumerate(names):
        v = ds.createVariable(name, "f4", ("valid_time", "pressure_level", "latitude", "longitude"),
                              zlib=True, complevel=1, shuffle=True, fill_value=np.float32(np.nan),
                              chunksizes=(1, 1, 8, 16))
        grib_attrs(v, name, 130 + i)
        v.coordinates = "number valid_time pressure_level latitude longitude expver"
        v[:] = np.arange(3 * 2 * 8 * 16, dtype=np.float32).reshape(3, 2, 8, 16) + i
    ds.close()
    files.append(path)


cds_like(f"{out}/cds_t.nc", ["t"])
cds_like(f"{out}/cds_many.nc", ["t", "u", "v", "z", "q", "r", "w", "vo", "d", "pv"])  # > 8 members: dense links
dense = f"{out}/cds_t.nc"


def nc_file(path, fmt, nvars, many_attrs):
    ds = netCDF4.Dataset(path, "w", format=fmt)
    ds.createDimension("time", None)
    ds.createDimension("lat", 5)
    ds.createDimension("lon", 7)
    ds.title = "parity case"
    if many_attrs:
        for k in range(12):
            setattr(ds, f"g{k:02d}", k * 1.5 if k % 3 == 0 else (np.int32(k) if k % 3 == 1 else f"text {k}"))
        if fmt == "NETCDF4":
            ds.setncattr_string("nc_string_attr", "a NC_STRING")
            ds.setncattr_string("nc_string_list", ["one", "two", ""])
        ds.empty_char = ""
        ds.int_array = np.array([1, 2, 3], dtype=np.int32)
        ds.f64_array = np.array([1.5, -2.25], dtype=np.float64)
        ds.utf8 = "Temperatur über Grund °C"
    t = ds.createVariable("time", "f8", ("time",))
    t.units, t.calendar = "hours since 1900-01-01 00:00:00.0", "gregorian"
    t[:] = np.arange(4) * 6.0
    ds.createVariable("lat", "f4", ("lat",))[:] = np.linspace(-60, 60, 5)
    ds.createVariable("lon", "f4", ("lon",))[:] = np.linspace(0, 300, 7)
    for i in range(nvars):
        v = ds.createVariable(f"v{i:02d}", "i2", ("time", "lat", "lon"), fill_value=np.int16(-32767),
                              zlib=fmt == "NETCDF4")
        v.scale_factor, v.add_offset = np.float64(0.01 * (i + 1)), np.float64(250.0)
        v.missing_value = np.int16(-32767)
        v.units = "K"
        if many_attrs:
            v.valid_range = np.array([-32000, 32000], dtype=np.int16)
            v.long_name = f"packed variable {i}"
            v.i8 = np.int8(-3)
            v.u8 = np.uint8(200) if fmt == "NETCDF4" else np.int8(100)
            v.i64 = np.int64(-(2**40)) if fmt == "NETCDF4" else np.int32(7)
            v.f32 = np.float32(0.1)
            v.f32s = np.array([0.5, 1.5, np.nan], dtype=np.float32)
            v.comment = "many attributes"
            if fmt == "NETCDF4":
                v.setncattr_string("kind", "string attribute")
                v.u16s = np.array([1, 65535], dtype=np.uint16)
                v.u32 = np.uint32(4000000000)
                v.i64s = np.array([1, -2], dtype=np.int64)
        v.set_auto_maskandscale(False)
        v[:] = np.arange(4 * 5 * 7, dtype=np.int16).reshape(4, 5, 7) * (i + 1)
    ds.close()
    files.append(path)


for fmt in ("NETCDF4", "NETCDF4_CLASSIC"):
    for nvars, many in ((2, False), (12, True)):
        nc_file(f"{out}/nc_{fmt.lower()}_{nvars}.nc", fmt, nvars, many)

# ncgen: NC_CHAR vs NC_STRING, empty strings, a subgroup, a scalar variable.
cdl = f"{out}/ncgen.cdl"
with open(cdl, "w") as fh:
    fh.write("""netcdf ncgen {
dimensions:
  x = 3 ;
variables:
  float x(x) ;
    x:units = "m" ;
    x:empty = "" ;
    string x:strs = "a", "bc" ;
    string x:one_str = "single" ;
  double scalar ;
    scalar:note = "scalar variable" ;
  int64 big(x) ;
    big:_FillValue = -9223372036854775807LL ;
    big:chars = "abc" ;
// global attributes:
  :title = "ncgen case" ;
  :int_attr = 1, 2, 3 ;
  :one_int = 5 ;
  :byte_attr = 1b, -2b ;
  :ubyte_attr = 255ub ;
  :us_attr = 65000us ;
  :double_attr = 1.25, 2.5 ;
data:
  x = 1, 2, 3 ;
  scalar = 4.5 ;
  big = 1, 2, 3 ;
group: sub {
  variables:
    float y ;
  data:
    y = 1 ;
  }
}
""")
subprocess.run(["ncgen", "-k", "nc4", "-o", f"{out}/ncgen.nc", cdl], check=True)
files.append(f"{out}/ncgen.nc")

# h5py: earliest (superblock 0, symbol tables, v1 attribute messages) and latest (superblock 3, link and
# attribute messages, dense storage past the compact limit).
for libver in ("earliest", "latest"):
    for ndatasets in (3, 12):
        path = f"{out}/h5py_{libver}_{ndatasets}.h5"
        with h5py.File(path, "w", libver=libver) as f:
            f.attrs["title"] = "h5py case"
            f.attrs["vlen_str"] = h5py.string_dtype().type("variable length")
            f.attrs.create("vlen_strs", ["x", "yz", ""], dtype=h5py.string_dtype())
            f.attrs.create("fixed_ascii", np.bytes_("fixed"))
            f.attrs.create("fixed_space", "spaced  ", dtype=h5py.string_dtype("ascii", 10))
            f.attrs["be_f64"] = np.array([1.5, 2.5], dtype=">f8")
            f.attrs["be_i32"] = np.array(-7, dtype=">i4")
            f.attrs["matrix"] = np.arange(6, dtype=np.int16).reshape(2, 3)
            f.attrs["one_elem"] = np.array([3.25], dtype=np.float32)
            if ndatasets > 8:
                for k in range(10):
                    f.attrs[f"extra{k}"] = np.float32(k)
            f.create_dataset("x", data=np.arange(4, dtype=np.float32)).make_scale("x")
            for i in range(ndatasets):
                d = f.create_dataset(f"d{i:02d}", data=np.arange(4 * (i + 1), dtype=">f4").reshape(4, i + 1),
                                     chunks=(2, 1) if i % 2 else None, compression="gzip" if i % 2 else None)
                d.attrs["units"] = "m"
                d.attrs["code"] = np.uint16(i)
                if ndatasets > 8:
                    for k in range(10):
                        d.attrs[f"a{k}"] = np.int64(k * 1000)
            g = f.create_group("group")
            g.create_dataset("inner", data=[1, 2, 3])
        files.append(path)


# Creation order tracked and indexed (h5py track_order=True, as netCDF-C does): members and attributes in
# creation order, not name order; compact and dense (> 8) both.
for libver in ("earliest", "latest"):
    for n in (3, 12):
        path = f"{out}/h5py_track_{libver}_{n}.h5"
        with h5py.File(path, "w", libver=libver, track_order=True) as f:
            for k in reversed(range(n)):
                f.attrs[f"attr_{k:02d}"] = np.int32(k)
            for i in reversed(range(n)):
                d = f.create_dataset(f"z{i:02d}", data=np.arange(3, dtype=np.float64) + i, track_order=True)
                for k in (5, 1, 9, 0, 7, 3, 8, 2, 6, 4) if n > 8 else (2, 0, 1):
                    d.attrs[f"b{k}"] = f"value {k}"
        files.append(path)

# Creation order tracked but not indexed: HDF5 lists in name order then.
path = f"{out}/h5py_tracked_not_indexed.h5"
fapl = h5py.h5p.create(h5py.h5p.FILE_ACCESS)
fapl.set_libver_bounds(h5py.h5f.LIBVER_LATEST, h5py.h5f.LIBVER_LATEST)
fcpl = h5py.h5p.create(h5py.h5p.FILE_CREATE)
fcpl.set_link_creation_order(h5py.h5p.CRT_ORDER_TRACKED)
fcpl.set_attr_creation_order(h5py.h5p.CRT_ORDER_TRACKED)
with h5py.File(h5py.h5f.create(path.encode(), h5py.h5f.ACC_TRUNC, fcpl=fcpl, fapl=fapl)) as f:
    for k in (3, 1, 2):
        f.attrs[f"c{k}"] = np.float32(k)
    for name in ("b", "c", "a"):
        f.create_dataset(name, data=[1.0, 2.0])
files.append(path)

# Attribute values of every numeric type, scalar, 1-element, array, 2-D, empty, big-endian; null dataspace;
# float16 (h5wasm cannot read it: skipped); strings fixed/vlen, ASCII/UTF-8, bytes 0x80..0xff; non-ASCII
# names (name order is byte order: U+FF21 sorts before U+1F600 in UTF-8, after it in UTF-16).
for libver in ("earliest", "latest"):
    path = f"{out}/h5py_types_{libver}.h5"
    with h5py.File(path, "w", libver=libver) as f:
        d = f.create_dataset("values", data=np.zeros((2, 3), dtype=np.float32))
        for code in ("i1", "u1", "i2", "u2", "i4", "u4", "i8", "u8", "f4", "f8"):
            for order in ("<", ">"):
                t = np.dtype(order + code)
                tag = f"{code}{'be' if order == '>' else ''}"
                top = np.iinfo(t).max if t.kind in "iu" else np.finfo(t).max
                d.attrs[f"s_{tag}"] = np.array(top, dtype=t)
                d.attrs[f"one_{tag}"] = np.array([1], dtype=t)
                d.attrs[f"arr_{tag}"] = np.array([0, 1, top], dtype=t)
            d.attrs[f"empty_{code}"] = np.array([], dtype=code)
        d.attrs["matrix_f8"] = np.arange(6, dtype=np.float64).reshape(2, 3)
        d.attrs["f16"] = np.float16(1.5)
        d.attrs["null"] = h5py.Empty("f4")
        d.attrs["vlen_utf8"] = "grüße ✓"
        d.attrs.create("vlen_ascii", b"caf\xe9 \x80", dtype=h5py.string_dtype("ascii"))
        d.attrs.create("vlen_utf8_list", ["α", "", "βγ"], dtype=h5py.string_dtype("utf-8"))
        d.attrs.create("vlen_one", ["only"], dtype=h5py.string_dtype("utf-8"))
        d.attrs.create("fixed_high", np.bytes_(b"x\x80\x9f\xe9y"))
        d.attrs.create("fixed_utf8", "ünï".encode(), dtype=h5py.string_dtype("utf-8", 8))
        d.attrs.create("fixed_list", np.array([b"ab", b"cde", b""], dtype="S3"))
        d.attrs.create("fixed_nul_inside", np.bytes_(b"ab\x00cd"))
        for name in ("\uff21", "\U0001f600", "Z", "a"):
            d.attrs[name] = name
            f.create_dataset(f"n{name}", data=[1])
        g = f.create_group("links")  # soft links in a subgroup: the root group still reads
        g["to_values"] = h5py.SoftLink("/values")
        g["dangling"] = h5py.SoftLink("/nothing")
    files.append(path)

# Large dense storage: fractal heaps with indirect blocks inside indirect blocks (400 attributes of ~3 KB),
# huge heap objects,
# v2 B-trees two levels deep (600 attributes), link name index with an internal node (100 members).
path = f"{out}/h5py_big_attrs.h5"
with h5py.File(path, "w", libver="latest") as f:
    d = f.create_dataset("v", data=np.arange(3, dtype=np.float32))
    for k in range(400):
        d.attrs[f"big{k:04d}"] = np.bytes_((f"{k:04d}" * 900)[:3000 + k])
files.append(path)
path = f"{out}/h5py_many.h5"
with h5py.File(path, "w", libver="latest") as f:
    for k in range(600):  # > 569 records: a second internal level
        f.attrs[f"a{k:05d}"] = np.int32(k)
    for k in range(100):
        f.create_dataset(f"d{k:05d}", data=np.int8(k % 100))
files.append(path)
path = f"{out}/h5py_huge_attr.h5"  # dense attributes, one too large for the fractal heap's managed blocks
with h5py.File(path, "w", libver="latest") as f:
    d = f.create_dataset("v", data=np.arange(3, dtype=np.float32))
    for k in range(10):
        d.attrs[f"s{k}"] = "x"
    d.attrs["history"] = np.bytes_(b"h" * 70000)
files.append(path)

# What the own metadata reader does not read: the file goes to h5wasm and opens as before.
fallback = []
path = f"{out}/fallback_softlink.h5"
with h5py.File(path, "w", libver="latest") as f:
    f.create_dataset("data", data=np.arange(4, dtype=np.float32)).attrs["units"] = "m"
    f["alias"] = h5py.SoftLink("/data")
fallback.append(path)
path = f"{out}/fallback_compound.nc"
ds = netCDF4.Dataset(path, "w")
ds.createDimension("x", 3)
pair = ds.createCompoundType(np.dtype([("a", "i4"), ("b", "f8")]), "pair")
v = ds.createVariable("x", "f4", ("x",))
v[:] = [1, 2, 3]
v.units = "m"
v.setncattr("pair", np.array([(1, 2.5)], dtype=pair.dtype))
ds.title = "compound attribute"
ds.close()
fallback.append(path)
path = f"{out}/fallback_enum_attr.h5"
with h5py.File(path, "w") as f:
    f.create_dataset("v", data=np.arange(3, dtype=np.int16)).attrs.create(
        "flag", 1, dtype=h5py.enum_dtype({"off": 0, "on": 1}, basetype="i1"))
fallback.append(path)


# A damaged v2 structure (checksum mismatch): one byte flipped in each kind of structure of variable t's dense
# attribute storage in a CDS-like file.
def flipped(src, dst, signature, offset, from_end):
    """One byte flipped in the structure with `signature` `from_end` places before the last (t's are last)."""
    data = bytearray(open(src, "rb").read())
    at = [m.start() for m in re.finditer(re.escape(signature), data)][-1 - from_end]
    data[at + offset] ^= 0x5A
    open(dst, "wb").write(bytes(data))
    return dst


corrupt = []
# (The last v2 B-tree is t's creation-order index, which the reader does not need: its name index comes before.)
for sig, off, from_end in ((b"FRHP", 24, 0), (b"BTHD", 8, 1), (b"FHDB", 30, 0)):
    corrupt.append({"file": flipped(f"{out}/cds_t.nc", f"{out}/corrupt_{sig.decode().lower()}.nc", sig, off, from_end),
                    "var": "t"})

print(json.dumps({"files": files, "dense": dense, "fallback": fallback, "corrupt": corrupt}))
