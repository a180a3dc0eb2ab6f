"""A feature's reference profile (:class:`~mlfail.featurestats.FeatureStats`) from what the bin
specs' single read of the reference already holds (issue 15): a numeric column while its batch
is in memory, a categorical column's value counts. ``baseline create`` used to read the
reference again for these — one aggregation for every feature, then one query per feature for
its quantiles or its frequencies.

The numbers are those of that per-feature path (``mlfail.baseline.build._profile_features``,
still used for what the read did not hold): the same expressions, quantiles equal to Polars'
linear quantile to the bit (from the bin specs' sorted copy, :class:`mlfail.quantiles.Ordered`,
or by :func:`mlfail.quantiles.exact_quantiles`' selection); means and
standard deviations may differ from a streaming aggregation in the last bits only.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import NamedTuple

import numpy as np
import polars as pl

from mlfail.binspec import BinSpec
from mlfail.featurestats import (
    MAX_FREQUENCIES,
    MEAN_DEFAULT,
    NUMERIC_DEFAULTS,
    QUANTILE_LEVELS,
    STRING_DEFAULTS,
    FeatureStats,
    finite_or_none,
    is_default_value,
    is_numeric_dtype,
    is_string_dtype,
    level_key,
    mean_tolerance,
)
from mlfail.quantiles import Ordered, exact_quantiles


def profile_column(col: pl.Series, spec: BinSpec, ordered: Ordered | None = None) -> FeatureStats:
    """The profile of a reference column held whole in memory (its every row); ``ordered``,
    when the bin spec's read sorted the column's finite values, gives the quantiles."""
    dtype = col.dtype
    st = FeatureStats(
        feature=spec.feature,
        kind=spec.kind,
        dtype=str(dtype),
        rows=len(col),
        nulls=col.null_count(),
        numeric=is_numeric_dtype(dtype),
    )
    if st.numeric:
        _numeric(st, col.cast(pl.Float64), ordered)
    if spec.kind == "categorical":
        vc = col.cast(pl.String).alias("v").to_frame().group_by("v").len()
        add_frequencies(st, vc, dtype)
    return st


def profile_values(vc: pl.DataFrame, spec: BinSpec, dtype: pl.DataType) -> FeatureStats | None:
    """The profile of a non-numeric column from its value counts (``v`` as text with the null
    row, ``len``); None for a numeric column, whose statistics need its values."""
    if is_numeric_dtype(dtype):
        return None
    nulls = vc.filter(pl.col("v").is_null())["len"].sum()
    st = FeatureStats(
        feature=spec.feature,
        kind=spec.kind,
        dtype=str(dtype),
        rows=int(vc["len"].sum()),
        nulls=int(nulls),
    )
    if spec.kind == "categorical":
        add_frequencies(st, vc, dtype)
    return st


class NumericSummary(NamedTuple):
    """What :func:`numeric_summary` gives (the raw values: None where there is none)."""

    missing: int  # null or NaN
    neg_inf: int
    pos_inf: int
    finite: pl.Series
    min: float | None
    max: float | None
    mean: float | None
    std: float | None
    quantiles: list[float | None]
    defaults: dict[str, int]  # NUMERIC_DEFAULTS' key → rows equal to that value


def numeric_summary(
    x: pl.Series, levels: Sequence[float], ordered: Ordered | None = None
) -> NumericSummary:
    """Counts, moments, quantiles at ``levels`` (Polars' linear quantile to the bit, by
    selection, or from ``ordered``: ``x``'s finite values already sorted) and default-value
    counts of a Float64 column held in memory: a reference feature's profile, and the
    signatures' summary of the affected rows (root cause)."""
    missing = int((x.is_null() | x.is_nan()).sum())
    neg_inf, pos_inf = int((x == -math.inf).sum()), int((x == math.inf).sum())
    if ordered is not None:
        fin = ordered.finite
        found = ordered.quantiles(levels)
    else:
        # the finite values: the column itself when it has no null, NaN or ±inf (no copy)
        fin = x if missing == 0 and neg_inf + pos_inf == 0 else x.filter(x.is_finite())
        found = exact_quantiles(fin, levels)
    qs: list[float | None] = list(found) if found is not None else [None] * len(levels)
    return NumericSummary(
        missing=missing,
        neg_inf=neg_inf,
        pos_inf=pos_inf,
        finite=fin,
        min=_float(fin.min()),
        max=_float(fin.max()),
        mean=_float(fin.mean()),
        std=_float(fin.std()),
        quantiles=qs,
        defaults={k: int((x == v).sum()) for k, v in NUMERIC_DEFAULTS.items()},
    )


def _float(v: object) -> float | None:
    return None if v is None else float(v)  # type: ignore[arg-type]


def _numeric(st: FeatureStats, x: pl.Series, ordered: Ordered | None = None) -> None:
    """Counts, moments, quantiles and default-value counts of a Float64 column."""
    sm = numeric_summary(x, QUANTILE_LEVELS, ordered)
    st.nulls, st.neg_inf, st.pos_inf = sm.missing, sm.neg_inf, sm.pos_inf
    st.count = len(sm.finite)
    st.min, st.max = finite_or_none(sm.min), finite_or_none(sm.max)
    st.mean, st.std = finite_or_none(sm.mean), finite_or_none(sm.std)
    st.quantiles = {
        level_key(lv): finite_or_none(q)
        for lv, q in zip(QUANTILE_LEVELS, sm.quantiles, strict=True)
    }
    st.defaults = dict(sm.defaults)
    if st.mean is not None and not is_default_value(st.mean):
        tol = mean_tolerance(st.mean)
        near = ordered.near(st.mean, tol) if ordered is not None else _near(x, st.mean, tol)
        st.defaults[MEAN_DEFAULT] = near


CHUNK = 1 << 20  # values compared at a time: temporaries of a chunk, not of the column


def _near(x: pl.Series, mean: float, tol: float) -> int:
    """#(|x − mean| ≤ tol) — the same IEEE operations as Polars' expression, a chunk at a time
    (two temporaries the size of the column were most of the profile's memory at 20M rows);
    null and NaN never count."""
    arr = x.to_numpy()  # a view when there are no nulls (they become NaN otherwise)
    return sum(
        int(np.count_nonzero(np.abs(arr[i : i + CHUNK] - mean) <= tol))
        for i in range(0, len(arr), CHUNK)
    )


def add_frequencies(st: FeatureStats, vc: pl.DataFrame, dtype: pl.DataType) -> None:
    """The most frequent values (ties by value), the rest, and string default-fill counts, from
    a value-count table (``v`` as text, ``len``; a null row is left out)."""
    vc = vc.drop_nulls("v").sort(["len", "v"], descending=[True, False])
    st.frequencies = dict(
        zip(
            vc["v"].head(MAX_FREQUENCIES).to_list(),
            [int(n) for n in vc["len"].head(MAX_FREQUENCIES).to_list()],
            strict=True,
        )
    )
    st.frequencies_rest = int(vc["len"].slice(MAX_FREQUENCIES).sum())
    if is_string_dtype(dtype):  # default-fill values, from the distinct values only
        norm = vc.select(pl.col("v").str.strip_chars().str.to_lowercase().alias("n"), "len")
        for c in STRING_DEFAULTS:
            st.defaults[c] = int(norm.filter(pl.col("n") == c)["len"].sum())
