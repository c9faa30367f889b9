#!/usr/bin/python3
"""Write netCDF4/HDF5 files for the own HDF5 chunk reader's tests.

    hdf5_cases.py OUTDIR

Files are written by netCDF-C (through python-netCDF4, and ncgen for the
compact layout) and by HDF5 through h5py with libver='latest' (which uses
the fixed-array, extensible-array, v2 B-tree, single-chunk and implicit
chunk indexes). For every variable the values as HDF5 decodes them (raw:
no CF masking or scaling) are written little-endian to OUTDIR/NAME.bin.
Prints a JSON list of {file, var, writer, storage, filters, bin, shape, dtype}
and, for the corruption test, {corrupt: [...]} entries: a copy of a file
with bytes flipped inside one chunk, and which chunk that is.
"""
import json
import os
import shutil
import subprocess
import sys

import h5py
import netCDF4
import numpy as np

out = sys.argv[1]
os.makedirs(out, exist_ok=True)
rng = np.random.default_rng(7)
cases = []


def field(shape, dtype):
    """Smooth values plus noise, like a weather field (so deflate has work to do)."""
    n = int(np.prod(shape))
    x = np.cumsum(rng.standard_normal(n)).reshape(shape) * 0.1 + 250
    if np.dtype(dtype).kind in "iu":
        info = np.iinfo(dtype)
        x = np.clip(np.round(x - 250) * 37, info.min + 1, info.max)
    return x.astype(dtype)


def expect(path, var, writer, storage, filters, values):
    name = f"{os.path.basename(path)}.{var}.bin"
    arr = np.ascontiguousarray(values)
    arr.astype(arr.dtype.newbyteorder("<")).tofile(os.path.join(out, name))
    cases.append({"file": path, "var": var, "writer": writer, "storage": storage, "filters": filters,
                  "bin": name, "shape": list(arr.shape), "dtype": arr.dtype.name})


def nc_raw(path, var):
    with netCDF4.Dataset(path) as ds:
        v = ds[var]
        v.set_auto_maskandscale(False)
        return v[...]


# --- netCDF-C ---------------------------------------------------------------------------------
shape4, chunks4 = (7, 3, 37, 53), (2, 2, 16, 20)  # partial edge chunks in every dimension
for level in range(1, 10):
    for shuffle in (True, False):
        path = f"{out}/nc_deflate{level}{'_shuffle' if shuffle else ''}.nc"
        with netCDF4.Dataset(path, "w", format="NETCDF4") as ds:
            for d, n in zip("tzyx", shape4):
                ds.createDimension(d, n)
            v = ds.createVariable("v", "f4", tuple("tzyx"), zlib=True, complevel=level, shuffle=shuffle,
                                  chunksizes=chunks4)
            v[:] = field(shape4, "f4")
        expect(path, "v", "netCDF-C", "btree1", ("shuffle+" if shuffle else "") + "deflate", nc_raw(path, "v"))

path = f"{out}/nc_types.nc"
with netCDF4.Dataset(path, "w", format="NETCDF4") as ds:
    for d, n in zip("tyx", (5, 19, 23)):
        ds.createDimension(d, n)
    for name, dt in (("s", "i2"), ("d", "f8"), ("i", "i4"), ("b", "i1"), ("us", "u2")):
        v = ds.createVariable(name, dt, ("t", "y", "x"), zlib=True, complevel=4, shuffle=True, chunksizes=(2, 8, 8))
        v[:] = field((5, 19, 23), dt)
    v = ds.createVariable("big", "f4", ("t", "y", "x"), zlib=True, shuffle=True, endian="big", chunksizes=(3, 10, 10))
    v[:] = field((5, 19, 23), "f4")
    v = ds.createVariable("big_plain", "i4", ("t", "y", "x"), endian="big", contiguous=True)
    v[:] = field((5, 19, 23), "i4")
for name, filters in (("s", "shuffle+deflate"), ("d", "shuffle+deflate"), ("i", "shuffle+deflate"),
                      ("b", "shuffle+deflate"), ("us", "shuffle+deflate"), ("big", "shuffle+deflate")):
    expect(path, name, "netCDF-C", "btree1", filters, nc_raw(path, name))
expect(path, "big_plain", "netCDF-C", "contiguous", "", nc_raw(path, "big_plain"))

path = f"{out}/nc_contiguous.nc"
with netCDF4.Dataset(path, "w", format="NETCDF4") as ds:
    for d, n in zip("tyx", (4, 30, 41)):
        ds.createDimension(d, n)
    v = ds.createVariable("v", "f4", ("t", "y", "x"), contiguous=True)
    v[:] = field((4, 30, 41), "f4")
expect(path, "v", "netCDF-C", "contiguous", "", nc_raw(path, "v"))

