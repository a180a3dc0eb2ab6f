"""The physical limit: a bare Polars streaming scan that decodes every column of the files."""

import sys

import polars as pl

files = sys.argv[1:]
pl.scan_parquet(files).select(pl.all().null_count()).collect(engine="streaming")
