"""Slice metrics equal a brute-force pandas computation on random small frames (issue 8).

Three levels, each against pandas written the obvious way (boolean masks, groupby with nulls
kept, AUC by comparing every positive with every negative):

* ``performance_table`` by keys: rows, labelled, errors, accuracy, error rate, AUC, mean score
  (classification) and MAE (regression);
* ``count_slices`` (the bincount engine behind ``mlfail slices``): rows, labelled rows and
  errors / absolute errors of EVERY 1- and 2-predicate slice, null key values included;
* ``find_slices``: every slice it lists — rows, labelled rows, live and complement metric, AUC,
  mean score — and the global numbers.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import pandas as pd
import polars as pl
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from mlfail.config import Roles
from mlfail.io import open_source
from mlfail.performance import infer_task, performance_table
from mlfail.reference import SourceReference
from mlfail.slices import (
    ABS,
    ERR,
    LAB,
    NO_KEY,
    ROWS,
    SliceSettings,
    _measures,
    _slice_dict,
    choose_candidates,
    count_slices,
    find_slices,
)

KEYS = ["geo", "ch"]
SCORES = [i / 20 for i in range(21)]  # ties on purpose; exact at AUC's 5 significant digits

row_st = st.tuples(
    st.sampled_from(["US", "BR", "MX", None]),
    st.sampled_from([1, 2, 3, None]),
    st.sampled_from([0, 1, None]),
    st.one_of(st.sampled_from(SCORES), st.none()),
)
frames = st.lists(row_st, min_size=2, max_size=60)


def to_polars(rows: list[tuple[Any, ...]], regression: bool = False) -> pl.DataFrame:
    df = pl.DataFrame(
        {k: [r[i] for r in rows] for i, k in enumerate(["geo", "ch", "y", "score"])},
        schema={"geo": pl.String, "ch": pl.Int64, "y": pl.Int64, "score": pl.Float64},
    )
    if regression:  # a numeric target: y scaled, the score its prediction
        df = df.with_columns((pl.col("y") * 3.0 + pl.col("ch").fill_null(0) * 0.5).alias("y"))
    return df


# ---------------------------------------------------------------- brute force with pandas


def brute(sub: pd.DataFrame, regression: bool = False) -> dict[str, Any]:
    lab = sub[sub["y"].notna() & sub["score"].notna()]
    out: dict[str, Any] = {"rows": len(sub), "labelled": len(lab)}
    s = sub["score"].dropna()
    out["mean_score"] = float(s.mean()) if len(s) else None
    if regression:
        abs_err = (lab["y"] - lab["score"]).abs()
        out["abs"] = float(abs_err.sum())
        out["mae"] = float(abs_err.mean()) if len(lab) else None
        return out
    truth = lab["y"] >= 0.5
    pred = lab["score"] >= 0.5
    out["errors"] = int((truth != pred).sum())
    out["accuracy"] = float((truth == pred).mean()) if len(lab) else None
    out["error_rate"] = float((truth != pred).mean()) if len(lab) else None
    pos = lab.loc[truth, "score"].to_numpy()
    neg = lab.loc[~truth, "score"].to_numpy()
    if len(pos) and len(neg):
        wins = (pos[:, None] > neg[None, :]).sum() + 0.5 * (pos[:, None] == neg[None, :]).sum()
        out["auc"] = float(wins / (len(pos) * len(neg)))
    else:
        out["auc"] = None
    return out


def mask(pdf: pd.DataFrame, sl: dict[str, Any]) -> pd.Series:
    m = pd.Series(True, index=pdf.index)
    for k, v in sl.items():
        m &= pdf[k].isna() if v is None else (pdf[k] == v)
    return m


def close(a: float | None, b: float | None) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return a == pytest.approx(b, rel=1e-9, abs=1e-12)


# ---------------------------------------------------------------- performance_table


@settings(max_examples=60, deadline=None)
@given(frames, st.booleans())
def test_performance_table_equals_pandas(rows: list[tuple[Any, ...]], regression: bool) -> None:
    df = to_polars(rows, regression)
    pdf = df.to_pandas()
    spec = infer_task(df.schema, "y", "score", task="regression" if regression else None)
    t = performance_table(df.lazy(), spec, KEYS)
    assert t["rows"].sum() == len(rows)
    assert t.height == len(pdf.groupby(KEYS, dropna=False))
    for rec in t.iter_rows(named=True):
        want = brute(pdf[mask(pdf, {k: rec[k] for k in KEYS})], regression)
        assert rec["rows"] == want["rows"] and rec["labelled"] == want["labelled"]
        assert close(rec["mean_score"], want["mean_score"])
        if regression:
            assert close(rec["mae"], want["mae"])
            continue
        assert rec["errors"] == want["errors"]
        assert close(rec["accuracy"], want["accuracy"])
        assert close(rec["error_rate"], want["error_rate"])
        assert close(rec["auc"], want["auc"])


# ---------------------------------------------------------------- every slice of count_slices


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(frames, st.booleans())
def test_every_slice_count_equals_pandas(
    tmp_path: Path, rows: list[tuple[Any, ...]], regression: bool
) -> None:
    df = to_polars(rows, regression)
    pdf = df.to_pandas()
    path = Path(tempfile.mkdtemp(dir=tmp_path)) / "live.parquet"
    df.write_parquet(path)
    src = open_source(str(path), role="--live")
    roles = Roles(label="y", prediction="score")
    cands, _, n_rows = choose_candidates(
        src, SourceReference(src, []), roles, KEYS, SliceSettings()
    )
    assert n_rows == len(rows)
    spec = infer_task(df.schema, "y", "score", task="regression" if regression else None)
    counts = count_slices(src.lf, cands, _measures(spec, "score", True), max_predicates=2)
    t = counts.table
    seen = set()
    for rec in t.iter_rows(named=True):
        sl = _slice_dict(counts.natives, rec["a_col"], rec["a_val"], rec["b_col"], rec["b_val"])
        seen.add(tuple(sorted(sl.items(), key=str)))
        want = brute(pdf[mask(pdf, sl)], regression)
        assert rec[ROWS] == want["rows"] > 0, sl
        assert rec[LAB] == want["labelled"], sl
        if regression:
            assert rec[ABS] == pytest.approx(want["abs"], abs=1e-9), sl
        else:
            assert rec[ERR] == want["errors"], sl
    # and no slice with rows is missing: every value of each key, every pair present
    singles = {x for x in seen if len(x) == 1}
    assert len(singles) == pdf["geo"].nunique(dropna=False) + pdf["ch"].nunique(dropna=False)
    pairs = {
        tuple(sorted({"geo": g, "ch": c}.items(), key=str))
        for g, c in zip(df["geo"].to_list(), df["ch"].to_list(), strict=True)
    }
    assert {x for x in seen if len(x) == 2} == pairs
    assert t.filter(pl.col("b_col") == NO_KEY)[ROWS].sum() == 2 * len(rows)


# ---------------------------------------------------------------- the slices find_slices lists


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(frames, frames, st.booleans())
def test_listed_slices_equal_pandas(
    tmp_path: Path, ref_rows: list[tuple[Any, ...]], rows: list[tuple[Any, ...]], regression: bool
) -> None:
    df = to_polars(rows, regression)
    if df.filter(pl.col("y").is_not_null() & pl.col("score").is_not_null()).height == 0:
        return  # no labels: the no-label mode (prediction PSI), not these metrics
    d = Path(tempfile.mkdtemp(dir=tmp_path))
    to_polars(ref_rows, regression).write_parquet(d / "ref.parquet")
    df.write_parquet(d / "live.parquet")
    rep = find_slices(
        str(d / "ref.parquet"),
        str(d / "live.parquet"),
        roles=Roles(label="y", prediction="score"),
        task="regression" if regression else None,
        segments=KEYS,
        settings=SliceSettings(top=0, min_support=1),
    )
    pdf = df.to_pandas()
    metric = "mae" if regression else "accuracy"
    g = brute(pdf, regression)
    assert rep.global_stats.rows == g["rows"]
    assert rep.global_stats.labelled_rows == g["labelled"]
    assert close(rep.global_stats.live, g[metric])
    assert close(rep.global_stats.mean_score, g["mean_score"])
    if not regression:
        assert close(rep.global_stats.auc, g["auc"])
    event(f"slices listed: {min(len(rep.slices), 3)}{'+' if len(rep.slices) >= 3 else ''}")
    for r in rep.slices:
        m = mask(pdf, r.slice)
        want, rest = brute(pdf[m], regression), brute(pdf[~m], regression)
        assert (r.rows, r.labelled_rows) == (want["rows"], want["labelled"]), r.slice
        assert close(r.live, want[metric]), r.slice
        assert close(r.complement, rest[metric]), r.slice
        assert close(r.mean_score, want["mean_score"]), r.slice
        if not regression:
            assert close(r.auc, want["auc"]), r.slice