path = f"{out}/nc_fletcher32.nc"
with netCDF4.Dataset(path, "w", format="NETCDF4") as ds:
    for d, n in zip("tyx", (6, 33, 47)):
        ds.createDimension(d, n)
    v = ds.createVariable("v", "f4", ("t", "y", "x"), zlib=True, complevel=2, shuffle=True, fletcher32=True,
                          chunksizes=(2, 16, 16))
    v[:] = field((6, 33, 47), "f4")
    v = ds.createVariable("plain", "i2", ("t", "y", "x"), fletcher32=True, chunksizes=(3, 11, 47))
    v[:] = field((6, 33, 47), "i2")
expect(path, "v", "netCDF-C", "btree1", "fletcher32+shuffle+deflate", nc_raw(path, "v"))
expect(path, "plain", "netCDF-C", "btree1", "fletcher32", nc_raw(path, "plain"))

# Unlimited time, appended in several writes; one chunk along time is never written (fill value).
path = f"{out}/nc_unlimited.nc"
with netCDF4.Dataset(path, "w", format="NETCDF4") as ds:
    ds.createDimension("time", None)
    ds.createDimension("lat", 25)
    ds.createDimension("lon", 36)
    v = ds.createVariable("v", "f4", ("time", "lat", "lon"), zlib=True, complevel=1, shuffle=True,
                          chunksizes=(4, 13, 36), fill_value=np.float32(-999.5))
    w = ds.createVariable("w", "f4", ("time", "lat", "lon"), zlib=True, complevel=1, shuffle=True,
                          chunksizes=(1, 25, 36))
    for t0 in range(0, 22, 3):
        v[t0:t0 + 3] = field((3, 25, 36), "f4")
    for t in range(24):
        if t not in (5, 6):
            w[t] = field((25, 36), "f4")
expect(path, "v", "netCDF-C", "btree1", "shuffle+deflate", nc_raw(path, "v"))
expect(path, "w", "netCDF-C", "btree1", "shuffle+deflate", nc_raw(path, "w"))

# Many chunks: a B-tree of more than one level.
path = f"{out}/nc_manychunks.nc"
with netCDF4.Dataset(path, "w", format="NETCDF4") as ds:
    ds.createDimension("time", None)
    ds.createDimension("y", 40)
    v = ds.createVariable("v", "f4", ("time", "y"), zlib=True, complevel=1, shuffle=False, chunksizes=(1, 40))
    v[0:300] = field((300, 40), "f4")
expect(path, "v", "netCDF-C", "btree1", "deflate", nc_raw(path, "v"))

# Compact storage through ncgen's _Storage attribute.
cdl = f"{out}/nc_compact.cdl"
with open(cdl, "w") as f:
    f.write("netcdf nc_compact {\ndimensions:\n  x = 7 ;\n  y = 3 ;\nvariables:\n"
            "  float v(y, x) ;\n    v:_Storage = \"compact\" ;\n  short s(x) ;\n    s:_Storage = \"compact\" ;\n"
            "data:\n  v = " + ", ".join(str(0.5 * i - 3.25) for i in range(21)) + " ;\n"
            "  s = -3, 7, 11, -32000, 5, 0, 32000 ;\n}\n")
path = f"{out}/nc_compact.nc"
subprocess.run(["ncgen", "-k", "nc4", "-o", path, cdl], check=True)
expect(path, "v", "netCDF-C", "compact", "", nc_raw(path, "v"))
expect(path, "s", "netCDF-C", "compact", "", nc_raw(path, "s"))

