from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

from mlfail.changepoint import detect_onset, robust_sigma, split_statistics

DAYS = [dt.date(2026, 9, 1) + dt.timedelta(days=i) for i in range(30)]


def weekly(n: int = 30, amp: float = 0.03) -> np.ndarray:
    # 2026-09-05 and 06 are a weekend; traffic-driven metrics bump on weekends
    return np.array([amp if DAYS[i].weekday() >= 5 else 0.0 for i in range(n)])


@pytest.mark.parametrize("day", [5, 12, 18, 24])
@pytest.mark.parametrize("seed", range(5))
def test_step_is_located_within_one_window(day: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    x = 0.88 + rng.normal(0, 0.01, 30) + weekly()
    x[day:] -= 0.06
    onset = detect_onset(x, DAYS)
    assert onset is not None
    assert abs(onset.index - day) <= 1
    assert onset.direction == "down" and onset.delta == pytest.approx(-0.06, abs=0.02)
    assert onset.date == DAYS[onset.index]
    assert onset.alarm_index is not None and onset.alarm_index >= onset.index


def test_noise_and_weekly_rhythm_have_no_onset() -> None:
    false = 0
    for seed in range(200):
        rng = np.random.default_rng(1000 + seed)
        x = 0.88 + rng.normal(0, 0.01, 30) + weekly(amp=0.03)
        if detect_onset(x, DAYS) is not None:
            false += 1
    assert false <= 4  # ≤ 2% false onsets on pure noise with a strong weekend bump


def test_missing_windows_are_skipped_not_zero() -> None:
    rng = np.random.default_rng(3)
    x = list(0.88 + rng.normal(0, 0.005, 30))
    for i in (27, 28, 29):  # labels not in yet
        x[i] = None
    assert detect_onset(x, DAYS) is None
    zeros = [0.0 if v is None else v for v in x]
    assert detect_onset(zeros, DAYS) is not None  # what reading them as zero would do


def test_onset_index_refers_to_input_positions_with_gaps() -> None:
    x: list[float | None] = [1.0] * 10 + [None, None] + [3.0] * 10
    onset = detect_onset(x, DAYS[:22])
    assert onset is not None and onset.index == 12 and onset.date == DAYS[12]


def test_flat_series_and_short_series() -> None:
    assert detect_onset([0.5] * 30) is None
    assert detect_onset([1.0, 2.0, 3.0]) is None


def test_split_statistic_matches_two_sample_formula() -> None:
    x = np.array([1.0, 2.0, 1.5, 4.0, 4.5, 5.0, 3.5])
    s = split_statistics(x, 0.7, 2)
    tau = 3
    expected = abs(x[tau:].mean() - x[:tau].mean()) / (0.7 * np.sqrt(1 / tau + 1 / (7 - tau)))
    assert s[tau] == pytest.approx(expected)


def test_robust_sigma_recovers_noise_scale() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(0, 2.0, 5000)
    assert robust_sigma(x, period=1) == pytest.approx(2.0, rel=0.05)


def test_gradual_rollout_onset_is_the_start_of_the_ramp() -> None:
    rng = np.random.default_rng(9)
    x = 0.01 + rng.normal(0, 0.003, 30)
    for i in range(10, 30):
        x[i] += min(0.9, (i - 9) / 10) * 0.5  # 5% … 45% of traffic switched, growing
    onset = detect_onset(x, DAYS)
    assert onset is not None and abs(onset.index - 10) <= 1


def test_a_single_outlier_window_is_not_an_onset() -> None:
    rng = np.random.default_rng(4)
    for day in (3, 15, 26):
        x = 180 + rng.normal(0, 4, 30)
        x[day] = 400  # a one-day latency spike
        assert detect_onset(x, DAYS) is None
        x[day:] += 30  # a real step at the same place still is one
        onset = detect_onset(x, DAYS)
        assert onset is not None and abs(onset.index - day) <= 1


def test_weekday_anova_matches_scipy_f_oneway() -> None:
    from scipy import stats

    from mlfail.changepoint import weekday_effect_significant

    rng = np.random.default_rng(2)
    phase = np.arange(35) % 7
    for amp in (0.0, 0.4):
        resid = rng.normal(0, 1, 35) + amp * (phase >= 5)
        p = stats.f_oneway(*[resid[phase == k] for k in range(7)]).pvalue
        for alpha in (0.01, 0.2, 0.5):
            assert weekday_effect_significant(resid, phase, 7, alpha) == (p < alpha)


def test_late_step_next_to_weekend_is_located_with_business_noise() -> None:
    rng = np.random.default_rng(110)
    x = 0.8 + rng.normal(0, 0.005, 30)
    x[17:] -= 0.05
    onset = detect_onset(x, DAYS)
    assert onset is not None and onset.index == 17
