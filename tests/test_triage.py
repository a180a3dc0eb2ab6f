"""End to end: `mlfail triage` on the root-cause scenarios and the sample data."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest
import scenarios as S
from typer.testing import CliRunner

from mlfail.cli.app import app
from mlfail.cli.triage import interactive_wanted

runner = CliRunner()
META = [
    "--meta",
    "pipeline_version",
    "--meta",
    "firmware_version",
    "--meta",
    "sdk_version",
    "--meta",
    "source",
    "--meta",
    "device_model",
]


def _args(p: dict[str, Path], *extra: str) -> list[str]:
    args = [
        "triage",
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
    ]
    if "metrics" in p:
        args += ["--metrics", str(p["metrics"])]
    return [*args, *extra]


@pytest.mark.parametrize(
    "make",
    [S.pipeline_x100, S.null_spike, S.concept_drift, S.infrastructure, S.population_mix, S.quiet],
    ids=lambda f: f.__name__,
)
def test_json_report_names_what_where_when_why_who(make: Any, tmp_path: Path) -> None:
    sc = make()
    e = sc.expected
    r = runner.invoke(app, _args(sc.write(tmp_path), "--format", "json", "--no-input"))
    assert r.exit_code == (1 if e["verdict"] == "model_incident" else 0), r.stderr
    d = json.loads(r.stdout)
    assert d["schema_version"] == 1 and d["verdict"] == e["verdict"]
    assert [s["step"] for s in d["steps"]] == [1, 2, 3, 4, 5, 6, 7]
    for key in ("first_fired", "infra", "global", "slices", "features", "root_causes"):
        assert key in d
    if "mode" in e:
        top = d["root_causes"][0]
        assert (top["feature"], top["failure_mode"], top["owner"]) == (
            e["feature"],
            e["mode"],
            e.get("owner", top["owner"]),
        )
        assert abs((np.datetime64(top["onset"]) - np.datetime64(e["onset"])).astype(int)) <= 1
        ids = [x["id"] for x in top["evidence"] if x["kind"] == "change_event"]
        assert (ids[:1] == [e["event"]]) if e.get("event") else not ids
        if "cohort" in e:
            col, val = e["cohort"]
            assert top["slice"] == {col: val}
    else:
        assert d["root_causes"] == []
    if sc.name == "infrastructure":
        assert d["first_fired"] == "infra" and d["infra"]["status"] == "anomalous"
    if sc.name == "pipeline_x100":
        assert d["slices"][0]["slice"] == {"pipeline_version": "1.5"}
        assert d["chosen_slice"] == {"pipeline_version": "1.5"}
        drifted = {
            (f["feature"], json.dumps(f["slice"]))
            for f in d["features"]
            if f["status"] == "drifted"
        }
        assert ("amount", '{"pipeline_version": "1.5"}') in drifted
    if sc.name == "quiet":
        assert d["slices"] == [] or not any(s["degraded"] for s in d["slices"])


def test_interactive_walk_drills_into_the_chosen_slice(tmp_path: Path) -> None:
    p = S.pipeline_x100().write(tmp_path)
    out = tmp_path / "report.json"
    # Enter after steps 1–3, slice 2 at step 4, Enter after 5–7, skip the expansion
    keys = "\n\n\n2\n\n\n\n\n"
    r = runner.invoke(
        app, _args(p, "--interactive", "--format", "json", "--output", str(out)), input=keys
    )
    assert r.exit_code == 1, r.stdout + r.stderr
    d = json.loads(out.read_text())
    degraded = [s["slice"] for s in d["slices"] if s["degraded"]]
    assert d["chosen_slice"] == degraded[1] != degraded[0]
    sliced = [f for f in d["features"] if f["slice"] is not None]
    assert sliced and all(f["slice"] == degraded[1] for f in sliced)
    step5 = d["steps"][4]
    assert "=".join(next(iter(degraded[1].items()))).split("=")[0] in step5["checked"]
    assert "Step 1/7" in r.stdout and "report saved to" in r.stdout
    assert "mlfail shadow --live" in r.stdout


def test_non_interactive_never_prompts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    p = S.quiet().write(tmp_path)
    r = runner.invoke(app, _args(p), input="")
    assert r.exit_code == 0, r.stderr
    assert "press Enter" not in r.stdout + r.stderr
    # CI=true implies --no-input even at a terminal
    monkeypatch.setattr("sys.stdin.isatty", lambda: True, raising=False)
    monkeypatch.setattr("sys.stdout.isatty", lambda: True, raising=False)
    monkeypatch.setenv("CI", "true")
    assert interactive_wanted(False, False) is False
    monkeypatch.delenv("CI")
    assert interactive_wanted(False, False) is True
    assert interactive_wanted(True, False) is False


def test_missing_required_and_optional_inputs(tmp_path: Path) -> None:
    p = S.quiet().write(tmp_path)
    # no --timestamp: the walk runs without onsets (a quiet world stays quiet), and step 1
    # names the flag that would enable them
    r = runner.invoke(
        app, ["triage", "-r", str(p["reference"]), "-l", str(p["live"]), "--no-input"]
    )
    assert r.exit_code == 0, r.output
    assert "need --timestamp COL (time columns found: ts)" in r.stdout
    r = runner.invoke(
        app,
        [
            "triage",
            "-r",
            str(p["reference"]),
            "-l",
            str(p["live"]),
            "--timestamp",
            "ts",
            "--format",
            "json",
        ],
    )
    d = json.loads(r.stdout)
    assert d["steps"][1]["found"] == "skipped: no --metrics given"
    assert d["steps"][6]["status"] == "skipped"
    assert any("no owners file" in c for c in d["checklist"])


def test_markdown_has_summary_and_postmortem(tmp_path: Path) -> None:
    p = S.pipeline_x100().write(tmp_path)
    r = runner.invoke(app, _args(p, "--format", "markdown"))
    md = r.stdout
    for part in (
        "# Incident summary",
        "**Who to page:** data-eng",
        "## Probable cause",
        "# Postmortem (draft)",
        "## Timeline",
        "CHG-104",
        "## Impact by slice",
        "## Action items",
        "mlfail shadow",
    ):
        assert part in md, part


def test_html_is_self_contained_escaped_and_small(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    evil = "<script>alert(1)</script>"
    n = 3000

    def frame(shift: float) -> pl.DataFrame:
        return pl.DataFrame(
            {
                "ts": pl.datetime_range(
                    pl.datetime(2026, 9, 1), pl.datetime(2026, 9, 30), "1d", eager=True
                ).sample(n, with_replacement=True, seed=1),
                evil: rng.normal(shift, 1, n),
                "seg": rng.choice([evil, "ok"], n),
                "label": rng.integers(0, 2, n),
                "score": rng.random(n),
            }
        )

    ref, live = tmp_path / "r.parquet", tmp_path / "l.parquet"
    frame(0).write_parquet(ref)
    frame(2).write_parquet(live)
    out = tmp_path / "report.html"
    r = runner.invoke(
        app,
        [
            "triage",
            "-r",
            str(ref),
            "-l",
            str(live),
            "--timestamp",
            "ts",
            "--label",
            "label",
            "--prediction",
            "score",
            "-f",
            "html",
            "-o",
            str(out),
        ],
    )
    assert r.exit_code in (0, 1), r.stderr
    page = out.read_text()
    assert evil not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "<script" not in page.lower() and "http://" not in page.replace(
        "http://www.w3.org/2000/svg", ""
    )
    assert page.count("<svg") >= 1


def test_sample_html_under_one_megabyte(tmp_path: Path) -> None:
    out = tmp_path / "sample.html"
    r = runner.invoke(
        app,
        [
            "triage",
            "-r",
            "sample_data/reference.parquet",
            "-l",
            "sample_data/live",
            "--timestamp",
            "ts",
            "--label",
            "is_fraud",
            "--prediction",
            "score",
            "--meta",
            "pipeline_version",
            "--changes",
            "sample_data/changes.csv",
            "--owners",
            "sample_data/owners.toml",
            "--metrics",
            "sample_data/metrics.parquet",
            "-f",
            "html",
            "-o",
            str(out),
        ],
    )
    assert r.exit_code == 1, r.stderr
    size = out.stat().st_size
    assert 10_000 < size < 1_000_000
    page = out.read_text()
    assert "CHG-104" in page and "pipeline_version=1.5" in page and "onset 2026-09-19" in page


def test_label_and_score_values_are_read_once_per_source(monkeypatch: pytest.MonkeyPatch) -> None:
    """The timeline, the slices and root cause each infer the task on live; the values check
    (a scan of label and score) runs once for the walk, and again for each new call."""
    import mlfail.performance as perf
    from mlfail import triage
    from mlfail.config import Roles

    seen: list[str] = []
    real = perf._check_values

    def spy(lf: Any, schema: Any, spec: Any, origin: str) -> None:
        seen.append(origin)
        real(lf, schema, spec, origin)

    monkeypatch.setattr(perf, "_check_values", spy)
    root = Path(__file__).resolve().parent.parent / "sample_data"
    roles = Roles(timestamp="ts", label="is_fraud", prediction="score")
    kw: dict[str, Any] = {"roles": roles, "reference": str(root / "reference.parquet")}
    triage(str(root / "live"), **kw)
    assert seen and len(seen) == len(set(seen)), seen  # each source once
    first = list(seen)
    triage(str(root / "live"), **kw)
    assert seen == first + first  # a new walk checks again: nothing is cached across calls
