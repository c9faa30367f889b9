#!/usr/bin/python3
"""An AtmoRep-style loader (as MultifieldDataSampler does it, with Debian's zarr-python):
per batch ONE random time window; the full-globe window of all fields and levels is
read at once, then `batch` random neighborhoods are cropped (periodic in longitude),
normalized with global coefficients and tokenized.

    atmorep_loader.py STORE BATCHES BATCH_SIZE

Prints JSON: samples/s, bytes decoded (whole chunks touched) and delivered.
"""
import json
import sys
import time

import numpy as np
import zarr

store, batches, bs = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
g = zarr.open_group(store, mode="r")
data, sfc = g["data"], g["data_sfc"]
T, F, L, NLAT, NLON = data.shape
nt, nlat, nlon = 36, 54, 108
rng = np.random.default_rng(0)
decoded = delivered = 0
t0 = time.perf_counter()
for b in range(batches):
    t = int(rng.integers(nt, T + 1))
    window = data[t - nt:t]  # all fields, all levels, the whole globe
    wsfc = sfc[t - nt:t]
    c0, c1 = (t - nt) // data.chunks[0], (t - 1) // data.chunks[0]
    decoded += (c1 - c0 + 1) * data.chunks[0] * F * L * NLAT * NLON * 4 + (c1 - c0 + 1) * sfc.chunks[0] * NLAT * NLON * 4
    out = []
    for s in range(bs):
        i0 = int(rng.integers(0, NLAT - nlat))
        j0 = int(rng.integers(0, NLON))
        cols = (np.arange(j0, j0 + nlon)) % NLON
        crop = window[:, :, :, i0:i0 + nlat][..., cols]
        crop = (crop - crop.mean()) / crop.std()
        # tokens: (F, L, 12, 3, 6, 3, 18, 18)
        tok = crop.reshape(nt, F, L, 3, 18, 6, 18).transpose(1, 2, 0, 3, 5, 4, 6)
        csfc = wsfc[:, :, i0:i0 + nlat][..., cols]
        out.append((np.ascontiguousarray(tok), np.ascontiguousarray(csfc)))
        delivered += crop.nbytes + csfc.nbytes
seconds = time.perf_counter() - t0
print(json.dumps({"samples_per_second": batches * bs / seconds, "bytes_decoded": decoded, "bytes_delivered": delivered,
                  "seconds": seconds}))
