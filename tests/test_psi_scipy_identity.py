"""psi.py computes χ² tails and BH through scipy.special and numpy (scipy.stats costs about a
second to import on every CLI run); the numbers must equal scipy.stats' to the bit."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from mlfail.psi import bh_adjust, critical_psi, psi_p_value, psi_scale


@settings(max_examples=200, deadline=None)
@given(
    st.floats(0.0, 50.0, allow_nan=False),
    st.integers(1, 10**7),
    st.integers(1, 10**7),
    st.integers(1, 600),
)
def test_p_value_is_scipy_chi2_sf(psi: float, n: int, m: int, bins: int) -> None:
    expected = 1.0 if bins < 2 else float(stats.chi2.sf(psi / psi_scale(n, m), bins - 1))
    assert psi_p_value(psi, n, m, bins) == expected


@settings(max_examples=200, deadline=None)
@given(st.floats(1e-6, 0.5), st.integers(1, 10**7), st.integers(1, 10**7), st.integers(1, 600))
def test_critical_psi_is_scipy_chi2_ppf(alpha: float, n: int, m: int, bins: int) -> None:
    dof = max(bins - 1, 1)
    expected = float(stats.chi2.ppf(1.0 - alpha, dof) * psi_scale(n, m))
    assert critical_psi(alpha, n, m, bins) == expected


@settings(max_examples=200, deadline=None)
@given(st.lists(st.floats(0.0, 1.0), min_size=0, max_size=300))
def test_bh_is_scipy_false_discovery_control(ps: list[float]) -> None:
    got = bh_adjust(ps)
    if not ps:
        assert got.size == 0
        return
    expected = np.asarray(stats.false_discovery_control(np.asarray(ps, dtype=float)))
    assert np.array_equal(got, expected)


def test_bh_with_ties_and_exact_values() -> None:
    ps = [0.01, 0.01, 0.04, 0.5, 0.03, 0.5, 1.0, 0.0]
    assert np.array_equal(bh_adjust(ps), stats.false_discovery_control(ps))
