"""Independent collections side by side: :func:`together` runs a few jobs on threads and
returns their results in order.

A streaming Polars query seldom keeps both cores of a small machine busy (its scan and its
hash tables take turns), and Polars and numpy release the GIL while they work. Jobs that read
different inputs or count different keys therefore finish sooner on threads than one after
the other, with the same results: each job is the same call it would be alone.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any


def together(*jobs: Callable[[], Any], parallel: bool = True) -> list[Any]:
    """Each job's result, in order. ``parallel=False`` runs them one after the other (a job
    that draws a progress bar on the terminal must not share it). The first error raised by a
    job is raised here, after every job has ended."""
    if not parallel or len(jobs) <= 1:
        return [job() for job in jobs]
    with ThreadPoolExecutor(max_workers=len(jobs)) as pool:
        futures = [pool.submit(job) for job in jobs]
        return [f.result() for f in futures]
