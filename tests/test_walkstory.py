"""One story in the headline, and triage without event time (issue 14, items 4 and 5).

The worlds are in worlds_walkstory.py: a drift of x1 carried by segment=B, and a degraded
slice that is the cohort itself, lies inside it, or is a separate problem.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import worlds_walkstory as W
from typer.testing import CliRunner

from mlfail.cli.app import app
from mlfail.story import SEPARATE_BELOW

runner = CliRunner()
ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "sample_data"


def _triage(p: dict[str, Path], *extra: str, timestamp: bool = True) -> Any:
    args = ["triage", "-r", str(p["reference"]), "-l", str(p["live"])]
    if timestamp:
        args += ["--timestamp", "ts"]
    args += ["--label", "label", "--prediction", "score", "--no-input", *extra]
    return runner.invoke(app, args)


@pytest.fixture(scope="module")
def worlds(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Path]]:
    base = tmp_path_factory.mktemp("walkstory")
    return {
        "separate": W.write_world(base / "separate", "separate"),
        "inside": W.write_world(base / "inside", "inside"),
        "untimed": W.write_world(base / "untimed", "same", with_time=False),
    }


def test_sample_headline_keeps_the_diagnosis() -> None:
    r = runner.invoke(
        app,
        [
            "triage",
            "-r",
            str(SAMPLE / "reference.parquet"),
            "-l",
            str(SAMPLE / "live"),
            "--timestamp",
            "ts",
            "--label",
            "is_fraud",
            "--prediction",
            "score",
            "--meta",
            "pipeline_version",
            "--meta",
            "sdk_version",
            "--metrics",
            str(SAMPLE / "metrics.parquet"),
            "--changes",
            str(SAMPLE / "changes.csv"),
            "--owners",
            str(SAMPLE / "owners.toml"),
            "--format",
            "json",
            "--no-input",
        ],
    )
    assert r.exit_code == 1, r.output
    d = json.loads(r.stdout)
    for needle in ("pipeline_version=1.5", "amount", "CHG-104", "data-eng"):
        assert needle in d["headline"]
    st = d["story"]
    assert st["cohort"] == {"pipeline_version": "1.5"}
    assert st["worst_slice"] == d["chosen_slice"] == {"pipeline_version": "1.5"}
    assert st["relation"] == "same" and st["sentence"] is None
    assert d["since"] == "2026-09-19"


def test_separate_problem_headline_names_the_causes_own_cohort(
    worlds: dict[str, dict[str, Path]],
) -> None:
    r = _triage(worlds["separate"], "--format", "json")
    assert r.exit_code == 1, r.output
    d = json.loads(r.stdout)
    st = d["story"]
    assert d["chosen_slice"] == {"channel": "web"}  # step 4's worst slice
    assert d["root_causes"][0]["feature"] == "x1"
    assert st["cohort"] == {"segment": "B"} == d["root_causes"][0]["slice"]
    assert st["worst_slice"] == {"channel": "web"}
    assert st["relation"] == "separate"
    assert st["overlap"] < SEPARATE_BELOW
    # the overlap is the share of the slice's live rows in the cohort
    assert st["overlap"] == pytest.approx(st["both_rows"] / st["slice_rows"], abs=1e-4)
    assert "segment=B" in d["headline"] and "channel=web" not in d["headline"]
    assert d["headline"].startswith("Model incident: x1 (")

    human = _triage(worlds["separate"])
    assert human.exit_code == 1
    head = human.stdout.split("Step 1/7")[0]
    assert "broke on segment=B" in head
    assert "channel=web is a separate problem" in head

    md = _triage(worlds["separate"], "--format", "markdown")
    assert "separate problem" in md.stdout.split("- **Verdict:**")[0]
    assert "- **Where:** segment=B" in md.stdout


def test_slice_inside_the_cohort(worlds: dict[str, dict[str, Path]]) -> None:
    r = _triage(worlds["inside"], "--format", "json")
    assert r.exit_code == 1, r.output
    d = json.loads(r.stdout)
    st = d["story"]
    assert st["cohort"] == {"segment": "B"}
    assert st["worst_slice"] == d["chosen_slice"] == {"channel": "kiosk"}
    assert st["relation"] == "inside"
    assert st["overlap"] == 1.0 and st["both_rows"] == st["slice_rows"] > 0
    assert st["cohort_rows"] > st["slice_rows"]
    assert "broke on segment=B" in d["headline"]

    html = _triage(worlds["inside"], "--format", "html")
    assert "<p class='story'>the worst slice channel=kiosk lies inside segment=B" in html.stdout


def test_triage_without_event_time(worlds: dict[str, dict[str, Path]]) -> None:
    r = _triage(worlds["untimed"], "--format", "json", timestamp=False)
    assert r.exit_code == 1, r.output
    d = json.loads(r.stdout)
    assert d["verdict"] == "model_incident"
    top = d["root_causes"][0]
    assert top["feature"] == "x1" and top["slice"] == {"segment": "B"}
    assert top["onset"] is None
    assert top["failure_mode"] != "training_serving_skew"  # no "day one" without days
    assert d["since"] == "unknown"
    assert "x1" in d["headline"] and "segment=B" in d["headline"]
    assert "since unknown" in d["headline"]
    s1 = d["steps"][0]
    assert s1["status"] == "skipped" and "--timestamp" in s1["decision"]
    assert [s["status"] for s in d["steps"][2:6]] == ["info", "finding", "finding", "finding"]
    assert any("no onset: change events not aligned" in w for w in d["warnings"])

    md = _triage(worlds["untimed"], "--format", "markdown", timestamp=False)
    assert "- **Since:** unknown" in md.stdout
    human = _triage(worlds["untimed"], timestamp=False)
    assert "since unknown" in human.stdout and "--timestamp COL" in human.stdout


def test_step_one_names_the_time_columns_it_found(worlds: dict[str, dict[str, Path]]) -> None:
    r = _triage(worlds["inside"], "--format", "json", timestamp=False)
    assert r.exit_code == 1, r.output
    s1 = json.loads(r.stdout)["steps"][0]
    assert "--timestamp COL (time columns found: ts)" in s1["decision"]


def test_explain_without_event_time(worlds: dict[str, dict[str, Path]]) -> None:
    p = worlds["untimed"]
    args = ["explain", "-r", str(p["reference"]), "-l", str(p["live"]), "--label", "label"]
    r = runner.invoke(app, [*args, "--prediction", "score", "--format", "json"])
    assert r.exit_code == 1, r.output
    d = json.loads(r.stdout)
    h = d["hypotheses"][0]
    assert h["feature"] == "x1" and h["slice"] == {"segment": "B"} and h["onset"] is None
    assert d["days"] == [] and d["daily_psi"] == {}
    assert any("no onset" in w for w in d["warnings"])


def test_timeline_without_event_time_is_one_clear_error(
    worlds: dict[str, dict[str, Path]],
) -> None:
    p = worlds["untimed"]
    r = runner.invoke(
        app, ["timeline", "-r", str(p["reference"]), "-l", str(p["live"]), "--label", "label"]
    )
    assert r.exit_code == 2
    lines = [x for x in r.stderr.splitlines() if x.strip()]
    assert len(lines) == 1 and "--timestamp" in lines[0]
    assert "Traceback" not in r.output