# --- HDF5 1.10+ format through h5py -----------------------------------------------------------
path = f"{out}/h5_latest.h5"
with h5py.File(path, "w", libver="latest") as f:
    f.create_dataset("fixed", data=field((9, 31, 45), "f4"), chunks=(4, 16, 16), compression="gzip",
                     compression_opts=3, shuffle=True)
    f.create_dataset("fixed_plain", data=field((9, 31, 45), "i2"), chunks=(4, 16, 16))
    f.create_dataset("fixed_paged", data=field((50, 60), "f4"), chunks=(1, 2), compression="gzip")
    f.create_dataset("fixed_fletcher", data=field((9, 31, 45), "f4"), chunks=(4, 16, 16), compression="gzip",
                     shuffle=True, fletcher32=True)
    f.create_dataset("fixed_big", data=field((9, 31, 45), "f4").astype(">f4"), chunks=(4, 16, 16),
                     compression="gzip", shuffle=True)
    f.create_dataset("single", data=field((5, 31, 45), "f4"), chunks=(5, 31, 45), compression="gzip",
                     shuffle=True)
    f.create_dataset("single_plain", data=field((5, 31, 45), "f8"), chunks=(5, 31, 45))
    f.create_dataset("contiguous", data=field((5, 31, 45), "f4"))
    f.create_dataset("compact", data=field((4, 6), "f4"), **{})
    ea = f.create_dataset("extensible", shape=(0, 21, 30), maxshape=(None, 21, 30), chunks=(2, 11, 30),
                          dtype="f4", compression="gzip", shuffle=True, fillvalue=np.float32(-7.25))
    for t0 in range(0, 31, 5):
        ea.resize(t0 + 5, axis=0)
        if t0 != 10:
            ea[t0:t0 + 5] = field((5, 21, 30), "f4")
    f.create_dataset("extensible_inner", data=field((12, 70), "f4"), maxshape=(12, None), chunks=(5, 3),
                     compression="gzip")
    f.create_dataset("extensible_many", data=field((700, 4), "i4"), maxshape=(None, 4), chunks=(1, 4))
    f.create_dataset("extensible_paged", data=np.arange(140000, dtype="i4") * 3 - 7, maxshape=(None,), chunks=(1,))
    f.create_dataset("btree2", data=field((60, 61), "f4"), maxshape=(None, None), chunks=(2, 2), compression="gzip",
                     shuffle=True)
    f.create_dataset("btree2_plain", data=field((60, 61), "i2"), maxshape=(None, None), chunks=(2, 2))
    # A filter the own reader hands to the HDF5 library (h5wasm): scale-offset.
    f.create_dataset("scaleoffset", data=field((6, 20, 30), "i4"), chunks=(3, 10, 30), scaleoffset=0)
    # Implicit index: chunked, no filters, space allocated early (only the low-level API sets that).
    dcpl = h5py.h5p.create(h5py.h5p.DATASET_CREATE)
    dcpl.set_chunk((3, 10))
    dcpl.set_alloc_time(h5py.h5d.ALLOC_TIME_EARLY)
    dsid = h5py.h5d.create(f.id, b"implicit", h5py.h5t.NATIVE_FLOAT, h5py.h5s.create_simple((7, 25)), dcpl=dcpl)
    h5py.Dataset(dsid)[...] = field((7, 25), "f4")
    # Compact layout through the low-level API.
    dcpl = h5py.h5p.create(h5py.h5p.DATASET_CREATE)
    dcpl.set_layout(h5py.h5d.COMPACT)
    dsid = h5py.h5d.create(f.id, b"compact_ll", h5py.h5t.NATIVE_INT16, h5py.h5s.create_simple((5, 9)), dcpl=dcpl)
    h5py.Dataset(dsid)[...] = field((5, 9), "i2")
with h5py.File(path, "r") as f:
    for name, storage, filters in (
        ("fixed", "fixed", "shuffle+deflate"), ("fixed_plain", "fixed", ""), ("fixed_paged", "fixed", "deflate"),
        ("fixed_fletcher", "fixed", "shuffle+deflate+fletcher32"), ("fixed_big", "fixed", "shuffle+deflate"),
        ("single", "single", "shuffle+deflate"), ("single_plain", "single", ""), ("contiguous", "contiguous", ""),
        ("compact", "contiguous", ""), ("extensible", "extensible", "shuffle+deflate"),
        ("extensible_inner", "extensible", "deflate"), ("extensible_many", "extensible", ""),
        ("extensible_paged", "extensible", ""), ("btree2", "btree2", "shuffle+deflate"), ("btree2_plain", "btree2", ""),
        ("implicit", "implicit", ""), ("compact_ll", "compact", ""), ("scaleoffset", "h5wasm", "scaleoffset"),
    ):
        expect(path, name, "h5py", storage, filters, f[name][()])

# --- Corrupted chunks: flip bytes in the middle of one stored chunk ---------------------------
corrupt = []
for src, var, index in ((f"{out}/nc_deflate4_shuffle.nc", "v", 5), (f"{out}/nc_fletcher32.nc", "plain", 2),
                        (f"{out}/h5_latest.h5", "fixed", 3)):
    dst = src.replace(".nc", "_corrupt.nc").replace(".h5", "_corrupt.h5")
    shutil.copy(src, dst)
    with h5py.File(src, "r") as f:
        info = f[var].id.get_chunk_info(index)
    with open(dst, "r+b") as fh:
        fh.seek(info.byte_offset + info.size // 2)
        chunk = bytearray(fh.read(16))
        fh.seek(info.byte_offset + info.size // 2)
        fh.write(bytes(b ^ 0x5A for b in chunk))
    corrupt.append({"file": dst, "var": var, "chunk_offset": [int(x) for x in info.chunk_offset]})

print(json.dumps({"cases": cases, "corrupt": corrupt}))
