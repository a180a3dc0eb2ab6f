"""The walk's shared live count table (mlfail/walkcounts.py) and the scan trace (scantrace.py)."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from mlfail.binning import build_specs
from mlfail.config import Roles
from mlfail.counts import count_frame, merge
from mlfail.io import Source, open_source
from mlfail.reference import SourceReference
from mlfail.rootcause.common import DAY
from mlfail.timeline import build_timeline
from mlfail.walkcounts import count_walk, from_timeline

ROOT = Path(__file__).resolve().parent.parent


def _frame(n: int, seed: int) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    start = dt.datetime(2026, 11, 1)
    x = rng.normal(size=n)
    x[rng.random(n) < 0.05] = np.nan
    return pl.DataFrame(
        {
            "ts": [start + dt.timedelta(hours=int(h)) for h in rng.integers(0, 24 * 6, n)],
            "x": x,
            "k": rng.integers(0, 50, n),
            "cat": rng.choice(["a", "b", "c", "d"], n).tolist(),
            "seg": rng.choice(["s1", "s2", "s3"], n).tolist(),
        }
    ).with_columns(pl.when(pl.col("x").is_nan()).then(None).otherwise(pl.col("x")).alias("x"))


def _canon(t: pl.DataFrame, keys: list[str]) -> pl.DataFrame:
    return merge([t]).select([*keys, "feature", "bin", "n"]).sort([*keys, "feature", "bin"])


def test_views_equal_the_passes_they_replace(tmp_path: Path) -> None:
    ref = _frame(3000, 1)
    live = _frame(4000, 2)
    live_path = tmp_path / "live.parquet"
    live.write_parquet(live_path)
    specs = build_specs(ref.lazy(), ["x", "k", "cat"], categorical=["cat"])
    src = open_source(str(live_path))
    mask = pl.col("seg") == "s2"
    wc = count_walk(src, specs, Roles(timestamp="ts"), mask)

    lf = live.lazy()
    whole = count_frame(lf, specs)
    inside = count_frame(lf.filter(mask), specs)
    per_day = count_frame(lf, specs, [pl.col("ts").dt.date().alias(DAY)])

    assert _canon(wc.overall(), []).equals(_canon(whole, []))
    got_in = _canon(wc.inside().group_by(["feature", "bin"]).agg(pl.col("n").sum()), [])
    assert got_in.equals(_canon(inside, []))
    day_view = wc.per_day([s.feature for s in specs])
    assert day_view is not None
    assert _canon(day_view, [DAY]).equals(_canon(per_day, [DAY]))
    # the slice really is a strict part of live: the views are not all the same table
    assert int(got_in["n"].sum()) < int(_canon(whole, [])["n"].sum())
    # a feature left out of root cause's set is left out of its view
    only_x = wc.per_day(["x"])
    assert only_x is not None and set(only_x["feature"].unique()) == {"x"}


def test_the_timelines_daily_table_stands_in_for_the_day_pass(tmp_path: Path) -> None:
    """Triage's step 5 and root cause read the timeline's daily windows instead of counting
    live again; every view equals its own pass, rows without a timestamp included."""
    ref = _frame(3000, 4)
    live = _frame(4000, 5).with_columns(
        pl.when(pl.int_range(pl.len()) % 37 == 0).then(None).otherwise(pl.col("ts")).alias("ts")
    )
    path = tmp_path / "live.parquet"
    live.write_parquet(path)
    specs = build_specs(ref.lazy(), ["x", "k", "cat"], categorical=["cat"])
    src = open_source(str(path))
    roles = Roles(timestamp="ts")
    ref_path = tmp_path / "ref.parquet"
    ref.write_parquet(ref_path)
    reference = SourceReference(open_source(str(ref_path)), specs)
    tl = build_timeline(src, roles=roles, reference=reference)
    mask = pl.col("seg") == "s2"
    wc = from_timeline(tl._daily_counts, src, specs, roles, mask)
    assert wc is not None and wc.inside_table is not None
    lf = live.lazy()
    assert _canon(wc.overall(), []).equals(_canon(count_frame(lf, specs), []))
    assert _canon(wc.inside(), []).equals(_canon(count_frame(lf.filter(mask), specs), []))
    per_day = count_frame(lf, specs, [pl.col("ts").dt.date().alias(DAY)])
    day_view = wc.per_day([s.feature for s in specs])
    assert day_view is not None and day_view[DAY].null_count() > 0  # the untimed rows
    assert _canon(day_view, [DAY]).equals(_canon(per_day, [DAY]))
    # other windows are not days: the walk counts on its own
    tl2 = build_timeline(src, roles=roles, reference=reference, window="12h")
    assert from_timeline(tl2._daily_counts, src, specs, roles, mask) is None


def test_without_timestamp_or_slice_the_table_is_plain(tmp_path: Path) -> None:
    live = _frame(500, 3)
    path = tmp_path / "live.parquet"
    live.write_parquet(path)
    specs = build_specs(live.lazy(), ["x"])
    wc = count_walk(open_source(str(path)), specs, Roles())
    assert wc.per_day(["x"]) is None
    assert int(wc.overall()["n"].sum()) == live.height


def _run(code: str, trace: bool) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("MLFAIL_TRACE_SCANS", None)
    if trace:
        env["MLFAIL_TRACE_SCANS"] = "1"
    return subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )


def test_scan_trace_names_the_file_and_counts_collections(tmp_path: Path) -> None:
    path = tmp_path / "traced_live.parquet"
    pl.DataFrame({"a": [1, 2, 3]}).write_parquet(path)
    code = (
        "import mlfail, polars as pl\n"
        f"lf = pl.scan_parquet({str(path)!r})\n"
        "lf.collect(); pl.collect_all([lf, lf.select(pl.len())])\n"
        "mlfail.scantrace.stage('counting the slice')\n"
    )
    on = _run(code, trace=True)
    assert on.stderr.count("traced_live.parquet") == 3  # two collections + the summary line
    assert "traced_live.parquet: 2 collection(s)" in on.stderr
    assert "s  counting the slice" in on.stderr and "s  end" in on.stderr  # stage marks
    off = _run(code, trace=False)
    assert "[scan" not in off.stderr and "[stage]" not in off.stderr


def _spy_distinct_counts(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The columns root cause's cohort candidates count exactly from now on."""
    import mlfail.rootcause.cohorts as cohorts

    asked: list[str] = []
    real = cohorts.distinct_counts

    def spy(lf: pl.LazyFrame, cols: list[str]) -> dict[str, int]:
        asked.extend(cols)
        return real(lf, cols)

    monkeypatch.setattr(cohorts, "distinct_counts", spy)
    return asked


