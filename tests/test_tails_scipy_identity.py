"""mlfail/tails.py computes the slice and root-cause tests' tails through scipy.special (the
walk never imports scipy.stats, two seconds of CPU); each must equal scipy.stats' to the bit,
edge cases included (outside the support, invalid shapes, NaN and infinities)."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from mlfail.tails import binom_sf, hypergeom_sf, norm_sf, welch_greater_p


def _same(a: np.ndarray, b: np.ndarray) -> bool:
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    return a.shape == b.shape and np.array_equal(a, b, equal_nan=True)


def test_norm_sf_is_scipy_on_a_grid_and_the_limits() -> None:
    x = np.concatenate(
        [np.linspace(-40, 40, 4001), [np.inf, -np.inf, np.nan, 0.0, -0.0, 1e-300, 38.5, -38.5]]
    )
    assert _same(norm_sf(x), stats.norm.sf(x))
    assert float(norm_sf(1.96)) == float(stats.norm.sf(1.96))


@settings(max_examples=300, deadline=None)
@given(
    st.integers(0, 5000),
    st.integers(0, 5000),
    st.integers(0, 5000),
    st.integers(-3, 5003),
)
def test_hypergeom_sf_is_scipy(total: int, good: int, draws: int, k: int) -> None:
    """Fisher's upper tail as slices call it: k = e1 − 1 of n1 draws from n1 + n2 rows with
    e1 + e2 errors; invalid shapes (good or draws above the total) included."""
    got = hypergeom_sf(np.array([k - 1.0]), np.array([float(total)]), good, draws)
    assert _same(got, stats.hypergeom.sf(np.array([k - 1.0]), total, good, draws))


def test_hypergeom_sf_vectors_with_the_edges() -> None:
    rng = np.random.default_rng(0)
    n1 = rng.integers(1, 400, 2000).astype(float)
    n2 = rng.integers(1, 40_000, 2000).astype(float)
    e1 = np.floor(rng.random(2000) * (n1 + 1))
    e2 = np.floor(rng.random(2000) * (n2 + 1))
    total, bad = n1 + n2, e1 + e2
    k = np.concatenate([e1 - 1, [-1.0, 0.0, 5.0, np.nan, np.inf, -np.inf, 3.0]])
    m = np.concatenate([total, [10, 10, 10, 10, 10, 10, 0]])
    n = np.concatenate([bad, [4, 4, 4, 4, 4, 4, 0]])
    d = np.concatenate([n1, [5, 5, 5, 5, 5, 5, 0]])
    assert _same(hypergeom_sf(k, m, n, d), stats.hypergeom.sf(k, m, n, d))
    assert _same(hypergeom_sf(2.5, 10, 4.5, 5), stats.hypergeom.sf(2.5, 10, 4.5, 5))  # not whole


@settings(max_examples=300, deadline=None)
@given(st.integers(-2, 3000), st.integers(0, 3000), st.floats(0.0, 1.0))
def test_binom_sf_is_scipy(k: int, n: int, p: float) -> None:
    assert _same(binom_sf(k - 1, n, p), stats.binom.sf(k - 1, n, p))


def test_binom_sf_edges() -> None:
    k = np.array([-1.0, 0.0, 2.5, 10.0, 11.0, np.nan, 3.0, 3.0])
    n = np.array([10.0, 10.0, 10.0, 10.0, 10.0, 10.0, 10.5, 10.0])
    p = np.array([0.3, 0.0, 1.0, 0.3, 0.3, 0.3, 0.3, 1.5])
    assert _same(binom_sf(k, n, p), stats.binom.sf(k, n, p))


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.floats(-5, 5),
            st.floats(0, 5),
            st.integers(0, 10**6),
            st.floats(-5, 5),
            st.floats(0, 5),
            st.integers(0, 10**6),
        ),
        min_size=1,
        max_size=20,
    )
)
def test_welch_greater_is_scipy_ttest_ind_from_stats(rows: list[tuple]) -> None:
    m1, s1, n1, m2, s2, n2 = (np.array([r[i] for r in rows], dtype=float) for i in range(6))
    with np.errstate(divide="ignore", invalid="ignore"):
        want = stats.ttest_ind_from_stats(
            m1, s1, n1, m2, s2, n2, equal_var=False, alternative="greater"
        ).pvalue
    assert _same(welch_greater_p(m1, s1, n1, m2, s2, n2), want)
