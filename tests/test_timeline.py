"""Timeline (design §6): per-window numbers vs numpy, onsets, first fired, infra check."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from slice_data import START, frame, write

from mlfail.config import Roles
from mlfail.errors import UsageError
from mlfail.timeline import build_timeline, parse_window

ROLES = Roles(timestamp="ts", label="y", prediction="score")
DAYS = [START.date() + dt.timedelta(days=i) for i in range(30)]


def metrics_csv(path: Path, series: dict[tuple[str, str], np.ndarray]) -> str:
    rows = []
    for (layer, metric), values in series.items():
        for d, v in zip(DAYS, values, strict=False):
            if v is not None and np.isfinite(v):
                rows.append({"ts": d.isoformat(), "layer": layer, "metric": metric, "value": v})
    pl.DataFrame(rows).write_csv(path)
    return str(path)


def noisy(
    rng: np.random.Generator,
    level: float,
    sd: float,
    step_day: int | None = None,
    step: float = 0.0,
    weekly: float = 0.0,
) -> np.ndarray:
    x = level + rng.normal(0, sd, 30)
    x += weekly * np.array([d.weekday() >= 5 for d in DAYS])
    if step_day is not None:
        x[step_day:] += step
    return x


def quiet_live(tmp: Path) -> str:
    rng = np.random.default_rng(0)
    live = frame(rng, 3000, days=30)
    p = tmp / "quiet_live.parquet"
    live.write_parquet(p)
    return str(p)


def psi_np(ref_counts: np.ndarray, live_counts: np.ndarray) -> float:
    p = ref_counts / ref_counts.sum()
    q = live_counts / live_counts.sum()
    p, q = np.where(p == 0, 1e-4, p), np.where(q == 0, 1e-4, q)
    return float(((q - p) * np.log(q / p)).sum())


def decile_counts(ref_x: np.ndarray, x: np.ndarray) -> np.ndarray:
    """10 reference-quantile bins (linear), right-closed, plus a missing bin."""
    finite = ref_x[np.isfinite(ref_x)]
    edges = np.unique(np.quantile(finite, np.arange(1, 10) / 10))
    miss = ~np.isfinite(x)
    idx = np.searchsorted(edges, x[~miss], side="left")  # (a, b]: number of edges < x
    out = np.bincount(idx, minlength=len(edges) + 1).astype(float)
    return np.append(out, miss.sum())


@pytest.mark.parametrize("window,width", [("1d", 1), ("3d", 3)])
def test_window_numbers_match_numpy(tmp_path: Path, window: str, width: int) -> None:
    rng = np.random.default_rng(21)
    ref = frame(rng, 5000)
    live = frame(rng, 6000, days=10)
    day = np.array([(t - START).days for t in live["ts"].to_list()])
    x = live["x"].to_numpy() + np.where(day >= 5, 0.8, 0.0)  # drift from day 5
    x = np.where((day == 3) & (rng.random(live.height) < 0.2), np.nan, x)  # a null spike
    y = np.where(day >= 8, -1, live["y"].to_numpy())  # the last two days: no labels yet
    live = live.with_columns(pl.Series("x", x).fill_nan(None), pl.Series("y", y).replace(-1, None))
    r, lv = write(tmp_path, ref, live)
    rep = build_timeline(lv, roles=ROLES, reference=r, window=window)
    assert len(rep.windows) == -(-10 // width)
    ref_x, ref_s = ref["x"].to_numpy(), ref["score"].to_numpy()
    geos = ref["geo"].value_counts(sort=True)["geo"].to_list()
    for w, win in enumerate(rep.windows):
        m = (day // width) == w
        assert win.start == (START + dt.timedelta(days=w * width)).date()
        assert win.rows == int(m.sum())
        xs = x[m]
        assert win.null_rate["x"] == pytest.approx(np.isnan(xs).mean(), abs=1e-12)
        assert win.psi["x"] == pytest.approx(
            psi_np(decile_counts(ref_x, ref_x), decile_counts(ref_x, xs)), rel=1e-9
        )
        sc = live["score"].to_numpy()[m]
        assert win.prediction_psi == pytest.approx(
            psi_np(decile_counts(ref_s, ref_s), decile_counts(ref_s, sc)), rel=1e-9
        )
        assert win.mean_score == pytest.approx(sc.mean(), rel=1e-12)
        gl = live["geo"].to_numpy()[m]
        rc = np.array([(ref["geo"].to_numpy() == g).sum() for g in geos] + [0, 0], dtype=float)
        lc = np.array([(gl == g).sum() for g in geos] + [0, 0], dtype=float)
        assert win.psi["geo"] == pytest.approx(psi_np(rc, lc), rel=1e-9)
        lab = m & (y >= 0)
        if lab.sum() >= 30:
            acc = ((live["score"].to_numpy()[lab] >= 0.5) == (y[lab] == 1)).mean()
            assert win.metric == pytest.approx(acc, abs=1e-12)
            assert win.labelled_rows == int(lab.sum())
        elif lab.sum() == 0:
            assert win.metric is None and win.labelled_rows == 0  # skipped, not zero
    x_psi = next(s for s in rep.series if s.metric == "psi:x")
    assert x_psi.values == [w.psi["x"] for w in rep.windows]


@pytest.mark.parametrize("day", [6, 11, 17, 23])
@pytest.mark.parametrize("seed", range(3))
def test_planted_steps_are_located_within_one_window(tmp_path: Path, day: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    m = metrics_csv(
        tmp_path / "m.csv",
        {
            ("model", "accuracy"): noisy(rng, 0.88, 0.006, day, -0.05, weekly=0.01),
            ("business", "approval_rate"): noisy(rng, 0.8, 0.004, weekly=0.02),
        },
    )
    rep = build_timeline(quiet_live(tmp_path), roles=Roles(timestamp="ts"), metrics=m)
    acc = next(s for s in rep.series if s.metric == "accuracy" and s.source == "metrics")
    assert acc.onset is not None and acc.direction == "down"
    assert abs((acc.onset - DAYS[day]).days) <= 1  # type: ignore[operator]
    assert acc.before == pytest.approx(0.88, abs=0.01) and acc.after == pytest.approx(
        0.83, abs=0.01
    )
    flat = next(s for s in rep.series if s.metric == "approval_rate")
    assert flat.onset is None


def test_flat_noisy_series_have_no_onset_and_infra_is_green(tmp_path: Path) -> None:
    live = quiet_live(tmp_path)
    false = 0
    for seed in range(40):
        rng = np.random.default_rng(50 + seed)
        m = metrics_csv(
            tmp_path / f"m{seed}.csv",
            {
                ("infra", "p99_latency_ms"): noisy(rng, 180, 5, weekly=15),
                ("infra", "cpu_pct"): noisy(rng, 50, 2, weekly=6),
                ("business", "approval_rate"): noisy(rng, 0.8, 0.004),
            },
        )
        rep = build_timeline(live, roles=Roles(timestamp="ts"), metrics=m)
        false += sum(s.onset is not None for s in rep.series if s.source == "metrics")
        false += sum(bool(s.excursions) for s in rep.series)
    # 120 flat series: each has under 1% chance of a false onset or excursion (see
    # test_changepoint); allow 4 (these seeds give 3 onsets, 0 excursions)
    assert false <= 4


def test_delayed_labels_do_not_create_a_false_drop(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    live = frame(rng, 9000, days=30, error_rate=0.1)
    day = np.array([(t - START).days for t in live["ts"].to_list()])
    delayed = live.with_columns(
        pl.when(pl.Series(day >= 26)).then(None).otherwise(pl.col("y")).alias("y")
    )
    p = tmp_path / "delayed.parquet"
    delayed.write_parquet(p)
    rep = build_timeline(str(p), roles=ROLES)
    acc = next(s for s in rep.series if s.metric == "accuracy")
    assert acc.values[26:] == [None] * 4
    assert all(v is not None for v in acc.values[:26])
    assert acc.onset is None
    assert rep.first_fired is None and rep.verdict.startswith("no layer moved")
    # the same days read as "all wrong" (what a naive monitor does) would show a drop
    wrong = np.array([0.0 if v is None else v for v in acc.values])
    from mlfail.changepoint import detect_onset

    assert detect_onset(wrong, DAYS) is not None


def _first_fired(tmp_path: Path, model_day: int, business_day: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    m = metrics_csv(
        tmp_path / "ff.csv",
        {
            ("infra", "p99_latency_ms"): noisy(rng, 180, 4),
            ("model", "decline_rate"): noisy(rng, 0.18, 0.004, model_day, 0.05),
            ("business", "complaints"): noisy(rng, 6, 0.5, business_day, 12),
        },
    )
    return build_timeline(quiet_live(tmp_path), roles=Roles(timestamp="ts"), metrics=m)


def test_first_fired_business_first(tmp_path: Path) -> None:
    rep = _first_fired(tmp_path, model_day=15, business_day=10)
    assert rep.first_fired == "business" and rep.first_fired_layers == ["business"]
    assert rep.verdict.startswith(
        "business metrics fired first; confirm the model is the source before investigating it"
    )
    assert rep.layer_onsets["business"] == DAYS[10] and rep.layer_onsets["model"] == DAYS[15]
    assert rep.infra.status == "green" and rep.infra.message.startswith("infra green, move on")


def test_first_fired_model_first(tmp_path: Path) -> None:
    rep = _first_fired(tmp_path, model_day=12, business_day=14)
    assert rep.first_fired == "model"
    assert rep.verdict.startswith("model metrics moved first (2026-09-13)")
    assert "then business (2026-09-15)" in rep.verdict


def test_simultaneous_onsets_are_a_tie(tmp_path: Path) -> None:
    rep = _first_fired(tmp_path, model_day=12, business_day=12)
    assert rep.first_fired == "tie" and rep.first_fired_layers == ["model", "business"]
    assert "confirm the model is the source" in rep.verdict


def test_live_series_stand_in_for_a_layer_the_metrics_file_lacks(tmp_path: Path) -> None:
    rng = np.random.default_rng(4)
    day_of = lambda df: np.array([(t - START).days for t in df["ts"].to_list()])  # noqa: E731
    live = frame(rng, 12000, days=30, error_rate=lambda df: np.where(day_of(df) >= 14, 0.25, 0.08))
    p = tmp_path / "live.parquet"
    live.write_parquet(p)
    m = metrics_csv(tmp_path / "b.csv", {("business", "complaints"): noisy(rng, 6, 0.5, 17, 10)})
    rep = build_timeline(str(p), roles=ROLES, metrics=m)
    acc = next(s for s in rep.series if s.metric == "accuracy")
    assert acc.source == "live" and acc.counts_for_first_fired
    assert acc.onset == DAYS[14] and acc.direction == "down"
    assert rep.first_fired == "model" and rep.layer_onsets["business"] == DAYS[17]


def test_infra_anomalous_on_a_step_and_on_a_spike(tmp_path: Path) -> None:
    rng = np.random.default_rng(5)
    live = quiet_live(tmp_path)
    lat = noisy(rng, 180, 4, 9, 60)
    m = metrics_csv(
        tmp_path / "i.csv",
        {
            ("infra", "p99_latency_ms"): lat,
            ("model", "decline_rate"): noisy(rng, 0.18, 0.004, 12, 0.05),
        },
    )
    rep = build_timeline(live, roles=Roles(timestamp="ts"), metrics=m)
    assert rep.infra.status == "anomalous" and rep.infra.onset == DAYS[9]
    assert rep.infra.anomalous == ["p99_latency_ms"]
    assert rep.first_fired == "infra"
    spike = noisy(rng, 180, 4)
    spike[20] = 400
    m2 = metrics_csv(tmp_path / "s.csv", {("infra", "p99_latency_ms"): spike})
    rep2 = build_timeline(live, roles=Roles(timestamp="ts"), metrics=m2)
    s = rep2.series[0]
    assert s.onset is None and s.excursions == [DAYS[20]]
    assert rep2.infra.status == "anomalous" and "outside its band" in rep2.infra.message
    rep3 = build_timeline(live, roles=Roles(timestamp="ts"))
    assert rep3.infra.status == "skipped"


def test_windows_of_hours_and_weeks(tmp_path: Path) -> None:
    live = quiet_live(tmp_path)
    rep = build_timeline(live, roles=Roles(timestamp="ts"), window="7d")
    assert len(rep.windows) == 5 and rep.windows[1].start == DAYS[7]
    assert sum(w.rows for w in rep.windows) == 3000
    rep = build_timeline(live, roles=Roles(timestamp="ts"), window="12h")
    assert len(rep.windows) == 60
    assert rep.windows[1].start == START + dt.timedelta(hours=12)


@pytest.mark.parametrize("bad", ["", "1", "d", "0d", "3x", "1.5d", "-1d"])
def test_bad_window_is_a_one_line_usage_error(bad: str) -> None:
    with pytest.raises(UsageError, match="--window"):
        parse_window(bad)
    assert parse_window("2w") == dt.timedelta(weeks=2)


def test_timestamp_must_be_temporal(tmp_path: Path) -> None:
    live = pl.DataFrame({"ts": [True], "x": [1.0]})
    p = tmp_path / "s.parquet"
    live.write_parquet(p)
    with pytest.raises(UsageError, match="--timestamp ts: column has type Boolean"):
        build_timeline(str(p), roles=Roles(timestamp="ts"))
    # ISO strings are parsed (tests/bad_inputs covers epochs and zones), but a value that
    # does not parse is named, never turned into a silent null.
    pl.DataFrame({"ts": ["2026-09-01", "2026-09-02"], "x": [1.0, 2.0]}).write_parquet(p)
    t = build_timeline(str(p), roles=Roles(timestamp="ts"))
    assert [w.rows for w in t.windows] == [1, 1]
    pl.DataFrame({"ts": ["2026-09-01", "yesterday"], "x": [1.0, 2.0]}).write_parquet(p)
    with pytest.raises(UsageError, match="cannot parse 'yesterday'"):
        build_timeline(str(p), roles=Roles(timestamp="ts"))
    with pytest.raises(UsageError, match="--timestamp is required"):
        build_timeline(str(p), roles=Roles())


@pytest.mark.parametrize("window", ["1d", "3d"])
def test_window_auc_in_row_bounded_runs_equals_one_query(
    tmp_path: Path, window: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The per-window AUC ranked in runs of windows (RANK_ROWS rows at most, to bound memory)
    is the one-query AUC exactly, and each window's AUC is its Mann–Whitney U by hand."""
    import mlfail.timeline_passes as tp

    rng = np.random.default_rng(5)
    live = frame(rng, 6000, days=10)
    r, lv = write(tmp_path, frame(rng, 2000), live)
    whole = build_timeline(lv, roles=ROLES, reference=r, window=window)
    queries: list[int] = []
    one_query = tp.performance_table

    def counted(*a: object, **k: object) -> pl.DataFrame:
        queries.append(1)
        return one_query(*a, **k)  # type: ignore[arg-type]

    monkeypatch.setattr(tp, "RANK_ROWS", 1500)  # 600 rows a day: runs of 2 days, or one 3d window
    monkeypatch.setattr(tp, "performance_table", counted)
    runs = build_timeline(lv, roles=ROLES, reference=r, window=window)
    assert len(queries) == (5 if window == "1d" else 4)
    day = np.array([(t - START).days for t in live["ts"].to_list()])
    width = 1 if window == "1d" else 3
    score, y = live["score"].to_numpy(), live["y"].to_numpy()
    for w, (a, b) in enumerate(zip(whole.windows, runs.windows, strict=True)):
        assert (a.auc, a.metric, a.labelled_rows) == (b.auc, b.metric, b.labelled_rows)
        m = (day // width) == w
        pos, neg = score[m & (y == 1)], score[m & (y == 0)]
        u = (pos[:, None] > neg[None, :]).sum() + 0.5 * (pos[:, None] == neg[None, :]).sum()
        assert b.auc == pytest.approx(u / (len(pos) * len(neg)), abs=1e-12)


def test_runs_of_windows_stay_under_the_row_limit() -> None:
    from mlfail.timeline_passes import _runs

    rows = np.array([3, 0, 5, 2, 9, 1])
    assert _runs(rows, 6) == [(0, 1), (2, 2), (3, 3), (4, 4), (5, 5)]
    assert _runs(rows, 100) == [(0, 5)]
    assert _runs(np.array([], dtype=np.int64), 6) == []