def test_a_baseline_walk_counts_live_values_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """With --baseline no roles query reads live: the slices' probe counts the key columns,
    and root cause's cohort candidates take those counts instead of counting them again —
    only for that very live frame — with the same answer as counting them."""
    import mlfail.rootcause.cohorts as cohorts
    from mlfail.audit import reference_and_roles
    from mlfail.slices.candidates import choose_candidates
    from mlfail.slices.model import SliceSettings

    root = Path(__file__).resolve().parent.parent / "sample_data"
    flags = Roles(timestamp="ts", label="is_fraud", prediction="score")
    live = open_source(str(root / "live"), role="--live")
    ref, _, roles = reference_and_roles(None, str(root / "baseline.json"), live, flags)
    a = roles.assignment
    assert a is not None and a.live_counts(live) == ({}, {})  # nothing counted on live yet
    want = cohorts.cohort_candidates(live, roles, 50)  # counting every candidate column
    asked = _spy_distinct_counts(monkeypatch)
    choose_candidates(live, ref, roles, ["geo", "channel"], SliceSettings())
    probed = set(a.live_counts(live)[1])
    assert {"geo", "channel"} <= probed
    assert cohorts.cohort_candidates(live, roles, 50) == want
    assert not probed & set(asked)  # the probe's columns were not counted again
    # another frame over the same files is not that frame
    other = open_source(str(root / "live"), role="--live")
    assert a.live_counts(other) == ({}, {})


def test_cohort_candidates_skip_exact_counts_only_for_many_valued_heads(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A column whose first rows already hold more than max_values values is ruled out without
    an exact count; one that looks few-valued at the head is counted over every row (its tail
    may hold more values) — the answer is that of counting everything."""
    import mlfail.rootcause.cohorts as cohorts

    monkeypatch.setattr(cohorts, "HEAD_ROWS", 100)
    n = 1000
    df = pl.DataFrame(
        {
            "ids": np.arange(n),  # many values from the first rows on
            "late": np.where(np.arange(n) < 500, 0, np.arange(n)),  # few at the head, many later
            "tier": np.arange(n) % 3,
            "geo": pl.Series(np.array(["a", "b"])[np.arange(n) % 2]).scatter([5], None),
        }
    )
    src = Source(spec="mem", role="--live", files=[], lf=df.lazy(), schema=df.schema)
    asked = _spy_distinct_counts(monkeypatch)
    got = cohorts.cohort_candidates(src, Roles(), 50)
    assert got == {"tier": 3, "geo": 3}  # a null counts as a value
    assert "ids" not in asked and "late" in asked
