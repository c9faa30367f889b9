#!/usr/bin/python3
"""Run a command, pass its standard output through, then print its wall time and
peak RSS (largest process) as JSON on the last line.

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
rss_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
print(json.dumps({"code": code, "seconds": seconds, "peak_rss_mb": rss_kb / 1024}), flush=True)
