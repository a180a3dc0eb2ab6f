"""Time the walk's chunked numpy passes in one process: wall, CPU and peak RSS of each.

    .venv/bin/python benchmarks/passes.py --rows 5M [--runs 3] [--only timeline,cohort]

On the generated pair (benchmarks/generate.py, git-ignored) it times
* ``timeline``: the timeline's read (mlfail/timeline_counts.window_counts) of every feature by
  day, with the mean score;
* ``cohort``: root cause's cohort pass (mlfail/cohort_pass.cohort_pass) of the first
  ``--cohort-specs`` features by the eight segment columns, on live.

A pass's CPU next to its wall time says whether it is bound by its reads (CPU well under two
cores' worth) or by its counting. Run it against another checkout with ``PYTHONPATH=DIR`` to
compare code in the same sitting (the host's speed moves between sittings by more than most
changes).
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from collections.abc import Callable
from pathlib import Path

import polars as pl

HERE = Path(__file__).resolve().parent
SEGMENTS = [
    f"seg_{x}" for x in ["geo", "channel", "device", "tier", "region", "os", "version", "partner"]
]


def _rows(text: str) -> int:
    text = text.strip().upper()
    scale = {"K": 1_000, "M": 1_000_000}.get(text[-1:], 1)
    return int(float(text.rstrip("KM")) * scale)


def _timed(label: str, fn: Callable[[], object], runs: int) -> None:
    out = []
    for _ in range(runs):
        r0 = resource.getrusage(resource.RUSAGE_SELF)
        t0 = time.perf_counter()
        fn()
        wall = time.perf_counter() - t0
        r1 = resource.getrusage(resource.RUSAGE_SELF)
        cpu = (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)
        out.append(f"{wall:.2f} s (CPU {cpu:.1f} s)")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
    print(f"{label:10s} {' · '.join(out)}   peak RSS so far {peak} MB")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", default="5M")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--only", default="timeline,cohort")
    ap.add_argument("--cohort-specs", type=int, default=12)
    args = ap.parse_args(argv)
    data = HERE / "data" / f"n{_rows(args.rows)}_c40"
    if not (data / "live.parquet").exists():
        print(f"{data}: no data; run benchmarks/generate.py --rows {args.rows}", file=sys.stderr)
        return 2

    from mlfail.binning import build_specs
    from mlfail.cohort_pass import cohort_pass
    from mlfail.timeline_counts import window_counts

    live = pl.scan_parquet(data / "live.parquet")
    ref = pl.scan_parquet(data / "reference.parquet")
    features = [c for c in ref.collect_schema().names() if c.startswith(("num_", "cat_"))]
    specs = build_specs(ref, features)
    first = live.select(pl.col("ts").min()).collect().item().date()
    day = (pl.col("ts").dt.date() - pl.lit(first)).dt.total_days().alias("w")
    n_days = int(live.select(day.max()).collect().item()) + 1
    only = set(args.only.split(","))
    print(f"{data.name}: {len(specs)} specs, {n_days} days, mlfail from {_origin()}")
    if "timeline" in only:
        _timed("timeline", lambda: window_counts(live, day, n_days, specs, mean="score"), args.runs)
    if "cohort" in only:
        some = specs[: args.cohort_specs]
        _timed("cohort", lambda: cohort_pass(live, some, SEGMENTS), args.runs)
    return 0


def _origin() -> str:
    import mlfail

    return str(Path(mlfail.__file__).resolve().parent.parent)


if __name__ == "__main__":
    raise SystemExit(main())
