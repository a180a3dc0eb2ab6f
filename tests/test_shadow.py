from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from scipy import stats
from typer.testing import CliRunner

from mlfail.cli.app import app
from mlfail.io import open_source
from mlfail.shadow import shadow

runner = CliRunner()


def _frame(seed: int = 0, worse_in: str | None = None, n: int = 4000) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    geo = rng.choice(["US", "BR", "DE"], n)
    cur = np.clip(0.35 * y + rng.normal(0.32, 0.2, n), 0, 1)
    cand = np.clip(0.45 * y + rng.normal(0.27, 0.18, n), 0, 1)  # a better model
    if worse_in:
        bad = geo == worse_in
        cand = np.where(bad, rng.random(n), cand)  # ... except it is noise on one geo
    lab = y.astype(float)
    lab[rng.random(n) < 0.05] = np.nan
    return pl.DataFrame(
        {"id": np.arange(n), "geo": geo, "score": cur, "score_v2": cand, "y": lab}
    ).with_columns(pl.col("y").fill_nan(None))


def _write(df: pl.DataFrame, path: Path) -> Path:
    df.write_parquet(path)
    return path


def test_metrics_agreement_and_mcnemar_match_numpy(tmp_path: Path) -> None:
    df = _frame()
    r = shadow(
        open_source(str(_write(df, tmp_path / "l.parquet"))),
        "score",
        "score_v2",
        label="y",
        segments=["geo"],
    )
    lab = df.filter(pl.col("y").is_not_null())
    y = lab["y"].to_numpy() >= 0.5
    c1, c2 = lab["score"].to_numpy() >= 0.5, lab["score_v2"].to_numpy() >= 0.5
    assert r.overall.current == pytest.approx((c1 == y).mean())
    assert r.overall.candidate == pytest.approx((c2 == y).mean())
    agree = (df["score"].to_numpy() >= 0.5) == (df["score_v2"].to_numpy() >= 0.5)
    assert r.overall.agreement == pytest.approx(agree.mean())
    b, c = int(((c1 == y) & (c2 != y)).sum()), int(((c2 == y) & (c1 != y)).sum())
    assert r.overall.p_value == pytest.approx(stats.binomtest(c, b + c, 0.5).pvalue)
    u = stats.mannwhitneyu(lab["score_v2"].to_numpy()[y], lab["score_v2"].to_numpy()[~y])
    assert r.overall.candidate_auc == pytest.approx(u.statistic / (y.sum() * (~y).sum()))
    assert r.verdict == "promote" and r.overall.significant_better
    assert {tuple(c.slice.items()) for c in r.slices if c.slice} == {
        (("geo", "US"),),
        (("geo", "BR"),),
        (("geo", "DE"),),
    }


def test_hold_when_worse_on_one_segment(tmp_path: Path) -> None:
    df = _frame(1, worse_in="BR")
    r = shadow(
        open_source(str(_write(df, tmp_path / "l.parquet"))),
        "score",
        "score_v2",
        label="y",
        segments=["geo"],
    )
    assert r.verdict == "hold"
    worst = r.slices[0]
    assert worst.slice == {"geo": "BR"} and worst.significant_worse
    assert any("geo=BR" in x for x in r.reasons)


def test_no_labels_judged_on_output_psi(tmp_path: Path) -> None:
    df = _frame(2).with_columns(
        pl.col("score").alias("same"), (pl.col("score") * 0.2).alias("squashed")
    )
    src = open_source(str(_write(df, tmp_path / "l.parquet")))
    assert shadow(src, "score", "same").verdict == "promote"
    r = shadow(src, "score", "squashed")
    assert r.verdict == "hold" and r.overall.output_psi is not None and r.overall.output_psi > 1


def test_cli_join_on_id_and_exit_codes(tmp_path: Path) -> None:
    df = _frame(1, worse_in="BR")
    live = _write(df.drop("score_v2"), tmp_path / "live.parquet")
    cand = _write(df.select("id", pl.col("score_v2").alias("score")), tmp_path / "cand.parquet")
    r = runner.invoke(
        app,
        [
            "shadow",
            "-l",
            str(live),
            "--current-prediction",
            "score",
            "--candidate-prediction",
            "score",
            "--candidate-source",
            str(cand),
            "--id",
            "id",
            "--label",
            "y",
            "--segment",
            "geo",
            "-f",
            "json",
        ],
    )
    assert r.exit_code == 1, r.stderr
    data = json.loads(r.stdout)
    assert data["schema_version"] == 1 and data["verdict"] == "hold"
    assert data["overall"]["rows"] == df.height
    r = runner.invoke(
        app,
        [
            "shadow",
            "-l",
            str(live),
            "--current-prediction",
            "score",
            "--candidate-prediction",
            "score",
            "--candidate-source",
            str(cand),
        ],
    )
    assert r.exit_code == 2 and "--candidate-source needs --id" in r.stderr
    r = runner.invoke(
        app,
        [
            "shadow",
            "-l",
            str(live),
            "--current-prediction",
            "nope",
            "--candidate-prediction",
            "score",
        ],
    )
    assert r.exit_code == 2 and "column 'nope' (from --current-prediction)" in r.stderr
