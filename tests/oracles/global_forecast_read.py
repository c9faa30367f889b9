#!/usr/bin/env python3
"""Read the blended global forecast of `deno task evaluate --mode global_forecast` with xarray, and the per-tile
predictions of the same run with zarr-python as AtmoRep's analysis does; print as one JSON line the store's
coordinates and, for every grid point that exactly one tile covers, the largest difference between the blended
forecast and that tile's prediction (they must be equal there).

usage: global_forecast_read.py STORE RESULTS_DIR ID EPOCH FIELD LEVEL
"""
import json
import sys

import numpy as np
import xarray as xr
import zarr

store, d, model_id, epoch, field, level = sys.argv[1:7]
level = float(level)
ds = xr.open_zarr(store)
var = ds[field]  # one variable per field, with only its own levels (a dim named level…; none for a surface field)
level_dim = next((d for d in var.dims if d.startswith("level")), None)
fc = (var.sel({level_dim: level}) if level_dim else var).isel(init_time=0).values  # (lead, lat, lon)
lat, lon = ds.lat.values, ds.lon.values
pred = zarr.group(store=zarr.ZipStore(f"{d}/results_id{model_id}_epoch{int(epoch):05d}_pred.zarr", mode="r"))
count = np.zeros(fc.shape[1:], dtype=np.int64)
tiles = []
for k in pred[field].group_keys():
  g = pred[field][k]
  li = [int(np.argmin(np.abs(lat - v))) for v in g["lat"][...]]
  lj = [int(np.argmin(np.abs(lon - v))) for v in g["lon"][...]]
  levels = list(np.atleast_1d(g["ml"][...]))
  data = g["data"][levels.index(level)]  # (time, lat, lon) of this level
  count[np.ix_(li, lj)] += 1
  tiles.append((li, lj, data, g["datetime"][...]))
diff, single = 0.0, 0
for li, lj, data, dts in tiles:
  ours = fc[:, li][:, :, lj]
  one = count[np.ix_(li, lj)] == 1
  for t in range(data.shape[0]):
    m = one & np.isfinite(ours[t]) & np.isfinite(data[t])
    if m.any():
      diff = max(diff, float(np.abs(ours[t][m] - data[t][m]).max()))
  single += int(one.sum())
print(json.dumps(dict(
  dims={k: int(v) for k, v in ds.sizes.items()},
  fields=[str(f) for f in ds.data_vars if not str(f).endswith(("_spread", "_members"))],
  levels=[float(v) for v in var[level_dim].values] if level_dim else [0.0],
  leads_hours=[float(v / np.timedelta64(1, "h")) for v in ds.lead_time.values],
  init=str(ds.init_time.values[0]),
  valid=[str(v) for v in ds.valid_time.values[0]],
  tile_datetimes=[str(v) for v in tiles[0][3]],
  covered=int((count > 0).sum()), points=int(count.size), single=single, max_diff_single=diff,
  finite=bool(np.isfinite(fc).all()),
)))
