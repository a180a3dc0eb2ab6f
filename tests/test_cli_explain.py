from __future__ import annotations

import json
from pathlib import Path

import scenarios as S
from typer.testing import CliRunner

from mlfail.cli.app import app

runner = CliRunner()
META = ["--meta", "pipeline_version", "--meta", "source"]


def _args(p: dict[str, Path], *extra: str) -> list[str]:
    return [
        "explain",
        "-r",
        str(p["reference"]),
        "-l",
        str(p["live"]),
        "--timestamp",
        "ts",
        "--label",
        "label",
        "--prediction",
        "score",
        *META,
        "--changes",
        str(p["changes"]),
        "--owners",
        str(p["owners"]),
        *extra,
    ]


def test_json_contract_and_exit_1_on_incident(tmp_path: Path) -> None:
    p = S.pipeline_x100().write(tmp_path)
    r = runner.invoke(app, _args(p, "--format", "json"))
    assert r.exit_code == 1, r.stderr
    data = json.loads(r.stdout)
    assert data["schema_version"] == 1 and data["verdict"] == "model_incident"
    h = data["hypotheses"][0]
    for key in (
        "feature",
        "failure_mode",
        "confidence",
        "onset",
        "slice",
        "owner",
        "pager",
        "summary",
        "next_action",
        "evidence",
    ):
        assert key in h
    assert h["onset"] == "2026-09-13" and h["slice"] == {"pipeline_version": "1.5"}
    kinds = {e["kind"] for e in h["evidence"]}
    assert {"psi", "onset", "cohort", "signature", "change_event", "performance"} <= kinds
    ev = next(e for e in h["evidence"] if e["kind"] == "change_event")
    assert ev["id"] == "CHG-104"
    coh = next(e for e in h["evidence"] if e["kind"] == "cohort")
    assert (coh["column"], coh["value"]) == ("pipeline_version", "1.5")


def test_quiet_exits_0_and_markdown(tmp_path: Path) -> None:
    p = S.quiet().write(tmp_path)
    r = runner.invoke(app, _args(p, "--format", "markdown"))
    assert r.exit_code == 0, r.stderr
    assert "**Verdict:** no model incident" in r.stdout


def test_human_names_cause_event_and_owner(tmp_path: Path) -> None:
    p = S.null_spike().write(tmp_path)
    r = runner.invoke(app, _args(p), env={"COLUMNS": "200"})
    assert r.exit_code == 1
    assert "ratio" in r.stdout and "data quality" in r.stdout
    assert "CHG-330" in r.stdout and "ingest-team" in r.stdout and "source=b" in r.stdout


def _one_line_error(r) -> str:
    assert r.exit_code == 2, (r.stdout, r.stderr)
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in r.stderr
    return lines[0]


def test_errors(tmp_path: Path) -> None:
    p = S.quiet().write(tmp_path)
    base = ["explain", "-r", str(p["reference"]), "-l", str(p["live"])]
    # without --timestamp explain runs without onsets (tests/test_walkstory.py); a quiet
    # world is still no incident
    r = runner.invoke(app, base)
    assert r.exit_code == 0 and "no onset: change events not aligned" in r.stderr
    line = _one_line_error(runner.invoke(app, [*base, "--timestamp", "when"]))
    assert "--timestamp when: no such column" in line
    bad = tmp_path / "owners.toml"
    bad.write_text("[layers\n")
    line = _one_line_error(runner.invoke(app, [*base, "--timestamp", "ts", "--owners", str(bad)]))
    assert line.startswith(f"mlfail: error: --owners {bad}:1: invalid TOML")
    line = _one_line_error(
        runner.invoke(app, [*base, "--timestamp", "ts", "--changes", str(tmp_path / "nope.csv")])
    )
    assert line == f"mlfail: error: --changes {tmp_path / 'nope.csv'}: no such file"
    line = _one_line_error(runner.invoke(app, [*base, "--baseline", "b.json", "--timestamp", "ts"]))
    assert "either --reference or --baseline" in line
