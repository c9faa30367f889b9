#!/usr/bin/python3
"""Read amplification of chunk layouts for the sampler's geometry, simulated (no data):
batches of 96 windows of 36 h × 54 × 108 points on a 0.25° globe, centres uniform in
latitude, each chunk a batch touches decoded once per field level. Compares a 48 h store
(as bench:sampler) with a year, per-sample and shared time windows.

    amplification.py
"""
import numpy as np

rng = np.random.default_rng(1)
NLAT, NLON = 721, 1440
T, H, W = 36, 54, 108


def amplification(ct, ch, cw, ntimes, shared, batches=10, batch=96):
    decoded = delivered = 0
    for _ in range(batches):
        chunks = set()
        shared_end = rng.integers(T - 1, ntimes)
        for _ in range(batch):
            t0 = (shared_end if shared else rng.integers(T - 1, ntimes)) - T + 1
            lat = -90 + rng.random() * 180
            i0 = min(max(0, int(round((90 - lat) / 0.25)) - H // 2), NLAT - H)
            j0 = rng.integers(NLON)
            for tc in range(t0 // ct, (t0 + T - 1) // ct + 1):
                for ic in range(i0 // ch, (i0 + H - 1) // ch + 1):
                    for jc in {(j % NLON) // cw for j in range(j0, j0 + W)}:
                        chunks.add((tc, ic, jc))
            delivered += T * H * W
        decoded += len(chunks) * ct * ch * cw
    return decoded / delivered


print("chunks (t, lat, lon)   48 h: own  shared   1 year: own  shared")
for c in [(6, 91, 180), (6, 36, 72), (6, 18, 36), (3, 18, 36), (12, 18, 36), (6, 9, 18)]:
    print(f"{str(c):22} {amplification(*c, 48, False):9.2f} {amplification(*c, 48, True):7.2f}"
          f" {amplification(*c, 8760, False, 4):12.2f} {amplification(*c, 8760, True, 4):7.2f}")
