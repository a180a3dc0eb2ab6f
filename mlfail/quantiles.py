"""Exact quantiles without sorting (design §2): Polars' ``quantile(level, "linear")`` of a
column, identical to the bit, found by selection; the walk's bin specs (:mod:`mlfail.binning`)
and the signatures' summaries use it. Where one column is asked for several sets of quantiles
(a baseline's bin edges and feature profile), :class:`Ordered` sorts it once instead; a
selection that misses falls back to that same sorted path.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Sequence
from dataclasses import dataclass

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


def _ranks(n: int, levels: Sequence[float]) -> list[tuple[int, int, float]]:
    """Per level, the two neighbouring 0-based ranks of Polars' linear quantile of n values,
    and the fraction between them."""
    idx = []
    for level in levels:
        f = (n - 1) * level
        lo = math.floor(f)
        idx.append((lo, min(math.ceil(f), n - 1), f - lo))
    return idx


def _polars_quantiles(values: pl.Series, levels: Sequence[float]) -> list[float]:
    q = values.to_frame("v").select(pl.col("v").quantile(list(levels), interpolation="linear"))
    return list(q.item())


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
        return _polars_quantiles(values, levels)
    idx = _ranks(n, levels)
    stats = _order_statistics(values, [r for lo, hi, _ in idx for r in (lo, hi)], 3.0, spans_out)
    if stats is None:  # the brackets missed even when widened: the column sorted instead
        if spans_out is not None:
            spans_out.clear()
        return Ordered.of(values).quantiles(levels)
    return [_interpolate(stats[lo], stats[hi], frac) for lo, hi, frac in idx]


@dataclass(frozen=True)
class Ordered:
    """A column's finite values (Float64: no null, NaN or ±inf) and a sorted copy of them, for
    a caller that asks one column for several sets of quantiles and for counts below points:
    a baseline's bin edges, their reference counts and the feature's profile quantiles. One
    numpy sort (about 50 ms per 5M values here) costs less than a selection per set of levels
    (about 60 and 45 ms), at the price of the copy: the bin specs of a walk, which need one set,
    select instead."""

    finite: pl.Series
    ordered: np.ndarray

    @classmethod
    def of(cls, finite: pl.Series) -> Ordered:
        return cls(finite, np.sort(finite.to_numpy()))

    def quantiles(self, levels: Sequence[float]) -> list[float] | None:
        """:func:`exact_quantiles` of the finite values, from the sorted copy."""
        n = len(self.ordered)
        if n == 0:
            return None
        if n < SELECT_MIN:
            return _polars_quantiles(self.finite, levels)
        s = self.ordered
        return [
            _interpolate(float(s[lo]), float(s[hi]), frac) for lo, hi, frac in _ranks(n, levels)
        ]

    def near(self, centre: float, tol: float) -> int:
        """#(|v − centre| ≤ tol), in the same IEEE operations as the row-wise test: v − centre
        only grows with v, so the values that pass are one run of the sorted copy, found by
        two bisections."""
        s = self.ordered

        def gap(v: float) -> float:
            return float(np.float64(v) - np.float64(centre))

        return bisect.bisect_right(s, tol, key=gap) - bisect.bisect_left(s, -tol, key=gap)

    def at_most(self, points: Sequence[float]) -> list[int]:
        """#(finite values ≤ p) for each point."""
        return [int(k) for k in np.searchsorted(self.ordered, points, side="right")]
