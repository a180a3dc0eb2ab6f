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


def test_a_selection_that_misses_sorts_the_column_and_keeps_no_brackets(
    select_always: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The fallback itself (the test above may never reach it): with every selection missing,
    the quantiles come from the sorted copy, equal to Polars', and no bracket is left for the
    reference counts to read."""
    monkeypatch.setattr(quantiles, "_order_statistics", lambda *a, **k: None)
    values = np.random.default_rng(9).integers(0, 40, 5000).astype(float)  # ties
    spans: list[quantiles.Span] = [(0.0, 1.0, 0, np.zeros(1))]
    assert exact_quantiles(pl.Series(values), LEVELS, spans) == _polars(values, LEVELS)
    assert spans == []


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
    st.booleans(),
)
def test_reference_counts_from_brackets_equal_the_counting_core(
    xs: list[float | None], as_int: bool, profiled: bool
) -> None:
    """build_specs(counts=...) counts numeric columns from the quantile brackets, or from the
    sorted values when it also profiles them (baseline create); the table must be the one
    count_frame gives (ties on edges, ±inf, NaN and nulls included)."""
    col = pl.Series("x", xs, dtype=pl.Float64)
    if as_int:
        col = pl.Series("x", [None if v is None or v != v or abs(v) == float("inf") else int(v)
                              for v in xs], dtype=pl.Int64)  # fmt: skip
    old = quantiles.SELECT_MIN, quantiles._SAMPLE
    quantiles.SELECT_MIN, quantiles._SAMPLE = 1, 16
    try:
        tables: list[pl.DataFrame] = []
        specs = binning.build_specs(
            col.to_frame().lazy(), ["x"], numeric=["x"], counts=tables,
            profile={} if profiled else None,
        )  # fmt: skip
    finally:
        quantiles.SELECT_MIN, quantiles._SAMPLE = old
    expected = count_frame(col.to_frame().lazy(), specs)
    assert tables[0].sort("bin").equals(expected.sort("bin"))


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.floats(-1e6, 1e6, allow_nan=False), min_size=1, max_size=400),
    st.lists(st.floats(0.0, 1.0), min_size=1, max_size=5),
    st.lists(st.floats(-2e6, 2e6, allow_nan=False), min_size=1, max_size=5),
)
def test_the_sorted_copy_gives_polars_quantiles_and_counts_below_points(
    xs: list[float], levels: list[float], points: list[float]
) -> None:
    """Ordered (a baseline's one sort per column): Polars' linear quantiles to the bit on the
    long-column path, and #(x ≤ p) as a row-wise count gives it."""
    old = quantiles.SELECT_MIN
    quantiles.SELECT_MIN = 1  # the long-column path (index into the sorted copy)
    try:
        o = quantiles.Ordered.of(pl.Series(xs, dtype=pl.Float64))
        got = o.quantiles(levels)
    finally:
        quantiles.SELECT_MIN = old
    x = np.asarray(xs, dtype=float)
    assert got == _polars(x, levels)
    assert o.at_most(points) == [int(np.count_nonzero(x <= p)) for p in points]


@pytest.mark.parametrize("centre", [2.5, -1e-9, 1e15, 0.1 + 0.2])
def test_near_counts_what_the_row_wise_tolerance_test_counts(centre: float) -> None:
    """Ordered.near bisects for |v − centre| ≤ tol; values exactly at centre ± tol and one ulp
    either side decide the edges, as numpy's row-wise |x − centre| ≤ tol does."""
    tol = max(abs(centre) * 1e-9, 1e-12)
    rng = np.random.default_rng(11)
    edges = np.array([centre - tol, centre + tol, centre])
    x = np.concatenate(
        [
            edges,
            np.nextafter(edges, np.inf),
            np.nextafter(edges, -np.inf),
            centre + rng.normal(0, tol, 500),
            centre + rng.normal(0, 100 * tol, 500),
        ]
    )
    want = int(np.count_nonzero(np.abs(x - centre) <= tol))
    assert 0 < want < len(x)
    assert quantiles.Ordered.of(pl.Series(x)).near(centre, tol) == want
