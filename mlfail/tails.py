"""The distribution tails the slice and root-cause tests need, through ``scipy.special`` — the
same ufuncs ``scipy.stats`` calls, with its argument handling step for step, so the numbers are
equal to the bit (tests/test_tails_scipy_identity.py). ``scipy.stats`` itself costs about two
seconds of CPU to import (SciPy 1.17): on a two-core machine that is a second of every
``triage``, ``slices`` and ``explain`` run, more than the χ² tails of :mod:`mlfail.psi` ever
needed (they use ``scipy.special`` the same way).

Shadow tests (:mod:`mlfail.shadow`) and the quality rules keep ``scipy.stats``: they run off the
main walk's path, and Mann–Whitney or the exact binomial test are more than a tail.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from mlfail.psi import _special


def norm_sf(x: Any) -> Any:
    """``scipy.stats.norm.sf(x)``: its ``_sf`` is ``ndtr(-x)``, and the limits (±inf, NaN)
    that ``rv_continuous.sf`` places itself are the values ``ndtr`` gives there."""
    return _special().ndtr(-np.asarray(x, dtype=float))


def _discrete_sf(
    sf: Any, k: np.ndarray, lo: np.ndarray, hi: np.ndarray, valid: np.ndarray, *args: np.ndarray
) -> np.ndarray:
    """``rv_discrete.sf``: NaN for invalid shapes or k; 1 below the support; 0 from its top;
    in between the distribution's ``_sf`` clipped to [0, 1]."""
    kk, low, high, ok, *shapes = np.broadcast_arrays(k, lo, hi, valid, *args)
    out = np.zeros(kk.shape, dtype=float)
    out[~ok | np.isnan(kk)] = np.nan
    out[((kk < low) | np.isneginf(kk)) & ok] = 1.0
    cond = ok & (kk >= low) & (kk < high) & np.isfinite(kk)
    if cond.any():
        out[cond] = np.clip(sf(kk[cond], *(a[cond] for a in shapes)), 0, 1)
    return out


def _integral(x: np.ndarray) -> np.ndarray:
    return x == np.round(x)


def hypergeom_sf(k: Any, total: Any, good: Any, draws: Any) -> np.ndarray:
    """``scipy.stats.hypergeom.sf(k, M=total, n=good, N=draws)`` (Boost's ``_hypergeom_sf``)."""
    k, m, n, big_n = (np.asarray(a, dtype=float) for a in (k, total, good, draws))
    valid = (m > 0) & (n >= 0) & (big_n >= 0) & (n <= m) & (big_n <= m)
    valid &= _integral(m) & _integral(n) & _integral(big_n)
    lo, hi = np.maximum(big_n - (m - n), 0), np.minimum(n, big_n)
    scu = _special()._ufuncs
    return _discrete_sf(lambda kk, mm, nn, dd: scu._hypergeom_sf(kk, nn, dd, mm), k, lo, hi,
                        valid, m, n, big_n)  # fmt: skip


def binom_sf(k: Any, n: Any, p: Any) -> np.ndarray:
    """``scipy.stats.binom.sf(k, n, p)`` (its ``_sf``: Boost's ``_binom_sf`` at ⌊k⌋)."""
    k, n, p = (np.asarray(a, dtype=float) for a in (k, n, p))
    valid = (n >= 0) & _integral(n) & (p >= 0) & (p <= 1)
    scu = _special()._ufuncs
    return _discrete_sf(lambda kk, nn, pp: scu._binom_sf(np.floor(kk), nn, pp), k,
                        np.zeros_like(n), n, valid, n, p)  # fmt: skip


def welch_greater_p(
    m1: np.ndarray, s1: np.ndarray, n1: np.ndarray, m2: np.ndarray, s2: np.ndarray, n2: np.ndarray
) -> np.ndarray:
    """``scipy.stats.ttest_ind_from_stats(m1, s1, n1, m2, s2, n2, equal_var=False,
    alternative="greater").pvalue``: Welch's degrees of freedom and standard error from the
    standard deviations squared (as SciPy squares them), then Student's t upper tail."""
    with np.errstate(divide="ignore", invalid="ignore"):
        vn1 = s1**2 / n1
        vn2 = s2**2 / n2
        df = (vn1 + vn2) ** 2 / (vn1**2 / (n1 - 1) + vn2**2 / (n2 - 1))
        df = np.where(np.isnan(df), 1.0, df)
        t = np.divide(m1 - m2, np.sqrt(vn1 + vn2))
    return np.asarray(_special().stdtr(df, -t), dtype=float)
