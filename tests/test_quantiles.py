"""Exact quantiles by selection equal Polars' sort-based linear quantiles to the bit."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mlfail import binning, quantiles
from mlfail.binning import exact_quantiles, quantile_levels
from mlfail.counts import count_frame

LEVELS = quantile_levels(10)


def _polars(values: np.ndarray, levels: list[float]) -> list[float]:
    return list(pl.DataFrame({"v": values}).select(pl.col("v").quantile(levels, "linear")).item())


@pytest.fixture
def select_always(monkeypatch: pytest.MonkeyPatch) -> None:
    """Take the selection path even on short columns (it is the one used on big data)."""
    monkeypatch.setattr(quantiles, "SELECT_MIN", 1)
    monkeypatch.setattr(quantiles, "_SAMPLE", 64)


@pytest.mark.parametrize(
    "make",
    [
        lambda r, n: r.normal(0, 1, n),
        lambda r, n: r.pareto(1.2, n) + 1,  # heavy tail
        lambda r, n: r.integers(0, 7, n).astype(float),  # massive ties
        lambda r, n: np.sort(r.normal(0, 1, n)),  # sorted input
        lambda r, n: np.repeat(r.normal(0, 1, n // 50 + 1), 50)[:n],  # runs
        lambda r, n: np.tile(np.arange(64.0), n // 64 + 1)[:n],  # period = sample stride
    ],
)
@pytest.mark.parametrize("n", [1, 2, 3, 10, 257, 5000, 40_001])
def test_selection_equals_polars_quantile(select_always: None, make, n: int) -> None:
    values = make(np.random.default_rng(n), n)
    got = exact_quantiles(pl.Series(values), LEVELS)
    assert got == _polars(values, LEVELS)  # exact equality, not approx


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.floats(-1e6, 1e6, allow_nan=False), min_size=1, max_size=400),
    st.lists(st.floats(0.0, 1.0), min_size=1, max_size=5),
)
def test_selection_equals_polars_on_arbitrary_data(xs: list[float], levels: list[float]) -> None:
    old = quantiles.SELECT_MIN, quantiles._SAMPLE
    quantiles.SELECT_MIN, quantiles._SAMPLE = 1, 16
    try:
        got = exact_quantiles(pl.Series(xs, dtype=pl.Float64), levels)
    finally:
        quantiles.SELECT_MIN, quantiles._SAMPLE = old
    assert got == _polars(np.asarray(xs, dtype=float), levels)


def test_empty_column_has_no_quantiles() -> None:
    assert exact_quantiles(pl.Series([], dtype=pl.Float64), LEVELS) is None


def test_independent_numpy_linear_quantiles_agree_closely(select_always: None) -> None:
    x = np.random.default_rng(3).lognormal(0, 1, 30_000)
    got = exact_quantiles(pl.Series(x), LEVELS)
    assert got is not None
    np.testing.assert_allclose(got, np.quantile(x, LEVELS, method="linear"), rtol=1e-12)


def test_missed_brackets_retry_then_fall_back_to_sorting() -> None:
    """Zero-width brackets on data whose period equals the sample stride miss; the answer must
    still be exact (a retry with wider brackets, else None and the caller sorts)."""
    n = 50_000
    values = np.tile(np.arange(97.0), n // 97 + 1)[:n]
    s = pl.Series(values)
    ranks = [int((n - 1) * q) for q in LEVELS]
    got = quantiles._order_statistics(s, ranks, width=0.0)
    srt = np.sort(values)
    assert got is None or got == {r: float(srt[r]) for r in ranks}
    assert exact_quantiles(s, LEVELS) == _polars(values, LEVELS)


def test_float_column_with_inf_nan_and_nulls_uses_finite_values_only() -> None:
    x = pl.Series("x", [1.0, float("inf"), None, float("nan"), 3.0, -float("inf"), 2.0] * 40_000)
    (spec,) = binning.build_specs(x.to_frame().lazy(), ["x"], explicit=True)
    finite = np.tile([1.0, 3.0, 2.0], 40_000)
    expected = binning.numeric_edges(list(np.quantile(finite, LEVELS, method="linear")))
    assert spec.edges == pytest.approx(expected, abs=0.0, rel=1e-15)


@settings(max_examples=80, deadline=None)
@given(
    st.lists(
        st.one_of(
            st.none(),
            st.sampled_from([float("nan"), float("inf"), -float("inf"), 0.0, 1.0]),
            st.floats(-100, 100, allow_nan=False),
        ),
        min_size=1,
        max_size=300,
    ),
    st.booleans(),
)
def test_reference_counts_from_brackets_equal_the_counting_core(
    xs: list[float | None], as_int: bool
) -> None:
    """build_specs(counts=...) counts numeric columns from the quantile brackets; the table must
    be the one count_frame gives (ties on edges, ±inf, NaN and nulls included)."""
    col = pl.Series("x", xs, dtype=pl.Float64)
    if as_int:
        col = pl.Series("x", [None if v is None or v != v or abs(v) == float("inf") else int(v)
                              for v in xs], dtype=pl.Int64)  # fmt: skip
    old = quantiles.SELECT_MIN, quantiles._SAMPLE
    quantiles.SELECT_MIN, quantiles._SAMPLE = 1, 16
    try:
        tables: list[pl.DataFrame] = []
        specs = binning.build_specs(col.to_frame().lazy(), ["x"], numeric=["x"], counts=tables)
    finally:
        quantiles.SELECT_MIN, quantiles._SAMPLE = old
    expected = count_frame(col.to_frame().lazy(), specs)
    assert tables[0].sort("bin").equals(expected.sort("bin"))
