"""Root cause's one-pass cohort counts (mlfail/cohort_pass.py) against the queries
they replace: count_frame keyed by one column, and performance_tables keyed by (day, column)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np
import polars as pl
import pytest

from mlfail.binning import BinSettings, build_specs
from mlfail.cohort_pass import DayPerf, cohort_pass
from mlfail.counts import count_frame
from mlfail.performance import TaskSpec, performance_tables
from mlfail.rootcause.common import DAY


def _frames(n: int = 3000, seed: int = 5) -> tuple[pl.DataFrame, pl.DataFrame]:
    rng = np.random.default_rng(seed)

    def one(shift: float, extra: str) -> pl.DataFrame:
        x = rng.normal(shift, 1, n)
        x[rng.random(n) < 0.03] = np.nan
        cat = rng.choice(["a", "b", "c", "d", extra], n)
        day = [dt.date(2026, 1, 1) + dt.timedelta(days=int(k)) for k in rng.integers(0, 9, n)]
        return pl.DataFrame(
            {
                "x": x,
                "cat": cat,
                "seg": rng.choice(["s1", "s2", "s3"], n),
                "tier": rng.integers(1, 5, n),
                "flag": rng.random(n) < 0.4,
                "day": day,
                "score": rng.random(n),
                "label": rng.integers(0, 2, n),
            }
        ).with_columns(
            # nulls in every kind of column, a day of null, a score of null
            pl.when(pl.int_range(pl.len()) % 17 == 0).then(None).otherwise(pl.col(c)).alias(c)
            for c in ("cat", "seg", "tier", "flag", "day", "score", "label")
        )

    return one(0.0, "a"), one(0.6, "new")


COLS = ["seg", "tier", "flag", "cat"]


def _specs(ref: pl.DataFrame) -> list:
    return build_specs(ref.lazy(), ["x", "cat"], settings=BinSettings(bins=6, max_categories=3))


def _sorted(t: pl.DataFrame) -> pl.DataFrame:
    return t.sort(t.columns[:-1], nulls_last=True)


# one chunk or five chunks summed; the columns counted in one cube (360 joint values), in cubes
# of at most 15 joint values (flag × seg, then tier, then cat), or each alone
@pytest.mark.parametrize(("chunk", "cells"), [(1 << 20, 4096), (700, 4096), (700, 15), (700, 1)])
def test_feature_tables_equal_count_frame_by_column(
    chunk: int, cells: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("mlfail.cohort_pass.BATCH_ROWS", chunk)
    monkeypatch.setattr("mlfail.cohort_pass.CUBE_CELLS", cells)
    ref, live = _frames()
    specs = _specs(ref)
    assert any(s.kind == "categorical" and s.other for s in specs)  # other and unseen bins
    by_col, by_day, _, _ = cohort_pass(live.lazy(), specs, [*COLS, "absent"])
    assert set(by_col) == set(COLS) and by_day == {}
    for c in COLS:
        want = count_frame(live.lazy(), specs, [c])
        got = by_col[c]
        assert got.schema == want.schema, c
        assert _sorted(got).equals(_sorted(want)), c


# the columns counted per day together in cubes (the default), in cubes of a few joint values
# (× the days), or each alone
@pytest.mark.parametrize("cells", [1 << 17, 200, 1])
@pytest.mark.parametrize("task", ["score", "regression", None])
def test_day_tables_equal_performance_tables(
    task: str | None, cells: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("mlfail.cohort_pass.BATCH_ROWS", 1000)  # three chunks
    monkeypatch.setattr("mlfail.cohort_pass.DAY_CUBE_CELLS", cells)
    _, live = _frames()
    spec = {
        "score": TaskSpec("classification", "label", "score", threshold=0.4),
        "regression": TaskSpec("regression", "label", "score"),
        None: None,
    }[task]
    day = pl.col("day").alias(DAY)
    dates = sorted(d for d in live["day"].unique().to_list() if d is not None)
    by_day = cohort_pass(live.lazy(), _specs(live), COLS, per_day=DayPerf(day, dates, spec)).by_day
    for c in COLS:
        if spec is None:
            want = live.lazy().group_by([day, pl.col(c)]).len().collect()
        else:
            want = performance_tables(live.lazy(), spec, [[day, pl.col(c)]], auc=False)[0]
        got = by_day[c]
        assert got.columns == want.columns and got.schema == want.schema, c
        got, want = _sorted(got), _sorted(want)
        for name in want.columns:
            a, b = got[name], want[name]
            if a.dtype == pl.Float64:
                assert np.allclose(
                    a.to_numpy(), b.to_numpy(), rtol=1e-12, atol=0, equal_nan=True
                ), (c, name)
                assert a.is_null().equals(b.is_null()), (c, name)
            else:
                assert a.equals(b), (c, name)


def test_sliced_reads_every_row_once_in_order_in_bounded_frames(tmp_path: Any) -> None:
    from mlfail.counts import sliced

    df = pl.DataFrame({"i": np.arange(2503)})
    df.write_parquet(tmp_path / "x.parquet", row_group_size=400)
    lf = pl.scan_parquet(tmp_path / "x.parquet")
    frames = list(sliced(lf, 1000))
    assert [f.height for f in frames] == [1000, 1000, 503]
    assert pl.concat(frames)["i"].to_list() == list(range(2503))
    empty = list(sliced(lf.filter(pl.col("i") < 0), 1000))
    assert len(empty) == 1 and empty[0].height == 0 and empty[0].columns == ["i"]


# the performance per value (a baseline's per-segment performance, AUC included) against
# performance_tables keyed by each column, and over every row: one chunk or three
@pytest.mark.parametrize("chunk", [1 << 20, 1000])
@pytest.mark.parametrize("task", ["score", "class", "regression"])
def test_value_tables_equal_performance_tables(
    task: str, chunk: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("mlfail.cohort_pass.BATCH_ROWS", chunk)
    _, live = _frames()
    # ties among the scores, a NaN score: the AUC's average ranks
    live = live.with_columns(
        pl.col("score").round(2),
        pl.col("label").cast(pl.String).alias("label_s"),
        (pl.col("score") >= 0.5).cast(pl.Int64).cast(pl.String).alias("pred_s"),
    ).with_columns(pl.when(pl.int_range(pl.len()) == 5).then(float("nan")).otherwise("score"))
    spec = {
        "score": TaskSpec("classification", "label", "score", threshold=0.4),
        "class": TaskSpec("classification", "label_s", "pred_s", is_score=False),
        "regression": TaskSpec("regression", "label", "score"),
    }[task]
    result = cohort_pass(live.lazy(), _specs(live), COLS, per_value=spec)
    assert result.by_day == {} and set(result.by_value) == set(COLS)
    wants = performance_tables(live.lazy(), spec, [[], *([c] for c in COLS)])
    for c, got, want in [
        ("", result.overall, wants[0]),
        *zip(COLS, result.by_value.values(), wants[1:], strict=True),
    ]:
        assert got is not None
        assert got.columns == want.columns and got.schema == want.schema, c
        if c:
            got, want = got.sort(c, nulls_last=True), want.sort(c, nulls_last=True)
        for name in want.columns:
            a, b = got[name], want[name]
            if name in ("mean_score", "mae", "abs_error_sum"):  # sums in another order
                assert np.allclose(a.to_numpy(), b.to_numpy(), rtol=1e-12, atol=0, equal_nan=True)
                assert a.is_null().equals(b.is_null()), (c, name)
            else:  # counts, and the AUC from exact rank sums: the same to the bit
                assert a.equals(b), (c, name)
    if task == "score":
        assert result.overall is not None and result.overall["auc"].is_not_null().all()


def test_per_day_and_per_value_are_one_or_the_other() -> None:
    _, live = _frames()
    spec = TaskSpec("classification", "label", "score")
    day = DayPerf(pl.col("day").alias(DAY), [dt.date(2026, 1, 1)], spec)
    with pytest.raises(ValueError, match="not both"):
        cohort_pass(live.lazy(), _specs(live), COLS, per_day=day, per_value=spec)


# 200 values (one-byte codes) × 9 days: a code × the days' span exceeds one byte; 300 values
# met chunk by chunk (100 new ones in each of three chunks): the codes widen to two bytes in
# the last chunk, the earlier chunks' numbers kept
@pytest.mark.parametrize(("values", "every"), [(200, 1), (300, 10)])
def test_many_values_times_many_days_do_not_overflow_the_narrow_codes(
    values: int, every: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("mlfail.cohort_pass.BATCH_ROWS", 1000)
    _, live = _frames()
    n = live.height
    many = [f"v{(i // every) % values}" for i in range(n)]
    live = live.with_columns(pl.Series("many", many))
    spec = TaskSpec("classification", "label", "score", threshold=0.4)
    day = pl.col("day").alias(DAY)
    dates = sorted(d for d in live["day"].unique().to_list() if d is not None)
    got = cohort_pass(live.lazy(), _specs(live), ["many"], per_day=DayPerf(day, dates, spec))
    want = performance_tables(live.lazy(), spec, [[day, pl.col("many")]], auc=False)[0]
    cols = [DAY, "many", "rows", "labelled", "errors", "positives"]
    g, w = _sorted(got.by_day["many"]), _sorted(want)
    assert g.select(cols).equals(w.select(cols))
    assert np.allclose(
        g["mean_score"].to_numpy(), w["mean_score"].to_numpy(), rtol=1e-12, equal_nan=True
    )
    counts = count_frame(live.lazy(), _specs(live), ["many"])
    assert _sorted(got.by_col["many"]).equals(_sorted(counts))
