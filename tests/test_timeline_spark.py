"""``mlfail timeline --engine spark``: the per-window tables come from Spark (one day key), and
the windows, series, onsets and first-fired layer are those of the Polars engine."""

from __future__ import annotations

import datetime as dt
import json
import math
from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

from mlfail.binning import BinSettings
from mlfail.cli.app import app
from mlfail.config import Roles, select_features
from mlfail.engines.polars import PolarsEngine
from mlfail.engines.spark import SparkEngine
from mlfail.reference import SourceReference
from mlfail.report.timeline_model import TimelineReport
from mlfail.timeline import TimelineSettings, build_timeline

runner = CliRunner()
ROOT = Path(__file__).resolve().parent.parent
REF = str(ROOT / "sample_data" / "reference.parquet")
LIVE = str(ROOT / "sample_data" / "live")
FLAGS = ["--timestamp", "ts", "--label", "is_fraud", "--prediction", "score"]
FLAGS += ["--meta", "pipeline_version"]
ROLES = Roles(timestamp="ts", label="is_fraud", prediction="score", meta=("pipeline_version",))


def one_error_line(r) -> str:
    assert r.exit_code == 2, (r.exit_code, r.stdout, r.stderr)
    assert "Traceback" not in r.stderr + r.stdout
    lines = [ln for ln in r.stderr.strip().splitlines() if ln.startswith("mlfail:")]
    assert len(lines) == 1, r.stderr
    return lines[0]


def close(a: float | None, b: float | None, tol: float = 1e-12) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return math.isclose(a, b, rel_tol=tol, abs_tol=tol)


def onsets(doc: dict) -> list[tuple]:
    return [(s["layer"], s["metric"], s["onset"], s["direction"]) for s in doc["series"]]


def test_spark_refuses_other_windows_in_one_line() -> None:
    r = runner.invoke(
        app, ["timeline", "-l", LIVE, "-r", REF, *FLAGS, "--window", "7d", "--engine", "spark"]
    )
    line = one_error_line(r)
    assert line == (
        "mlfail: error: --window 7d: the spark engine computes daily windows only "
        "(--window 1d); use --engine polars for other windows"
    )


@pytest.mark.spark
def test_sample_timeline_same_specs_identical(spark) -> None:
    """Given the same bin specs (the Polars reference's, the prediction among them), Spark's
    per-window tables give Polars' windows to 1e-12 (AUC aside: null on Spark)."""
    pe, se = PolarsEngine(progress=False), SparkEngine(spark)
    src = pe.open(REF, role="--reference")
    features, _ = select_features(src.schema, ROLES)
    specs = pe.build_specs(src, [*features, "score"], settings=BinSettings())
    reports: list[TimelineReport] = []
    for eng in (pe, se):
        ref = SourceReference(eng.open(REF, role="--reference"), specs, engine=eng)
        reports.append(build_timeline(LIVE, roles=ROLES, reference=ref, engine=eng))
    a, b = reports
    assert len(a.windows) == len(b.windows) == 30
    for x, y in zip(a.windows, b.windows, strict=True):
        assert (x.start, x.end, x.rows, x.labelled_rows) == (
            y.start,
            y.end,
            y.rows,
            y.labelled_rows,
        )
        assert close(x.metric, y.metric) and close(x.mean_score, y.mean_score)
        assert close(x.prediction_psi, y.prediction_psi)
        # every spec but the prediction's (a role: its PSI is the window's prediction_psi)
        assert x.psi.keys() == y.psi.keys() and len(x.psi) == len(specs) - 1
        assert all(close(x.psi[f], y.psi[f]) for f in x.psi)
        assert x.null_rate == y.null_rate
        assert y.auc is None
    assert sum(w.prediction_psi is not None for w in b.windows) == 30
    assert [(s.name, s.onset) for s in a.series] == [(s.name, s.onset) for s in b.series]
    assert (a.first_fired, a.first_fired_layers) == (b.first_fired, b.first_fired_layers)
    assert a.layer_onsets == b.layer_onsets
    assert any("AUC per window is not computed on the spark engine" in n for n in b.notes)
    # the planted incident (amount ×100 for geo=BR from 2026-09-19) is found on Spark
    amount = next(s for s in b.series if s.metric == "psi:amount")
    assert str(amount.onset) == "2026-09-19"


