"""Debugging aid: ``MLFAIL_TRACE_SCANS=1`` prints every Polars collection to stderr.

Each line names the mlfail function that collected, the files its plan scans, and the wall time::

    [scan  3] 1.84 s  mlfail.timeline_passes:count_pass  live.parquet

and one summary line per file at exit (how many collections read it, and for how long), and a
line where each stage of a walk begins (:func:`stage`: triage's progress messages)::

    [stage]  12.31 s  slicing: every 1- and 2-predicate segment

(seconds since the trace was installed), so a stage's time is the difference of two lines. It
exists to count how often a command reads the live log (issue 15: the walk should read it once
or twice); it never changes a result. Off unless the variable is set; the wrapper is installed
by ``mlfail/__init__`` so the API and the CLI are traced alike.
"""

from __future__ import annotations

import atexit
import os
import re
import sys
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

import polars as pl

ENV = "MLFAIL_TRACE_SCANS"
_SCAN = re.compile(r"(?:Parquet|CSV|IPC|NDJSON) SCAN[^\n]*?\[?([^\s\[\]]+\.\w+)")
_lock = threading.Lock()
_calls = 0
_per_file: dict[str, list[float]] = {}
_installed = False
_t0 = time.perf_counter()


def stage(label: str) -> None:
    """Mark where a stage begins (a no-op unless the trace is on)."""
    if _installed:
        print(f"[stage] {time.perf_counter() - _t0:7.2f} s  {label}", file=sys.stderr)


def _files(lf: pl.LazyFrame) -> list[str]:
    try:
        plan = lf.explain(optimized=False)
    except Exception:  # the trace must never break a command
        return []
    return sorted({os.path.basename(m) for m in _SCAN.findall(plan)})


def _caller() -> str:
    f = sys._getframe(2)
    while f is not None:
        mod = f.f_globals.get("__name__", "")
        if mod.startswith("mlfail") and mod != __name__ and f.f_code.co_name != "collect_each":
            return f"{mod}:{f.f_code.co_name}"
        f = f.f_back  # type: ignore[assignment]
    return "?"


def _record(files: Iterable[str], where: str, secs: float, what: str) -> None:
    global _calls
    with _lock:
        _calls += 1
        n = _calls
        names = sorted(set(files))
        for name in names:
            _per_file.setdefault(name, []).append(secs)
    shown = " ".join(names) if names else "(in memory)"
    print(f"[scan {n:3d}] {secs:6.2f} s  {what:<11} {where}  {shown}", file=sys.stderr)


def _summary() -> None:
    stage("end")
    for name, times in sorted(_per_file.items()):
        print(
            f"[scan] {name}: {len(times)} collection(s), {sum(times):.2f} s",
            file=sys.stderr,
        )


def install_from_env() -> None:
    """Wrap ``LazyFrame.collect`` and ``pl.collect_all`` when ``MLFAIL_TRACE_SCANS`` is set."""
    global _installed, _t0
    if _installed or not os.environ.get(ENV):
        return
    _installed, _t0 = True, time.perf_counter()
    collect: Callable[..., Any] = pl.LazyFrame.collect
    collect_all: Callable[..., Any] = pl.collect_all

    def traced_collect(self: pl.LazyFrame, *args: Any, **kwargs: Any) -> Any:
        where, files = _caller(), _files(self)
        t0 = time.perf_counter()
        try:
            return collect(self, *args, **kwargs)
        finally:
            _record(files, where, time.perf_counter() - t0, "collect")

    def traced_collect_all(lfs: Iterable[pl.LazyFrame], *args: Any, **kwargs: Any) -> Any:
        lfs = list(lfs)
        where = _caller()
        files = [f for lf in lfs for f in _files(lf)]
        t0 = time.perf_counter()
        try:
            return collect_all(lfs, *args, **kwargs)
        finally:
            _record(files, where, time.perf_counter() - t0, f"all[{len(lfs)}]")

    batches: Callable[..., Any] = pl.LazyFrame.collect_batches

    def traced_batches(self: pl.LazyFrame, *args: Any, **kwargs: Any) -> Any:
        _record(_files(self), _caller(), 0.0, "batches")  # streamed: its time is the caller's
        return batches(self, *args, **kwargs)

    pl.LazyFrame.collect = traced_collect  # type: ignore[method-assign]
    pl.LazyFrame.collect_batches = traced_batches  # type: ignore[method-assign]
    pl.collect_all = traced_collect_all  # type: ignore[assignment]
    atexit.register(_summary)
