from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import polars as pl
from typer.testing import CliRunner

from mlfail import __version__
from mlfail.cli.app import app

runner = CliRunner()


def run(*args: str):
    return runner.invoke(app, list(args))


def test_version_and_help() -> None:
    r = run("--version")
    assert r.exit_code == 0 and r.stdout.strip() == f"mlfail {__version__}"
    r = run("--help")
    assert r.exit_code == 0 and "psi" in r.stdout
    r = run("psi", "--help")
    assert r.exit_code == 0 and "--fail-on" in r.stdout


def test_python_dash_m() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "mlfail", "--version"], capture_output=True, text=True, check=False
    )
    assert out.returncode == 0 and out.stdout.strip() == f"mlfail {__version__}"


def test_drift_exits_1_and_json_shape(drift_pair: tuple[Path, Path]) -> None:
    ref, live = drift_pair
    r = run("psi", "-r", str(ref), "-l", str(live), "--label", "label", "--format", "json")
    assert r.exit_code == 1, r.stderr
    data = json.loads(r.stdout)
    assert data["schema_version"] == 1
    assert set(data["settings"]) >= {"bins", "epsilon", "alpha", "threshold"}
    feats = data["features"]
    assert next(f["feature"] for f in feats) == "x"
    assert {f["feature"] for f in feats} == {"x", "y", "c", "geo"}  # label is a role
    psis = [f["psi"] for f in feats]
    assert psis == sorted(psis, reverse=True)
    x = feats[0]
    assert x["status"] == "drifted" and x["slice"] is None
    for key in ("kind", "p_value", "critical_psi", "reference_rows", "live_rows", "bins"):
        assert key in x
    assert x["reference_rows"] == 4000 and x["live_rows"] == 3000
    b = x["bins"][0]
    assert set(b) == {
        "bin",
        "reference_count",
        "live_count",
        "reference_share",
        "live_share",
        "contribution",
    }
    assert (
        sum(b["contribution"] for b in x["bins"]) == x["psi"]
        or abs(sum(b["contribution"] for b in x["bins"]) - x["psi"]) < 1e-12
    )
    assert {f["status"] for f in feats[1:]} == {"ok"}


def test_no_drift_exits_0(same_pair: tuple[Path, Path]) -> None:
    ref, live = same_pair
    r = run("psi", "-r", str(ref), "-l", str(live))
    assert r.exit_code == 0, r.stdout + r.stderr
    assert "0 drifted" in r.stdout


def test_fail_on_never_and_watch(drift_pair: tuple[Path, Path]) -> None:
    ref, live = drift_pair
    assert run("psi", "-r", str(ref), "-l", str(live), "--fail-on", "never").exit_code == 0
    # with a huge threshold x is only "watch": drift passes, watch fails
    args = ["psi", "-r", str(ref), "-l", str(live), "--threshold", "50"]
    assert run(*args).exit_code == 0
    assert run(*args, "--fail-on", "watch").exit_code == 1


def test_by_slice_reports_each_value(drift_pair: tuple[Path, Path]) -> None:
    ref, live = drift_pair
    r = run(
        "psi", "-r", str(ref), "-l", str(live), "--by", "geo", "-f", "json", "--features", "x,y"
    )
    data = json.loads(r.stdout)
    slices = {(f["feature"], json.dumps(f["slice"])) for f in data["features"]}
    assert ("x", '{"geo": "BR"}') in slices and ("y", '{"geo": "US"}') in slices
    assert ("x", "null") in slices
    br = next(f for f in data["features"] if f["slice"] == {"geo": "BR"} and f["feature"] == "x")
    assert br["reference_scope"] == "slice" and br["status"] == "drifted"


def test_csv_and_markdown(drift_pair: tuple[Path, Path]) -> None:
    ref, live = drift_pair
    r = run("psi", "-r", str(ref), "-l", str(live), "-f", "csv")
    lines = r.stdout.strip().splitlines()
    assert lines[0].startswith("feature,kind,slice,psi,p_value")
    assert lines[1].startswith("x,numeric,(all),")
    r = run("psi", "-r", str(ref), "-l", str(live), "-f", "markdown")
    assert "| x | (all) | numeric |" in r.stdout