@pytest.mark.spark
def test_cli_timeline_on_spark_matches_polars(spark) -> None:
    """The CLI with --reference: Spark builds the reference's specs (approxQuantile edges, so
    numeric PSI may differ within the rank error); rows, labels, accuracy, mean score, null
    rates, every onset and the first-fired layer are Polars'."""
    docs = {}
    for engine in ("polars", "spark"):
        r = runner.invoke(
            app, ["timeline", "-l", LIVE, "-r", REF, *FLAGS, "-f", "json", "--engine", engine]
        )
        assert r.exit_code == 1, r.stderr
        docs[engine] = json.loads(r.stdout)
    a, b = docs["polars"], docs["spark"]
    assert len(a["windows"]) == len(b["windows"]) == 30
    for x, y in zip(a["windows"], b["windows"], strict=True):
        for k in ("start", "end", "rows", "labelled_rows", "metric", "null_rate"):
            assert x[k] == y[k], k
        assert close(x["mean_score"], y["mean_score"])
        assert y["auc"] is None
        assert abs(x["prediction_psi"] - y["prediction_psi"]) < 2e-3
        assert all(abs(x["psi"][f] - y["psi"][f]) < 2e-3 for f in x["psi"])
    assert onsets(a) == onsets(b)
    assert a["first_fired"] == b["first_fired"] and a["layer_onsets"] == b["layer_onsets"]


@pytest.mark.spark
def test_zoned_timestamp_gives_utc_days_like_polars(spark, tmp_path: Path) -> None:
    """A zoned timestamp: both engines window by the UTC day (a 23:30 São Paulo event is on
    the next UTC day); a string timestamp is refused by Spark in one line."""
    live = tmp_path / "zoned.parquet"
    t0 = pl.datetime(2026, 9, 1, 2, 30, time_zone="UTC")
    n = 96
    pl.DataFrame({"i": range(n)}).select(
        (t0 + pl.duration(hours=pl.col("i") * 3))
        .dt.convert_time_zone("America/Sao_Paulo")
        .alias("ts"),
        (pl.col("i") % 7).cast(pl.Float64).alias("x"),
    ).write_parquet(live)
    rows = {}
    for engine in ("polars", "spark"):
        rep = build_timeline(str(live), roles=Roles(timestamp="ts"), engine=engine)
        rows[engine] = [(w.start, w.rows, w.null_rate) for w in rep.windows]
    assert rows["polars"] == rows["spark"]
    # 2026-09-01 UTC holds 02:30, 05:30, …, 23:30 UTC: 8 events (in São Paulo the first is on
    # Aug 31, so a local-time day would differ)
    assert rows["spark"][0][:2] == (dt.date(2026, 9, 1), 8)
    assert len(rows["spark"]) == 12
    text = tmp_path / "text.parquet"
    pl.DataFrame({"ts": ["2026-09-01T00:00:00"], "x": [1.0]}).write_parquet(text)
    line = one_error_line(
        runner.invoke(app, ["timeline", "-l", str(text), "--timestamp", "ts", "--engine", "spark"])
    )
    assert "--timestamp ts: column has type String" in line
    assert "the Spark engine reads no strings or epoch numbers" in line


def test_spark_refuses_where_in_one_line() -> None:
    r = runner.invoke(
        app, ["timeline", "-l", LIVE, *FLAGS, "--where", "geo = 'BR'", "--engine", "spark"]
    )
    assert "--where is not supported with --engine spark yet" in one_error_line(r)


@pytest.mark.spark
@pytest.mark.parametrize(
    ("labels", "scores", "threshold", "expected"),
    [
        ([0, 1, 2, 3], [0.1, 0.9, 0.2, 0.4], 0.5, "values other than 0/1 (2, 3)"),
        ([0, 1, 0, 1], [-2.0, 3.0, 0.5, 1.0], 0.5, "scores run from -2 to 3"),
    ],
)
def test_label_and_score_checks_match_polars(
    spark, tmp_path: Path, labels: list[int], scores: list[float], threshold: float, expected: str
) -> None:
    """The label/score value checks see the same values on Spark (a few collected values)."""
    from mlfail.errors import UsageError

    path = tmp_path / "live.parquet"
    pl.DataFrame(
        {
            "ts": [dt.datetime(2026, 9, d) for d in (1, 1, 2, 3)],
            "y": labels,
            "s": scores,
        }
    ).write_parquet(path)
    roles = Roles(timestamp="ts", label="y", prediction="s")
    errors = []
    for engine in ("polars", "spark"):
        with pytest.raises(UsageError) as info:
            build_timeline(str(path), roles=roles, threshold=threshold, engine=engine)
        errors.append(str(info.value))
    assert errors[0] == errors[1] and expected in errors[1]
    # a logit score with its threshold given is accepted, and accuracy is Polars'
    ok = tmp_path / "ok.parquet"
    pl.DataFrame(
        {"ts": [dt.datetime(2026, 9, 1)] * 4, "y": [0, 1, 1, None], "s": [-2.0, 3.0, -1.0, 0.2]}
    ).write_parquet(ok)
    accs = [
        build_timeline(
            str(ok), roles=roles, threshold=0.0, engine=e, settings=TimelineSettings(min_labelled=1)
        )
        .windows[0]
        .metric
        for e in ("polars", "spark")
    ]
    assert accs == [1 - 1 / 3, 1 - 1 / 3]  # 3 labelled rows, one wrong (y=1, s=-1 < 0)
