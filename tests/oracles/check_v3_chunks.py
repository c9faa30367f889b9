#!/usr/bin/python3
"""Decode a zarr v3 store's `data` chunk files with numcodecs alone (Debian's
zarr 2 cannot open final-spec v3) and compare with the same selection read by
zarr-python from a v2 store.

    check_v3_chunks.py V3_STORE V2_STORE
"""
import json
import os
import sys

import numcodecs
import numpy as np
import zarr

v3, v2 = sys.argv[1], sys.argv[2]
meta = json.load(open(os.path.join(v3, "data", "zarr.json")))
root = json.load(open(os.path.join(v3, "zarr.json")))
assert root["node_type"] == "group" and "data" in root["consolidated_metadata"]["metadata"]
shape, chunks = meta["shape"], meta["chunk_grid"]["configuration"]["chunk_shape"]
out = np.full(shape, np.nan, dtype="<f4")
n = 0
for dirpath, _, files in os.walk(os.path.join(v3, "data", "c")):
    for f in files:
        rel = os.path.relpath(os.path.join(dirpath, f), os.path.join(v3, "data", "c"))
        idx = [int(x) for x in rel.split(os.sep)]
        buf = open(os.path.join(dirpath, f), "rb").read()
        for codec in reversed(meta["codecs"]):
            name, cfg = codec["name"], codec.get("configuration", {})
            if name == "zstd":
                buf = numcodecs.Zstd(level=cfg["level"]).decode(buf)
            elif name == "numcodecs.shuffle":
                buf = numcodecs.Shuffle(elementsize=cfg["elementsize"]).decode(buf)
            elif name == "bytes":
                assert cfg["endian"] == "little"
        chunk = np.frombuffer(buf, dtype="<f4").reshape(chunks)
        sl = tuple(slice(i * c, min((i + 1) * c, s)) for i, c, s in zip(idx, chunks, shape))
        out[sl] = chunk[tuple(slice(0, s.stop - s.start) for s in sl)]
        n += 1
g = zarr.open_group(v2, mode="r")
fields, levels = list(g.attrs["fields"]), list(g.attrs["levels"])
ref = g["data"][:, fields.index("u"), levels.index(850)][:, None, None]
print(json.dumps({"equal": bool(np.array_equal(out, ref, equal_nan=True)), "chunks": n}))
