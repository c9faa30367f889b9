#!/usr/bin/python3
"""The read stage alone through netCDF4-python (netCDF-C + HDF5, one thread).

    read_netcdf4.py TIME INPUT...

Reads every 4-D variable in slabs of TIME steps × one level × the globe,
the way the converter reads, decoded to float32 the way the converter
decodes (packed values: raw × scale_factor + add_offset in float64, rounded
once; _FillValue/missing_value → NaN), and prints {"bytes": decoded bytes as
float32, "seconds": wall time}.
"""
import json
import sys
import time

import netCDF4
import numpy as np

tc = int(sys.argv[1])
total, t0 = 0, time.perf_counter()
for path in sys.argv[2:]:
    with netCDF4.Dataset(path) as ds:
        for v in ds.variables.values():
            if v.ndim != 4:
                continue
            v.set_auto_maskandscale(False)
            attrs = v.ncattrs()
            scale = v.getncattr("scale_factor") if "scale_factor" in attrs else None
            offset = v.getncattr("add_offset") if "add_offset" in attrs else 0.0
            fills = [v.getncattr(k) for k in ("_FillValue", "missing_value") if k in attrs]
            nt, nl = v.shape[0], v.shape[1]
            for level in range(nl):
                for t in range(0, nt, tc):
                    a = v[t:t + tc, level]
                    if scale is not None:
                        out = (a * np.float64(scale) + offset).astype(np.float32)
                        for f in fills:
                            out[a == f] = np.nan
                        a = out
                    total += a.size * 4
print(json.dumps({"bytes": total, "seconds": time.perf_counter() - t0}))
