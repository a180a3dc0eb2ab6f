from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from mlfail.binning import BinSpec
from mlfail.psi import (
    PsiSettings,
    assess_feature,
    bh_adjust,
    critical_psi,
    finalize,
    psi_p_value,
    psi_value,
)


def hand_psi(ref: list[int], live: list[int], eps: float = 1e-4) -> float:
    n, m = sum(ref), sum(live)
    total = 0.0
    for r, lv in zip(ref, live, strict=True):
        p = r / n if r else eps
        q = lv / m if lv else eps
        total += (q - p) * math.log(q / p)
    return total


def hand_bh(p: list[float]) -> list[float]:
    m = len(p)
    order = sorted(range(m), key=lambda i: p[i])
    q = [0.0] * m
    running = 1.0
    for rank in range(m, 0, -1):
        i = order[rank - 1]
        running = min(running, p[i] * m / rank)
        q[i] = running
    return q


def test_psi_matches_hand_computation_with_epsilon_rule() -> None:
    ref = [100, 250, 400, 250, 0, 0]
    live = [50, 200, 300, 300, 150, 0]
    assert psi_value(np.array(ref), np.array(live)) == pytest.approx(hand_psi(ref, live), abs=1e-15)
    # the empty reference bin contributes (q - eps) * ln(q / eps)
    q = 150 / 1000
    assert psi_value(np.array(ref), np.array(live)) > (q - 1e-4) * math.log(q / 1e-4)
    assert psi_value(np.array(ref), np.array(live), epsilon=1e-3) == pytest.approx(
        hand_psi(ref, live, 1e-3), abs=1e-15
    )


def test_p_value_and_critical_value_from_chi2() -> None:
    n, m, bins, psi = 5000, 800, 11, 0.05
    s = 1 / n + 1 / m
    assert psi_p_value(psi, n, m, bins) == pytest.approx(
        stats.chi2.sf(psi / s, bins - 1), rel=1e-12
    )
    assert critical_psi(0.05, n, m, bins) == pytest.approx(
        stats.chi2.ppf(0.95, bins - 1) * s, rel=1e-12
    )


def test_critical_psi_shrinks_with_rows() -> None:
    # design §3: at M = 100 noise alone reaches PSI ≈ 0.17–0.28; at M = 10k about 0.003.
    small = critical_psi(0.05, 100_000, 100, 11)
    big = critical_psi(0.05, 100_000, 10_000, 11)
    assert 0.17 <= small <= 0.28
    assert 0.0015 <= big <= 0.004


def test_bh_matches_hand_implementation() -> None:
    p = [0.001, 0.008, 0.039, 0.041, 0.042, 0.06, 0.074, 0.205, 0.212, 0.216]
    np.testing.assert_allclose(bh_adjust(p), hand_bh(p), rtol=1e-12)
    assert bh_adjust([]).size == 0


def _spec(nbins: int) -> BinSpec:
    return BinSpec("x", "numeric", edges=tuple(float(i) for i in range(nbins - 2)))


def test_status_rules() -> None:
    cfg = PsiSettings()
    spec = _spec(4)
    big_shift = assess_feature(
        spec, np.array([250, 250, 250, 250]), np.array([700, 100, 100, 100]), cfg
    )
    tiny_slice = assess_feature(spec, np.array([250, 250, 250, 250]), np.array([9, 1, 1, 1]), cfg)
    same = assess_feature(spec, np.array([250, 250, 250, 250]), np.array([250, 251, 249, 250]), cfg)
    out = finalize([same, tiny_slice, big_shift], cfg)
    assert (big_shift.status, tiny_slice.status, same.status) == ("drifted", "too_few_rows", "ok")
    assert big_shift.significant
    assert out == [tiny_slice, big_shift, same]  # sorted by PSI, whatever the status
    # big PSI on a few rows: sorted by PSI, but never "drifted"
    assert tiny_slice.psi is not None and tiny_slice.psi > 0.25


def test_large_psi_that_is_not_significant_is_watch_not_drifted() -> None:
    cfg = PsiSettings(min_expected=1.0)
    spec = _spec(4)
    r = assess_feature(spec, np.array([25, 25, 25, 25]), np.array([12, 4, 4, 4]), cfg)
    (r,) = finalize([r], cfg)
    assert r.psi is not None and r.psi >= 0.25
    assert not r.significant
    assert r.status == "watch"


def test_contributions_sum_to_psi_and_explain_the_move() -> None:
    spec = BinSpec("c", "categorical", categories=("a", "b"))
    r = assess_feature(
        spec, np.array([500, 500, 0, 0]), np.array([200, 500, 300, 0]), PsiSettings()
    )
    assert r.psi == pytest.approx(sum(b.contribution for b in r.bins), abs=1e-12)
    assert r.top_moves(1)[0].bin == "__unseen__"
    assert [b.bin for b in r.bins] == ["a", "b", "__unseen__"]  # empty bins omitted


def test_invalid_settings_are_usage_errors() -> None:
    from mlfail.errors import UsageError

    with pytest.raises(UsageError, match="--epsilon"):
        PsiSettings(epsilon=0)
    with pytest.raises(UsageError, match="--watch"):
        PsiSettings(watch=0.5, threshold=0.25)


counts = st.lists(st.integers(min_value=0, max_value=10_000), min_size=2, max_size=15)


@settings(max_examples=200, deadline=None)
@given(counts, st.data())
def test_psi_is_non_negative(ref: list[int], data: st.DataObject) -> None:
    live = data.draw(st.lists(st.integers(0, 10_000), min_size=len(ref), max_size=len(ref)))
    if sum(ref) == 0 or sum(live) == 0:
        return
    assert psi_value(np.array(ref), np.array(live)) >= -1e-12


@settings(max_examples=200, deadline=None)
@given(counts, st.integers(min_value=1, max_value=7))
def test_psi_of_identical_proportions_is_zero(ref: list[int], k: int) -> None:
    if sum(ref) == 0:
        return
    assert psi_value(np.array(ref), np.array(ref) * k) == pytest.approx(0.0, abs=1e-12)