def test_output_is_written_atomically_and_not_overwritten(
    drift_pair: tuple[Path, Path], tmp_path: Path
) -> None:
    ref, live = drift_pair
    out = tmp_path / "report.json"
    r = run("psi", "-r", str(ref), "-l", str(live), "-f", "json", "-o", str(out))
    assert r.exit_code == 1 and json.loads(out.read_text())["schema_version"] == 1
    r = run("psi", "-r", str(ref), "-l", str(live), "-f", "json", "-o", str(out))
    assert r.exit_code == 2
    assert (
        r.stderr.strip()
        == f"mlfail: error: --output {out}: file exists; pass --force to overwrite it"
    )
    r = run("psi", "-r", str(ref), "-l", str(live), "-f", "json", "-o", str(out), "--force")
    assert r.exit_code == 1
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


# ---- bad input: one line, exit 2, no traceback -------------------------------------------


def _err(r) -> str:
    assert r.exit_code == 2, (r.exit_code, r.stdout, r.stderr)
    assert "Traceback" not in r.stderr and "Traceback" not in r.stdout
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, lines
    return lines[0]


def test_missing_reference_path(drift_pair: tuple[Path, Path], tmp_path: Path) -> None:
    _, live = drift_pair
    missing = tmp_path / "nope.parquet"
    line = _err(run("psi", "-r", str(missing), "-l", str(live)))
    assert line == f"mlfail: error: --reference {missing}: no such file or directory"


def test_not_parquet_live(drift_pair: tuple[Path, Path], tmp_path: Path) -> None:
    ref, _ = drift_pair
    bad = tmp_path / "live.csv"
    bad.write_text("x\n1\n")
    line = _err(run("psi", "-r", str(ref), "-l", str(bad)))
    assert line.startswith(f"mlfail: error: --live {bad}: not a Parquet file")


def test_empty_glob(drift_pair: tuple[Path, Path], tmp_path: Path) -> None:
    ref, _ = drift_pair
    pattern = str(tmp_path / "logs" / "*.parquet")
    line = _err(run("psi", "-r", str(ref), "-l", pattern))
    assert line == f"mlfail: error: --live {pattern}: no files match this glob; check the pattern"


def test_unknown_feature_and_by_column(drift_pair: tuple[Path, Path]) -> None:
    ref, live = drift_pair
    line = _err(run("psi", "-r", str(ref), "-l", str(live), "--features", "x,nope"))
    assert line.startswith(
        f"mlfail: error: --reference {ref}: column 'nope' (from --features) does not exist"
    )
    line = _err(run("psi", "-r", str(ref), "-l", str(live), "--by", "country"))
    assert line.startswith(
        f"mlfail: error: --live {live}: column 'country' (from --by) does not exist"
    )
    line = _err(run("psi", "-r", str(ref), "-l", str(live), "--label", "target"))
    assert line == f"mlfail: error: --label target: no such column in {ref} or {live}"


def test_missing_reference_flag(drift_pair: tuple[Path, Path]) -> None:
    _, live = drift_pair
    line = _err(run("psi", "-l", str(live)))
    assert line == (
        "mlfail: error: --reference or --baseline is required: "
        "the training snapshot to compare against"
    )


def test_bad_flag_values(drift_pair: tuple[Path, Path]) -> None:
    ref, live = drift_pair
    assert "--bins must be at least 2" in _err(
        run("psi", "-r", str(ref), "-l", str(live), "--bins", "1")
    )
    assert "--alpha" in _err(run("psi", "-r", str(ref), "-l", str(live), "--alpha", "1.5"))
    r = run("psi", "-r", str(ref), "-l", str(live), "--format", "yaml")
    assert r.exit_code == 2


def test_default_feature_absent_from_live_is_a_missing_column_not_a_drift(
    drift_pair: tuple[Path, Path], tmp_path: Path
) -> None:
    """Issue 14 / §9: a column on the reference side only is a schema finding (mlfail check
    quality), never a PSI row."""
    ref, live = drift_pair
    slim = tmp_path / "slim.parquet"
    pl.read_parquet(live).drop("y").write_parquet(slim)
    r = run("psi", "-r", str(ref), "-l", str(slim), "-f", "json")
    assert r.exit_code == 1  # x still drifts
    d = json.loads(r.stdout)
    assert "y" not in {f["feature"] for f in d["features"]}
    y = next(c for c in d["inputs"]["roles"]["columns"] if c["column"] == "y")
    assert y["role"] == "one_sided" and y["present"] == "reference"
    assert "column 'y' is on the reference side only: a missing column" in r.stderr
