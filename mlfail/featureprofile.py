"""A feature's reference profile (:class:`~mlfail.featurestats.FeatureStats`) from what the bin
specs' single read of the reference already holds (issue 15): a numeric column while its batch
is in memory, a categorical column's value counts. ``baseline create`` used to read the
reference again for these — one aggregation for every feature, then one query per feature for
its quantiles or its frequencies.

The numbers are those of that per-feature path (``mlfail.baseline.build._profile_features``,
still used for what the read did not hold): the same expressions, quantiles from
:func:`mlfail.quantiles.exact_quantiles` (Polars' linear quantile to the bit); means and
standard deviations may differ from a streaming aggregation in the last bits only.
"""

from __future__ import annotations

import math

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
from mlfail.quantiles import exact_quantiles


def profile_column(col: pl.Series, spec: BinSpec) -> FeatureStats:
    """The profile of a reference column held whole in memory (its every row)."""
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
        _numeric(st, col.cast(pl.Float64))
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


def _numeric(st: FeatureStats, x: pl.Series) -> None:
    """Counts, moments, quantiles and default-value counts of a Float64 column."""
    st.nulls = int((x.is_null() | x.is_nan()).sum())
    st.neg_inf, st.pos_inf = int((x == -math.inf).sum()), int((x == math.inf).sum())
    # the finite values: the column itself when it has no null, NaN or ±inf (no copy of it)
    fin = x if st.nulls == 0 and st.neg_inf + st.pos_inf == 0 else x.filter(x.is_finite())
    st.count = len(fin)
    st.min, st.max = finite_or_none(fin.min()), finite_or_none(fin.max())
    st.mean, st.std = finite_or_none(fin.mean()), finite_or_none(fin.std())
    qs: list[float | None] = [None] * len(QUANTILE_LEVELS)
    qs = list(exact_quantiles(fin, QUANTILE_LEVELS) or qs)
    st.quantiles = {
        level_key(lv): finite_or_none(q) for lv, q in zip(QUANTILE_LEVELS, qs, strict=True)
    }
    st.defaults = {k: int((x == v).sum()) for k, v in NUMERIC_DEFAULTS.items()}
    if st.mean is not None and not is_default_value(st.mean):
        st.defaults[MEAN_DEFAULT] = _near(x, st.mean, mean_tolerance(st.mean))


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
