"""The timeline's one chunked read on Polars (mlfail/timeline_counts.py) against the passes it
replaces: count_frame keyed by the window, and the engine's per-window summary; and the
timeline built with it against the timeline built with the two passes."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from mlfail.binning import BinSettings, BinSpec, build_specs
from mlfail.config import Roles
from mlfail.counts import count_frame
from mlfail.engines.polars import PolarsEngine
from mlfail.errors import InputError
from mlfail.io import Source
from mlfail.report.timeline_model import DailyCounts, WindowStats
from mlfail.timeline import build_timeline
from mlfail.timeline_counts import window_counts
from mlfail.timeline_passes import WIDX, window_key

START = dt.datetime(2026, 3, 2)
N_WINDOWS = 9


def _frame(n: int, seed: int, shift: float, extra: str) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    x = rng.normal(shift, 1, n)
    x[rng.random(n) < 0.04] = np.nan
    f = rng.choice([0.5, 1.5, 2.5, np.nan], n)  # a float binned by its text: NaN is "NaN"
    ts = [START + dt.timedelta(hours=int(h)) for h in rng.integers(0, 24 * N_WINDOWS, n)]
    return (
        pl.DataFrame(
            {
                "x": x,
                "k": rng.integers(0, 7, n),
                "cat": rng.choice(["a", "b", "c", "d", "e", extra], n),
                "f": f,
                "flag": rng.random(n) < 0.3,
                "ts": ts,
                "score": rng.random(n),
            }
        )
        .with_columns(
            # nulls in every kind of column, null timestamps, NaN and null scores
            pl.when(pl.int_range(pl.len()) % m == 0).then(None).otherwise(pl.col(c)).alias(c)
            for c, m in (("x", 13), ("k", 11), ("cat", 17), ("flag", 19), ("ts", 23), ("score", 29))
        )
        .with_columns(
            pl.when(pl.int_range(pl.len()) % 31 == 1).then(np.nan).otherwise("score").alias("score")
        )
    )


def _data() -> tuple[pl.DataFrame, pl.DataFrame, list[BinSpec]]:
    ref, live = _frame(2000, 3, 0.0, "a"), _frame(3100, 4, 0.5, "new")
    specs = build_specs(
        ref.lazy(),
        ["x", "k", "cat", "f", "flag"],
        settings=BinSettings(bins=6, max_categories=3),
        categorical=["f"],
    )
    cat = next(s for s in specs if s.feature == "cat")
    assert cat.other and "new" not in cat.categories  # other and unseen bins
    assert next(s for s in specs if s.feature == "f").kind == "categorical"
    absent = BinSpec("gone", "numeric", edges=(0.0, 1.0))  # not a live column
    return ref, live, [*specs, absent]


def _key(live: pl.DataFrame) -> pl.Expr:
    return window_key(pl.col("ts"), START, dt.timedelta(days=1))


def _sorted(t: pl.DataFrame) -> pl.DataFrame:
    return t.sort(t.columns[:-1], nulls_last=True)


# one chunk, or five summed; the folded categories looked up in the Enum, or with is_in
@pytest.mark.parametrize(("chunk", "lookup"), [(1 << 20, 10_000), (700, 10_000), (700, 0)])
def test_table_equals_count_frame_by_window(
    chunk: int, lookup: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("mlfail.timeline_counts.BATCH_ROWS", chunk)
    monkeypatch.setattr("mlfail.counts.FOLDED_LOOKUP", lookup)
    _, live, specs = _data()
    key = _key(live)
    got = window_counts(live.lazy(), key, N_WINDOWS, specs).table
    want = count_frame(live.lazy(), specs, [key])
    assert got[WIDX].null_count() > 0  # the rows without a timestamp are counted
    assert set(got["feature"]) == {s.feature for s in specs}
    assert got.schema == want.schema
    assert _sorted(got).equals(_sorted(want))


@pytest.mark.parametrize("chunk", [1 << 20, 700])
def test_arrays_equal_engine_summary(chunk: int, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("mlfail.timeline_counts.BATCH_ROWS", chunk)
    _, live, specs = _data()
    key = _key(live)
    cols = ["x", "k", "cat", "f", "flag", "ts"]
    got = window_counts(live.lazy(), key, N_WINDOWS, specs, nulls=cols, mean="score")
    src = Source("live", "--live", [], live.lazy(), live.schema)
    want = PolarsEngine().summary(src, [key], nulls=cols, mean="score")
    assert want[WIDX].to_list() == list(range(N_WINDOWS))
    assert got.rows.tolist() == want["rows"].to_list()
    for i, c in enumerate(cols):
        assert got.nulls[i].tolist() == want[f"null{i}"].to_list(), c
    assert got.nulls[cols.index("f")].sum() > got.nulls[cols.index("cat")].sum() > 0
    assert np.allclose(got.mean, want["mean_score"].to_numpy(), rtol=1e-12, atol=0)


def test_without_specs_or_score() -> None:
    _, live, _ = _data()
    got = window_counts(live.lazy(), _key(live), N_WINDOWS, nulls=["x"])
    want = count_frame(live.lazy(), [], [_key(live)])
    assert got.table.schema == want.schema and got.table.height == 0
    assert got.rows.sum() == live["ts"].is_not_null().sum()
    assert np.isnan(got.mean).all()


def test_a_window_outside_the_grid_is_refused() -> None:
    _, live, specs = _data()
    with pytest.raises(ValueError, match="window index"):
        window_counts(live.lazy(), _key(live), N_WINDOWS - 1, specs)


def _timeline(
    tmp: Path, monkeypatch: pytest.MonkeyPatch, one_read: bool
) -> tuple[list[WindowStats], DailyCounts | None]:
    ref, live, _ = _data()
    ref.write_parquet(tmp / "ref.parquet")
    live.write_parquet(tmp / "live.parquet")
    if not one_read:
        monkeypatch.setattr("mlfail.timeline_passes._polars_pass", lambda t, pred: False)
    monkeypatch.setattr("mlfail.timeline_counts.BATCH_ROWS", 1000)
    report = build_timeline(
        str(tmp / "live.parquet"),
        roles=Roles(timestamp="ts", prediction="score", features=("x", "k", "cat", "f", "flag")),
        reference=str(tmp / "ref.parquet"),
        progress=False,
    )
    monkeypatch.undo()
    return report.windows, report._daily_counts


def test_timeline_is_the_same_with_one_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    windows, daily = _timeline(tmp_path, monkeypatch, one_read=True)
    old_windows, old_daily = _timeline(tmp_path, monkeypatch, one_read=False)
    assert len(windows) == N_WINDOWS
    for w, o in zip(windows, old_windows, strict=True):
        assert (w.start, w.rows, w.psi, w.null_rate, w.prediction_psi) == (
            o.start,
            o.rows,
            o.psi,
            o.null_rate,
            o.prediction_psi,
        )
        assert w.mean_score == pytest.approx(o.mean_score, rel=1e-12)
    assert daily is not None and old_daily is not None
    assert daily.features == old_daily.features and daily.first_day == old_daily.first_day
    assert daily.table.schema == old_daily.table.schema
    assert _sorted(daily.table).equals(_sorted(old_daily.table))


def test_a_feature_whose_type_changed_is_still_reported_by_the_count_pass(
    tmp_path: Path,
) -> None:
    ref, live, _ = _data()
    ref.write_parquet(tmp_path / "ref.parquet")
    live.with_columns(pl.col("x").cast(pl.String)).write_parquet(tmp_path / "live.parquet")
    with pytest.raises(InputError, match=r"--live .*live\.parquet: column 'x' is String here"):
        build_timeline(
            str(tmp_path / "live.parquet"),
            roles=Roles(timestamp="ts", prediction="score", features=("x", "cat")),
            reference=str(tmp_path / "ref.parquet"),
            progress=False,
        )
