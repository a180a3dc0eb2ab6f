"""Column names that look like HTML or spreadsheet formulas, in every output format: HTML and
Markdown escape them, CSV neutralises a leading formula character, JSON and JUnit keep them
exactly (their encoders quote them)."""

from __future__ import annotations

import csv
import io
import json
import xml.etree.ElementTree as ET

import pytest
from typer.testing import CliRunner

from bad_inputs.cases import CASES, INJECTION
from bad_inputs.world import ROLES, World, make_world
from mlfail.cli.app import app

SCRIPT = "<script>alert(1)</script>"
FORMULA = "=cmd|' /C calc'!A0"


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    w = make_world(tmp_path_factory.mktemp("inj") / "w")
    next(c for c in CASES if c.id == "injection-column-names").build(w)
    return w


def _run(*argv: str) -> str:
    r = CliRunner().invoke(app, list(argv), env={"CI": "true"})
    assert r.exit_code in (0, 1), r.stderr
    return r.stdout


def _psi(w: World, fmt: str) -> str:
    return _run("psi", "-r", w.reference, "-l", w.live, *ROLES, "-f", fmt)


def _ctx(w: World) -> list[str]:
    return ["--changes", w.changes, "--owners", w.owners, "--metrics", w.metrics]


def test_csv_neutralises_formulas(world: World) -> None:
    rows = list(csv.DictReader(io.StringIO(_psi(world, "csv"))))
    features = {r["feature"] for r in rows}
    for name in INJECTION.values():
        shown = "'" + name if name[0] in "=+-@" else name
        assert shown in features, (name, features)
    assert not any(f.startswith(("=", "+", "-", "@")) for f in features)


@pytest.mark.parametrize(
    "command",
    [
        "psi",
        "quality",
        "explain",
        "triage",
    ],
)
def test_markdown_escapes_html(world: World, command: str) -> None:
    w = world
    argv = {
        "psi": ["psi", "-r", w.reference, "-l", w.live, *ROLES],
        "quality": ["check", "quality", "-r", w.reference, "-l", w.live, *ROLES],
        "explain": ["explain", "-r", w.reference, "-l", w.live, *ROLES, *_ctx(w)],
        "triage": ["triage", "-r", w.reference, "-l", w.live, *ROLES, *_ctx(w), "--no-input"],
    }[command]
    text = _run(*argv, "-f", "markdown")
    assert SCRIPT not in text
    # channel is among the features psi lists; triage's slice table groups the channel slices
    # under pipeline_version=1.5 as overlapping, so the name need not appear there
    if command == "psi":
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text
    # the pipe inside the formula name cannot open a new table column
    assert FORMULA not in text
    assert FORMULA.replace("|", "\\|") in text


def test_html_escapes(world: World) -> None:
    w = world
    text = _run(
        "triage", "-r", w.reference, "-l", w.live, *ROLES, *_ctx(w), "--no-input", "-f", "html"
    )
    assert SCRIPT not in text
    # the <script> column's slices are grouped as overlapping (not listed); the formula-named
    # feature is shown, escaped
    assert "=cmd|&#x27; /C calc&#x27;!A0" in text and FORMULA not in text


def test_json_and_junit_keep_names_exactly(world: World) -> None:
    w = world
    payload = json.loads(_psi(w, "json"))
    assert set(INJECTION.values()) <= {f["feature"] for f in payload["features"]}
    xml = _run("check", "quality", "-r", w.reference, "-l", w.live, *ROLES, "-f", "junit")
    names = [tc.get("name", "") for tc in ET.fromstring(xml).iter("testcase")]
    assert any(FORMULA in n for n in names), names


def test_github_annotations_stay_one_command_per_line(world: World) -> None:
    w = world
    text = _run("check", "quality", "-r", w.reference, "-l", w.live, *ROLES, "-f", "github")
    lines = [ln for ln in text.splitlines() if ln]
    assert lines and all(ln.startswith("::") for ln in lines), lines
