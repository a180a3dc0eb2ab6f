"""Onset of a change in a daily (or per-window) series — design §6.

The question is "since when?", so the answer is the **change-point estimate** (the first
window of the new level), not the alarm time.

* Weekly rhythm: with at least three weeks of windows, a robust weekday effect (the median
  per weekday of the residual from a two-segment level fit, refitted until the split holds)
  is removed first when a one-way ANOVA of those residuals by weekday gives p < 0.2 — so a
  weekend bump is not an onset, a step does not leak into the weekday effects, and a ramp is
  not bent by a phantom weekly rhythm.
* Noise scale: robust. With at least three weeks it comes from same-weekday differences
  (x_t − x_{t−7}), otherwise from first differences: σ = 1.4826·MAD(d)/√2.
* Change-point: the single split τ that maximises the two-sample statistic
  T(τ) = |mean(x[τ:]) − mean(x[:τ])| / (σ·√(1/τ + 1/(n−τ))), segments at least
  ``min_segment`` windows long. A change is reported when max T ≥ ``threshold`` (default 4.5:
  the maximum over ~25 splits of a series of 30 pure-noise windows exceeds it well under 1% of
  the time; see tests) and the same statistic on the segment *medians* reaches half of it, so
  that a single outlier window (a one-day spike) is not read as a level change.
* Ramps: a staged rollout moves the level gradually and the best split lands mid-ramp; the
  onset is moved back to the first window of the run that already sits beyond 4σ of the old
  level and at least 5% of the way to the new one (the start of the ramp).
* Alarm: a two-sided CUSUM on the series standardised by the pre-change median and σ
  (k = 0.5, h = 5), reported as ``alarm_index`` — the first window the change would have paged.
* Missing windows (NaN, e.g. days whose labels have not arrived) are skipped, not read as 0.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

MAD_SCALE = 1.4826


@dataclass(frozen=True)
class Onset:
    """A detected level change. Indices refer to the input series (NaN positions included)."""

    index: int  # first window of the new level
    date: dt.date | None
    before: float  # median of the observed values before
    after: float  # median of the observed values from the onset on
    delta: float  # after − before
    direction: Literal["up", "down"]
    statistic: float  # max T
    sigma: float
    alarm_index: int | None
    alarm_date: dt.date | None


def robust_sigma(x: np.ndarray, *, period: int = 7) -> float:
    """Noise scale from same-period differences (≥ 3 periods of data) or first differences."""
    x = np.asarray(x, dtype=float)
    x = x[np.isfinite(x)]
    if len(x) < 3:
        return 0.0
    lag = period if len(x) >= 3 * period else 1
    d = x[lag:] - x[:-lag]
    mad = float(np.median(np.abs(d - np.median(d))))
    return MAD_SCALE * mad / math.sqrt(2.0)


def deseasonalize(
    x: np.ndarray, phase: np.ndarray, *, period: int = 7, min_segment: int = 3
) -> np.ndarray:
    """Remove a robust per-phase (weekday) effect. Needs at least three periods of data.

    The level is modelled first as two constant segments split where a level change is most
    likely (so a step does not leak into the weekday effects — a rolling median smears a step
    over its neighbours and invents weekday effects around it); the effect of each phase is the
    median of its residuals from that fit, centred to sum to zero.
    """
    n = len(x)
    if n < 3 * period:
        return x

    def effects_for(y: np.ndarray) -> tuple[np.ndarray, int | None, np.ndarray]:
        sigma0 = robust_sigma(y, period=period) or robust_sigma(y, period=1) or 1.0
        st = split_statistics(y, sigma0, min_segment)
        tau = int(np.nanargmax(st)) if np.isfinite(st).any() else None
        if tau is None:
            fit = np.full(n, np.median(x))
        else:
            fit = np.where(np.arange(n) < tau, np.median(x[:tau]), np.median(x[tau:]))
        resid = x - fit
        eff = np.zeros(period)
        for p in range(period):
            sel = resid[phase == p]
            if len(sel):
                eff[p] = float(np.median(sel))
        return eff - eff.mean(), tau, resid

    # alternate: split → weekday effects → split on the adjusted series, until the split holds
    effect, tau, resid = effects_for(x)
    for _ in range(3):
        new_effect, new_tau, new_resid = effects_for(x - effect[phase])
        effect, resid = new_effect, new_resid
        if new_tau == tau:
            break
        tau = new_tau
    if not weekday_effect_significant(resid, phase, period):
        return x
    return x - effect[phase]


def weekday_effect_significant(
    resid: np.ndarray, phase: np.ndarray, period: int, alpha: float = 0.2
) -> bool:
    """One-way ANOVA F-test of the residuals by phase (scipy.special.fdtrc gives the tail):
    adjust only for a weekly rhythm that is really there — removing a phantom one from a
    series that ramps (a staged rollout) would distort the ramp."""
    from scipy import special  # lazy: imported only when a series is long enough to need it

    groups = [resid[phase == p] for p in range(period)]
    groups = [g for g in groups if len(g)]
    k, n = len(groups), len(resid)
    if k < 2 or n <= k:
        return False
    grand = resid.mean()
    between = sum(len(g) * (g.mean() - grand) ** 2 for g in groups) / (k - 1)
    within = sum(((g - g.mean()) ** 2).sum() for g in groups) / (n - k)
    if within <= 0:
        return between > 0
    return float(special.fdtrc(k - 1, n - k, between / within)) < alpha


def split_statistics(x: np.ndarray, sigma: float, min_segment: int) -> np.ndarray:
    """T(τ) for τ = min_segment … n − min_segment (NaN elsewhere)."""
    n = len(x)
    out = np.full(n, np.nan)
    if n < 2 * min_segment or sigma <= 0:
        return out
    csum = np.cumsum(x)
    total = csum[-1]
    for tau in range(min_segment, n - min_segment + 1):
        m1 = csum[tau - 1] / tau
        m2 = (total - csum[tau - 1]) / (n - tau)
        out[tau] = abs(m2 - m1) / (sigma * math.sqrt(1.0 / tau + 1.0 / (n - tau)))
    return out


def cusum_alarm(z: np.ndarray, k: float = 0.5, h: float = 5.0) -> int | None:
    """First index at which a two-sided CUSUM of ``z`` crosses ``h``."""
    hi = lo = 0.0
    for i, v in enumerate(z):
        hi = max(0.0, hi + v - k)
        lo = max(0.0, lo - v - k)
        if hi > h or lo > h:
            return i
    return None


def detect_onset(
    values: Sequence[float | None] | np.ndarray,
    dates: Sequence[dt.date] | None = None,
    *,
    threshold: float = 4.5,
    min_segment: int = 3,
    period: int = 7,
    min_sigma: float = 0.0,
) -> Onset | None:
    """The onset of the largest level change in ``values``, or None when there is none.

    ``min_sigma`` floors the noise scale (useful for series such as PSI whose day-to-day noise
    can be near zero on big data, so that practically irrelevant wiggles don't count).
    """
    raw = np.array([np.nan if v is None else float(v) for v in values], dtype=float)
    keep = np.flatnonzero(np.isfinite(raw))
    x = raw[keep]
    observed = x
    if len(x) < 2 * min_segment:
        return None
    if dates is not None:
        phase = np.array([dates[int(i)].weekday() % period for i in keep])
    else:
        phase = keep % period
    x = deseasonalize(x, phase, period=period)
    sigma = robust_sigma(x, period=period)
    spread = float(np.max(x) - np.min(x))
    if spread == 0:
        return None
    # A perfectly flat series then a step has MAD 0: floor σ so the statistic stays finite.
    sigma = max(sigma, min_sigma, 1e-9 * max(1.0, float(np.max(np.abs(x)))))
    stats = split_statistics(x, sigma, min_segment)
    if not np.isfinite(stats).any():
        return None
    tau = int(np.nanargmax(stats))
    best = float(stats[tau])
    if best < threshold:
        return None
    level_before = float(np.median(x[:tau]))
    level_after = float(np.median(x[tau:]))
    # A level change shows in the medians too; one outlier window moves the means only.
    shift = abs(level_after - level_before)
    if shift / (sigma * math.sqrt(1.0 / tau + 1.0 / (len(x) - tau))) < 0.5 * threshold:
        return None
    # A gradual change (a staged rollout) is a ramp: the split lands mid-ramp. The onset is
    # where the ramp starts — walk back while windows already sit beyond 4σ of the old level
    # and at least 5% of the way to the new one.
    sign = 1.0 if level_after >= level_before else -1.0
    local = max(robust_sigma(x[:tau], period=1), min_sigma, 1e-12)
    bar = max(4 * local, 0.05 * shift)
    while tau > 1 and sign * (x[tau - 1] - level_before) > bar:
        tau -= 1
    level_before = float(np.median(x[:tau]))
    z = (x - level_before) / sigma
    # reported levels: medians of the observed values (not of the weekday-adjusted ones)
    before = float(np.median(observed[:tau]))
    after = float(np.median(observed[tau:]))
    alarm_pos = cusum_alarm(z[tau:])
    alarm = None if alarm_pos is None else int(keep[tau + alarm_pos])
    idx = int(keep[tau])
    return Onset(
        index=idx,
        date=dates[idx] if dates is not None else None,
        before=before,
        after=after,
        delta=after - before,
        direction="up" if (after - before or level_after - level_before) >= 0 else "down",
        statistic=best,
        sigma=sigma,
        alarm_index=alarm,
        alarm_date=dates[alarm] if dates is not None and alarm is not None else None,
    )
