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
rank: -0.0 equals 0.0, and NaN equals NaN, above every number.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

_BLOCK_BITS = 32  # tie blocks per grouping: fewer than 2**32 rows


def tie_blocks(score: np.ndarray) -> np.ndarray:
    """Each row's tie block (uint64): the dense rank (0, 1, …) of its score among the rows."""
    order = np.argsort(score)
    s = score[order]
    new = np.empty(len(s), dtype=np.uint64)
    new[:1] = 0
    np.not_equal(s[1:], s[:-1], out=new[1:], casting="unsafe")
    if len(s) and np.isnan(s[-1]):  # NaN sorts last, and ties with NaN
        first_nan = int(np.searchsorted(np.isnan(s), True))
        new[first_nan + 1 :] = 0
    block = np.empty(len(s), dtype=np.uint64)
    block[order] = np.cumsum(new, out=new)
    return block


def rank_sums(
    score: np.ndarray, positive: np.ndarray, groupings: Iterable[tuple[np.ndarray, int]]
) -> list[np.ndarray]:
    """For each grouping ``(codes, k)`` (a code in ``0..k-1`` a row), the sum over each
    group's positive rows of their average rank of ``score`` within the group (float64,
    exact): the ``_rank_pos`` of :func:`mlfail.performance.metric_aggs` per group. The rows
    are the labelled ones; ``positive`` is a boolean a row. The groupings are taken one at
    a time (an iterator may make each when it is needed)."""
    n = len(score)
    if n >= 1 << _BLOCK_BITS:
        raise ValueError("rank_sums: 2**32 rows or more")
    packed = tie_blocks(score)
    packed <<= np.uint64(1)
    packed |= positive.astype(np.uint64)
    key = np.empty(n, dtype=np.uint64)  # one buffer for every grouping's sorted keys
    return [_grouped(packed, codes, k, key) for codes, k in groupings]


def _grouped(packed: np.ndarray, codes: np.ndarray, k: int, key: np.ndarray) -> np.ndarray:
    n = len(packed)
    if n == 0:
        return np.zeros(k)
    shift = np.uint64(_BLOCK_BITS + 1)
    np.copyto(key, codes, casting="unsafe")
    key <<= shift
    key |= packed
    key.sort()
    # (group, block) runs: a tie inside a group; key >> 1 is the same along a run
    tied = np.bitwise_xor(key[1:], key[:-1]) < 2
    pos = (key & np.uint64(1)).astype(np.uint8)  # the sorted rows' classes
    if tied.any():
        # each row's run as [start, end): its rows' average rank is (start + 1 + end) / 2
        at = np.arange(n, dtype=np.int64)
        start = np.maximum.accumulate(np.where(np.concatenate([[True], ~tied]), at, 0))
        last = np.concatenate([~tied, [True]])
        end = np.minimum.accumulate(np.where(last, at + 1, n)[::-1])[::-1]
        twice = start + end + 1
        del at, start, end, last
    else:  # every run one row: rank i + 1 at position i
        twice = np.arange(2, 2 * n + 2, 2, dtype=np.int64)
    del tied
    twice *= pos  # positives only
    np.cumsum(twice, out=twice)
    # each group's rows: [bounds[g], bounds[g + 1]) of the sorted keys
    bounds = np.searchsorted(key, np.arange(k + 1, dtype=np.uint64) << shift)
    csum = np.concatenate([[0], twice])
    sizes = np.diff(bounds)
    npos = np.zeros(k, dtype=np.int64)
    full = np.flatnonzero(sizes)
    npos[full] = np.add.reduceat(pos, bounds[:-1][full], dtype=np.int64)
    # twice the positives' ranks, counted from the group's first row: exact integers
    return (csum[bounds[1:]] - csum[bounds[:-1]] - 2 * bounds[:-1] * npos) / 2
