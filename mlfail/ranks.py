"""Exact Mann–Whitney rank sums per group, with numpy, from rows a chunked read gathered.

:func:`mlfail.performance.metric_aggs`' AUC sums the average ranks of the positive rows'
scores within each key group (``score.rank("average")`` in a Polars ``group_by``): a query
that reads and ranks every labelled row again for each key set. Here the scores are ranked
once: each row gets its tie block (the dense rank of its score). A grouping then sorts one
``uint64`` a row — group, tie block and the positive flag packed together — so that each
group's rows lie in score order, each run of one (group, block) is a tie inside the group,
and its rows' average rank is its first position in the group plus (length + 1) / 2. The
sums are kept twice over in integers, so they are exact; Polars' float sum of half-integer
ranks is exact too below 2**53, so the two agree to the bit. Ties are those of Polars'
rank: -0.0 equals 0.0, and NaN equals NaN, above every number. The groupings run on
``WORKERS`` threads: the sorts and scans release the GIL, and nothing else runs at the end
of a baseline's read (5M rows, 9 groupings: 0.96-1.02 s on one thread, 0.69-0.79 s on two).
"""

from __future__ import annotations

import queue
import sys
from collections import deque
from collections.abc import Iterable
from concurrent.futures import Future, ThreadPoolExecutor

import numpy as np

_BLOCK_BITS = 32  # tie blocks per grouping: fewer than 2**32 rows
WORKERS = 2  # groupings ranked at once: a (uint64 + byte) buffer a row each
_LOW_BYTE = 0 if sys.byteorder == "little" else 7  # a uint64's lowest byte in memory


def tie_blocks(score: np.ndarray) -> tuple[np.ndarray, bool]:
    """Each row's tie block (uint64): the dense rank (0, 1, …) of its score among the rows;
    and whether any two rows tie."""
    score = np.asarray(score, dtype=np.float64)
    order = np.argsort(score)
    s = score[order]
    new = np.empty(len(s), dtype=np.uint64)
    new[:1] = 0
    np.not_equal(s[1:], s[:-1], out=new[1:], casting="unsafe")
    if len(s) and np.isnan(s[-1]):  # NaN sorts last, and ties with NaN
        first_nan = int(np.searchsorted(np.isnan(s), True))
        new[first_nan + 1 :] = 0
    np.cumsum(new, out=new)
    ties = bool(len(s)) and int(new[-1]) < len(s) - 1
    block = s.view(np.uint64)  # the sorted scores are not read again: their buffer takes it
    block[order] = new
    return block, ties


def rank_sums(
    score: np.ndarray, positive: np.ndarray, groupings: Iterable[tuple[np.ndarray, int]]
) -> list[np.ndarray]:
    """For each grouping ``(codes, k)`` (a code in ``0..k-1`` a row), the sum over each
    group's positive rows of their average rank of ``score`` within the group (float64,
    exact): the ``_rank_pos`` of :func:`mlfail.performance.metric_aggs` per group. The rows
    are the labelled ones; ``positive`` is a boolean a row. The groupings are taken as a
    thread frees up, at most ``WORKERS`` ahead of the results (an iterator may make each
    when it is needed)."""
    n = len(score)
    if n >= 1 << _BLOCK_BITS:
        raise ValueError("rank_sums: 2**32 rows or more")
    packed, ties = tie_blocks(score)
    packed <<= np.uint64(1)
    np.bitwise_or(packed, positive, out=packed, casting="unsafe")  # no uint64 copy of it
    # the groupings on WORKERS threads (numpy's sort and scans release the GIL), each with
    # one buffer for its groupings' sorted keys and one for their positive flags
    buffers: queue.SimpleQueue[tuple[np.ndarray, np.ndarray]] = queue.SimpleQueue()
    for _ in range(WORKERS):
        buffers.put((np.empty(n, dtype=np.uint64), np.empty(n, dtype=np.uint8)))

    def one(codes: np.ndarray, k: int) -> np.ndarray:
        key, flag = buffers.get()
        try:
            return _grouped(packed, codes, k, key, flag, ties)
        finally:
            buffers.put((key, flag))

    # at most WORKERS groupings in flight, so that an iterator still makes each one only
    # when a thread is about to take it (the baseline's codes, joined column by column)
    out: list[np.ndarray] = []
    running: deque[Future[np.ndarray]] = deque()
    with ThreadPoolExecutor(max_workers=WORKERS) as pool:
        for codes, k in groupings:
            if len(running) == WORKERS:
                out.append(running.popleft().result())
            running.append(pool.submit(one, codes, k))
        out.extend(f.result() for f in running)
    return out


def _grouped(
    packed: np.ndarray, codes: np.ndarray, k: int, key: np.ndarray, flag: np.ndarray, ties: bool
) -> np.ndarray:
    n = len(packed)
    if n == 0:
        return np.zeros(k)
    shift = np.uint64(_BLOCK_BITS + 1)
    np.copyto(key, codes, casting="unsafe")
    key <<= shift
    key |= packed
    key.sort()
    # each group's rows: [bounds[g], bounds[g + 1]) of the sorted keys; its positives:
    # [at_bounds[g], at_bounds[g + 1]) of ``at``, the sorted positions of the positive rows
    bounds = np.searchsorted(key, np.arange(k + 1, dtype=np.uint64) << shift)
    # the flag is the lowest bit: read from the keys' low bytes (a uint64 temporary and a
    # nonzero over it cost six times as much)
    np.bitwise_and(key.view(np.uint8)[_LOW_BYTE::8], 1, out=flag)
    at = np.flatnonzero(flag.view(bool))
    at_bounds = np.searchsorted(at, bounds)
    npos = np.diff(at_bounds)
    first = bounds[:-1]
    if not ties:  # every run one row: rank i - first + 1 at position i
        csum = np.zeros(len(at) + 1, dtype=np.int64)
        np.cumsum(at, out=csum[1:])
        positions = csum[at_bounds[1:]] - csum[at_bounds[:-1]]
        return (positions + npos * (1 - first)).astype(np.float64)
    # (group, block) runs: a tie inside a group; key >> 1 is the same along a run. Each
    # row's run as [start, end): its rows' average rank is (start + 1 + end) / 2
    tied = np.bitwise_xor(key[1:], key[:-1]) < 2
    idx = np.arange(n, dtype=np.int64)
    start = np.maximum.accumulate(np.where(np.concatenate([[True], ~tied]), idx, 0))
    last = np.concatenate([~tied, [True]])
    end = np.minimum.accumulate(np.where(last, idx + 1, n)[::-1])[::-1]
    del idx, tied, last
    twice = (start + end + 1)[at]  # the positives' ranks, twice, from the whole's first row
    del start, end
    csum = np.zeros(len(at) + 1, dtype=np.int64)
    np.cumsum(twice, out=csum[1:])
    # twice the positives' ranks, counted from the group's first row: exact integers
    return (csum[at_bounds[1:]] - csum[at_bounds[:-1]] - 2 * first * npos) / 2
