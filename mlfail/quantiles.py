"""Exact quantiles without sorting (design §2): Polars' ``quantile(level, "linear")`` of a
column, identical to the bit, found by selection. The bin specs (:mod:`mlfail.binning`) and the
baseline's feature profile (:mod:`mlfail.featureprofile`) both use it on columns read once.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import polars as pl

# Columns with fewer finite values than this get their quantiles from Polars directly (a sort);
# longer ones from exact order statistics found by bracketing (see _order_statistics).
SELECT_MIN = 200_000
_SAMPLE = 131_072


def _interpolate(lower: float, upper: float, frac: float) -> float:
    """Polars' linear interpolation between two neighbouring order statistics (bit for bit: the
    same Polars routine on the two values, with float index ``frac``)."""
    if frac == 0.0:
        return lower
    q = pl.Series([lower, upper], dtype=pl.Float64).quantile(frac, interpolation="linear")
    assert q is not None
    return float(q)


Span = tuple[float, float, int, np.ndarray]  # a, b, #(values < a), the values in [a, b]


def _order_statistics(
    values: pl.Series, ranks: Sequence[int], width: float = 3.0, spans_out: list[Span] | None = None
) -> dict[int, float] | None:
    """The values at the given 0-based ranks of ``values`` (no nulls, no NaN), in O(n).

    A strided sample brackets every rank in value space (± ``width`` standard errors of the
    sample's rank); one vectorised pass counts the values below each bracket and keeps the
    values inside; each bracket's few values are partitioned (``np.partition``) at the wanted
    ranks. Each bracket is verified to hold its ranks, so the answer is exact: a miss retries
    with wider brackets, and gives None after that (the caller then sorts the whole column).
    """
    n = len(values)
    step = max(1, n // _SAMPLE)
    sample = values.gather_every(step).to_numpy().copy()
    s = len(sample)
    wanted: list[tuple[int, int, int]] = []
    for r in sorted(set(ranks)):
        q = r / max(n - 1, 1)
        margin = width * math.sqrt(s * q * (1.0 - q)) + 4.0
        pos = r / step
        wanted.append((r, math.floor(pos - margin), math.ceil(pos + margin)))
    inner = sorted({i for _, lo, hi in wanted for i in (lo, hi) if 0 < i < s - 1})
    if inner:
        sample.partition(inner)  # the sample's order statistics at the bracket ends
    spans: list[tuple[float, float, list[int]]] = []
    for r, lo_i, hi_i in wanted:
        a = float(sample[lo_i]) if lo_i > 0 else -math.inf
        b = float(sample[hi_i]) if hi_i < s - 1 else math.inf
        if spans and a <= spans[-1][1]:
            pa, pb, pr = spans[-1]
            spans[-1] = (pa, max(pb, b), [*pr, r])
        else:
            spans.append((a, b, [r]))
    # One comparison per bracket end, reused: below_j = n - #(v >= a_j); inside = ∪ [a_j, b_j].
    inside: pl.Series | None = None
    below: list[int] = []
    for a, b, _ in spans:
        ge = values >= a
        below.append(n - int(ge.sum()))
        m = ge & (values <= b)
        inside = m if inside is None else inside | m
    assert inside is not None
    kept = values.filter(inside).to_numpy()
    out: dict[int, float] = {}
    for j, (a, b, rs) in enumerate(spans):
        within = kept[(kept >= a) & (kept <= b)] if len(spans) > 1 else kept
        ks = [r - below[j] for r in rs]
        if not all(0 <= k < len(within) for k in ks):
            if width < 20:
                return _order_statistics(values, ranks, width * 3, spans_out)
            return None
        part = np.partition(within, ks)
        for r, k in zip(rs, ks, strict=True):
            out[r] = float(part[k])
        if spans_out is not None:
            spans_out.append((a, b, below[j], within))
    return out


def exact_quantiles(
    values: pl.Series, levels: Sequence[float], spans_out: list[Span] | None = None
) -> list[float] | None:
    """Polars' ``quantile(level, interpolation="linear")`` of ``values`` (no nulls, no NaN) at
    every level, identical to the bit, without sorting long columns; None when empty.

    ``spans_out``, when given, receives the verified brackets of the selection (empty when the
    column was sorted instead), from which values ≤ any point inside a bracket are counted."""
    n = len(values)
    if n == 0:
        return None
    if n < SELECT_MIN:
        q = values.to_frame("v").select(pl.col("v").quantile(list(levels), interpolation="linear"))
        return list(q.item())
    idx = []
    for level in levels:
        f = (n - 1) * level
        lo = math.floor(f)
        idx.append((lo, min(math.ceil(f), n - 1), f - lo))
    stats = _order_statistics(values, [r for lo, hi, _ in idx for r in (lo, hi)], 3.0, spans_out)
    if stats is None:
        if spans_out is not None:
            spans_out.clear()
        srt = values.sort()
        stats = {r: float(srt[r]) for lo, hi, _ in idx for r in (lo, hi)}
    return [_interpolate(stats[lo], stats[hi], frac) for lo, hi, frac in idx]
