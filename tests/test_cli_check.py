from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from typer.testing import CliRunner

from mlfail.cli.app import app

runner = CliRunner()
REPO = Path(__file__).resolve().parent.parent
SAMPLE_BASELINE = str(REPO / "sample_data" / "baseline.json")
SAMPLE_LIVE = str(REPO / "sample_data" / "live")
SAMPLE_OWNERS = str(REPO / "sample_data" / "owners.toml")
# https://docs.github.com/actions/reference/workflow-commands-for-github-actions
WORKFLOW_COMMAND = re.compile(r"^::(error|warning|notice)( title=[^:,\r\n]*)?::[^\r\n]*$")


def run(*args: str, env: dict[str, str] | None = None):
    return runner.invoke(app, list(args), env=env)


def _err(r) -> str:
    assert r.exit_code == 2, (r.exit_code, r.stdout, r.stderr)
    assert "Traceback" not in r.stderr + r.stdout
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, lines
    return lines[0]


@pytest.fixture
def broken(tmp_path: Path) -> tuple[Path, Path]:
    """Reference and a live file with one error (nulls in a never-null feature), one warning
    (a frozen column) and one info (a new column)."""
    rng = np.random.default_rng(3)
    n = 3000
    ref = pl.DataFrame(
        {
            "x": rng.normal(0, 1, n),
            "c": rng.choice(["a", "b", "c"], n),
            "w": rng.normal(10, 2, n),
        }
    )
    x = rng.normal(0, 1, n)
    x[: n // 10] = np.nan
    live = pl.DataFrame(
        {
            "x": x,
            "c": rng.choice(["a", "b", "c"], n),
            "w": np.full(n, 9.25),
            "new_col": rng.random(n),
        }
    ).with_columns(pl.col("x").fill_nan(None))
    r, lv = tmp_path / "ref.parquet", tmp_path / "live.parquet"
    ref.write_parquet(r)
    live.write_parquet(lv)
    return r, lv


def test_json_findings_and_fail_on(broken: tuple[Path, Path]) -> None:
    ref, live = broken
    r = run("check", "quality", "-r", str(ref), "-l", str(live), "-f", "json")
    assert r.exit_code == 1, r.stderr
    data = json.loads(r.stdout)
    assert data["schema_version"] == 1
    assert [(f["feature"], f["rule"], f["severity"]) for f in data["findings"]] == [
        ("x", "null_rate", "error"),
        ("w", "frozen", "warning"),
        ("new_col", "schema_new_column", "info"),
    ]
    assert set(data["findings"][0]) == {
        "feature",
        "rule",
        "severity",
        "reference",
        "live",
        "message",
    }
    assert data["findings"][0]["reference"] == 0.0 and data["findings"][0]["live"] == 0.1
    assert data["summary"] == {"error": 1, "warning": 1, "info": 1}
    base = ["check", "quality", "-r", str(ref), "-l", str(live)]
    assert run(*base, "--fail-on", "never").exit_code == 0
    # without the error only the warning and info remain
    clean_x = pl.read_parquet(live).with_columns(pl.col("x").fill_null(0.1))
    clean_x.write_parquet(live)
    assert run(*base).exit_code == 0
    assert run(*base, "--fail-on", "warning").exit_code == 1
    only_info = clean_x.with_columns(pl.Series("w", np.linspace(8, 12, clean_x.height)))
    only_info.write_parquet(live)
    assert run(*base, "--fail-on", "warning").exit_code == 0
    assert run(*base, "--fail-on", "info").exit_code == 1


def test_junit_parses_with_a_testcase_per_check(broken: tuple[Path, Path]) -> None:
    ref, live = broken
    r = run("check", "quality", "-r", str(ref), "-l", str(live), "-f", "junit")
    assert r.exit_code == 1
    root = ET.fromstring(r.stdout)
    suite = root.find("testsuite")
    assert root.tag == "testsuites" and suite is not None
    cases = suite.findall("testcase")
    names = {(c.get("classname"), c.get("name")) for c in cases}
    assert len(cases) == len(names) == int(suite.get("tests", "-1"))
    for feat in ("x", "c", "w"):
        for rule in ("null_rate", "frozen", "schema_missing_column"):
            assert (f"mlfail.quality.{rule}", feat) in names
    assert ("mlfail.quality.unseen_categories", "c") in names
    assert ("mlfail.quality.out_of_range", "x") in names
    failed = [(c.get("classname"), c.get("name")) for c in cases if c.find("failure") is not None]
    assert failed == [("mlfail.quality.null_rate", "x")]  # default --fail-on error
    assert suite.get("failures") == "1"
    fail = next(c for c in cases if c.get("name") == "x" and c.find("failure") is not None)
    assert fail.find("failure").get("type") == "error"  # type: ignore[union-attr]
    frozen = next(
        c for c in cases if c.get("classname") == "mlfail.quality.frozen" and c.get("name") == "w"
    )
    assert frozen.find("failure") is None and "warning" in (frozen.findtext("system-out") or "")
    r = run(
        "check", "quality", "-r", str(ref), "-l", str(live), "-f", "junit", "--fail-on", "warning"
    )
    assert ET.fromstring(r.stdout).find("testsuite").get("failures") == "2"  # type: ignore[union-attr]


def test_github_annotations_and_step_summary(broken: tuple[Path, Path], tmp_path: Path) -> None:
    ref, live = broken
    summary = tmp_path / "summary.md"
    summary.write_text("# earlier step\n")
    r = run(
        "check",
        "quality",
        "-r",
        str(ref),
        "-l",
        str(live),
        "-f",
        "github",
        env={"GITHUB_STEP_SUMMARY": str(summary)},
    )
    assert r.exit_code == 1
    lines = r.stdout.splitlines()
    assert len(lines) == 3
    for line in lines:
        assert WORKFLOW_COMMAND.match(line), line
    assert lines[0].startswith("::error title=mlfail quality%3A null_rate (x)::x was never null")
    assert lines[1].startswith("::warning title=mlfail quality%3A frozen (w)::")
    assert lines[2].startswith("::notice title=mlfail quality%3A schema_new_column (new_col)::")
    text = summary.read_text()
    assert text.startswith("# earlier step\n## Data quality")
    assert "| error | x | null_rate |" in text


def test_markdown_and_human(broken: tuple[Path, Path]) -> None:
    ref, live = broken
    r = run("check", "quality", "-r", str(ref), "-l", str(live), "-f", "markdown")
    assert "| error | x | null_rate | 0.00% | 10.00% |" in r.stdout
    assert "1 error, 1 warning, 1 info across" in r.stdout
    r = run("check", "quality", "-r", str(ref), "-l", str(live))
    assert r.exit_code == 1
    assert "null_rate" in r.stdout and "1 error, 1 warning, 1 info" in r.stdout


def test_sample_incident_shows_amount_out_of_range() -> None:
    r = run("check", "quality", "-b", SAMPLE_BASELINE, "-l", SAMPLE_LIVE, "-f", "json")
    assert r.exit_code == 0, r.stderr  # nothing at error: the break is a scale change
    found = {(f["feature"], f["rule"]): f for f in json.loads(r.stdout)["findings"]}
    amount = found[("amount", "out_of_range")]
    assert amount["severity"] == "warning"
    assert amount["reference"] == [0.49, 1850.11]
    assert 0.03 < amount["live"] < 0.05  # BR rows since 2026-09-19, ×100, beyond the max
    assert found[("day", "schema_new_column")]["severity"] == "info"  # the hive partition
    assert not [f for f in found.values() if f["severity"] == "error"]
    r = run("check", "quality", "-b", SAMPLE_BASELINE, "-l", SAMPLE_LIVE, "--fail-on", "warning")
    assert r.exit_code == 1


def test_quality_needs_a_reference(broken: tuple[Path, Path]) -> None:
    _, live = broken
    line = _err(run("check", "quality", "-l", str(live)))
    assert "--reference or --baseline is required" in line


# ---- owners ------------------------------------------------------------------------------


def test_sample_owners_complete() -> None:
    r = run("check", "owners", "--owners", SAMPLE_OWNERS, "--baseline", SAMPLE_BASELINE)
    assert r.exit_code == 0, r.stdout
    assert "Every feature and layer has an owner and a pager." in r.stdout
    r = run(
        "check", "owners", "--owners", SAMPLE_OWNERS, "--baseline", SAMPLE_BASELINE, "-f", "json"
    )
    data = json.loads(r.stdout)
    assert data["ready"] is True and data["gaps"] == []
    amount = next(f for f in data["features"] if f["feature"] == "amount")
    assert amount == {
        "feature": "amount",
        "component": "feature-pipeline",
        "owner": "data-eng",
        "pager": "pagerduty:data-eng-oncall",
    }
    assert data["layers"]["infra"]["owner"] == "platform-sre"


GAPPY = """
[components.feature-pipeline]
owner = "data-eng"
pager = "pagerduty:data-eng"
features = ["x", "ghost"]

[components.vendor]
owner = "partners"
features = ["c"]

[layers]
infra = "sre"
model = "ml"
business = "analytics"
"""


def test_owner_gaps_exit_1(drift_pair: tuple[Path, Path], tmp_path: Path) -> None:
    ref, _ = drift_pair
    owners = tmp_path / "owners.toml"
    owners.write_text(GAPPY)
    r = run("check", "owners", "--owners", str(owners), "-r", str(ref), "-f", "json")
    assert r.exit_code == 1, r.stderr
    gaps = {(g["kind"], g["subject"]) for g in json.loads(r.stdout)["gaps"]}
    assert gaps == {
        ("unowned_feature", "y"),
        ("unowned_feature", "geo"),
        ("unowned_feature", "label"),
        ("no_pager", "vendor"),
        ("layer_unowned", "pipeline"),
        ("unknown_feature", "ghost"),
    }
    # a column given a role is not a feature, so it needs no owner
    r = run(
        "check", "owners", "--owners", str(owners), "-r", str(ref), "--label", "label", "-f", "json"
    )
    assert r.exit_code == 1
    kinds = {(g["kind"], g["subject"]) for g in json.loads(r.stdout)["gaps"]}
    assert kinds == gaps - {("unowned_feature", "label")}
    r = run("check", "owners", "--owners", str(owners), "-r", str(ref))
    assert "6 gap(s): not ready to deploy" in r.stdout
    assert "component 'vendor' has no pager" in r.stdout
    # without a reference only components and layers are checked
    r = run("check", "owners", "--owners", str(owners), "-f", "json")
    assert {g["kind"] for g in json.loads(r.stdout)["gaps"]} == {"no_pager", "layer_unowned"}


def test_bad_owners_toml_is_one_line(tmp_path: Path) -> None:
    owners = tmp_path / "owners.toml"
    owners.write_text('[components.a]\nowner = "x"\npager = \n')
    line = _err(run("check", "owners", "--owners", str(owners)))
    assert line.startswith(f"mlfail: error: --owners {owners}:3: invalid TOML")
