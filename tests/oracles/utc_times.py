#!/usr/bin/python3
"""Seconds since 1970 of time strings, read by Python's datetime (not by us).

    utc_times.py JSON_LIST_OF_STRINGS

Prints a JSON list: per string, its seconds since 1970-01-01T00:00Z, or null
when Python refuses it or it carries a non-zero UTC offset. A string without
a zone is taken as UTC (the project's rule); a trailing Z is UTC.
"""
import json
import sys
from datetime import datetime, timedelta, timezone


def seconds(text):
    s = text.strip()
    if s[-1:] in ("Z", "z"):
        s = s[:-1] + "+00:00"
    try:
        d = datetime.fromisoformat(s)
    except ValueError:
        return None
    if d.tzinfo is None:
        d = d.replace(tzinfo=timezone.utc)
    elif d.utcoffset() != timedelta(0):
        return None
    return (d - datetime(1970, 1, 1, tzinfo=timezone.utc)).total_seconds()


print(json.dumps([seconds(t) for t in json.loads(sys.argv[1])]))
