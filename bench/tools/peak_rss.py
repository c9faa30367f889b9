#!/usr/bin/python3
"""Run a command, pass its standard output through, then print its wall time,
CPU time (user + system, all its processes) and peak RSS (largest process) as
JSON on the last line.

    peak_rss.py CMD ARGS...
"""
import json
import resource
import subprocess
import sys
import time

t0 = time.perf_counter()
code = subprocess.call(sys.argv[1:])
seconds = time.perf_counter() - t0
usage = resource.getrusage(resource.RUSAGE_CHILDREN)
print(json.dumps({"code": code, "seconds": seconds, "cpu_seconds": usage.ru_utime + usage.ru_stime,
                  "peak_rss_mb": usage.ru_maxrss / 1024}), flush=True)
