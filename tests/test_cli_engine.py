"""``--engine``: psi and baseline create on Spark, one-line errors, other commands refuse it."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

from mlfail.baseline import build_baseline
from mlfail.cli.app import app
from mlfail.config import Roles

runner = CliRunner()
ROOT = Path(__file__).resolve().parent.parent
REF = str(ROOT / "sample_data" / "reference.parquet")
LIVE = str(ROOT / "sample_data" / "live")
ROLE_FLAGS = ["--timestamp", "ts", "--label", "is_fraud", "--prediction", "score"]
ROLE_FLAGS += ["--meta", "pipeline_version", "--meta", "sdk_version"]


def run(*args: str):
    return runner.invoke(app, list(args))


def one_error_line(r) -> str:
    assert r.exit_code == 2, (r.exit_code, r.stdout, r.stderr)
    assert "Traceback" not in r.stderr + r.stdout
    lines = [ln for ln in r.stderr.strip().splitlines() if ln.startswith("mlfail:")]
    assert len(lines) == 1, r.stderr
    return lines[0]


@pytest.mark.parametrize(
    "command",
    [
        ["slices", "--reference", REF, "--live", LIVE],
        ["explain", "--reference", REF, "--live", LIVE],
        ["triage", "--reference", REF, "--live", LIVE],
        ["check", "quality", "--reference", REF, "--live", LIVE],
        ["shadow", "--live", LIVE, "--current-prediction", "score", "--candidate-prediction", "s2"],
    ],
)
def test_commands_without_spark_refuse_it(command: list[str]) -> None:
    line = one_error_line(run(*command, "--engine", "spark"))
    name = " ".join(command[:2] if command[0] == "check" else command[:1])
    assert f"--engine spark: `mlfail {name}` runs on the Polars engine only" in line


def test_unknown_engine_is_a_usage_error() -> None:
    r = run("psi", "--reference", REF, "--live", LIVE, "--engine", "dask")
    assert r.exit_code == 2 and "dask" in r.stderr


def test_missing_pyspark_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pyspark", None)  # import pyspark now raises ImportError
    line = one_error_line(run("psi", "--reference", REF, "--live", LIVE, "--engine", "spark"))
    assert line == (
        "mlfail: error: --engine spark needs PySpark, which is not installed: "
        "pip install 'mlfail[spark]'"
    )


def test_missing_java_names_the_fix(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    pytest.importorskip("pyspark", reason="pyspark is not installed")
    from pyspark.sql import SparkSession

    monkeypatch.setattr(SparkSession, "getActiveSession", staticmethod(lambda: None))
    monkeypatch.setenv("JAVA_HOME", str(tmp_path))  # no bin/java there
    line = one_error_line(
        run("baseline", "create", "-r", REF, "--out", str(tmp_path / "b.json"), "--engine", "spark")
    )
    assert "needs Java 17 or newer and found no $JAVA_HOME/bin/java" in line
    assert "set JAVA_HOME" in line
    assert not (tmp_path / "b.json").exists()


@pytest.mark.spark
def test_psi_on_spark_with_a_table_finds_the_incident(spark) -> None:
    spark.read.parquet(LIVE).createOrReplaceTempView("mlfail_live_logs")
    r = run(
        "psi",
        "--reference",
        REF,
        "--live",
        "table:mlfail_live_logs",
        "--by",
        "geo",
        *ROLE_FLAGS,
        "--engine",
        "spark",
        "--format",
        "json",
    )
    assert r.exit_code == 1, r.stderr
    doc = json.loads(r.stdout)
    s = doc["settings"]
    assert s["engine"] == "spark" and s["quantile_relative_error"] == 1e-4
    assert s["quantiles"] == "spark approxQuantile"
    drifted = {
        (f["feature"], json.dumps(f.get("slice")))
        for f in doc["features"]
        if f["status"] == "drifted"
    }
    assert ("amount", json.dumps({"geo": "BR"})) in drifted
    assert doc["live"] == "table:mlfail_live_logs"


@pytest.mark.spark
def test_spark_read_errors_are_one_line(spark, tmp_path: Path) -> None:
    line = one_error_line(
        run("psi", "-r", REF, "-l", "table:no_such_db.no_table", "--engine", "spark")
    )
    assert line.startswith(
        "mlfail: error: --live table:no_such_db.no_table: Spark cannot read it ("
    )
    line = one_error_line(
        run("psi", "-r", str(tmp_path / "nope.parquet"), "-l", LIVE, "--engine", "spark")
    )
    assert "--reference" in line and "no such file or directory" in line
    line = one_error_line(run("psi", "-r", REF, "-l", LIVE, "--by", "nope", "--engine", "spark"))
    assert "'nope' (from --by) does not exist" in line


@pytest.mark.spark
def test_baseline_partition_by_partition_on_spark_merges_to_the_whole(
    spark, tmp_path: Path
) -> None:
    """The cluster flow: specs from one baseline, one Spark baseline per partition with
    --specs-from, then merge; the merged counts are the whole reference's, to the row."""
    roles = Roles(timestamp="ts", prediction="score", meta=("pipeline_version", "sdk_version"))
    whole = build_baseline(REF, roles, segments=["geo"])
    whole.save(tmp_path / "whole.json")
    data = pl.read_parquet(REF)
    half = data.height // 2
    parts = []
    for i, frame in enumerate((data.head(half), data.tail(data.height - half))):
        path = tmp_path / f"part{i}.parquet"
        frame.write_parquet(path)
        out = tmp_path / f"part{i}.json"
        r = run(
            "baseline",
            "create",
            "-r",
            str(path),
            "--out",
            str(out),
            "--timestamp",
            "ts",
            "--prediction",
            "score",
            "--meta",
            "pipeline_version",
            "--meta",
            "sdk_version",
            "--segment",
            "geo",
            "--specs-from",
            str(tmp_path / "whole.json"),
            "--engine",
            "spark",
        )
        assert r.exit_code == 0, r.stderr
        parts.append(out)
    r = run("baseline", "merge", *map(str, parts), "--out", str(tmp_path / "merged.json"))
    assert r.exit_code == 0, r.stderr
    from mlfail.baseline import load_baseline

    merged = load_baseline(tmp_path / "merged.json")
    assert merged.rows == whole.rows
    for keys in ((), ("geo",)):
        a, b = whole.tables[keys], merged.tables[keys]
        by = [c for c in a.columns if c != "n"]
        assert a.sort(by).equals(b.sort(by))
    for f, st in whole.stats.items():
        m = merged.stats[f]
        assert (m.nulls, m.count, m.neg_inf, m.pos_inf, m.min, m.max) == (
            st.nulls,
            st.count,
            st.neg_inf,
            st.pos_inf,
            st.min,
            st.max,
        )
        assert m.frequencies == st.frequencies and m.defaults == st.defaults
        if st.mean is not None:
            assert m.mean == pytest.approx(st.mean, rel=1e-12)
            assert m.std == pytest.approx(st.std, rel=1e-9)
    # psi against the merged baseline: live counted by Spark or by Polars, the same report
    docs = {}
    for engine in ("spark", "polars"):
        r = run(
            "psi", "--baseline", str(tmp_path / "merged.json"), "--live", LIVE, "--by", "geo",
            "--timestamp", "ts", "--prediction", "score", "--meta", "pipeline_version",
            "--meta", "sdk_version", "--engine", engine, "--format", "json",
        )  # fmt: skip
        assert r.exit_code == 1, r.stderr
        docs[engine] = json.loads(r.stdout)
    assert docs["spark"]["settings"].pop("engine") == "spark"
    assert "quantile_relative_error" not in docs["spark"]["settings"]  # edges from the baseline
    assert docs["spark"]["settings"] == docs["polars"]["settings"]
    fa, fb = docs["spark"]["features"], docs["polars"]["features"]
    assert len(fa) == len(fb) > 14
    for x, y in zip(fa, fb, strict=True):
        assert (x["feature"], x.get("slice"), x["status"]) == (
            y["feature"],
            y.get("slice"),
            y["status"],
        )
        assert abs(x["psi"] - y["psi"]) <= 1e-12


@pytest.mark.spark
def test_baseline_on_spark_states_the_rank_error_and_refuses_performance(
    spark, tmp_path: Path
) -> None:
    line = one_error_line(
        run(
            "baseline",
            "create",
            "-r",
            REF,
            "--out",
            str(tmp_path / "x.json"),
            *ROLE_FLAGS,
            "--engine",
            "spark",
        )
    )
    assert "reference performance (--label with --prediction) is computed on the Polars" in line
    b = build_baseline(REF, Roles(timestamp="ts", prediction="score"), engine="spark")
    assert b.bin_settings["quantile_relative_error"] == 1e-4
    assert b.bin_settings["quantiles"] == "spark approxQuantile"
    numeric = [st for st in b.stats.values() if st.numeric]
    assert numeric and all(not st.quantiles_exact for st in numeric)
    # counted by Spark with Spark's own specs: the counts are those of the Polars engine
    # given the same specs
    from mlfail.engines.polars import PolarsEngine

    pe = PolarsEngine(progress=False)
    t = pe.count(pe.open(REF, role="--reference"), b.all_specs())
    by = ["feature", "bin"]
    assert t.sort(by).equals(b.tables[()].sort(by))
