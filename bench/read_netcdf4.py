#!/usr/bin/python3
"""The read stage alone through netCDF4-python (netCDF-C + HDF5, one thread).

    read_netcdf4.py TIME INPUT...

Reads every 4-D variable in slabs of TIME steps × one level × the globe,
the way the converter reads, as stored values (no masking or scaling), and
prints {"bytes": decoded bytes as float32, "seconds": wall time}.
"""
import json
import sys
import time

import netCDF4

tc = int(sys.argv[1])
total, t0 = 0, time.perf_counter()
for path in sys.argv[2:]:
    with netCDF4.Dataset(path) as ds:
        for v in ds.variables.values():
            if v.ndim != 4:
                continue
            v.set_auto_maskandscale(False)
            nt, nl = v.shape[0], v.shape[1]
            for level in range(nl):
                for t in range(0, nt, tc):
                    a = v[t:t + tc, level]
                    total += a.size * 4
print(json.dumps({"bytes": total, "seconds": time.perf_counter() - t0}))
