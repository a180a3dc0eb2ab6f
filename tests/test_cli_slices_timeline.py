"""CLI: ``mlfail slices`` and ``mlfail timeline`` — output contracts, exit codes, one-line
errors. The committed sample (sample_data/) carries a real incident."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from slice_data import frame, rates, write
from typer.testing import CliRunner

from mlfail.cli.app import app

runner = CliRunner()
SAMPLE = Path(__file__).resolve().parent.parent / "sample_data"
REF, LIVE, METRICS = (
    str(SAMPLE / "reference.parquet"),
    str(SAMPLE / "live"),
    str(SAMPLE / "metrics.parquet"),
)
SAMPLE_ROLES = ["--timestamp", "ts", "--label", "is_fraud", "--prediction", "score"]


def run(*args: str):
    return runner.invoke(app, list(args))


def _err(r) -> str:
    assert r.exit_code == 2, (r.exit_code, r.stdout, r.stderr)
    assert "Traceback" not in r.stderr and "Traceback" not in r.stdout
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, lines
    return lines[0]


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    tmp = tmp_path_factory.mktemp("cli")
    rng = np.random.default_rng(31)
    ref = frame(rng, 5000, error_rate=0.07)
    bad = frame(rng, 6000, error_rate=rates(0.07, ({"geo": "BR"}, 0.5)))
    fine = frame(rng, 6000, error_rate=0.07)
    r, lv = write(tmp, ref, bad)
    _, ok = write(tmp, ref, fine, "ok")
    return {"ref": r, "bad": lv, "ok": ok, "tmp": str(tmp)}


ROLES = ["--timestamp", "ts", "--label", "y", "--prediction", "score"]


def test_help_lists_the_commands() -> None:
    r = run("--help")
    assert r.exit_code == 0 and "slices" in r.stdout and "timeline" in r.stdout
    r = run("slices", "--help")
    assert r.exit_code == 0 and "--fail-on-delta" in r.stdout and "--segment" in r.stdout
    r = run("timeline", "--help")
    assert r.exit_code == 0 and "--window" in r.stdout and "--metrics" in r.stdout


def test_slices_planted_exits_1_with_the_json_contract(pair: dict[str, str]) -> None:
    r = run("slices", "-r", pair["ref"], "-l", pair["bad"], *ROLES, "-f", "json")
    assert r.exit_code == 1, r.stderr
    data = json.loads(r.stdout)
    assert data["schema_version"] == 1 and data["mode"] == "labels"
    assert set(data["global"]) >= {"rows", "labelled_rows", "metric", "live", "reference"}
    first = data["slices"][0]
    assert first["slice"] == {"geo": "BR"}
    for key in (
        "rows",
        "labelled_rows",
        "metric",
        "live",
        "complement",
        "reference",
        "shrunken",
        "p_value",
        "q_value",
        "excess_errors",
        "degraded",
    ):
        assert key in first
    excess = [s["excess_errors"] for s in data["slices"]]
    assert excess[0] == max(excess)
    days = [s["slice"]["day(ts)"] for s in data["slices"] if "day(ts)" in s["slice"]]
    assert all(len(d) == 10 and d[4] == "-" for d in days)  # ISO dates


def test_slices_human_output_leads_with_the_global_number(pair: dict[str, str]) -> None:
    r = run("slices", "-r", pair["ref"], "-l", pair["bad"], *ROLES)
    assert r.exit_code == 1
    lines = r.stdout.splitlines()
    i = next(i for i, line in enumerate(lines) if line.startswith("Global "))
    assert lines[i].startswith("Global accuracy ")  # the global number first
    assert lines[i + 1].startswith("Global looks like ") and lines[i + 1].endswith(", but:")
    assert lines[i + 2].strip().startswith("• geo=BR: accuracy ")


def test_slices_without_a_degraded_slice_exits_0(pair: dict[str, str]) -> None:
    r = run("slices", "-r", pair["ref"], "-l", pair["ok"], *ROLES)
    assert r.exit_code == 0, r.stdout
    assert "no slice is significantly worse" in r.stdout


def test_fail_on_delta_raises_the_bar(pair: dict[str, str]) -> None:
    args = ["slices", "-r", pair["ref"], "-l", pair["bad"], *ROLES]
    assert run(*args, "--fail-on-delta", "0.6").exit_code == 0
    assert run(*args, "--fail-on-delta", "0.3").exit_code == 1


def test_slices_output_file_and_force(pair: dict[str, str], tmp_path: Path) -> None:
    out = tmp_path / "slices.json"
    args = ["slices", "-r", pair["ref"], "-l", pair["bad"], *ROLES, "-f", "json", "-o", str(out)]
    assert run(*args).exit_code == 1 and json.loads(out.read_text())["schema_version"] == 1
    assert "file exists" in _err(run(*args))
    assert run(*args, "--force").exit_code == 1


def test_slices_bad_input_is_one_line(pair: dict[str, str], tmp_path: Path) -> None:
    ref, live = pair["ref"], pair["bad"]
    line = _err(run("slices", "-r", ref, "-l", live, "--label", "nope", "--prediction", "score"))
    assert line == f"mlfail: error: --label nope: no such column in --live {live}"
    line = _err(run("slices", "-r", ref, "-l", live, "--label", "y"))
    assert line == "mlfail: error: --prediction is required: the model output column"
    line = _err(run("slices", "-l", live, *ROLES))
    assert "--reference or --baseline is required" in line
    line = _err(run("slices", "-r", ref, "-l", live, *ROLES, "--meta", "pipeline"))
    assert line == f"mlfail: error: --meta pipeline: no such column in {ref} or {live}"
    line = _err(run("slices", "-r", ref, "-l", live, *ROLES, "--max-predicates", "3"))
    assert line == "mlfail: error: --max-predicates must be 1 or 2 (got 3)"
    line = _err(run("slices", "-r", ref, "-l", live, *ROLES, "--segment", "score"))
    assert "--segment score: that column is a role" in line
    line = _err(
        run("slices", "-r", ref, "-l", live, *ROLES, "--task", "regression", "--label", "geo")
    )
    assert "--task regression needs numeric --label and --prediction" in line
    missing = tmp_path / "nope.parquet"
    assert _err(run("slices", "-r", str(missing), "-l", live, *ROLES)) == (
        f"mlfail: error: --reference {missing}: no such file or directory"
    )


def test_sample_incident_slices(tmp_path: Path) -> None:
    r = run(
        "slices",
        "-r",
        REF,
        "-l",
        LIVE,
        *SAMPLE_ROLES,
        "--meta",
        "pipeline_version",
        "-f",
        "json",
        "--top",
        "5",
    )
    assert r.exit_code == 1, r.stderr
    data = json.loads(r.stdout)
    g = data["global"]
    assert 0.85 < g["live"] < 0.88  # the dashboard number looks fine…
    worst = data["slices"][0]
    assert worst["live"] < 0.55 and worst["degraded"]  # …while a slice is at ~50%
    keys = {k for s in data["slices"] for k in s["slice"]}
    assert keys & {"geo", "pipeline_version"}
    assert not keys & {"is_fraud", "score", "ts", "event_id"}


def test_timeline_sample_json_contract() -> None:
    r = run(
        "timeline",
        "-l",
        LIVE,
        "-r",
        REF,
        *SAMPLE_ROLES,
        "--meta",
        "pipeline_version",
        "--metrics",
        METRICS,
        "-f",
        "json",
    )
    assert r.exit_code == 1, r.stderr
    data = json.loads(r.stdout)
    assert data["schema_version"] == 1 and data["window"] == "1d"
    assert data["first_fired"] == "model"
    assert data["verdict"].startswith("model metrics moved first (2026-09-19)")
    assert data["infra"]["status"] == "green"
    assert data["layer_onsets"] == {
        "infra": None,
        "pipeline": None,
        "model": "2026-09-19",
        "business": "2026-09-21",
    }
    assert len(data["windows"]) == 30
    w = data["windows"][29]
    assert w["start"] == "2026-09-30" and w["metric"] is None and w["labelled_rows"] == 0
    assert set(w) >= {"rows", "null_rate", "psi", "prediction_psi", "mean_score"}
    amount = next(s for s in data["series"] if s["metric"] == "psi:amount")
    assert amount["onset"] == "2026-09-19" and amount["direction"] == "up"
    for s in data["series"]:
        assert set(s) >= {"layer", "metric", "onset", "direction", "dates", "values"}
        assert len(s["dates"]) == len(s["values"])
    complaints = next(s for s in data["series"] if s["metric"] == "complaints_per_10k_txn")
    assert complaints["layer"] == "business" and complaints["onset"] == "2026-09-21"


def test_timeline_human_marks_onsets() -> None:
    r = run("timeline", "-l", LIVE, "-r", REF, *SAMPLE_ROLES, "--metrics", METRICS)
    assert r.exit_code == 1
    assert "Infra: green — infra green, move on" in r.stdout
    assert "First fired: model — model metrics moved first (2026-09-19)" in r.stdout
    assert "┃" in r.stdout and "2026-09-19" in r.stdout


def test_timeline_quiet_data_exits_0(pair: dict[str, str]) -> None:
    r = run("timeline", "-l", pair["ok"], "-r", pair["ref"], *ROLES, "-f", "json")
    assert r.exit_code == 0, r.stdout
    data = json.loads(r.stdout)
    assert data["first_fired"] is None and data["infra"]["status"] == "skipped"


def test_timeline_bad_input_is_one_line(pair: dict[str, str], tmp_path: Path) -> None:
    live = pair["ok"]
    line = _err(run("timeline", "-l", live, "--timestamp", "ts", "--window", "3x"))
    assert line.startswith("mlfail: error: --window 3x: use a positive number and a unit")
    line = _err(run("timeline", "-l", live))
    assert line == "mlfail: error: --timestamp is required: the event-time column of the live log"
    line = _err(run("timeline", "-l", live, "--timestamp", "geo"))
    assert "--timestamp geo: cannot parse 'GB' as a date/time" in line
    line = _err(run("timeline", "-l", live, "--timestamp", "when"))
    assert "column 'when' (from --timestamp) does not exist" in line
    line = _err(
        run("timeline", "-l", live, "--timestamp", "ts", "--label", "nope", "--prediction", "score")
    )
    assert "column 'nope' (from --label) does not exist" in line
    bad = tmp_path / "m.csv"
    bad.write_text("ts,layer,value\n2026-09-01,infra,1\n")
    line = _err(run("timeline", "-l", live, "--timestamp", "ts", "--metrics", str(bad)))
    assert (
        line
        == f"mlfail: error: --metrics {bad}: missing column(s) metric; expected ts, layer, metric, value"
    )
    bad.write_text("ts,layer,metric,value\n2026-09-01,database,p99,1\n")
    line = _err(run("timeline", "-l", live, "--timestamp", "ts", "--metrics", str(bad)))
    assert "unknown layer 'database'" in line


def test_timeline_window_7d(pair: dict[str, str]) -> None:
    r = run("timeline", "-l", pair["ok"], "--timestamp", "ts", "--window", "7d", "-f", "json")
    assert r.exit_code == 0
    data = json.loads(r.stdout)
    assert data["window"] == "7d" and len(data["windows"]) == 2
    assert sum(w["rows"] for w in data["windows"]) == pl.read_parquet(pair["ok"]).height
