#!/usr/bin/python3
"""Decode a GRIB file with ecCodes: one JSON line per message (shortName, cfVarName,
level, typeOfLevel, valid time, packingType, number of points) and all values
(missing → NaN) plus latitudes/longitudes as float64 to OUT.bin, message after message.

    grib_values.py FILE OUT.bin
"""
import json
import sys

import eccodes
import numpy as np

path, binpath = sys.argv[1], sys.argv[2]
meta = []
with open(path, "rb") as f, open(binpath, "wb") as b:
    while True:
        h = eccodes.codes_grib_new_from_file(f)
        if h is None:
            break
        v = eccodes.codes_get_values(h).astype(np.float64)
        if eccodes.codes_get(h, "bitmapPresent"):
            v[v == eccodes.codes_get(h, "missingValue")] = np.nan
        lat = eccodes.codes_get_array(h, "latitudes")
        lon = eccodes.codes_get_array(h, "longitudes")
        vt = f'{eccodes.codes_get(h, "validityDate")}{eccodes.codes_get(h, "validityTime"):04d}'
        meta.append({"shortName": eccodes.codes_get(h, "shortName"), "cfVarName": eccodes.codes_get(h, "cfVarName"),
                     "level": eccodes.codes_get(h, "level"), "typeOfLevel": eccodes.codes_get(h, "typeOfLevel"),
                     "valid": vt, "packing": eccodes.codes_get(h, "packingType"), "n": int(v.size),
                     "decimalPrecision": eccodes.codes_get(h, "decimalScaleFactor"),
                     "binaryScale": eccodes.codes_get(h, "binaryScaleFactor")})
        b.write(v.tobytes())
        b.write(lat.astype(np.float64).tobytes())
        b.write(lon.astype(np.float64).tobytes())
        eccodes.codes_release(h)
print(json.dumps(meta))
